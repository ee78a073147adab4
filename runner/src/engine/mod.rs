//! The io_uring engine: one worker thread per ring, nothing shared on the hot path.
