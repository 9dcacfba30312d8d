//! report.md: GitHub-flavoured Markdown, short enough for a CI job summary.

use std::fmt::Write;

use super::Renderer;
use crate::report::gather::completeness::{planned_text, Completeness};
use crate::report::model::Report;
use crate::report::text::{bytes, ms, pct};

pub struct Markdown;

/// A table cell: no pipes, no newlines, no HTML, no raw control characters (report.md is
/// also `cat` into CI logs and job summaries, where escapes act as on a terminal).
fn cell(s: &str) -> String {
    prose(&s.chars().take(120).collect::<String>())
}

/// Cell escaping without the length cap, for the gate's explanations.
fn prose(s: &str) -> String {
    let s = crate::term::visible(s);
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
        .replace('`', "'")
}

/// A list item's text: one line, no HTML, no raw control characters; pipes stay pipes
/// (outside a table they mean nothing), so it reads as plain text in a CI log.
fn line(s: &str) -> String {
    crate::term::visible(s)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace(['\n', '\r'], " ")
}

impl Renderer for Markdown {
    fn file_name(&self) -> &'static str {
        "report.md"
    }

    fn render(&self, r: &Report) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "# reev report: run `{}`\n", cell(&r.run_id));
        if let Some(from) = &r.replayed_from {
            let _ = writeln!(
                o,
                "**Replayed** from run `{}`: the model's answers came from its cassettes (no model was called, cost 0).\n",
                cell(from)
            );
        }
        o.push_str(&completeness(&r.completeness));
        regressions(&mut o, r);
        gate(&mut o, r);
        agents(&mut o, r);
        matrix(&mut o, r);
        changes(&mut o, r);
        failures(&mut o, r);
        o
    }
}

/// The regressions, or that there were none (and against what).
fn regressions(o: &mut String, r: &Report) {
    match &r.baseline_run_id {
        Some(b) if r.regressions.is_empty() => {
            let _ = writeln!(o, "**No regressions** against baseline `{}`.\n", cell(b));
        }
        None if r.regressions.is_empty() => o.push_str("No baseline run to compare with.\n\n"),
        b => {
            let against = b
                .as_ref()
                .map(|b| format!(" against baseline `{}`", cell(b)))
                .unwrap_or_default();
            let _ = writeln!(o, "**{} regression(s)**{against}:\n", r.regressions.len(),);
            for g in &r.regressions {
                let _ = writeln!(
                    o,
                    "- **{}** {}: {}",
                    cell(g.kind.as_str()),
                    cell(&g.agent),
                    prose(&g.detail)
                );
            }
            o.push('\n');
        }
    }
}

/// The agents: rates, durations and resources; pass@k; tokens and cost.
fn agents(o: &mut String, r: &Report) {
    let _ = writeln!(
        o,
        "Success rates count judged sessions only: sessions that ended `error` (not judged) are left out, and shown as the error rate (the gate fails above {}).\n",
        pct(r.max_error_rate)
    );
    o.push_str("| agent | sessions | error rate | success rate (95% CI) | mean score (95% CI) | p50 / p95 / p99 | CPU | peak RSS |\n");
    o.push_str("|---|---:|---:|---|---|---|---:|---:|\n");
    for a in &r.agents {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} / {} / {} | {} | {} |",
            cell(&a.agent),
            a.sessions,
            pct(a.error_rate),
            in_parens(crate::report::text::with_ci(
                a.success_rate,
                a.success_rate_ci,
                pct
            )),
            in_parens(crate::report::text::with_ci(
                a.mean_score,
                a.mean_score_ci,
                crate::report::text::score3
            )),
            ms(a.p50_duration_ms),
            ms(a.p95_duration_ms),
            ms(a.p99_duration_ms),
            ms(a.mean_cpu_ms),
            bytes(a.max_peak_rss_bytes as f64)
        );
    }
    if r.agents.iter().any(|a| a.k > 1) {
        o.push_str("\n| agent | k | pass@1 | pass@k | pass^k |\n|---|---:|---:|---:|---:|\n");
        for a in &r.agents {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} |",
                cell(&a.agent),
                a.k,
                pct(a.pass_at_1),
                pct(a.pass_at_k),
                pct(a.pass_hat_k)
            );
        }
    }
    let costs = super::cost_rows(&r.agents);
    if !costs.is_empty() {
        o.push_str("\n| agent | tokens / session | cost / session | cost / success | priced |\n|---|---:|---:|---:|---:|\n");
        for [agent, tokens, per_session, per_success, priced] in &costs {
            let _ = writeln!(
                o,
                "| {} | {tokens} | {per_session} | {per_success} | {priced} |",
                cell(agent)
            );
        }
    }
}

