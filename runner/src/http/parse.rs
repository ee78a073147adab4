//! Incremental, zero-copy HTTP/1.1 response framing (RFC 9112 §6.3).
//!
//! One [`ResponseParser`] per connection is fed the received bytes buffer by
//! buffer. Bodies are only counted, never copied; the only copy is a header
//! section that straddles two buffers, kept in a reused per-connection `Vec`.

use memchr::memchr;

/// Largest accepted header (and trailer) section, status line and blank line included.
pub const MAX_HEAD: usize = 64 * 1024;

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

/// What the parsed header section says about framing.
#[derive(Default)]
struct Head {
    status: u16,
    /// HTTP/1.0 (close by default) rather than 1.1.
    http10: bool,
    content_length: Option<u64>,
    /// A Transfer-Encoding field was present (with at least one coding).
    te: bool,
    /// The last transfer coding seen is `chunked`.
    te_chunked: bool,
    conn_close: bool,
    conn_keep_alive: bool,
}

/// Which framing-relevant field the previous header line was (for obs-fold).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    Other,
    ContentLength,
    TransferEncoding,
    Connection,
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
        self.state == State::StatusLine
    }

    /// Consume bytes; call `on_response` for every complete *final* response, in order.
    ///
    /// 1xx interim responses are skipped, except 101 which is final: after it, and
    /// after any response with `close: true`, parsing stops and the number of bytes
    /// consumed is returned (the rest is not HTTP). Otherwise returns `buf.len()`.
    /// On `Err` the connection must be reset.
    pub fn feed(
        &mut self,
        buf: &[u8],
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
                    check_prefix(rest)?;
                    match parse_head(rest)? {
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
            State::StatusLine => Ok(None),
            State::UntilClose => Ok(Some(self.pending)),
            _ => Err(ParseError::Truncated),
        }
    }

    /// Deliver the pending response; true when parsing must stop after it.
    fn complete(&mut self, on_response: &mut impl FnMut(Response)) -> bool {
        self.state = State::StatusLine;
        on_response(self.pending);
        self.pending.close
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
            Framing::None | Framing::Length(0) => self.complete(on_response) || status == 101,
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

/// Reject early a stream that cannot start with a status line.
fn check_prefix(data: &[u8]) -> Result<(), ParseError> {
    let n = data.len().min(5);
    if data[..n] != b"HTTP/"[..n] {
        return Err(ParseError::Malformed("expected an HTTP status line"));
    }
    Ok(())
}

/// Where the blank line ending a header section ends, in `buf`, given the part
/// already received in `frag` (which does not contain the end).
fn find_head_end(frag: &[u8], buf: &[u8]) -> Option<usize> {
    // The terminator (`\n\n` or `\n\r\n`) may straddle frag and buf.
    match (frag, buf) {
        ([.., b'\n'], [b'\n', ..]) => return Some(1),
        ([.., b'\n'], [b'\r', b'\n', ..]) => return Some(2),
        ([.., b'\n', b'\r'], [b'\n', ..]) => return Some(1),
        _ => {}
    }
    let mut from = 0;
    while let Some(i) = memchr(b'\n', &buf[from..]) {
        let nl = from + i;
        match buf.get(nl + 1) {
            Some(b'\n') => return Some(nl + 2),
            Some(b'\r') if buf.get(nl + 2) == Some(&b'\n') => return Some(nl + 3),
            _ => from = nl + 1,
        }
    }
    None
}

/// Parse a header section at the start of `data`: `Ok(None)` if it is incomplete,
/// else what it says and its length.
fn parse_head(data: &[u8]) -> Result<Option<(Head, usize)>, ParseError> {
    let Some(nl) = memchr(b'\n', data) else {
        return Ok(None);
    };
    let mut head = Head::default();
    parse_status_line(trim_cr(&data[..nl]), &mut head)?;
    let mut pos = nl + 1;
    let mut last = Field::Other;
    loop {
        let Some(i) = memchr(b'\n', &data[pos..]) else {
            return Ok(None);
        };
        let line = trim_cr(&data[pos..pos + i]);
        pos += i + 1;
        if pos > MAX_HEAD {
            return Err(ParseError::Malformed("header section too large"));
        }
        if line.is_empty() {
            return Ok(Some((head, pos)));
        }
        if line[0] == b' ' || line[0] == b'\t' {
            // Obsolete line folding continues the previous field's value.
            match last {
                Field::Other => {}
                Field::ContentLength => {
                    return Err(ParseError::Malformed("folded Content-Length"));
                }
                field => apply_field(field, line, &mut head)?,
            }
            continue;
        }
        let Some(colon) = memchr(b':', line) else {
            return Err(ParseError::Malformed("header line without colon"));
        };
        let name = &line[..colon];
        match name.last() {
            None => return Err(ParseError::Malformed("empty header name")),
            Some(b' ' | b'\t') => {
                return Err(ParseError::Malformed("whitespace before colon in header"));
            }
            _ => {}
        }
        last = field_of(name);
        if last != Field::Other {
            apply_field(last, &line[colon + 1..], &mut head)?;
        }
    }
}

/// The framing-relevant field a header name denotes.
fn field_of(name: &[u8]) -> Field {
    match name.len() {
        10 if name.eq_ignore_ascii_case(b"connection") => Field::Connection,
        14 if name.eq_ignore_ascii_case(b"content-length") => Field::ContentLength,
        17 if name.eq_ignore_ascii_case(b"transfer-encoding") => Field::TransferEncoding,
        _ => Field::Other,
    }
}

/// Fold one framing field value (a comma-separated list) into `head`.
fn apply_field(field: Field, value: &[u8], head: &mut Head) -> Result<(), ParseError> {
    for item in value.split(|&b| b == b',') {
        let item = trim_ows(item);
        match field {
            Field::ContentLength => {
                let n = parse_content_length(item)?;
                if head.content_length.is_some_and(|m| m != n) {
                    return Err(ParseError::Malformed("conflicting Content-Length"));
                }
                head.content_length = Some(n);
            }
            Field::TransferEncoding => {
                // Coding parameters (`;q=...`) do not change which coding it is.
                let coding = match memchr(b';', item) {
                    Some(i) => trim_ows(&item[..i]),
                    None => item,
                };
                if !coding.is_empty() {
                    head.te = true;
                    head.te_chunked = coding.eq_ignore_ascii_case(b"chunked");
                }
            }
            Field::Connection => {
                if item.eq_ignore_ascii_case(b"close") {
                    head.conn_close = true;
                } else if item.eq_ignore_ascii_case(b"keep-alive") {
                    head.conn_keep_alive = true;
                }
            }
            Field::Other => {}
        }
    }
    Ok(())
}

/// A `Content-Length` value: 1*DIGIT, no overflow.
fn parse_content_length(item: &[u8]) -> Result<u64, ParseError> {
    if item.is_empty() {
        return Err(ParseError::Malformed("empty Content-Length"));
    }
    let mut n: u64 = 0;
    for &b in item {
        if !b.is_ascii_digit() {
            return Err(ParseError::Malformed("non-digit in Content-Length"));
        }
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(b - b'0')))
            .ok_or(ParseError::Malformed("Content-Length overflow"))?;
    }
    Ok(n)
}

