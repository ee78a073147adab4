//! The header section: status line, framing fields, and finding its end.

use memchr::memchr;

use super::{ParseError, MAX_HEAD};

/// What the parsed header section says about framing.
#[derive(Clone, Copy, Default)]
pub(super) struct Head {
    /// Status code.
    pub(super) status: u16,
    /// HTTP/1.0 (close by default) rather than 1.1.
    pub(super) http10: bool,
    /// The agreed `Content-Length`, if any.
    pub(super) content_length: Option<u64>,
    /// A Transfer-Encoding field was present (with at least one coding).
    pub(super) te: bool,
    /// The last transfer coding seen is `chunked`.
    pub(super) te_chunked: bool,
    /// `Connection` lists `close`.
    pub(super) conn_close: bool,
    /// `Connection` lists `keep-alive`.
    pub(super) conn_keep_alive: bool,
}

/// Which framing-relevant field the previous header line was (for obs-fold).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    Other,
    ContentLength,
    TransferEncoding,
    Connection,
}

/// Reject early a stream that cannot start with a status line.
pub(super) fn check_prefix(data: &[u8]) -> Result<(), ParseError> {
    let n = data.len().min(5);
    if data[..n] != b"HTTP/"[..n] {
        return Err(ParseError::Malformed("expected an HTTP status line"));
    }
    Ok(())
}

/// Where the blank line ending a header section ends, in `buf`, given the part
/// already received in `frag` (which does not contain the end).
pub(super) fn find_head_end(frag: &[u8], buf: &[u8]) -> Option<usize> {
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
pub(super) fn parse_head(data: &[u8]) -> Result<Option<(Head, usize)>, ParseError> {
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
