//! Glass Cannon's runner: the io_uring load engine, HTTP/1.1 client framing,
//! the built-in target server and the `gcannon` command line.

pub mod agent;
pub mod cli;
pub mod engine;
pub mod history;
pub mod http;
pub mod observe;
pub mod output;
pub mod progress;
pub mod serve;
pub mod tls;
pub mod tui;
pub mod watch;
pub mod ws;