/// `HTTP/1.x SP 3DIGIT [SP reason]`, the line ending already removed.
fn parse_status_line(line: &[u8], head: &mut Head) -> Result<(), ParseError> {
    let Some((version, rest)) = line.split_at_checked(8) else {
        return Err(ParseError::Malformed("expected an HTTP status line"));
    };
    match version {
        b"HTTP/1.1" => {}
        b"HTTP/1.0" => head.http10 = true,
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', d] if d.is_ascii_digit() => {}
        [b'H', b'T', b'T', b'P', b'/', ..] => {
            return Err(ParseError::Malformed("unsupported HTTP version"));
        }
        _ => return Err(ParseError::Malformed("expected an HTTP status line")),
    }
    let code = match rest {
        [b' ', code @ ..] => trim_leading_sp(code),
        _ => {
            return Err(ParseError::Malformed(
                "expected a space after the HTTP version",
            ))
        }
    };
    let status = match code {
        [a, b, c, tail @ ..]
            if a.is_ascii_digit()
                && b.is_ascii_digit()
                && c.is_ascii_digit()
                && matches!(tail.first(), None | Some(b' ' | b'\t')) =>
        {
            u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0')
        }
        _ => return Err(ParseError::Malformed("status code is not 3 digits")),
    };
    if status < 100 {
        return Err(ParseError::Malformed("status code below 100"));
    }
    head.status = status;
    Ok(())
}

/// Drop one trailing CR (CRLF and bare LF line endings are both accepted).
fn trim_cr(line: &[u8]) -> &[u8] {
    match line {
        [rest @ .., b'\r'] => rest,
        _ => line,
    }
}

/// Drop leading spaces (lenient about several spaces after the version).
fn trim_leading_sp(mut s: &[u8]) -> &[u8] {
    while let [b' ', rest @ ..] = s {
        s = rest;
    }
    s
}

/// Drop optional whitespace (SP / HTAB) on both sides.
fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

#[cfg(test)]
mod tests;
