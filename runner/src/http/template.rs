//! Raw request templates (`--raw`): loading, validation, and the per-request
//! placeholder slot the engine fills at send time without allocating.
//!
//! A template file is one complete HTTP/1.1 request. Its head is normalised to
//! CRLF; its body is kept byte for byte. At most one placeholder per template:
//! `{RAND:min:max}` or `{SEQ:start}`. It is replaced at compile time by a slot of
//! `width` bytes, which the engine overwrites for every request it sends.

use std::path::PathBuf;

use api::plan::RequestTemplate;

/// Most templates one run accepts, as in the original.
pub use api::plan::MAX_TEMPLATES;

/// Why a template was rejected; every message names the file (and line).
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The file could not be read (missing, permissions, not UTF-8).
    #[error("{file}: cannot read template: {source}")]
    Unreadable {
        /// The path as given.
        file: String,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// More templates than the engine supports.
    #[error("{count} request templates given, at most {MAX_TEMPLATES} are supported")]
    TooMany {
        /// How many were given.
        count: usize,
    },
    /// A problem at a given line of a template.
    #[error("{file}:{line}: {what}")]
    Invalid {
        /// Template name (file path).
        file: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong, one line.
        what: String,
    },
}

/// What a placeholder stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlaceholderKind {
    /// `{RAND:min:max}`: uniform in `[min, max]`, zero-padded to the width of `max`.
    Rand {
        /// Smallest value.
        min: u64,
        /// Largest value.
        max: u64,
    },
    /// `{SEQ:start}`: unique values from `start`, at the width of `start`.
    Seq {
        /// First value.
        start: u64,
    },
}

/// Where the placeholder's slot sits in [`Template::bytes`] and how wide it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placeholder {
    /// RAND or SEQ, with its parameters.
    pub kind: PlaceholderKind,
    /// Byte offset of the slot in the compiled request bytes.
    pub offset: usize,
    /// Slot width in bytes (decimal digits written per request).
    pub width: usize,
}

impl Placeholder {
    /// The slot's byte range inside [`Template::bytes`] (or a copy of them).
    pub fn range(&self) -> std::ops::Range<usize> {
        self.offset..self.offset + self.width
    }

    /// The value for one sender's next request: a RAND draw from `rng`, or its
    /// SEQ value number `*seq` (which then advances), wrapping within the slot's
    /// width (see [`seq_value_in`] for `stride` and `offset`).
    #[inline]
    pub fn next_value(&self, rng: &mut XorShift64, seq: &mut u64, stride: u64, offset: u64) -> u64 {
        match self.kind {
            PlaceholderKind::Rand { min, max } => rng.next_in(min, max),
            PlaceholderKind::Seq { start } => {
                let v = seq_value_in(start, seq_span(start, self.width), *seq, stride, offset);
                *seq += 1;
                v
            }
        }
    }

    /// Writes `value` as exactly `width` ASCII digits into `slot[..width]`,
    /// zero-padded on the left; no allocation.
    ///
    /// A value with more digits than `width` keeps only its low `width` digits
    /// (it wraps modulo 10^width, as the original does). RAND values never need
    /// this; SEQ values do once more than `10^width - start` values were used.
    ///
    /// # Panics
    /// If `slot` is shorter than `width` (an engine bug, not user input).
    #[inline]
    pub fn write(&self, slot: &mut [u8], mut value: u64) {
        for b in slot[..self.width].iter_mut().rev() {
            *b = b'0' + (value % 10) as u8;
            value /= 10;
        }
    }
}

/// The `k`-th SEQ value of one sender, unique across senders without shared state.
///
/// With W workers per runner and R runners, worker `w` of runner `r` uses
/// `stride = W * R` and `offset = r * W + w`, so senders draw disjoint
/// arithmetic progressions. Arithmetic wraps in u64 rather than panicking.
#[inline]
pub fn seq_value(start: u64, k: u64, stride: u64, offset: u64) -> u64 {
    start
        .wrapping_add(k.wrapping_mul(stride))
        .wrapping_add(offset)
}

/// How many distinct `{SEQ:start}` values fit in `width` digits: from `start`
/// up to `10^width - 1`.
pub fn seq_span(start: u64, width: usize) -> u64 {
    10u64
        .checked_pow(width as u32)
        .unwrap_or(u64::MAX)
        .saturating_sub(start)
        .max(1)
}

