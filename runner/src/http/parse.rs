//! Incremental, zero-copy HTTP/1.1 response framing (RFC 9112 §6.3).
//!
//! One [`ResponseParser`] per connection is fed the received bytes buffer by
//! buffer. Bodies are only counted, never copied; the only copy is a header
//! section that straddles two buffers, kept in a reused per-connection `Vec`.

use memchr::memchr;

use head::{check_prefix, find_head_end, parse_head, Head};

mod head;

/// Largest accepted header (and trailer) section, status line and blank line included.
pub const MAX_HEAD: usize = 64 * 1024;

/// Longest header section the [`HeadCache`] keeps (typical ones are 100–300 bytes).
const MAX_CACHED_HEAD: usize = 1024;

/// Largest accepted chunk-size line (size, extensions and line ending).
const MAX_CHUNK_LINE: usize = 4 * 1024;

/// One complete final response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// The server will close the connection after this response.
    pub close: bool,
}

/// Why a response stream was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    /// Not a valid HTTP/1.1 response.
    #[error("malformed response: {0}")]
    Malformed(&'static str),
    /// The connection ended in the middle of a response.
    #[error("connection closed mid-response")]
    Truncated,
}

/// Where the parser is within the response stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Idle between responses: nothing buffered.
    StatusLine,
    /// A header section is partly received; the received part is in `frag`.
    Headers,
    /// Inside a `Content-Length` body.
    Body { remaining: u64 },
    /// Reading the hex digits of a chunk size (`digits`: at least one seen).
    ChunkSize { size: u64, digits: bool },
    /// Whitespace after the chunk size, before `;` or the line end.
    ChunkSizeWs { size: u64, len: usize },
    /// Skipping chunk extensions up to the line's LF.
    ChunkExt { size: u64, len: usize },
    /// Saw the CR ending a chunk-size line; the LF must follow.
    ChunkSizeLf { size: u64 },
    /// Inside chunk data.
    ChunkData { remaining: u64 },
    /// After chunk data: the line ending must follow (`seen_cr`: its CR is in).
    ChunkDataCrlf { seen_cr: bool },
    /// At the start of a trailer line (or the final blank line).
    Trailers { len: usize },
    /// Inside a trailer field line.
    TrailerLine { len: usize },
    /// Saw a CR at the start of a trailer line: the blank line's LF must follow.
    TrailerLf,
    /// Body delimited by the connection closing.
    UntilClose,
    /// After a 101 or a `close` response: the rest is not HTTP; wait for `reset`.
    Stopped,
}

/// The last header section parsed whole from one buffer, and what it said.
///
/// A server under load repeats the same header section response after response,
/// so one byte comparison usually replaces parsing it line by line. The result
/// depends on the bytes alone, so one cache serves every connection of a worker.
#[derive(Default)]
pub struct HeadCache {
    bytes: Vec<u8>,
    head: Head,
}

impl HeadCache {
    /// The cached section if `data` starts with it.
    #[inline]
    fn lookup(&self, data: &[u8]) -> Option<(Head, usize)> {
        let n = self.bytes.len();
        (n > 0 && data.len() >= n && data[..n] == self.bytes[..]).then_some((self.head, n))
    }

    /// Remember a section that was just parsed.
    #[inline]
    fn store(&mut self, bytes: &[u8], head: Head) {
        if bytes.len() <= MAX_CACHED_HEAD {
            self.bytes.clear();
            self.bytes.extend_from_slice(bytes);
            self.head = head;
        }
    }
}

/// Per-connection response parser state.
#[derive(Debug)]
pub struct ResponseParser {
    state: State,
    /// The response being received, delivered once its body is complete.
    pending: Response,
    /// Responses answer HEAD requests: never a body.
    head: bool,
    /// A header section straddling buffers (capacity kept across responses).
    frag: Vec<u8>,
}

impl Default for ResponseParser {
    fn default() -> Self {
        Self::new()
    }
}

