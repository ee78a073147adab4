//! Turn a rendered ratatui [`Buffer`] into printable lines with ANSI SGR
//! colour codes, so the results view can be printed into the scrollback like
//! ordinary output instead of taking over the screen.

use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier, Style};

/// The buffer as text, one line per row, trailing blanks trimmed, styled with
/// ANSI escapes that are reset at the end of every line. The TUI draws only
/// one-cell-wide characters (ASCII, box drawing, block elements).
pub fn buffer_to_ansi(buf: &Buffer) -> String {
    let area = buf.area;
    let mut out = String::new();
    for y in area.top()..area.bottom() {
        // Trim blank, unstyled cells at the end of the row.
        let mut end = area.right();
        while end > area.left() {
            let c = &buf[(end - 1, y)];
            if c.symbol() == " " && c.bg == Color::Reset {
                end -= 1;
            } else {
                break;
            }
        }
        let mut current = Style::default();
        for x in area.left()..end {
            let cell = &buf[(x, y)];
            let style = cell_style(cell.fg, cell.bg, cell.modifier);
            if style != current {
                out.push_str(&sgr(&style));
                current = style;
            }
            out.push_str(cell.symbol());
        }
        if current != Style::default() {
            out.push_str("\x1b[0m");
        }
        out.push('\n');
    }
    out
}

/// The cell's look, with the terminal's default colour as "no colour" so
/// plain cells need no escape at all.
fn cell_style(fg: Color, bg: Color, modifier: Modifier) -> Style {
    let mut style = Style::default().add_modifier(modifier);
    if fg != Color::Reset {
        style = style.fg(fg);
    }
    if bg != Color::Reset {
        style = style.bg(bg);
    }
    style
}

/// The SGR sequence selecting exactly this style, starting from a reset.
fn sgr(style: &Style) -> String {
    let mut codes: Vec<String> = vec!["0".into()];
    let m = style.add_modifier;
    for (flag, code) in [
        (Modifier::BOLD, "1"),
        (Modifier::DIM, "2"),
        (Modifier::ITALIC, "3"),
        (Modifier::UNDERLINED, "4"),
        (Modifier::REVERSED, "7"),
    ] {
        if m.contains(flag) {
            codes.push(code.into());
        }
    }
    if let Some(fg) = style.fg.and_then(|c| color(c, false)) {
        codes.push(fg);
    }
    if let Some(bg) = style.bg.and_then(|c| color(c, true)) {
        codes.push(bg);
    }
    format!("\x1b[{}m", codes.join(";"))
}

fn color(c: Color, bg: bool) -> Option<String> {
    let base = |n: u8| Some(format!("{}", if bg { n + 10 } else { n }));
    match c {
        Color::Reset => None,
        Color::Black => base(30),
        Color::Red => base(31),
        Color::Green => base(32),
        Color::Yellow => base(33),
        Color::Blue => base(34),
        Color::Magenta => base(35),
        Color::Cyan => base(36),
        Color::Gray => base(37),
        Color::DarkGray => base(90),
        Color::LightRed => base(91),
        Color::LightGreen => base(92),
        Color::LightYellow => base(93),
        Color::LightBlue => base(94),
        Color::LightMagenta => base(95),
        Color::LightCyan => base(96),
        Color::White => base(97),
        Color::Indexed(i) => Some(format!("{};5;{i}", if bg { 48 } else { 38 })),
        Color::Rgb(r, g, b) => Some(format!("{};2;{r};{g};{b}", if bg { 48 } else { 38 })),
    }
}

/// Remove ANSI escape sequences, leaving the visible text.
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ parameters final-byte(@..~)
            if chars.next() == Some('[') {
                for d in chars.by_ref() {
                    if ('@'..='~').contains(&d) {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