/// The `k`-th value of one sender in a range of `span` values from `start`:
/// [`seq_value`] while it lasts, then round again from `start` (never below
/// it, as cutting to the slot's width would do).
#[inline]
pub fn seq_value_in(start: u64, span: u64, k: u64, stride: u64, offset: u64) -> u64 {
    start + seq_value(0, k, stride, offset) % span
}

/// Of a sender's first `n` values, how many repeat an earlier value of the
/// run because the range of `span` values wrapped.
pub fn seq_repeats(n: u64, span: u64, stride: u64, offset: u64) -> u64 {
    // Index j is fresh while j * stride + offset < span.
    let fresh = if offset >= span {
        0
    } else {
        (span - offset).div_ceil(stride.max(1))
    };
    n.saturating_sub(fresh)
}

/// A per-connection xorshift64 generator for RAND placeholders.
///
/// Not cryptographic: it only has to spread ids over a range cheaply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XorShift64(pub u64);

impl XorShift64 {
    /// A generator from `seed`; a zero seed (a fixed point of xorshift) is replaced.
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next raw 64-bit value (Marsaglia's 13/7/17 xorshift).
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A value in `[min, max]` (inclusive; `min <= max` expected, else `min`).
    ///
    /// Uses Lemire's multiply-shift (`(x * span) >> 64`) without rejection: the
    /// bias is at most `span / 2^64` per value, far below anything a load test
    /// can observe, and it costs no division or retry loop.
    #[inline]
    pub fn next_in(&mut self, min: u64, max: u64) -> u64 {
        if max <= min {
            return min;
        }
        let x = self.next_u64();
        match (max - min).checked_add(1) {
            Some(span) => min + ((u128::from(x) * u128::from(span)) >> 64) as u64,
            None => x, // the full u64 range
        }
    }
}

/// A validated template, ready to copy into send buffers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    /// Where it came from, for messages and per-template statistics.
    pub name: String,
    /// The request on the wire: CRLF head, body byte-exact, slot zero-filled.
    pub bytes: Vec<u8>,
    /// Whether the method is HEAD (its response carries no body).
    pub head: bool,
    /// The `Host` header value, if the template has one or one was added.
    pub host: Option<String>,
    /// The placeholder slot, when the template has one.
    pub placeholder: Option<Placeholder>,
}

impl Template {
    /// The `Host` header value, so the target can be resolved without a URL.
    pub fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }
}

/// Reads template files; an unreadable file is an error naming it.
pub fn load(paths: &[PathBuf]) -> Result<Vec<RequestTemplate>, TemplateError> {
    if paths.len() > MAX_TEMPLATES {
        return Err(TemplateError::TooMany { count: paths.len() });
    }
    paths
        .iter()
        .map(|p| {
            let name = p.display().to_string();
            match std::fs::read_to_string(p) {
                Ok(text) => Ok(RequestTemplate { name, text }),
                Err(source) => Err(TemplateError::Unreadable { file: name, source }),
            }
        })
        .collect()
}

/// Compiles every template (at most [`MAX_TEMPLATES`]); see [`compile`].
pub fn compile_all(
    templates: &[RequestTemplate],
    default_host: Option<&str>,
) -> Result<Vec<Template>, TemplateError> {
    if templates.len() > MAX_TEMPLATES {
        return Err(TemplateError::TooMany {
            count: templates.len(),
        });
    }
    templates.iter().map(|t| compile(t, default_host)).collect()
}

/// A placeholder found in the source text, already parsed.
struct Found {
    kind: PlaceholderKind,
    width: usize,
    /// Byte range of `{...}` in the source text.
    start: usize,
    end: usize,
}

