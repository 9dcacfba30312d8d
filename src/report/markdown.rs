//! report.md: GitHub-flavoured Markdown, short enough for a CI job summary.

use std::fmt::Write;

use super::{bytes, ms, pct, Renderer, Report};

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
        o.push_str(&super::completeness::markdown(&r.completeness));
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
                        cell(&g.kind),
                        cell(&g.agent),
                        prose(&g.detail)
                    );
                }
                o.push('\n');
            }
        }
        gate(&mut o, r);
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
                "| {} | {} | {} | {} ({}–{}) | {:.3} ({:.3}–{:.3}) | {} / {} / {} | {} | {} |",
                cell(&a.agent),
                a.sessions,
                pct(a.error_rate),
                pct(a.success_rate),
                pct(a.success_rate_ci[0]),
                pct(a.success_rate_ci[1]),
                a.mean_score,
                a.mean_score_ci[0],
                a.mean_score_ci[1],
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
        if !r.flaky.is_empty() {
            let _ = writeln!(
                o,
                "\n**Flaky** (mixed outcomes over the last runs): {}",
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
        if !r.failures.is_empty() {
            let _ = writeln!(
                o,
                "\n<details><summary>{} failures</summary>\n",
                r.failures.len()
            );
            for f in r.failures.iter().take(50) {
                let _ = writeln!(
                    o,
                    "- `{}` {} #{}: **{}** (score {:.2}){}",
                    cell(&f.benchmark_id),
                    cell(&f.agent),
                    f.attempt,
                    f.status,
                    f.score,
                    f.error
                        .as_deref()
                        .map(|e| format!(" — {}", cell(e)))
                        .unwrap_or_default()
                );
                for a in &f.failing {
                    let _ = writeln!(o, "  - {}: {}", cell(&a.kind), cell(&a.message));
                }
            }
            if r.failures.len() > 50 {
                let _ = writeln!(o, "- … and {} more in report.html", r.failures.len() - 50);
            }
            o.push_str("\n</details>\n");
        }
        o
    }
}

/// How the gate decided: what each check compared with, its threshold, what it saw, and its
/// false-alarm rate replayed over the stored history.
fn gate(o: &mut String, r: &Report) {
    let Some(g) = &r.gate else { return };
    for c in g
        .checks
        .iter()
        .filter(|c| c.outcome == super::regress::Outcome::Inconclusive)
    {
        let _ = writeln!(
            o,
            "- **inconclusive** {}: {}",
            cell(&c.agent),
            prose(&c.observed)
        );
    }
    let _ = writeln!(
        o,
        "\n### How the gate decided\n\nHistory: {} earlier complete run(s){}.",
        g.history_runs.len(),
        match (g.history_runs.first(), g.history_runs.last()) {
            (Some(a), Some(b)) => format!(" (`{}` … `{}`)", cell(a), cell(b)),
            _ => String::new(),
        }
    );
    if g.learning {
        let _ = writeln!(
            o,
            "**The gate is still learning**: with fewer than {} runs of history it cannot tell run-to-run noise yet, so only slowdowns over {:.0}% and success-rate drops over {:.0} points count.",
            g.thresholds.min_history,
            g.thresholds.learning_slowdown * 100.0,
            g.thresholds.learning_drop * 100.0
        );
    }
    o.push_str("\n| check | agent | compared with | threshold | observed | outcome | false alarms replayed |\n|---|---|---|---|---|---|---|\n");
    for c in &g.checks {
        let replay = g.replayed(&c.agent, &c.kind);
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {:?} | {} |",
            cell(&c.kind),
            cell(&c.agent),
            prose(&c.compared_with),
            prose(&c.threshold),
            prose(&c.observed),
            c.outcome,
            replay
        );
    }
    o.push('\n');
}
