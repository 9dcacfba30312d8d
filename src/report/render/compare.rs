//! The renderers of a [`Comparison`]: Markdown (plain enough for a CI log), HTML (maud, the
//! viewer's style, offline) and JSON (serde), chosen by `--format`.

use std::fmt::Write;

use maud::{html, Markup, PreEscaped, DOCTYPE};

use crate::report::gate::compare::{
    AgentDelta, BenchDelta, Cell, Change, Comparison, Rates, Test, Verdict,
};
use crate::report::text::{ms, pct, tokens, usd};

/// The output formats of `reev compare`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Md,
    Html,
    Json,
}

pub fn render(c: &Comparison, format: Format) -> String {
    match format {
        Format::Md => markdown(c),
        Format::Html => page(c).into_string(),
        Format::Json => {
            let mut s = serde_json::to_string_pretty(c)
                .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
            s.push('\n');
            s
        }
    }
}

/// `+12.0%`-style signed text of a delta, `-` when unknown.
fn signed(x: Option<f64>, f: impl Fn(f64) -> String) -> String {
    match x {
        None => "-".into(),
        Some(v) if v > 0.0 => format!("+{}", f(v)),
        Some(v) if v < 0.0 => format!("−{}", f(-v)),
        Some(v) => f(v),
    }
}

/// A test's verdict with its p-value: `worse (p = 1.2e-3)`, `same (p = 0.41)`, `too few`.
fn verdict(t: &Test) -> String {
    let p = |x: Option<f64>| x.map(|p| format!(" (p = {p:.2e})")).unwrap_or_default();
    match t.verdict {
        Verdict::Worse => format!("worse{}", p(t.p_worse)),
        Verdict::Better => format!("better{}", p(t.p_better)),
        Verdict::Same => format!(
            "no significant change{}",
            p(t.p_worse.zip(t.p_better).map(|(a, b)| a.min(b)))
        ),
        Verdict::Untested => "too few samples to test".into(),
    }
}

/// The rows of the agent table: (measure, before, after, delta, verdict).
fn agent_rows(a: &AgentDelta) -> Vec<[String; 5]> {
    let (b, x) = (&a.before.rates, &a.after.rates);
    let d = x.minus(b);
    let (bc, xc) = (&a.before, &a.after);
    let opt = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map(f).unwrap_or_else(|| "-".into());
    vec![
        [
            "success rate".into(),
            format!(
                "{} ({}/{})",
                opt(b.success_rate, &pct),
                bc.succeeded,
                bc.judged
            ),
            format!(
                "{} ({}/{})",
                opt(x.success_rate, &pct),
                xc.succeeded,
                xc.judged
            ),
            signed(a.success.delta, |v| format!("{:.1} pts", v * 100.0)),
            verdict(&a.success),
        ],
        [
            "mean score".into(),
            opt(b.mean_score, &|v| format!("{v:.3}")),
            opt(x.mean_score, &|v| format!("{v:.3}")),
            signed(d.mean_score, |v| format!("{v:.3}")),
            String::new(),
        ],
        [
            "median duration".into(),
            opt(b.median_duration_ms, &ms),
            opt(x.median_duration_ms, &ms),
            signed(a.duration.delta, ms),
            verdict(&a.duration),
        ],
        [
            "tokens / session".into(),
            tokens(b.tokens_per_session),
            tokens(x.tokens_per_session),
            signed(d.tokens_per_session, |v| format!("{v:.0}")),
            String::new(),
        ],
        [
            "cost / session".into(),
            usd(b.cost_per_session),
            usd(x.cost_per_session),
            signed(a.cost.delta, |v| usd(Some(v))),
            verdict(&a.cost),
        ],
    ]
}

/// Succeeded/attempts, mean score, median duration, and tokens and cost per session when
/// known: one benchmark's side.
fn cell_text(c: Option<&Cell>) -> String {
    let Some(c) = c else {
        return "not run".into();
    };
    let mut parts = vec![
        format!("{}/{}", c.succeeded, c.attempts),
        format!("score {}", crate::report::text::score(c.mean_score, 2)),
        ms(c.median_duration_ms),
    ];
    if let Some(t) = c.tokens_per_session {
        parts.push(format!("{t:.0} tokens"));
    }
    if c.cost_per_session.is_some() {
        parts.push(usd(c.cost_per_session));
    }
    parts.join(" · ")
}

/// The benchmark's deltas that are not zero (after - before).
fn delta_text(d: &Rates) -> String {
    let mut parts = Vec::new();
    let nonzero = |v: &Option<f64>| v.filter(|v| v.abs() > 1e-12);
    if let Some(v) = nonzero(&d.success_rate) {
        parts.push(format!("success {:+.0} pts", v * 100.0));
    }
    if let Some(v) = nonzero(&d.mean_score) {
        parts.push(format!("score {v:+.2}"));
    }
    if let Some(v) = nonzero(&d.median_duration_ms) {
        parts.push(format!(
            "{}{}",
            if v < 0.0 { "-" } else { "+" },
            ms(v.abs())
        ));
    }
    if let Some(v) = nonzero(&d.tokens_per_session) {
        parts.push(format!("{v:+.0} tokens"));
    }
    if let Some(v) = nonzero(&d.cost_per_session) {
        parts.push(format!(
            "{}{}",
            if v < 0.0 { "-" } else { "+" },
            usd(Some(v.abs()))
        ));
    }
    if parts.is_empty() {
        "–".into()
    } else {
        parts.join(", ")
    }
}

