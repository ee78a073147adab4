//! Pre-built request bytes.