/// How the body of a response is delimited.
enum Framing {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

impl ResponseParser {
    /// A parser for a fresh connection.
    pub fn new() -> Self {
        Self {
            state: State::StatusLine,
            pending: Response {
                status: 0,
                close: false,
            },
            head: false,
            frag: Vec::new(),
        }
    }

    /// Forget everything (a fresh connection); keeps allocations and the HEAD setting.
    pub fn reset(&mut self) {
        self.state = State::StatusLine;
        self.frag.clear();
    }

    /// Responses on this connection answer HEAD requests: no body whatever the headers say.
    pub fn set_head(&mut self, head: bool) {
        self.head = head;
    }

    /// True between responses (nothing partial buffered).
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::StatusLine | State::Stopped)
    }

    /// True after a 101 or a `close: true` response: `feed` consumes nothing more
    /// until `reset` (needed when the stop falls exactly on a buffer's end).
    pub fn is_stopped(&self) -> bool {
        self.state == State::Stopped
    }

    /// [`feed_cached`](Self::feed_cached) without a cache shared between calls.
    pub fn feed(
        &mut self,
        buf: &[u8],
        on_response: impl FnMut(Response),
    ) -> Result<usize, ParseError> {
        self.feed_cached(buf, &mut HeadCache::default(), on_response)
    }

    /// Consume bytes; call `on_response` for every complete *final* response, in order.
    /// Header sections seen before (in `cache`) are recognised without parsing.
    ///
    /// 1xx interim responses are skipped, except 101 which is final: after it, and
    /// after any response with `close: true`, parsing stops and the number of bytes
    /// consumed is returned (the rest is not HTTP), and later calls consume nothing
    /// (return 0) until [`reset`](Self::reset). Otherwise returns `buf.len()`.
    /// On `Err` the connection must be reset.
    pub fn feed_cached(
        &mut self,
        buf: &[u8],
        cache: &mut HeadCache,
        mut on_response: impl FnMut(Response),
    ) -> Result<usize, ParseError> {
        let len = buf.len();
        let mut pos = 0;
        while pos < len {
            match self.state {
                State::StatusLine => {
                    // Tolerate stray blank lines between responses.
                    while pos < len && (buf[pos] == b'\r' || buf[pos] == b'\n') {
                        pos += 1;
                    }
                    if pos == len {
                        break;
                    }
                    let rest = &buf[pos..];
                    let parsed = match cache.lookup(rest) {
                        Some(hit) => Some(hit),
                        None => {
                            check_prefix(rest)?;
                            let parsed = parse_head(rest)?;
                            if let Some((head, n)) = parsed {
                                cache.store(&rest[..n], head);
                            }
                            parsed
                        }
                    };
                    match parsed {
                        Some((head, n)) => {
                            pos += n;
                            if self.start_body(&head, &mut on_response) {
                                return Ok(pos);
                            }
                        }
                        None => {
                            if rest.len() >= MAX_HEAD {
                                return Err(ParseError::Malformed("header section too large"));
                            }
                            self.frag.clear();
                            self.frag.extend_from_slice(rest);
                            self.state = State::Headers;
                            pos = len;
                        }
                    }
                }
                State::Headers => {
                    let rest = &buf[pos..];
                    match find_head_end(&self.frag, rest) {
                        Some(end) => {
                            if self.frag.len() + end > MAX_HEAD {
                                return Err(ParseError::Malformed("header section too large"));
                            }
                            self.frag.extend_from_slice(&rest[..end]);
                            pos += end;
                            let parsed = parse_head(&self.frag);
                            self.frag.clear();
                            let Some((head, _)) = parsed? else {
                                return Err(ParseError::Malformed("unterminated header section"));
                            };
                            self.state = State::StatusLine;
                            if self.start_body(&head, &mut on_response) {
                                return Ok(pos);
                            }
                        }
                        None => {
                            if self.frag.len() + rest.len() >= MAX_HEAD {
                                return Err(ParseError::Malformed("header section too large"));
                            }
                            self.frag.extend_from_slice(rest);
                            check_prefix(&self.frag)?;
                            pos = len;
                        }
                    }
                }
                State::Body { remaining } => {
                    let take = remaining.min((len - pos) as u64);
                    pos += take as usize;
                    if take == remaining {
                        if self.complete(&mut on_response) {
                            return Ok(pos);
                        }
                    } else {
                        self.state = State::Body {
                            remaining: remaining - take,
                        };
                    }
                }
                State::ChunkSize { mut size, digits } => {
                    let mut seen = digits;
                    let mut next = None;
                    while pos < len {
                        let b = buf[pos];
                        let d = match b {
                            b'0'..=b'9' => b - b'0',
                            b'a'..=b'f' => b - b'a' + 10,
                            b'A'..=b'F' => b - b'A' + 10,
                            _ => {
                                if !seen {
                                    return Err(ParseError::Malformed("bad chunk size"));
                                }
                                next = Some(b);
                                break;
                            }
                        };
                        if size > u64::MAX >> 4 {
                            return Err(ParseError::Malformed("chunk size overflow"));
                        }
                        size = (size << 4) | u64::from(d);
                        seen = true;
                        pos += 1;
                    }
                    let Some(b) = next else {
                        self.state = State::ChunkSize { size, digits: seen };
                        break;
                    };
                    pos += 1;
                    match b {
                        b'\n' => self.end_chunk_size(size),
                        b'\r' => self.state = State::ChunkSizeLf { size },
                        b';' => self.state = State::ChunkExt { size, len: 0 },
                        b' ' | b'\t' => self.state = State::ChunkSizeWs { size, len: 0 },
                        _ => return Err(ParseError::Malformed("bad chunk size")),
                    }
                }
                State::ChunkSizeWs { size, len: seen } => {
                    let b = buf[pos];
                    pos += 1;
                    match b {
                        b' ' | b'\t' if seen < MAX_CHUNK_LINE => {
                            self.state = State::ChunkSizeWs {
                                size,
                                len: seen + 1,
                            }
                        }
                        b'\n' => self.end_chunk_size(size),
                        b'\r' => self.state = State::ChunkSizeLf { size },
                        b';' => self.state = State::ChunkExt { size, len: seen },
                        _ => return Err(ParseError::Malformed("bad chunk size")),
                    }
                }
                State::ChunkExt { size, len: seen } => {
                    let rest = &buf[pos..];
                    match memchr(b'\n', rest) {
                        Some(i) if seen + i <= MAX_CHUNK_LINE => {
                            pos += i + 1;
                            self.end_chunk_size(size);
                        }
                        None if seen + rest.len() <= MAX_CHUNK_LINE => {
                            self.state = State::ChunkExt {
                                size,
                                len: seen + rest.len(),
                            };
                            pos = len;
                        }
                        _ => return Err(ParseError::Malformed("chunk extension too long")),
                    }
                }
                State::ChunkSizeLf { size } => {
                    if buf[pos] != b'\n' {
                        return Err(ParseError::Malformed("bad chunk size line ending"));
                    }
                    pos += 1;
                    self.end_chunk_size(size);
                }
                State::ChunkData { remaining } => {
                    let take = remaining.min((len - pos) as u64);
                    pos += take as usize;
                    self.state = if take == remaining {
                        State::ChunkDataCrlf { seen_cr: false }
                    } else {
                        State::ChunkData {
                            remaining: remaining - take,
                        }
                    };
                }
                State::ChunkDataCrlf { seen_cr } => {
                    let b = buf[pos];
                    pos += 1;
                    match b {
                        b'\n' => {
                            self.state = State::ChunkSize {
                                size: 0,
                                digits: false,
                            }
                        }
                        b'\r' if !seen_cr => self.state = State::ChunkDataCrlf { seen_cr: true },
                        _ => return Err(ParseError::Malformed("missing CRLF after chunk data")),
                    }
                }
                State::Trailers { len: seen } => {
                    let b = buf[pos];
                    pos += 1;
                    match b {
                        b'\n' => {
                            if self.complete(&mut on_response) {
                                return Ok(pos);
                            }
                        }
                        b'\r' => self.state = State::TrailerLf,
                        _ => self.state = State::TrailerLine { len: seen + 1 },
                    }
                }
                State::TrailerLine { len: seen } => {
                    let rest = &buf[pos..];
                    let (used, done) = match memchr(b'\n', rest) {
                        Some(i) => (i + 1, true),
                        None => (rest.len(), false),
                    };
                    if seen + used > MAX_HEAD {
                        return Err(ParseError::Malformed("trailer section too large"));
                    }
                    pos += used;
                    self.state = if done {
                        State::Trailers { len: seen + used }
                    } else {
                        State::TrailerLine { len: seen + used }
                    };
                }
                State::TrailerLf => {
                    if buf[pos] != b'\n' {
                        return Err(ParseError::Malformed("bad trailer line"));
                    }
                    pos += 1;
                    if self.complete(&mut on_response) {
                        return Ok(pos);
                    }
                }
                State::UntilClose => return Ok(len),
                State::Stopped => return Ok(pos),
            }
        }
        Ok(pos)
    }

    /// The peer closed the connection.
    ///
    /// Completes a close-delimited body (`Ok(Some(resp))`); `Ok(None)` when idle
    /// between responses; `Err(Truncated)` in the middle of a response. The
    /// parser is reset either way.
    pub fn finish(&mut self) -> Result<Option<Response>, ParseError> {
        let state = self.state;
        self.reset();
        match state {
            State::StatusLine | State::Stopped => Ok(None),
            State::UntilClose => Ok(Some(self.pending)),
            _ => Err(ParseError::Truncated),
        }
    }

    /// Deliver the pending response; true when parsing must stop after it.
    fn complete(&mut self, on_response: &mut impl FnMut(Response)) -> bool {
        let stop = self.pending.close || self.pending.status == 101;
        self.state = if stop {
            State::Stopped
        } else {
            State::StatusLine
        };
        on_response(self.pending);
        stop
    }

    /// A chunk-size line ended: the last chunk leads to the trailers.
    fn end_chunk_size(&mut self, size: u64) {
        self.state = if size == 0 {
            State::Trailers { len: 0 }
        } else {
            State::ChunkData { remaining: size }
        };
    }

    /// Act on a complete header section; true when parsing must stop.
    fn start_body(&mut self, head: &Head, on_response: &mut impl FnMut(Response)) -> bool {
        self.state = State::StatusLine;
        let status = head.status;
        if (100..200).contains(&status) && status != 101 {
            return false;
        }
        let framing = if status < 200 || status == 204 || status == 304 || self.head {
            Framing::None
        } else if head.te {
            if head.te_chunked {
                Framing::Chunked
            } else {
                Framing::UntilClose
            }
        } else if let Some(n) = head.content_length {
            Framing::Length(n)
        } else {
            Framing::UntilClose
        };
        let until_close = matches!(framing, Framing::UntilClose);
        self.pending = Response {
            status,
            close: head.conn_close || (head.http10 && !head.conn_keep_alive) || until_close,
        };
        match framing {
            Framing::None | Framing::Length(0) => self.complete(on_response),
            Framing::Length(n) => {
                self.state = State::Body { remaining: n };
                false
            }
            Framing::Chunked => {
                self.state = State::ChunkSize {
                    size: 0,
                    digits: false,
                };
                false
            }
            Framing::UntilClose => {
                self.state = State::UntilClose;
                false
            }
        }
    }
}

#[cfg(test)]
mod tests;
