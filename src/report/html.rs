//! report.html: one self-contained page — inline CSS and SVG, no script, no network.
//! Every string from benchmarks, agents or captured output goes through `esc`.
//! One function per section; the charts are drawn by `svg`.

use std::fmt::Write;

use super::model::{AgentSummary, Failure, TrendPoint};
use super::svg::{self, TimeUnit, PALETTE};
use super::{bytes, ms, pct, Renderer, Report};

pub struct Html;

use super::escape as esc;

const CSS: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#1f2937;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #e5e7eb}h3{font-size:1em;margin:1.4em 0 .3em}
table{border-collapse:collapse;margin:.5em 0}th,td{padding:.3em .6em;border:1px solid #e5e7eb;text-align:left;vertical-align:top}
th{background:#f9fafb}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.n small{display:block;color:#6b7280}.scroll{overflow-x:auto;max-width:100%}td.name{overflow-wrap:anywhere;min-width:6em}
.ok{color:#15803d}.bad{color:#b91c1c;font-weight:600}.muted{color:#6b7280}
.hm td.c{text-align:center;min-width:4.5em}pre{white-space:pre-wrap;background:#f9fafb;padding:.5em;max-height:12em;overflow:auto}
table.trace{font-size:.9em}table.trace td code{overflow-wrap:anywhere}
.charts{display:flex;flex-wrap:wrap;gap:.6em}svg{background:#fff;border:1px solid #e5e7eb}";

impl Renderer for Html {
    fn file_name(&self) -> &'static str {
        "report.html"
    }

    fn render(&self, r: &Report) -> String {
        let mut o = String::new();
        head(&mut o, r);
        // Completeness, before regressions: a lost shard is what a CI reader must see first.
        o.push_str(&super::completeness::html(&r.completeness));
        regressions(&mut o, r);
        gate(&mut o, r);
        agents(&mut o, &r.agents);
        matrix(&mut o, r);
        trends(&mut o, r);
        distributions(&mut o, r);
        flaky(&mut o, r);
        slowest(&mut o, r);
        failures(&mut o, &r.failures);
        o.push_str("</body></html>\n");
        o
    }
}

fn head(o: &mut String, r: &Report) {
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>reev report {}</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><style>{CSS}</style></head><body>\n",
        esc(&r.run_id)
    );
    let _ = writeln!(o, "<h1>reev report: run {}</h1>", esc(&r.run_id));
    let _ = writeln!(
        o,
        "<p class=\"muted\">Generated {} by reev {}; baseline: {}.</p>",
        esc(&r.generated_at),
        esc(&r.reev_version),
        r.baseline_run_id
            .as_deref()
            .map(esc)
            .unwrap_or_else(|| "none".into())
    );
}

/// Regressions first: that is what a reader of a CI report looks for.
fn regressions(o: &mut String, r: &Report) {
    o.push_str("<h2>Regressions</h2>\n");
    if r.regressions.is_empty() {
        o.push_str("<p class=\"ok\">None found.</p>\n");
        return;
    }
    o.push_str("<ul>\n");
    for g in &r.regressions {
        let _ = writeln!(
            o,
            "<li class=\"bad\">{} — {}: {}</li>",
            esc(&g.kind),
            esc(&g.agent),
            esc(&g.detail)
        );
    }
    o.push_str("</ul>\n");
}

/// Per-agent numbers; intervals go on a second, smaller line so the table fits its column
/// (and scrolls inside it, not the page, when there is still not room).
fn agents(o: &mut String, agents: &[AgentSummary]) {
    o.push_str("<h2>Agents</h2>\n<div class=scroll><table><tr><th>agent</th><th>sessions</th><th>error rate</th><th>success rate<br><small>95% CI</small></th><th>mean score<br><small>95% CI</small></th><th>p50</th><th>p95</th><th>p99</th><th>mean CPU</th><th>peak RSS</th><th>pass@1</th><th>pass@k</th><th>pass^k</th></tr>\n");
    for a in agents {
        let rate = super::with_ci(a.success_rate, a.success_rate_ci, pct);
        let mean = super::with_ci(a.mean_score, a.mean_score_ci, super::score3);
        let _ = writeln!(
            o,
            "<tr><td class=name>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}<small>{}</small></td><td class=n>{}<small>{}</small></td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}<small>k={}</small></td><td class=n>{}</td></tr>",
            esc(&a.agent), a.sessions, pct(a.error_rate), rate[0], rate[1],
            mean[0], mean[1], ms(a.p50_duration_ms), ms(a.p95_duration_ms),
            ms(a.p99_duration_ms), ms(a.mean_cpu_ms), bytes(a.max_peak_rss_bytes as f64), pct(a.pass_at_1),
            pct(a.pass_at_k), a.k, pct(a.pass_hat_k)
        );
    }
    o.push_str("</table></div>\n<p>Success rates count judged sessions only: sessions that ended <code>error</code> (not judged) are left out, and shown as the error rate.</p>\n");
    let costs = super::cost_rows(agents);
    if !costs.is_empty() {
        o.push_str("<h3>Tokens and cost</h3>\n<div class=scroll><table><tr><th>agent</th><th>tokens / session</th><th>cost / session</th><th>cost / success</th><th>priced sessions</th></tr>\n");
        for [agent, tokens, per_session, per_success, priced] in &costs {
            let _ = writeln!(
                o,
                "<tr><td class=name>{}</td><td class=n>{tokens}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{priced}</td></tr>",
                esc(agent),
                esc(per_session),
                esc(per_success)
            );
        }
        o.push_str("</table></div>\n");
    }
}

fn matrix(o: &mut String, r: &Report) {
    o.push_str(
        "<h2>Benchmark matrix</h2>\n<div class=scroll><table class=\"hm\"><tr><th>benchmark</th>",
    );
    for a in &r.agents {
        let _ = write!(o, "<th>{}</th>", esc(&a.agent));
    }
    o.push_str("</tr>\n");
    for b in &r.benchmarks {
        let desc = r.descriptions.get(b).map(String::as_str).unwrap_or("");
        let _ = write!(
            o,
            "<tr><td title=\"{}\">{}<br><small class=muted>{}</small></td>",
            esc(desc),
            esc(b),
            esc(desc)
        );
        for a in &r.agents {
            match r
                .matrix
                .iter()
                .find(|c| &c.benchmark_id == b && c.agent == a.agent)
            {
                Some(c) => {
                    // A cell of `error` attempts only has no score: grey, "–".
                    let background = match c.mean_score {
                        Some(m) => format!("hsl({},65%,82%)", (m.clamp(0.0, 1.0) * 120.0).round()),
                        None => "#ddd".to_string(),
                    };
                    let mean = super::score(c.mean_score, 2);
                    let _ = write!(
                        o,
                        "<td class=c style=\"background:{background}\" title=\"{} {}/{} succeeded, mean score {mean}\">{}/{}<br><small>{mean}</small></td>",
                        esc(&c.latest_status), c.succeeded, c.attempts, c.succeeded, c.attempts
                    );
                }
                None => o.push_str("<td class=c>–</td>"),
            }
        }
        o.push_str("</tr>\n");
    }
    o.push_str("</table></div>\n");
}

/// Success rate and p95 duration per agent over the recent runs, one chart each.
fn trends(o: &mut String, r: &Report) {
    o.push_str("<h2>Trends</h2>\n<p class=muted>The last runs that ran these agents; hover a point for its value and run.</p>\n<div class=charts>\n");
    let runs = runs_in_order(&r.trends);
    let x = x_labels(&runs, &r.run_id);
    let agents: Vec<&str> = r.agents.iter().map(|a| a.agent.as_str()).collect();
    let series = |value: &dyn Fn(&TrendPoint) -> Option<f64>| -> Vec<svg::Series<'_>> {
        agents
            .iter()
            .enumerate()
            .map(|(i, agent)| svg::Series {
                name: agent,
                color: PALETTE[i % PALETTE.len()],
                points: r
                    .trends
                    .iter()
                    .filter(|p| p.agent == *agent)
                    .filter_map(|p| {
                        runs.iter()
                            .position(|(run, _)| *run == p.run_id)
                            .and_then(|i| value(p).map(|v| (i, v)))
                    })
                    .collect(),
            })
            .collect()
    };
    let rate = svg::LineChart {
        title: "Success rate per run",
        y_label: "success rate (%)",
        y_max: Some(100.0),
        x: x_labels(&runs, &r.run_id),
        series: series(&|p| p.success_rate.map(|r| r * 100.0)),
        value_text: &|v| format!("{v:.1}%"),
    };
    o.push_str(&rate.svg());
    let max_p95 = r
        .trends
        .iter()
        .map(|p| p.p95_duration_ms)
        .fold(0.0, f64::max);
    let unit = TimeUnit::for_max(max_p95);
    let y_label = format!("p95 duration ({})", unit.name());
    let p95 = svg::LineChart {
        title: "p95 session duration per run",
        y_label: &y_label,
        y_max: None,
        x,
        series: series(&|p| Some(unit.scale(p.p95_duration_ms))),
        value_text: &|v| format!("{} {}", trim_number(v), unit.name()),
    };
    o.push_str(&p95.svg());
    o.push_str("</div>\n");
}

/// Runs in the order they started, each with its start time.
fn runs_in_order(points: &[TrendPoint]) -> Vec<(String, String)> {
    let mut runs: Vec<(String, String)> = Vec::new();
    for p in points {
        match runs.iter_mut().find(|(id, _)| *id == p.run_id) {
            Some((_, t)) => {
                if p.started_at < *t {
                    *t = p.started_at.clone();
                }
            }
            None => runs.push((p.run_id.clone(), p.started_at.clone())),
        }
    }
    runs.sort_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)));
    runs
}