/// Validates one template and builds its wire bytes.
///
/// Adds `Host: default_host` when the template has no `Host`, and
/// `Content-Length` when there is a body and neither it nor
/// `Transfer-Encoding` is present.
pub fn compile(t: &RequestTemplate, default_host: Option<&str>) -> Result<Template, TemplateError> {
    let err = |line: usize, what: String| TemplateError::Invalid {
        file: t.name.clone(),
        line,
        what,
    };
    let src = t.text.as_str();
    let found = find_placeholder(src, &err)?;

    // Put the zero-filled slot in place first so lengths and offsets below are final.
    let (text, slot_at) = match &found {
        Some(f) => {
            let mut s = String::with_capacity(src.len());
            s.push_str(&src[..f.start]);
            s.extend(std::iter::repeat_n('0', f.width));
            s.push_str(&src[f.end..]);
            (s, Some(f.start))
        }
        None => (src.to_owned(), None),
    };

    // Split the head into lines, remembering where each starts in `text`.
    let mut lines: Vec<(usize, usize, &str)> = Vec::new(); // (line number, start, content)
    let mut pos = 0;
    let mut line_no = 0;
    let mut body_start = text.len();
    while pos < text.len() {
        line_no += 1;
        let nl = text[pos..].find('\n').map(|i| pos + i);
        let end = nl.unwrap_or(text.len());
        let content = text[pos..end].strip_suffix('\r').unwrap_or(&text[pos..end]);
        let next = nl.map_or(text.len(), |i| i + 1);
        if content.is_empty() {
            if lines.is_empty() {
                pos = next; // tolerate blank lines before the request line (RFC 9112 2.2)
                continue;
            }
            body_start = next;
            break;
        }
        lines.push((line_no, pos, content));
        pos = next;
    }
    let body = &text.as_bytes()[body_start.min(text.len())..];

    let Some(&(req_line_no, _, req_line)) = lines.first() else {
        return Err(err(
            line_no.max(1),
            "no request line (file is empty)".into(),
        ));
    };
    let head = check_request_line(req_line).map_err(|what| err(req_line_no, what))?;

    let mut host = None;
    let mut content_length = None;
    let mut chunked = false;
    for &(no, _, line) in &lines[1..] {
        // Header lines carry credentials: errors locate them, never quote them
        // (the request line likewise, above).
        let Some((name, value)) = line.split_once(':') else {
            return Err(err(
                no,
                format!(
                    "malformed header line (no ':' in its {} bytes; not shown, it may hold a credential)",
                    line.len()
                ),
            ));
        };
        if let Some(col) = name.bytes().position(|b| !is_tchar(b)) {
            return Err(err(
                no,
                format!(
                    "malformed header name: column {} is not allowed in a header name",
                    col + 1
                ),
            ));
        }
        if name.is_empty() {
            return Err(err(no, "malformed header line: no name before ':'".into()));
        }
        let value = value.trim();
        if name.eq_ignore_ascii_case("host") {
            host = Some(value.to_owned());
        } else if name.eq_ignore_ascii_case("content-length") {
            let n = value
                .parse::<usize>()
                .map_err(|_| err(no, format!("Content-Length {value:?} is not a number")))?;
            if content_length.is_some() {
                return Err(err(no, "duplicate Content-Length header".into()));
            }
            content_length = Some((no, n));
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = true;
        }
    }
    if let Some((no, n)) = content_length {
        if n != body.len() {
            return Err(err(
                no,
                format!(
                    "Content-Length is {n} but the body is {len} bytes (after placeholder \
                     substitution); expected Content-Length: {len}",
                    len = body.len()
                ),
            ));
        }
    }

    let mut bytes = Vec::with_capacity(text.len() + lines.len() + 64);
    let mut offset = None;
    for &(_, start, line) in &lines {
        if let Some(at) = slot_at {
            if at >= start && at < start + line.len() {
                offset = Some(bytes.len() + (at - start));
            }
        }
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(b"\r\n");
    }
    if host.is_none() {
        if let Some(h) = default_host {
            host = Some(h.to_owned());
            bytes.extend_from_slice(b"Host: ");
            bytes.extend_from_slice(h.as_bytes());
            bytes.extend_from_slice(b"\r\n");
        }
    }
    if content_length.is_none() && !chunked && !body.is_empty() {
        bytes.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    bytes.extend_from_slice(b"\r\n");
    if let Some(at) = slot_at {
        if at >= body_start {
            offset = Some(bytes.len() + (at - body_start));
        }
    }
    bytes.extend_from_slice(body);

    let placeholder = match (found, offset) {
        (Some(f), Some(offset)) => Some(Placeholder {
            kind: f.kind,
            offset,
            width: f.width,
        }),
        (Some(f), None) => {
            // Only a placeholder inside a blank line could get here, which is impossible
            // (the slot is non-empty digits); report rather than panic.
            return Err(err(
                line_of(src, f.start),
                "placeholder outside the request".into(),
            ));
        }
        _ => None,
    };
    Ok(Template {
        name: t.name.clone(),
        bytes,
        head,
        host,
        placeholder,
    })
}

/// Checks `METHOD SP target SP HTTP/1.1`; returns whether the method is HEAD.
fn check_request_line(line: &str) -> Result<bool, String> {
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        // The target's query string may carry a token: say what is wrong, not what is there.
        return Err(format!(
            "request line is not \"METHOD target HTTP/1.1\" (it has {} space-separated parts; not shown, its target may hold a credential)",
            line.split(' ').count()
        ));
    };
    if method.is_empty() || method.bytes().any(|b| !is_tchar(b)) {
        return Err(format!("bad method {method:?} in request line"));
    }
    if target.is_empty() {
        return Err("empty target in request line".into());
    }
    if version != "HTTP/1.1" {
        return Err(format!("version {version:?} is not HTTP/1.1"));
    }
    Ok(method == "HEAD")
}

