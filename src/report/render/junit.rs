//! junit.xml: one testsuite per agent, one testcase per benchmark and attempt, for CI test
//! reporters; for an incomplete run, a `reev.completeness` suite. Written by quick-junit, the
//! writer cargo-nextest uses (it escapes the text and drops what XML 1.0 cannot carry).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use quick_junit::{NonSuccessKind, Property, TestCase, TestCaseStatus, TestSuite};

use super::Renderer;
use crate::report::gather::completeness::{planned_text, AgentCompleteness, Completeness};
use crate::report::gather::model::SessionBrief;
use crate::report::model::Report;
use crate::session::Status;

pub struct Junit;

impl Renderer for Junit {
    fn file_name(&self) -> &'static str {
        "junit.xml"
    }

    fn render(&self, r: &Report) -> String {
        let mut suites: BTreeMap<&str, Vec<&SessionBrief>> = BTreeMap::new();
        for s in &r.sessions {
            suites.entry(s.agent.as_str()).or_default().push(s);
        }
        let timestamp = DateTime::parse_from_rfc3339(&r.generated_at).ok();
        let mut out = quick_junit::Report::new(format!("reev {}", r.run_id));
        out.set_time(ms(r.sessions.iter().map(|s| s.duration_ms).sum()));
        for (i, (agent, sessions)) in suites.iter().enumerate() {
            out.add_test_suite(agent_suite(r, i, agent, sessions, timestamp));
        }
        if !r.completeness.complete {
            // Pushed, not added: the totals of <testsuites> stay the sessions' counts.
            out.test_suites.push(completeness(
                &r.completeness,
                &r.run_id,
                suites.len(),
                timestamp,
            ));
        }
        out.to_string()
            .unwrap_or_else(|e| format!("<!-- junit.xml could not be written: {e} -->\n"))
    }
}

fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// A suite as every reev suite starts: its id, package and host (reev), its timestamp.
fn suite(name: &str, id: usize, timestamp: Option<DateTime<FixedOffset>>) -> TestSuite {
    let mut s = TestSuite::new(name);
    s.extra.insert("id".into(), id.to_string().into());
    s.extra.insert("package".into(), "reev".into());
    s.extra.insert("hostname".into(), "reev".into());
    if let Some(t) = timestamp {
        s.set_timestamp(t);
    }
    s
}

/// One agent's sessions, with the run id and the agent's error rate as properties.
fn agent_suite(
    r: &Report,
    id: usize,
    agent: &str,
    sessions: &[&SessionBrief],
    timestamp: Option<DateTime<FixedOffset>>,
) -> TestSuite {
    let mut suite = suite(agent, id, timestamp);
    suite.set_time(ms(sessions.iter().map(|s| s.duration_ms).sum()));
    let error_rate = r
        .agents
        .iter()
        .find(|a| a.agent == agent)
        .map_or(0.0, |a| a.error_rate);
    suite.add_property(Property::new("run_id", r.run_id.as_str()));
    suite.add_property(Property::new("error_rate", format!("{error_rate:.4}")));
    for s in sessions {
        suite.add_test_case(case(agent, s));
    }
    suite
}

/// One session: a failure (failed, timed out) or an error (not judged) carries the failing
/// assertions and the session's error, and its stdout tail.
fn case(agent: &str, s: &SessionBrief) -> TestCase {
    let status = match s.status {
        Status::Succeeded => TestCaseStatus::success(),
        Status::Error => {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
            st.set_message(s.error.as_deref().unwrap_or("error"))
                .set_type("error")
                .set_description(details(s));
            st
        }
        status => {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
            st.set_message(format!(
                "{}: score {}, {} failing assertion(s)",
                status.as_str(),
                crate::report::text::score(s.score, 3),
                s.failing.len()
            ))
            .set_type(status.as_str())
            .set_description(details(s));
            st
        }
    };
    let mut case = TestCase::new(format!("{} #{}", s.benchmark_id, s.attempt), status);
    case.set_classname(format!("reev.{agent}"))
        .set_time(ms(s.duration_ms));
    if !s.stdout_tail.is_empty() && s.status != Status::Succeeded {
        case.set_system_out(s.stdout_tail.as_str());
    }
    case
}

/// The failing assertions, expected and actual, then the session's error.
fn details(s: &SessionBrief) -> String {
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
}

/// For an incomplete run, a JUnit test suite `reev.completeness`: one test case per agent,
/// failing when its sessions are missing, so a CI test reporter shows a lost shard as a
/// failure (a complete run adds nothing: the test counts stay the sessions').
fn completeness(
    c: &Completeness,
    run_id: &str,
    id: usize,
    timestamp: Option<DateTime<FixedOffset>>,
) -> TestSuite {
    let missing = |a: &AgentCompleteness| a.planned.is_none_or(|p| a.present < p);
    let mut suite = suite("reev.completeness", id, timestamp);
    suite.set_time(Duration::ZERO);
    suite.add_property(Property::new("run_id", run_id));
    suite.add_property(Property::new("planned_sessions", c.planned.to_string()));
    suite.add_property(Property::new("present_sessions", c.present.to_string()));
    for a in &c.agents {
        let status = if missing(a) {
            let msg = format!(
                "{} of {} planned sessions present; run: {}",
                a.present,
                planned_text(a.planned),
                c.summary()
            );
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
            st.set_message(msg.as_str())
                .set_type("incomplete")
                .set_description(msg);
            st
        } else {
            TestCaseStatus::success()
        };
        let mut case = TestCase::new("planned sessions present", status);
        case.set_classname(format!("reev.{}", a.agent))
            .set_time(Duration::ZERO);
        suite.add_test_case(case);
    }
    suite
}