/// A short label per run: a short run id as it is, else its start time (`11-21 23:16`);
/// the run id and start time on hover.
fn x_labels(runs: &[(String, String)], current: &str) -> Vec<svg::XLabel> {
    runs.iter()
        .map(|(id, started)| svg::XLabel {
            short: if id.chars().count() <= 14 {
                id.clone()
            } else {
                started.get(5..).unwrap_or(started).to_string()
            },
            full: format!("run {id}, started {started} UTC"),
            current: id == current,
        })
        .collect()
}

/// A number with at most one decimal, none when it is whole.
fn trim_number(v: f64) -> String {
    if (v - v.round()).abs() < 0.05 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn distributions(o: &mut String, r: &Report) {
    o.push_str("<h2>Duration distribution</h2>\n<p class=muted>Sessions of this run by wall time; hover a bar for its range and count.</p>\n<div class=charts>\n");
    for h in &r.histograms {
        let i = r
            .agents
            .iter()
            .position(|a| a.agent == h.agent)
            .unwrap_or(0);
        let chart = svg::Histogram {
            agent: &h.agent,
            color: PALETTE[i % PALETTE.len()],
            bins: &h.bins,
        };
        o.push_str(&chart.svg());
    }
    o.push_str("</div>\n");
}

fn flaky(o: &mut String, r: &Report) {
    if r.flaky.is_empty() {
        return;
    }
    o.push_str("<h2>Flaky benchmarks</h2>\n<table><tr><th>benchmark</th><th>agent</th><th>succeeded</th><th>runs</th></tr>\n");
    for f in &r.flaky {
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td>{}</td><td class=n>{}/{}</td><td class=n>{}</td></tr>",
            esc(&f.benchmark_id),
            esc(&f.agent),
            f.succeeded,
            f.sessions,
            f.runs
        );
    }
    o.push_str("</table>\n");
}