/// RFC 9110 token characters (method and header names).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// 1-based line number of byte `at` in `src`.
fn line_of(src: &str, at: usize) -> usize {
    src.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count() + 1
}

/// Decimal digit count of `n` (`digits(0) == 1`).
fn digits(mut n: u64) -> usize {
    let mut d = 1;
    while n >= 10 {
        n /= 10;
        d += 1;
    }
    d
}

/// Finds and parses the first placeholder; a second one is an error naming both lines.
fn find_placeholder(
    src: &str,
    err: &impl Fn(usize, String) -> TemplateError,
) -> Result<Option<Found>, TemplateError> {
    let Some((start, is_rand)) = next_marker(src, 0) else {
        return Ok(None);
    };
    let line = line_of(src, start);
    let tag = if is_rand { "{RAND:" } else { "{SEQ:" };
    let args_at = start + tag.len();
    let rest = &src[args_at..];
    let close = rest
        .find(['}', '\n'])
        .filter(|&i| rest.as_bytes()[i] == b'}')
        .ok_or_else(|| {
            err(
                line,
                format!("unterminated {tag} placeholder (no closing '}}')"),
            )
        })?;
    let args = &rest[..close];
    let end = args_at + close + 1;
    let num = |s: &str| {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err(
                line,
                format!("malformed number {s:?} in {tag}{args}}} placeholder"),
            ));
        }
        s.parse::<u64>().map_err(|_| {
            err(
                line,
                format!("number {s} in {tag}{args}}} does not fit in 64 bits"),
            )
        })
    };
    let (kind, width) = if is_rand {
        let Some((a, b)) = args.split_once(':') else {
            return Err(err(
                line,
                format!("malformed {{RAND:{args}}}: expected {{RAND:min:max}}"),
            ));
        };
        let (min, max) = (num(a)?, num(b)?);
        if min > max {
            return Err(err(
                line,
                format!("{{RAND:{args}}}: min {min} is greater than max {max}"),
            ));
        }
        (PlaceholderKind::Rand { min, max }, digits(max))
    } else {
        let start = num(args)?;
        (PlaceholderKind::Seq { start }, digits(start))
    };
    if let Some((second, _)) = next_marker(src, end) {
        return Err(err(
            line_of(src, second),
            format!(
                "a second placeholder (the first is on line {line}); one per template is supported"
            ),
        ));
    }
    Ok(Some(Found {
        kind,
        width,
        start,
        end,
    }))
}

/// The next `{RAND:` or `{SEQ:` at or after `from`: (byte index, is RAND).
fn next_marker(src: &str, from: usize) -> Option<(usize, bool)> {
    let mut at = from;
    while let Some(i) = src[at..].find('{') {
        let i = at + i;
        let rest = &src[i..];
        if rest.starts_with("{RAND:") {
            return Some((i, true));
        }
        if rest.starts_with("{SEQ:") {
            return Some((i, false));
        }
        at = i + 1;
    }
    None
}

#[cfg(test)]
#[path = "template_tests.rs"]
mod tests;