/// The benchmark matrix, folded: one row per benchmark, a cell per agent.
fn matrix(o: &mut String, r: &Report) {
    let agents: Vec<&str> = r.agents.iter().map(|a| a.agent.as_str()).collect();
    let _ = writeln!(
        o,
        "\n<details><summary>Benchmark matrix ({} benchmarks)</summary>\n",
        r.benchmarks.len()
    );
    let _ = writeln!(
        o,
        "| benchmark | {} |",
        agents
            .iter()
            .map(|a| cell(a))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(o, "|---|{}", "---|".repeat(agents.len()));
    for b in &r.benchmarks {
        let row: Vec<String> = agents
            .iter()
            .map(|a| {
                match r
                    .matrix
                    .iter()
                    .find(|c| &c.benchmark_id == b && c.agent == *a)
                {
                    Some(c) => format!(
                        "{} {}/{}",
                        if c.succeeded == c.attempts {
                            "✅"
                        } else if c.succeeded == 0 {
                            "❌"
                        } else {
                            "⚠️"
                        },
                        c.succeeded,
                        c.attempts
                    ),
                    None => "–".into(),
                }
            })
            .collect();
        let _ = writeln!(o, "| {} | {} |", cell(b), row.join(" | "));
    }
    o.push_str("\n</details>\n");
}

/// Benchmarks that changed once (broke or got fixed), and the flaky ones.
fn changes(o: &mut String, r: &Report) {
    if !r.changes.is_empty() {
        let _ = writeln!(
            o,
            "\n**Changed** (all or nothing in every recent run, changed once; not flaky): {}",
            r.changes
                .iter()
                .map(|c| format!(
                    "{} / {} ({} since {})",
                    cell(&c.benchmark_id),
                    cell(&c.agent),
                    if c.broke { "broke" } else { "fixed" },
                    cell(&c.since_run)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if !r.flaky.is_empty() {
        let _ = writeln!(
            o,
            "\n**Flaky** (mixed outcomes without a step change over the last runs): {}",
            r.flaky
                .iter()
                .map(|f| format!(
                    "{} / {} ({}/{})",
                    cell(&f.benchmark_id),
                    cell(&f.agent),
                    f.succeeded,
                    f.sessions
                ))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}

/// The first 50 failures with their failing assertions, folded.
fn failures(o: &mut String, r: &Report) {
    if !r.failures.is_empty() {
        let _ = writeln!(
            o,
            "\n<details><summary>{} failures</summary>\n",
            r.failures.len()
        );
        for f in r.failures.iter().take(50) {
            let _ = writeln!(
                o,
                "- `{}` {} #{}: **{}** (score {}){}",
                cell(&f.benchmark_id),
                cell(&f.agent),
                f.attempt,
                f.status.as_str(),
                crate::report::text::score(f.score, 2),
                f.error
                    .as_deref()
                    .map(|e| format!(" — {}", cell(e)))
                    .unwrap_or_default()
            );
            for a in &f.failing {
                let _ = writeln!(o, "  - {}: {}", cell(a.kind.as_str()), cell(&a.message));
            }
        }
        if r.failures.len() > 50 {
            let _ = writeln!(o, "- … and {} more in report.html", r.failures.len() - 50);
        }
        o.push_str("\n</details>\n");
    }
}

/// How the gate decided: what each check compared with, its threshold, what it saw, and its
/// false-alarm rate replayed over the stored history.
fn gate(o: &mut String, r: &Report) {
    let Some(g) = &r.gate else { return };
    for c in g
        .checks
        .iter()
        .filter(|c| c.outcome == crate::report::gate::regress::Outcome::Inconclusive)
    {
        let _ = writeln!(
            o,
            "- **inconclusive** {}: {}",
            cell(&c.agent),
            prose(&c.observed)
        );
    }
    // Folded: the checks are long sentences; a CI log shows them as an indented list, a
    // job summary behind one click.
    let _ = writeln!(
        o,
        "\n<details><summary>How the gate decided ({} checks)</summary>\n\nHistory: {} earlier complete run(s){}.\n",
        g.checks.len(),
        g.history_runs.len(),
        match (g.history_runs.first(), g.history_runs.last()) {
            (Some(a), Some(b)) => format!(" (`{}` … `{}`)", cell(a), cell(b)),
            _ => String::new(),
        }
    );
    if g.learning {
        let _ = writeln!(
            o,
            "**The gate is still learning**: {} of the {} comparable runs of history it needs to tell run-to-run noise; no check fails until then (large effects are described below).\n",
            g.history_runs.len(),
            g.thresholds.min_history
        );
    }
    for c in &g.checks {
        let outcome = format!("{:?}", c.outcome).to_lowercase();
        let _ = writeln!(
            o,
            "- **{}** {}: {outcome}\n  - compared with: {}\n  - threshold: {}\n  - observed: {}\n  - false alarms replayed: {}",
            cell(c.kind.as_str()),
            cell(&c.agent),
            line(&c.compared_with),
            line(&c.threshold),
            line(&c.observed),
            g.replayed(&c.agent, c.kind)
        );
    }
    o.push_str("\n</details>\n");
    o.push('\n');
}

/// `v (lo–hi)`, or `v` alone when there is no interval.
fn in_parens([v, ci]: [String; 2]) -> String {
    if ci.is_empty() {
        v
    } else {
        format!("{v} ({ci})")
    }
}

/// The Markdown section: a headline, and a table when the run is incomplete.
fn completeness(c: &Completeness) -> String {
    let mut o = String::new();
    if c.complete {
        let _ = writeln!(o, "Complete: {}.\n", c.summary());
        return o;
    }
    let _ = writeln!(o, "**Incomplete run**: {}.\n", c.summary());
    o.push_str("| agent | planned | present | missing |\n|---|---:|---:|---:|\n");
    for a in &c.agents {
        let missing = a
            .planned
            .map(|p| p.saturating_sub(a.present).to_string())
            .unwrap_or_else(|| "?".into());
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} |",
            a.agent.replace('|', "\\|"),
            planned_text(a.planned),
            a.present,
            missing
        );
    }
    o.push('\n');
    o
}
