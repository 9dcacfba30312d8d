//! junit.xml: one testsuite per agent, one testcase per benchmark and attempt, for CI test reporters.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::Renderer;
use crate::report::gather::completeness::{planned_text, AgentCompleteness, Completeness};
use crate::report::gather::model::SessionBrief;
use crate::report::model::Report;

pub struct Junit;

use crate::report::text::escape as xml;

fn secs(ms: u64) -> String {
    format!("{:.3}", ms as f64 / 1000.0)
}

impl Renderer for Junit {
    fn file_name(&self) -> &'static str {
        "junit.xml"
    }

    fn render(&self, r: &Report) -> String {
        let mut suites: BTreeMap<&str, Vec<&SessionBrief>> = BTreeMap::new();
        for s in &r.sessions {
            suites.entry(s.agent.as_str()).or_default().push(s);
        }
        let count = |v: &[&SessionBrief], st: &[&str]| {
            v.iter().filter(|s| st.contains(&s.status.as_str())).count()
        };
        let all: Vec<&SessionBrief> = r.sessions.iter().collect();
        let total_ms: u64 = all.iter().map(|s| s.duration_ms).sum();
        let mut o = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            o,
            "<testsuites name=\"reev {}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{}\">",
            xml(&r.run_id),
            all.len(),
            count(&all, &["failed", "timed_out"]),
            count(&all, &["error"]),
            secs(total_ms)
        );
        for (i, (agent, sessions)) in suites.iter().enumerate() {
            let ms: u64 = sessions.iter().map(|s| s.duration_ms).sum();
            let _ = writeln!(
                o,
                "  <testsuite name=\"{}\" id=\"{i}\" package=\"reev\" hostname=\"reev\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"0\" time=\"{}\" timestamp=\"{}\">",
                xml(agent),
                sessions.len(),
                count(sessions, &["failed", "timed_out"]),
                count(sessions, &["error"]),
                secs(ms),
                xml(r.generated_at.trim_end_matches('Z').split('.').next().unwrap_or_default())
            );
            let error_rate = r
                .agents
                .iter()
                .find(|a| a.agent == *agent)
                .map_or(0.0, |a| a.error_rate);
            let _ = writeln!(
                o,
                "    <properties><property name=\"run_id\" value=\"{}\"/><property name=\"error_rate\" value=\"{error_rate:.4}\"/></properties>",
                xml(&r.run_id)
            );
            for s in sessions {
                let _ = write!(
                    o,
                    "    <testcase name=\"{} #{}\" classname=\"reev.{}\" time=\"{}\">",
                    xml(&s.benchmark_id),
                    s.attempt,
                    xml(agent),
                    secs(s.duration_ms)
                );
                let details = || {
                    let mut d = String::new();
                    for a in &s.failing {
                        let _ = writeln!(
                            d,
                            "{} {}: {}\n  expected: {}\n  actual: {}",
                            a.kind,
                            a.name.as_deref().unwrap_or(""),
                            a.message,
                            a.expected,
                            a.actual
                        );
                    }
                    if let Some(e) = &s.error {
                        let _ = writeln!(d, "{e}");
                    }
                    d
                };
                match s.status.as_str() {
                    "succeeded" => {}
                    "error" => {
                        let _ = write!(
                            o,
                            "\n      <error message=\"{}\" type=\"error\">{}</error>\n    ",
                            xml(s.error.as_deref().unwrap_or("error")),
                            xml(&details())
                        );
                    }
                    status => {
                        let msg = format!(
                            "{status}: score {}, {} failing assertion(s)",
                            crate::report::text::score(s.score, 3),
                            s.failing.len()
                        );
                        let _ = write!(
                            o,
                            "\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    ",
                            xml(&msg),
                            xml(status),
                            xml(&details())
                        );
                    }
                }
                if !s.stdout_tail.is_empty() && s.status != "succeeded" {
                    let _ = write!(
                        o,
                        "  <system-out>{}</system-out>\n    ",
                        xml(&s.stdout_tail)
                    );
                }
                o.push_str("</testcase>\n");
            }
            o.push_str("  </testsuite>\n");
        }
        if !r.completeness.complete {
            o.push_str(&completeness_junit(
                &r.completeness,
                &r.run_id,
                suites.len(),
                r.generated_at
                    .trim_end_matches('Z')
                    .split('.')
                    .next()
                    .unwrap_or_default(),
            ));
        }
        o.push_str("</testsuites>\n");
        o
    }
}

/// For an incomplete run, a JUnit test suite `reev.completeness`: one test case per agent,
/// failing when its sessions are missing, so a CI test reporter shows a lost shard as a
/// failure (a complete run adds nothing: the test counts stay the sessions').
fn completeness_junit(c: &Completeness, run_id: &str, id: usize, timestamp: &str) -> String {
    let missing = |a: &AgentCompleteness| a.planned.is_none_or(|p| a.present < p);
    let failures = c.agents.iter().filter(|a| missing(a)).count();
    let mut o = String::new();
    let _ = writeln!(
        o,
        "  <testsuite name=\"reev.completeness\" id=\"{id}\" package=\"reev\" hostname=\"reev\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\" time=\"0.000\" timestamp=\"{}\">",
        c.agents.len(),
        xml(timestamp)
    );
    let _ = writeln!(
        o,
        "    <properties><property name=\"run_id\" value=\"{}\"/><property name=\"planned_sessions\" value=\"{}\"/><property name=\"present_sessions\" value=\"{}\"/></properties>",
        xml(run_id),
        c.planned,
        c.present
    );
    for a in &c.agents {
        let _ = write!(
            o,
            "    <testcase name=\"planned sessions present\" classname=\"reev.{}\" time=\"0.000\">",
            xml(&a.agent)
        );
        if missing(a) {
            let msg = format!(
                "{} of {} planned sessions present; run: {}",
                a.present,
                planned_text(a.planned),
                c.summary()
            );
            let _ = write!(
                o,
                "\n      <failure message=\"{}\" type=\"incomplete\">{}</failure>\n    ",
                xml(&msg),
                xml(&msg)
            );
        }
        o.push_str("</testcase>\n");
    }
    o.push_str("  </testsuite>\n");
    o
}
