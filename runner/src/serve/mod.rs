//! `gcannon serve`: the built-in HTTP/1.1 target. (being written)
