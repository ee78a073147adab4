//! Target URLs.
