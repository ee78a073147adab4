//! The `gcannon` command line.
