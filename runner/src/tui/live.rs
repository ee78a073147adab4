//! The live view drawn while the run goes on: progress, current rate and a
//! sparkline of req/s, in a few lines under the cursor (ratatui's inline
//! viewport) so the scrollback above is left alone.

use std::io::{IsTerminal, Stdout, Write};
use std::time::Duration;

use ratatui::backend::CrosstermBackend;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Gauge, Paragraph, Sparkline, Widget};
use ratatui::{Terminal, TerminalOptions, Viewport};

use crate::output::format;
use crate::progress::Progress;

/// Per-second samples kept for the sparkline; wider terminals show at most this many.
const MAX_SAMPLES: usize = 512;

/// What the live view shows, updated from [`Progress`] reports; renders as a widget.
#[derive(Clone, Debug)]
pub struct LiveState {
    target: String,
    total: Duration,
    elapsed: Duration,
    responses: u64,
    rps_now: f64,
    bandwidth_now: f64,
    per_second: Vec<u64>,
    peak: u64,
    last: Option<Progress>,
}

impl LiveState {
    /// Lines the live view occupies.
    pub const HEIGHT: u16 = 6;

    /// An empty view for a run against `target` lasting `total`.
    pub fn new(target: &str, total: Duration) -> LiveState {
        LiveState {
            target: target.to_string(),
            total,
            elapsed: Duration::ZERO,
            responses: 0,
            rps_now: 0.0,
            bandwidth_now: 0.0,
            per_second: Vec::new(),
            peak: 0,
            last: None,
        }
    }

    /// Take in a cumulative report; rates come from the difference to the previous one.
    pub fn update(&mut self, p: &Progress) {
        let (prev_t, prev_r, prev_b) = match &self.last {
            Some(l) => (l.elapsed, l.responses, l.bytes_read),
            None => (Duration::ZERO, 0, 0),
        };
        // A report that does not move time forward (or goes back) carries no rate.
        if let Some(dt) = p.elapsed.checked_sub(prev_t).filter(|d| !d.is_zero()) {
            let secs = dt.as_secs_f64();
            self.rps_now = p.responses.saturating_sub(prev_r) as f64 / secs;
            self.bandwidth_now = p.bytes_read.saturating_sub(prev_b) as f64 / secs;
            let sample = self.rps_now.round() as u64;
            self.peak = self.peak.max(sample);
            self.per_second.push(sample);
            if self.per_second.len() > MAX_SAMPLES {
                self.per_second.remove(0);
            }
            self.last = Some(*p);
        }
        if !p.total.is_zero() {
            self.total = p.total;
        }
        self.elapsed = p.elapsed;
        self.responses = p.responses;
    }

    /// The highest per-second rate seen so far.
    pub fn peak(&self) -> u64 {
        self.peak
    }

    /// The rate over the last interval, responses per second.
    pub fn current_rps(&self) -> f64 {
        self.rps_now
    }

    /// Per-second req/s samples, oldest first.
    pub fn samples(&self) -> &[u64] {
        &self.per_second
    }

    /// Fraction of the measured part done, 0.0..=1.0.
    pub fn ratio(&self) -> f64 {
        if self.total.is_zero() {
            return 0.0;
        }
        (self.elapsed.as_secs_f64() / self.total.as_secs_f64()).clamp(0.0, 1.0)
    }
}

impl Widget for &LiveState {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let [title, gauge, stats, spark] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Min(1),
        ])
        .areas(area);
        let bold = Style::default().add_modifier(Modifier::BOLD);
        Paragraph::new(Line::from(vec![
            Span::styled("gcannon", bold.fg(Color::Cyan)),
            Span::raw(" > "),
            Span::styled(self.target.as_str(), bold),
        ]))
        .render(title, buf);

        let ratio = self.ratio();
        let label = format!(
            "{:.0}%  {} / {}",
            ratio * 100.0,
            format::seconds(self.elapsed.as_secs_f64()),
            format::seconds(self.total.as_secs_f64())
        );
        Gauge::default()
            .gauge_style(Style::default().fg(Color::Green).bg(Color::DarkGray))
            .ratio(ratio)
            .label(Span::styled(label, bold.fg(Color::White)))
            .render(gauge, buf);

        let key = Style::default().fg(Color::DarkGray);
        Paragraph::new(Line::from(vec![
            Span::styled("req/s ", key),
            Span::styled(format::si(self.rps_now), bold.fg(Color::Green)),
            Span::styled("  responses ", key),
            Span::raw(self.responses.to_string()),
            Span::styled("  bandwidth ", key),
            Span::raw(format!("{}/s", format::bytes(self.bandwidth_now))),
            Span::styled("  peak ", key),
            Span::styled(
                format::si(self.peak as f64),
                Style::default().fg(Color::Yellow),
            ),
        ]))
        .render(stats, buf);

        // Only the newest samples fit; the sparkline scales to the highest shown.
        let shown = &self.per_second[self.per_second.len().saturating_sub(spark.width as usize)..];
        Sparkline::default()
            .data(shown)
            .max(self.peak.max(1))
            .style(Style::default().fg(Color::Green))
            .render(spark, buf);
    }
}

/// The live view on the real terminal; see [`LiveView::start`].
pub struct LiveView {
    terminal: Terminal<CrosstermBackend<Stdout>>,
    state: LiveState,
    finished: bool,
}

impl LiveView {
    /// Reserve the view's lines under the cursor and draw it empty. `None`
    /// when stdout is not a terminal (caller falls back to plain output).
    pub fn start(target: &str, total: Duration) -> std::io::Result<Option<LiveView>> {
        let out = std::io::stdout();
        if !out.is_terminal() {
            return Ok(None);
        }
        let mut terminal = Terminal::with_options(
            CrosstermBackend::new(out),
            TerminalOptions {
                viewport: Viewport::Inline(LiveState::HEIGHT),
            },
        )?;
        // Diff-based drawing skips blank cells, so old text under the view
        // (a half-written line) must be wiped first.
        terminal.clear()?;
        let mut view = LiveView {
            terminal,
            state: LiveState::new(target, total),
            finished: false,
        };
        view.draw()?;
        Ok(Some(view))
    }

    /// Take in a progress report and redraw.
    pub fn update(&mut self, p: &Progress) -> std::io::Result<()> {
        self.state.update(p);
        self.draw()
    }

    /// What is on screen now.
    pub fn state(&self) -> &LiveState {
        &self.state
    }

    /// Draw the last state, leave the cursor visible on the line below the
    /// view, so the results print after it.
    pub fn finish(mut self) -> std::io::Result<()> {
        self.draw()?;
        self.restore()
    }

    fn draw(&mut self) -> std::io::Result<()> {
        let state = &self.state;
        self.terminal.draw(|f| f.render_widget(state, f.area()))?;
        Ok(())
    }

    fn restore(&mut self) -> std::io::Result<()> {
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        let area = self.terminal.get_frame().area();
        self.terminal
            .set_cursor_position((0, area.bottom().saturating_sub(1)))?;
        self.terminal.show_cursor()?;
        let out = self.terminal.backend_mut();
        out.write_all(b"\r\n")?;
        out.flush()
    }
}

impl Drop for LiveView {
    fn drop(&mut self) {
        // An early return or a panic must not leave the cursor hidden.
        let _ = self.restore();
    }
}
