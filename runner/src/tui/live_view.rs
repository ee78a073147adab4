//! Drawing the live view into whatever area the terminal has: title and
//! gauge, a line of rates, a req/s chart across the width, panels for
//! latency, status classes and errors, connections and the open model's
//! schedule, the runners (local and cluster runs) and a live latency
//! histogram. Parts that do not fit a small terminal are left out, the
//! histogram first, then the chart.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Chart, Dataset, Gauge, GraphType, Paragraph, Widget};

use super::histogram::{self, latency_buckets};
use super::live::LiveState;
use super::results::{bold, boxed};
use crate::output::format;

/// Rows of the latency, status and error panels (borders included).
const PANEL_ROWS: u16 = 8;
/// Fewest rows worth giving the req/s chart.
const MIN_CHART_ROWS: u16 = 6;
/// Fewest rows worth giving the latency histogram.
const MIN_HISTOGRAM_ROWS: u16 = 5;
/// Most runner lines listed before the rest are summarised.
const MAX_RUNNER_ROWS: u16 = 8;

fn key() -> Style {
    Style::default().fg(Color::DarkGray)
}

impl Widget for &LiveState {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let runners = self.frame.runners.len() as u16;
        let runner_rows = if runners == 0 {
            0
        } else {
            runners.min(MAX_RUNNER_ROWS) + 2
        };
        // Fixed part: title, gauge, rates, notes line, the first fault; then what fits.
        let fault_rows = u16::from(self.frame.first_error.is_some());
        let fixed = 4 + fault_rows;
        let mut rest = area.height.saturating_sub(fixed);
        // Too short for the panels: their numbers in two compact lines.
        let panels = if rest >= PANEL_ROWS {
            PANEL_ROWS
        } else {
            rest.min(2)
        };
        rest -= panels;
        let runner_rows = if rest >= runner_rows { runner_rows } else { 0 };
        rest -= runner_rows;
        let (chart, hist) = if rest >= MIN_CHART_ROWS + MIN_HISTOGRAM_ROWS {
            let chart = (rest / 2).max(MIN_CHART_ROWS);
            (chart, rest - chart)
        } else if rest >= MIN_CHART_ROWS {
            (rest, 0)
        } else {
            (0, 0)
        };
        let [title, gauge, rates, notes, fault, panel_area, runner_area, chart_area, hist_area] =
            Layout::vertical([
                Constraint::Length(1),
                Constraint::Length(1),
                Constraint::Length(1),
                Constraint::Length(1),
                Constraint::Length(fault_rows),
                Constraint::Length(panels),
                Constraint::Length(runner_rows),
                Constraint::Length(chart),
                Constraint::Length(hist),
            ])
            .areas(area);
        self.title_line().render(title, buf);
        self.gauge().render(gauge, buf);
        self.rates_line().render(rates, buf);
        self.notes_line().render(notes, buf);
        if let Some(e) = &self.frame.first_error {
            Paragraph::new(Line::from(vec![
                Span::styled("first error ", key()),
                Span::styled(e.as_str(), Style::default().fg(Color::Red)),
            ]))
            .render(fault, buf);
        }
        if panels > 0 && panels < PANEL_ROWS {
            self.compact_panels().render(panel_area, buf);
        } else if panels > 0 {
            let [lat, status, errors] = Layout::horizontal([Constraint::Ratio(1, 3); 3])
                .spacing(1)
                .areas(panel_area);
            self.latency_panel().render(lat, buf);
            self.status_panel().render(status, buf);
            self.errors_panel().render(errors, buf);
        }
        if runner_rows > 0 {
            self.runners_panel(runner_rows - 2).render(runner_area, buf);
        }
        if chart > 0 {
            self.render_chart(chart_area, buf);
        }
        if hist > 0 {
            let rows = hist.saturating_sub(2).max(1) as usize;
            let buckets = self
                .histogram
                .as_ref()
                .map(|h| latency_buckets(h, rows))
                .unwrap_or_default();
            histogram::paragraph(
                &buckets,
                " Latency histogram so far (p0 - p99.9) ",
                hist_area.width,
            )
            .render(hist_area, buf);
        }
    }
}