fn change_text(c: Change) -> &'static str {
    match c {
        Change::NewlyFailing => "newly failing",
        Change::NewlyPassing => "newly passing",
        Change::Worse => "worse",
        Change::Better => "better",
        Change::Same => "same",
        Change::OnlyBefore => "only before",
        Change::OnlyAfter => "only after",
    }
}

/// Markdown: lists and small tables that read as plain text in a CI log too.
fn markdown(c: &Comparison) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# reev compare: {} → {}\n",
        c.before.label(),
        c.after.label()
    );
    if c.regressions.is_empty() {
        o.push_str("**No regressions.**\n\n");
    } else {
        let _ = writeln!(o, "**{} regression(s):**\n", c.regressions.len());
        for r in &c.regressions {
            let _ = writeln!(o, "- {r}");
        }
        o.push('\n');
    }
    for (title, list) in [
        ("Newly failing", &c.newly_failing),
        ("Newly passing", &c.newly_passing),
    ] {
        if !list.is_empty() {
            let _ = writeln!(
                o,
                "{title}: {}\n",
                list.iter()
                    .map(|r| format!("{} ({})", r.benchmark_id, r.agent))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    for a in &c.agents {
        let _ = writeln!(o, "## {}\n", a.agent);
        o.push_str("| measure | before | after | delta | test |\n|---|---:|---:|---:|---|\n");
        for [m, b, x, d, v] in agent_rows(a) {
            let _ = writeln!(o, "| {m} | {b} | {x} | {d} | {v} |");
        }
        o.push('\n');
    }
    let changed: Vec<&BenchDelta> = c
        .benchmarks
        .iter()
        .filter(|b| b.change != Change::Same)
        .collect();
    let _ = writeln!(
        o,
        "<details><summary>Benchmarks: {} of {} changed</summary>\n\n| agent | benchmark | before | after | delta | change |\n|---|---|---|---|---|---|",
        changed.len(),
        c.benchmarks.len()
    );
    for b in &c.benchmarks {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} |",
            b.agent,
            b.benchmark_id,
            cell_text(b.before.as_ref()),
            cell_text(b.after.as_ref()),
            delta_text(&b.delta),
            change_text(b.change)
        );
    }
    let _ = writeln!(
        o,
        "\n</details>\n\nTests: success by Fisher's exact test, duration and cost by Mann-Whitney U (at least {} sessions a side), one-sided each way, at alpha {:.2e}; slower counts only from {:.0}% on.",
        crate::report::gate::compare::MIN_SAMPLES,
        c.alpha,
        crate::report::gate::regress::Thresholds::default().min_slowdown * 100.0
    );
    o
}

/// The anchor of a benchmark's row (by position: agent labels may hold spaces).
fn bench_href(c: &Comparison, agent: &str, benchmark: &str) -> String {
    let i = c
        .benchmarks
        .iter()
        .position(|b| b.agent == agent && b.benchmark_id == benchmark)
        .unwrap_or(0);
    format!("#b-{i}")
}

/// HTML: the viewer's style, one table per agent pair, then every benchmark.
fn page(c: &Comparison) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "reev compare " (c.before.label()) " → " (c.after.label()) }
                style { (PreEscaped(super::html::CSS)) }
            }
            body {
                header #top {
                    h1 { "reev compare: " (c.before.label()) " → " (c.after.label()) }
                    p.muted { "Generated " (c.generated_at) " by reev " (c.reev_version) "." }
                    nav.toc { a href="#regressions" { "Regressions" } a href="#agents" { "Agents" } a href="#benchmarks" { "Benchmarks" } }
                }
                main {
                    section #regressions {
                        h2 { "Regressions" }
                        @if c.regressions.is_empty() { p.ok { "None." } }
                        ul { @for r in &c.regressions { li.bad { (r) } } }
                        @for (title, list) in [("Newly failing", &c.newly_failing), ("Newly passing", &c.newly_passing)] {
                            @if !list.is_empty() {
                                h3 { (title) }
                                ul { @for r in list { li { a href=(bench_href(c, &r.agent, &r.benchmark_id)) { (r.benchmark_id) } " (" (r.agent) ")" } } }
                            }
                        }
                    }
                    section #agents {
                        h2 { "Agents" }
                        @for a in &c.agents {
                            h3 { (a.agent) }
                            div.scroll { table {
                                tr { th { "measure" } th { (c.before.label()) } th { (c.after.label()) } th { "delta" } th { "test" } }
                                @for [m, b, x, d, v] in agent_rows(a) {
                                    tr { td { (m) } td.n { (b) } td.n { (x) } td.n { (d) } td.bad[v.starts_with("worse")] .ok[v.starts_with("better")] { (v) } }
                                }
                            } }
                        }
                    }
                    section #benchmarks {
                        h2 { "Benchmarks" }
                        div.scroll { table {
                            tr { th { "agent" } th { "benchmark" } th { "before" } th { "after" } th { "delta" } th { "change" } }
                            @for (i, b) in c.benchmarks.iter().enumerate() {
                                tr id=(format!("b-{i}")) {
                                    td { (b.agent) } td { (b.benchmark_id) }
                                    td.n { (cell_text(b.before.as_ref())) } td.n { (cell_text(b.after.as_ref())) }
                                    td.n { (delta_text(&b.delta)) }
                                    td.bad[matches!(b.change, Change::NewlyFailing | Change::Worse)] .ok[matches!(b.change, Change::NewlyPassing | Change::Better)] { (change_text(b.change)) }
                                }
                            }
                        } }
                    }
                }
            }
        }
    }
}
