//! The results view printed after a `--tui` run: tables for latency,
//! throughput and status codes, the adaptive latency histogram and charts of
//! the last runs. Rendered with ratatui widgets into an off-screen buffer and
//! printed as ANSI text, so it stays in the scrollback like plain output.

use api::plan::LoadPlan;
use api::report::{timeline, Report, Summary};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Padding, Paragraph, Row, Table, Widget};

use super::ansi::buffer_to_ansi;
use super::histogram::{self, bar, latency_buckets};
use crate::history::Entry;
use crate::output::format;

/// Columns of the results view.
pub const WIDTH: u16 = 78;
/// Runs shown in the history charts.
pub const HISTORY_SHOWN: usize = 10;

/// Most rows of the per-second charts (rate mode).
const TIMELINE_ROWS: usize = 20;

/// The results view as lines with ANSI colours. `buckets` is clamped to
/// 1..=100 (validate `-b` with [`super::check_buckets`] first to reject it
/// instead). `history` is charted oldest to newest, its last
/// [`HISTORY_SHOWN`] entries; include this run in it to see it charted.
pub fn render_results(
    plan: &LoadPlan,
    report: &Report,
    buckets: usize,
    history: &[Entry],
) -> String {
    let hist = latency_buckets(&report.latency, buckets);
    let shown = &history[history.len().saturating_sub(HISTORY_SHOWN)..];
    let seconds = timeline::rows(&report.timeline, TIMELINE_ROWS);
    // The warm-up is not in the timeline; its own row says so, set apart.
    let warmup = plan.warmup.get();
    let lead = (!warmup.is_zero()).then(|| {
        format!(
            "{:>9} ┆ {} not measured",
            "warm-up",
            format::seconds(warmup.as_secs_f64())
        )
    });
    let lead_rows = u16::from(lead.is_some());
    let header_rows = 2 + lead_rows;
    let mut heights = vec![header_rows, 4, 4, 4, hist.len().max(1) as u16 + 2];
    if !shown.is_empty() {
        heights.push(shown.len() as u16 + 2);
        heights.push(shown.len() as u16 + 2);
    }
    // Workers measure each second's p99 in every mode; a report without it
    // (read from elsewhere) would chart zeros, so then the panel is left out.
    let p99_measured = report.timeline.iter().any(|s| s.p99_us > 0);
    if !seconds.is_empty() {
        heights.push(seconds.len() as u16 + 2 + lead_rows);
        if p99_measured {
            heights.push(seconds.len() as u16 + 2 + lead_rows);
        }
    }
    let area = Rect::new(0, 0, WIDTH, heights.iter().sum());
    let mut buf = Buffer::empty(area);
    let rects = Layout::vertical(heights.iter().map(|h| Constraint::Length(*h))).split(area);

    header(plan, report).render(rects[0], &mut buf);
    let summary = Summary::from_report(report);
    latency_table(&summary).render(rects[1], &mut buf);
    throughput_table(&summary).render(rects[2], &mut buf);
    status_table(report).render(rects[3], &mut buf);
    histogram::paragraph(&hist, " Latency histogram (p0 - p99.9) ", WIDTH)
        .render(rects[4], &mut buf);
    let mut next = 5;
    if !shown.is_empty() {
        let first = history.len() - shown.len() + 1;
        let names: Vec<String> = (first..first + shown.len())
            .map(|run| {
                if run == history.len() {
                    format!("run {run}*")
                } else {
                    format!("run {run}")
                }
            })
            .collect();
        let rps: Vec<f64> = shown.iter().map(|e| e.rps).collect();
        let lat: Vec<f64> = shown.iter().map(|e| e.avg_us).collect();
        bar_chart(
            " Req/s, last runs ",
            &names,
            &rps,
            Color::Green,
            format::si,
            None,
        )
        .render(rects[next], &mut buf);
        bar_chart(
            " Avg latency, last runs ",
            &names,
            &lat,
            Color::Magenta,
            format::latency_us,
            None,
        )
        .render(rects[next + 1], &mut buf);
        next += 2;
    }
    if !seconds.is_empty() {
        let names: Vec<String> = seconds.iter().map(|r| format!("{}s", r.to_sec)).collect();
        let rps: Vec<f64> = seconds.iter().map(|r| r.rps).collect();
        let p99: Vec<f64> = seconds.iter().map(|r| r.p99_us as f64).collect();
        bar_chart(
            " Responses per second ",
            &names,
            &rps,
            Color::Green,
            format::si,
            lead.as_deref(),
        )
        .render(rects[next], &mut buf);
        if p99_measured {
            bar_chart(
                " p99 per second ",
                &names,
                &p99,
                Color::Yellow,
                format::latency_us,
                lead.as_deref(),
            )
            .render(rects[next + 1], &mut buf);
        }
    }
    buffer_to_ansi(&buf)
}

pub(super) fn bold() -> Style {
    Style::default().add_modifier(Modifier::BOLD)
}

pub(super) fn boxed(title: &str) -> Block<'_> {
    Block::bordered()
        .title(Span::styled(title, bold().fg(Color::Cyan)))
        .padding(Padding::horizontal(1))
}