impl LiveState {
    fn title_line(&self) -> Paragraph<'_> {
        let mut spans = vec![
            Span::styled("gcannon", bold().fg(Color::Cyan)),
            Span::raw(" > "),
            Span::styled(self.target.as_str(), bold()),
        ];
        if let Some(phase) = &self.frame.phase {
            spans.push(Span::raw("  "));
            spans.push(Span::styled(phase.as_str(), bold().fg(Color::Yellow)));
        }
        spans.push(Span::styled("   q quit  p pause", key()));
        if self.paused {
            spans.push(Span::styled(
                "   PAUSED (p resumes; the load goes on)",
                bold().fg(Color::Black).bg(Color::Yellow),
            ));
        }
        Paragraph::new(Line::from(spans))
    }

    fn gauge(&self) -> Gauge<'_> {
        if self.warming_up() {
            let w = self.warmup.as_secs_f64();
            let label = format!(
                "warm-up {} / {} (not measured)",
                format::seconds(self.clock.as_secs_f64()),
                format::seconds(w)
            );
            return Gauge::default()
                .gauge_style(Style::default().fg(Color::Blue).bg(Color::DarkGray))
                .ratio((self.clock.as_secs_f64() / w.max(1e-9)).clamp(0.0, 1.0))
                .label(Span::styled(label, bold().fg(Color::White)));
        }
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
            .label(Span::styled(label, bold().fg(Color::White)))
    }

    /// `v`, or `-` when the frame does not know it.
    fn known(&self, v: u64) -> String {
        if self.frame.partial {
            "-".into()
        } else {
            v.to_string()
        }
    }

    fn rates_line(&self) -> Paragraph<'_> {
        let c = &self.frame.counts;
        let bandwidth = if self.frame.partial {
            "-".into()
        } else {
            format!("{}/s", format::bytes(self.bandwidth_now))
        };
        Paragraph::new(Line::from(vec![
            Span::styled("req/s ", key()),
            Span::styled(format::si(self.rps_now), bold().fg(Color::Green)),
            Span::styled("  peak ", key()),
            Span::styled(
                format::si(self.peak as f64),
                Style::default().fg(Color::Yellow),
            ),
            Span::styled("  responses ", key()),
            Span::raw(c.responses.to_string()),
            Span::styled("  requests ", key()),
            Span::raw(self.known(c.requests)),
            Span::styled("  bandwidth ", key()),
            Span::raw(bandwidth),
        ]))
    }

    /// Connections and the open model's schedule.
    fn notes_line(&self) -> Paragraph<'_> {
        let f = &self.frame;
        let mut spans = Vec::new();
        if let Some(open) = f.open_connections {
            spans.push(Span::styled("open connections ", key()));
            spans.push(Span::raw(open.to_string()));
            spans.push(Span::raw("  "));
        }
        spans.push(Span::styled("reconnects ", key()));
        spans.push(Span::raw(f.counts.reconnects.to_string()));
        if let Some(scheduled) = f.scheduled {
            let unsent = scheduled.saturating_sub(f.counts.requests);
            spans.push(Span::styled("  scheduled ", key()));
            spans.push(Span::raw(scheduled.to_string()));
            spans.push(Span::styled("  late ", key()));
            spans.push(Span::styled(
                f.counts.late.to_string(),
                warn(f.counts.late, Color::Yellow),
            ));
            spans.push(Span::styled("  unsent ", key()));
            spans.push(Span::styled(
                unsent.to_string(),
                warn(unsent, Color::Yellow),
            ));
        }
        Paragraph::new(Line::from(spans))
    }

    /// The panels' numbers in two lines, for short terminals.
    fn compact_panels(&self) -> Paragraph<'_> {
        let l = self.latency.filter(|l| l.samples > 0);
        let us = |v: Option<u64>| v.map_or("-".into(), |v| format::latency_us(v as f64));
        let c = &self.frame.counts;
        let s = &c.status;
        let mut latency = Vec::new();
        for (name, v) in [
            ("p50 ", l.map(|l| l.p50)),
            ("  p90 ", l.map(|l| l.p90)),
            ("  p99 ", l.map(|l| l.p99)),
            ("  p99.9 ", l.map(|l| l.p999)),
            ("  max ", l.map(|l| l.max)),
        ] {
            latency.push(Span::styled(name, key()));
            latency.push(Span::raw(us(v)));
        }
        let mut status = Vec::new();
        for (name, v) in [
            ("2xx ", s.s2xx),
            ("  3xx ", s.s3xx),
            ("  4xx ", s.s4xx),
            ("  5xx ", s.s5xx),
            ("  other ", s.other),
        ] {
            status.push(Span::styled(name, key()));
            status.push(Span::raw(self.known(v)));
        }
        let errors = c.errors.total() + self.frame.errors_of_unknown_kind;
        status.push(Span::styled("  errors ", key()));
        status.push(Span::raw(errors.to_string()));
        Paragraph::new(vec![Line::from(latency), Line::from(status)])
    }

    fn latency_panel(&self) -> Paragraph<'_> {
        let l = self.latency.filter(|l| l.samples > 0);
        let us = |v: Option<u64>| v.map_or("-".into(), |v| format::latency_us(v as f64));
        let row = |name: &'static str, v: Option<u64>, style: Style| {
            Line::from(vec![
                Span::styled(format!("{name:<8}"), key()),
                Span::styled(us(v), style),
            ])
        };
        let plain = Style::default();
        Paragraph::new(vec![
            row("p50", l.map(|l| l.p50), plain),
            row("p90", l.map(|l| l.p90), plain),
            row("p99", l.map(|l| l.p99), Style::default().fg(Color::Yellow)),
            row("p99.9", l.map(|l| l.p999), Style::default().fg(Color::Red)),
            row("max", l.map(|l| l.max), plain),
            row("p99 1s", self.p99_last, key()),
        ])
        .block(boxed(" Latency so far "))
    }

    fn status_panel(&self) -> Paragraph<'_> {
        let s = &self.frame.counts.status;
        let row = |name: &'static str, v: u64, style: Style| {
            Line::from(vec![
                Span::styled(format!("{name:<8}"), key()),
                Span::styled(self.known(v), style),
            ])
        };
        Paragraph::new(vec![
            row("2xx", s.s2xx, Style::default().fg(Color::Green)),
            row("3xx", s.s3xx, Style::default()),
            row("4xx", s.s4xx, warn(s.s4xx, Color::Yellow)),
            row("5xx", s.s5xx, warn(s.s5xx, Color::Red)),
            row("other", s.other, warn(s.other, Color::Red)),
        ])
        .block(boxed(" Status codes "))
    }

    fn errors_panel(&self) -> Paragraph<'_> {
        let e = &self.frame.counts.errors;
        let row = |name: &'static str, n: u64, v: String| {
            Line::from(vec![
                Span::styled(format!("{name:<8}"), key()),
                Span::styled(v, warn(n, Color::Red)),
            ])
        };
        let total = e.total() + self.frame.errors_of_unknown_kind;
        Paragraph::new(vec![
            row("connect", e.connect, self.known(e.connect)),
            row("read", e.read, self.known(e.read)),
            row("timeout", e.timeout, self.known(e.timeout)),
            row("parse", e.parse, self.known(e.parse)),
            row("tls", e.tls, self.known(e.tls)),
            row("total", total, total.to_string()),
        ])
        .block(boxed(" Errors "))
    }

    fn runners_panel(&self, rows: u16) -> Paragraph<'_> {
        let runners = &self.frame.runners;
        let name_w = runners
            .iter()
            .map(|r| r.name.chars().count())
            .max()
            .unwrap_or(0)
            + 2;
        let mut lines: Vec<Line> = runners
            .iter()
            .take(rows as usize)
            .map(|r| {
                Line::from(vec![
                    Span::styled(format!("{:<name_w$}", r.name), bold()),
                    Span::raw(format!("{:<10}", r.state)),
                    Span::styled("req/s ", key()),
                    Span::styled(
                        format!("{:>9}", format::si(r.rps)),
                        Style::default().fg(Color::Green),
                    ),
                    Span::styled("  responses ", key()),
                    Span::raw(format!("{:>10}", r.responses)),
                    Span::styled("  errors ", key()),
                    Span::styled(format!("{:>6}", r.errors), warn(r.errors, Color::Red)),
                    Span::styled("  p99 ", key()),
                    Span::raw(
                        r.p99_us
                            .map_or("-".into(), |p| format::latency_us(p as f64)),
                    ),
                ])
            })
            .collect();
        if runners.len() > rows as usize {
            let more = runners.len() - rows as usize + 1;
            lines.truncate(rows.saturating_sub(1) as usize);
            lines.push(Line::styled(format!("… and {more} more runners"), key()));
        }
        Paragraph::new(lines).block(boxed(" Runners "))
    }

    fn render_chart(&self, area: Rect, buf: &mut Buffer) {
        let points: Vec<(f64, f64)> = self
            .sample_at
            .iter()
            .zip(&self.per_second)
            .map(|(t, v)| (*t, *v as f64))
            .collect();
        let last = points.last().map_or(0.0, |p| p.0);
        let span = self.total.as_secs_f64().max(last).ceil().max(1.0);
        let top = (self.peak as f64 * 1.1).max(1.0);
        let title = format!(
            " Req/s  now {}  peak {} ",
            format::si(self.rps_now),
            format::si(self.peak as f64)
        );
        let dataset = Dataset::default()
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(Style::default().fg(Color::Green))
            .data(&points);
        Chart::new(vec![dataset])
            .block(boxed(&title))
            .x_axis(
                Axis::default()
                    .bounds([0.0, span])
                    .style(key())
                    .labels(["0s".to_string(), format::seconds(span)]),
            )
            .y_axis(
                Axis::default()
                    .bounds([0.0, top])
                    .style(key())
                    .labels(["0".to_string(), format::si(top)]),
            )
            .render(area, buf);
    }
}

fn warn(v: u64, c: Color) -> Style {
    if v > 0 {
        Style::default().fg(c).add_modifier(Modifier::BOLD)
    } else {
        Style::default()
    }
}