fn slowest(o: &mut String, r: &Report) {
    o.push_str("<h2>Slowest sessions</h2>\n<div class=scroll><table><tr><th>session</th><th>benchmark</th><th>agent</th><th>attempt</th><th>status</th><th>duration</th></tr>\n");
    for s in &r.slowest {
        let _ = writeln!(o, "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td class=n>{}</td><td>{}</td><td class=n>{}</td></tr>", esc(&s.session_id), esc(&s.benchmark_id), esc(&s.agent), s.attempt, esc(&s.status), ms(s.duration_ms as f64));
    }
    o.push_str("</table></div>\n");
}

/// Every failure: its failing assertions, what the agent did (the trace), its output.
fn failures(o: &mut String, failures: &[Failure]) {
    let _ = writeln!(
        o,
        "<a id=failures></a><h2>Failures ({})</h2>",
        failures.len()
    );
    for f in failures {
        let _ = writeln!(
            o,
            "<h3>{} / {} #{} <span class=bad>{}</span> <small class=muted>score {} · <code>{}</code></small></h3>",
            esc(&f.benchmark_id), esc(&f.agent), f.attempt, esc(&f.status), super::score(f.score, 2), esc(&f.session_id)
        );
        if let Some(e) = &f.error {
            let _ = writeln!(o, "<p>{}</p>", esc(e));
        }
        if !f.failing.is_empty() {
            o.push_str("<div class=scroll><table><tr><th>assertion</th><th>expected</th><th>actual</th><th>message</th></tr>\n");
            for a in &f.failing {
                let _ = writeln!(
                    o,
                    "<tr><td>{}{}</td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td></tr>",
                    esc(&a.kind), a.name.as_deref().map(|n| format!(" ({})", esc(n))).unwrap_or_default(),
                    esc(&a.expected), esc(&a.actual), esc(&a.message)
                );
            }
            o.push_str("</table></div>\n");
        }
        trace(o, f);
        if !f.stdout_tail.is_empty() {
            let _ = writeln!(
                o,
                "<details><summary>stdout (tail)</summary><pre>{}</pre></details>",
                esc(&f.stdout_tail)
            );
        }
    }
}