fn header<'a>(plan: &'a LoadPlan, report: &Report) -> Paragraph<'a> {
    let key = Style::default().fg(Color::DarkGray);
    let warmup = plan.warmup.get();
    let warmup = (!warmup.is_zero()).then(|| {
        Line::styled(
            format!(
                "  after a {} warm-up, not measured",
                format::seconds(warmup.as_secs_f64())
            ),
            key,
        )
    });
    Paragraph::new(
        vec![
            Line::from(vec![
                Span::styled("gcannon results ", bold().fg(Color::Cyan)),
                Span::styled(plan.target.as_str(), bold()),
            ]),
            Line::from(vec![
                Span::styled("  connections ", key),
                Span::raw(plan.connections.to_string()),
                Span::styled("  threads ", key),
                Span::raw(plan.threads.to_string()),
                Span::styled("  pipeline ", key),
                Span::raw(plan.pipeline.to_string()),
                Span::styled("  elapsed ", key),
                Span::raw(format::seconds(report.elapsed_sec)),
            ]),
        ]
        .into_iter()
        .chain(warmup)
        .collect::<Vec<_>>(),
    )
}

/// A one-row table with a bold header row and evenly spread columns.
fn one_row_table<'a>(title: &'a str, heads: &[&'a str], cells: Vec<Cell<'a>>) -> Table<'a> {
    let widths = vec![Constraint::Ratio(1, heads.len() as u32); heads.len()];
    Table::new(vec![Row::new(cells)], widths)
        .header(Row::new(heads.iter().map(|h| Cell::from(*h))).style(bold()))
        .block(boxed(title))
}

fn latency_table(s: &Summary) -> Table<'static> {
    let l = &s.latency;
    // An empty histogram shows dashes, not zeros.
    let us = |v: f64| format::latency_us(if l.samples == 0 { f64::NAN } else { v });
    let cells = vec![
        Cell::from(us(l.avg)),
        Cell::from(us(l.p50 as f64)),
        Cell::from(us(l.p90 as f64)),
        Cell::from(us(l.p99 as f64)).style(Style::default().fg(Color::Yellow)),
        Cell::from(us(l.p999 as f64)).style(Style::default().fg(Color::Red)),
        Cell::from(us(l.max as f64)),
    ];
    one_row_table(
        " Latency ",
        &["Avg", "p50", "p90", "p99", "p99.9", "Max"],
        cells,
    )
}

fn throughput_table(s: &Summary) -> Table<'static> {
    let cells = vec![
        Cell::from(s.requests.to_string()),
        Cell::from(s.responses.to_string()),
        Cell::from(format::si(s.rps)).style(bold().fg(Color::Green)),
        Cell::from(format!("{}/s", format::bytes(s.bandwidth_bps))),
    ];
    one_row_table(
        " Throughput ",
        &["Requests", "Responses", "Req/s", "Bandwidth"],
        cells,
    )
}

fn status_table(report: &Report) -> Table<'static> {
    let s = &report.counts.status;
    let e = &report.counts.errors;
    let warn = |v: u64, c: Color| {
        if v > 0 {
            Style::default().fg(c)
        } else {
            Style::default()
        }
    };
    let cells = vec![
        Cell::from(s.s2xx.to_string()).style(Style::default().fg(Color::Green)),
        Cell::from(s.s3xx.to_string()),
        Cell::from(s.s4xx.to_string()).style(warn(s.s4xx, Color::Yellow)),
        Cell::from(s.s5xx.to_string()).style(warn(s.s5xx, Color::Red)),
        Cell::from(s.other.to_string()).style(warn(s.other, Color::Red)),
        Cell::from(e.total().to_string()).style(warn(e.total(), Color::Red)),
        Cell::from(report.counts.reconnects.to_string()),
    ];
    one_row_table(
        " Status codes ",
        &["2xx", "3xx", "4xx", "5xx", "Other", "Errors", "Reconnects"],
        cells,
    )
}

/// Horizontal bars, one per run, with the value printed at each bar's tip;
/// `lead` is a dimmed first row (the warm-up, before the measured seconds).
fn bar_chart(
    title: &'static str,
    names: &[String],
    values: &[f64],
    color: Color,
    fmt: fn(f64) -> String,
    lead: Option<&str>,
) -> Paragraph<'static> {
    let max = values
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let labels: Vec<String> = values.iter().map(|v| fmt(*v)).collect();
    let label_w = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    // Borders and padding (4) + row name (9) + space + value + spare.
    let cells = (WIDTH as usize).saturating_sub(4 + 9 + 1 + label_w + 1);
    let lead = lead.map(|l| Line::styled(l.to_string(), Style::default().fg(Color::DarkGray)));
    let lines: Vec<Line> = lead
        .into_iter()
        .chain(
            values
                .iter()
                .zip(labels)
                .zip(names)
                .map(|((v, label), name)| {
                    let b = bar(*v, max, cells);
                    Line::from(vec![
                        Span::styled(format!("{name:>9} "), Style::default().fg(Color::DarkGray)),
                        Span::styled(b, Style::default().fg(color)),
                        Span::styled(format!(" {label}"), bold()),
                    ])
                }),
        )
        .collect();
    Paragraph::new(lines).block(boxed(title))
}
