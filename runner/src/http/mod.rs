//! HTTP/1.1 on the client side: target URLs, pre-built requests, response framing.

pub mod parse;
pub mod request;
pub mod template;
pub mod url;