/// The session's events in order: tool calls with their inputs and results, model
/// requests, metrics, errors.
fn trace(o: &mut String, f: &Failure) {
    if f.trace.is_empty() {
        o.push_str("<p class=muted>No events in the trace.</p>\n");
        return;
    }
    let more = if f.trace.len() as i64 >= super::trace::MAX_EVENTS {
        format!(
            " (the first {}; <code>reev show {}</code> has them all)",
            f.trace.len(),
            esc(&f.session_id)
        )
    } else {
        String::new()
    };
    let _ = writeln!(
        o,
        "<details open><summary>trace: {} event{}{more}</summary><div class=scroll><table class=trace><tr><th>#</th><th>event</th><th>name</th><th>details</th></tr>",
        f.trace.len(),
        if f.trace.len() == 1 { "" } else { "s" }
    );
    for e in &f.trace {
        let detail = match &e.error {
            Some(err) => format!("{} {}", err, e.detail),
            None => e.detail.clone(),
        };
        let _ = writeln!(
            o,
            "<tr><td class=n>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            e.seq,
            esc(&e.kind),
            esc(e.name.as_deref().unwrap_or("")),
            esc(&detail)
        );
    }
    o.push_str("</table></div></details>\n");
}

/// How the gate decided, each check with its comparison, threshold and replayed false alarms.
fn gate(o: &mut String, r: &Report) {
    let Some(g) = &r.gate else { return };
    if g.learning {
        o.push_str("<p class=\"muted\">The gate is still learning: too few comparable runs of history to know run-to-run noise, so no check fails yet (large effects are described below).</p>\n");
    }
    o.push_str("<details><summary>How the gate decided</summary><table><tr><th>check</th><th>agent</th><th>compared with</th><th>threshold</th><th>observed</th><th>outcome</th><th>false alarms replayed</th></tr>\n");
    for c in &g.checks {
        let replay = g.replayed(&c.agent, &c.kind);
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:?}</td><td>{}</td></tr>",
            esc(&c.kind),
            esc(&c.agent),
            esc(&c.compared_with),
            esc(&c.threshold),
            esc(&c.observed),
            c.outcome,
            esc(&replay)
        );
    }
    o.push_str("</table></details>\n");
}
