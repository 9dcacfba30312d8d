//! report.md: GitHub-flavoured Markdown, short enough for a CI job summary.

use std::fmt::Write;

use super::{bytes, ms, pct, Renderer, Report};

pub struct Markdown;

/// A table cell: no pipes, no newlines, no HTML, no raw control characters (report.md is
/// also `cat` into CI logs and job summaries, where escapes act as on a terminal).
fn cell(s: &str) -> String {
    let s: String = crate::term::visible(s).chars().take(120).collect();
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
        o.push_str(&super::completeness::markdown(&r.completeness));
        match &r.baseline_run_id {
            Some(b) if r.regressions.is_empty() => {
                let _ = writeln!(o, "**No regressions** against baseline `{}`.\n", cell(b));
            }
            Some(b) => {
                let _ = writeln!(
                    o,
                    "**{} regression(s)** against baseline `{}`:\n",
                    r.regressions.len(),
                    cell(b)
                );
                for g in &r.regressions {
                    let _ = writeln!(
                        o,
                        "- **{}** {}: {}",
                        cell(&g.kind),
                        cell(&g.agent),
                        cell(&g.detail)
                    );
                }
                o.push('\n');
            }
            None => o.push_str("No baseline run to compare with.\n\n"),
        }
        o.push_str("| agent | sessions | success rate (95% CI) | mean score (95% CI) | p50 / p95 / p99 | CPU | peak RSS |\n");
        o.push_str("|---|---:|---|---|---|---:|---:|\n");
        for a in &r.agents {
            let _ = writeln!(
                o,
                "| {} | {} | {} ({}–{}) | {:.3} ({:.3}–{:.3}) | {} / {} / {} | {} | {} |",
                cell(&a.agent),
                a.sessions,
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
