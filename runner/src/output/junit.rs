//! `--junit FILE`: the run's thresholds as a JUnit XML test suite, so GitLab,
//! Jenkins and GitHub show a performance gate like any other test report.
//!
//! One test case per threshold (a `<failure>` with the measured value when it
//! missed), plus a `run` case that fails when no response had the expected
//! status — the same rule as the exit code. The layout follows the Jenkins
//! xunit plugin's `junit-10.xsd`, which the tests validate against.

use std::fmt::Write as _;
use std::path::Path;

use api::report::{Report, Summary};
use api::threshold::Evaluation;

/// `classname` of every test case: CI tools group cases by it.
const CLASSNAME: &str = "gcannon.thresholds";

/// What the suite describes besides the verdicts.
pub struct Suite<'a> {
    /// Suite name: the target, or the LoadTest's name.
    pub name: &'a str,
    /// When the run started, RFC 3339.
    pub timestamp: String,
}

/// Render the JUnit document for a finished run.
pub fn render(suite: &Suite<'_>, report: &Report, verdicts: &[Evaluation]) -> String {
    let s = Summary::from_report(report);
    let time = format!("{:.3}", report.elapsed_sec.max(0.0));
    let run_ok = report.counts.responses > report.counts.unexpected_status;
    let failures = verdicts.iter().filter(|v| !v.passed).count() + usize::from(!run_ok);
    let tests = verdicts.len() + 1;
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let name = escape(suite.name);
    let _ = writeln!(
        out,
        "<testsuites name=\"gcannon\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" time=\"{time}\">"
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{name}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\" time=\"{time}\" timestamp=\"{}\">",
        escape(&suite.timestamp)
    );
    out.push_str("    <properties>\n");
    for (key, value) in [
        ("requests", s.requests.to_string()),
        ("responses", s.responses.to_string()),
        ("rps", format!("{:.2}", s.rps)),
        ("errors", s.error_total.to_string()),
        ("p99_us", s.latency.p99.to_string()),
    ] {
        let _ = writeln!(
            out,
            "      <property name=\"{key}\" value=\"{}\"/>",
            escape(&value)
        );
    }
    out.push_str("    </properties>\n");
    let run_failure = (!run_ok).then(|| {
        format!(
            "{} responses, {} with an unexpected status: no successful response",
            report.counts.responses, report.counts.unexpected_status
        )
    });
    case(&mut out, "run", &time, run_failure.as_deref());
    for v in verdicts {
        let failure = (!v.passed).then(|| format!("{}: {}", v.threshold, v.measured_text()));
        case(&mut out, &v.threshold, &time, failure.as_deref());
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

fn case(out: &mut String, name: &str, time: &str, failure: Option<&str>) {
    let name = escape(name);
    let Some(message) = failure else {
        let _ = writeln!(
            out,
            "    <testcase name=\"{name}\" classname=\"{CLASSNAME}\" time=\"{time}\"/>"
        );
        return;
    };
    let message = escape(message);
    let _ = writeln!(
        out,
        "    <testcase name=\"{name}\" classname=\"{CLASSNAME}\" time=\"{time}\">\n      \
         <failure type=\"threshold\" message=\"{message}\">{message}</failure>\n    </testcase>"
    );
}

/// Write the document to `path`, naming the file in the error.
pub fn write(
    path: &Path,
    suite: &Suite<'_>,
    report: &Report,
    verdicts: &[Evaluation],
) -> Result<(), String> {
    std::fs::write(path, render(suite, report, verdicts))
        .map_err(|e| format!("--junit {}: {e}", path.display()))
}

/// Escape text for an XML attribute or element.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 has no representation for most control characters.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(threshold: &str, measured: &str, passed: bool) -> Evaluation {
        Evaluation {
            threshold: threshold.into(),
            measured: measured.into(),
            value: 0.0,
            passed,
            baseline: None,
            change: None,
            significance: None,
        }
    }

    fn suite() -> Suite<'static> {
        Suite {
            name: "http://127.0.0.1:1/",
            timestamp: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn one_case_per_threshold_and_failures_carry_the_measured_value() {
        let mut report = Report::default();
        report.counts.responses = 10;
        report.elapsed_sec = 1.5;
        let xml = render(
            &suite(),
            &report,
            &[
                verdict("p99 < 5ms", "1.20ms", true),
                verdict("errors < 0.1%", "2.5%", false),
            ],
        );
        assert!(xml.contains("tests=\"3\" failures=\"1\""), "{xml}");
        assert!(xml.contains("<testcase name=\"p99 &lt; 5ms\""), "{xml}");
        assert!(
            xml.contains("message=\"errors &lt; 0.1%: measured 2.5%\""),
            "{xml}"
        );
        assert!(xml.contains("time=\"1.500\""), "{xml}");
    }

    #[test]
    fn a_run_without_a_good_response_fails_the_run_case() {
        let xml = render(&suite(), &Report::default(), &[]);
        assert!(xml.contains("tests=\"1\" failures=\"1\""), "{xml}");
        assert!(xml.contains("no successful response"), "{xml}");
    }

    #[test]
    fn escapes_markup_and_control_characters() {
        assert_eq!(escape("a<b>&\"'\u{1}"), "a&lt;b&gt;&amp;&quot;&apos;?");
    }
}
