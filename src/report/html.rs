//! report.html: one self-contained page — inline CSS and SVG, no script, no network.
//! Every string from benchmarks, agents or captured output goes through `esc`.

use std::fmt::Write;

use super::model::{Histogram, TrendPoint};
use super::{bytes, ms, pct, Renderer, Report};

pub struct Html;

use super::escape as esc;

const PALETTE: [&str; 6] = [
    "#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2",
];

const CSS: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#1f2937;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #e5e7eb}
table{border-collapse:collapse;margin:.5em 0}th,td{padding:.3em .6em;border:1px solid #e5e7eb;text-align:left;vertical-align:top}
th{background:#f9fafb}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.ok{color:#15803d}.bad{color:#b91c1c;font-weight:600}.muted{color:#6b7280}
.hm td.c{text-align:center;min-width:4.5em}pre{white-space:pre-wrap;background:#f9fafb;padding:.5em;max-height:12em;overflow:auto}
svg{background:#fff;border:1px solid #e5e7eb;margin:.3em .6em .3em 0}.legend span{margin-right:1em}";

impl Renderer for Html {
    fn file_name(&self) -> &'static str {
        "report.html"
    }

    fn render(&self, r: &Report) -> String {
        let mut o = String::new();
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
        // Regressions first: that is what a reader of a CI report looks for.
        o.push_str("<h2>Regressions</h2>\n");
        if r.regressions.is_empty() {
            o.push_str("<p class=\"ok\">None found.</p>\n");
        } else {
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
        o.push_str("<h2>Agents</h2>\n<table><tr><th>agent</th><th>sessions</th><th>success rate (95% CI)</th><th>mean score (95% CI)</th><th>p50</th><th>p95</th><th>p99</th><th>mean CPU</th><th>peak RSS</th><th>pass@1</th><th>pass@k</th><th>pass^k</th></tr>\n");
        for a in &r.agents {
            let _ = writeln!(
                o,
                "<tr><td>{}</td><td class=n>{}</td><td class=n>{} ({}–{})</td><td class=n>{:.3} ({:.3}–{:.3})</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{} (k={})</td><td class=n>{}</td></tr>",
                esc(&a.agent), a.sessions, pct(a.success_rate), pct(a.success_rate_ci[0]), pct(a.success_rate_ci[1]),
                a.mean_score, a.mean_score_ci[0], a.mean_score_ci[1], ms(a.p50_duration_ms), ms(a.p95_duration_ms),
                ms(a.p99_duration_ms), ms(a.mean_cpu_ms), bytes(a.max_peak_rss_bytes as f64), pct(a.pass_at_1),
                pct(a.pass_at_k), a.k, pct(a.pass_hat_k)
            );
        }
        o.push_str("</table>\n");

        o.push_str("<h2>Benchmark matrix</h2>\n<table class=\"hm\"><tr><th>benchmark</th>");
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
                        let hue = (c.mean_score.clamp(0.0, 1.0) * 120.0).round();
                        let _ = write!(
                            o,
                            "<td class=c style=\"background:hsl({hue},65%,82%)\" title=\"{} {}/{} succeeded, mean score {:.2}\">{}/{}<br><small>{:.2}</small></td>",
                            esc(&c.latest_status), c.succeeded, c.attempts, c.mean_score, c.succeeded, c.attempts, c.mean_score
                        );
                    }
                    None => o.push_str("<td class=c>–</td>"),
                }
            }
            o.push_str("</tr>\n");
        }
        o.push_str("</table>\n");

        o.push_str("<h2>Trends</h2>\n");
        o.push_str(&trend_chart(
            &r.trends,
            "success rate",
            |p| p.success_rate,
            Some(1.0),
        ));
        o.push_str(&trend_chart(
            &r.trends,
            "p95 duration (ms)",
            |p| p.p95_duration_ms,
            None,
        ));
        o.push_str(&legend(
            &r.agents
                .iter()
                .map(|a| a.agent.as_str())
                .collect::<Vec<_>>(),
        ));

        o.push_str("<h2>Duration distribution</h2>\n");
        for (i, h) in r.histograms.iter().enumerate() {
            o.push_str(&histogram(h, PALETTE[i % PALETTE.len()]));
        }

        if !r.flaky.is_empty() {
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

        o.push_str("<h2>Slowest sessions</h2>\n<table><tr><th>session</th><th>benchmark</th><th>agent</th><th>attempt</th><th>status</th><th>duration</th></tr>\n");
        for s in &r.slowest {
            let _ = writeln!(o, "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td class=n>{}</td><td>{}</td><td class=n>{}</td></tr>", esc(&s.session_id), esc(&s.benchmark_id), esc(&s.agent), s.attempt, esc(&s.status), ms(s.duration_ms as f64));
        }
        o.push_str("</table>\n");

        let _ = writeln!(o, "<h2>Failures ({})</h2>", r.failures.len());
        for f in &r.failures {
            let _ = writeln!(
                o,
                "<h3>{} / {} #{} <span class=bad>{}</span> <small class=muted>score {:.2} · <code>{}</code></small></h3>",
                esc(&f.benchmark_id), esc(&f.agent), f.attempt, esc(&f.status), f.score, esc(&f.session_id)
            );
            if let Some(e) = &f.error {
                let _ = writeln!(o, "<p>{}</p>", esc(e));
            }
            if !f.failing.is_empty() {
                o.push_str("<table><tr><th>assertion</th><th>expected</th><th>actual</th><th>message</th></tr>\n");
                for a in &f.failing {
                    let _ = writeln!(
                        o,
                        "<tr><td>{}{}</td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td></tr>",
                        esc(&a.kind), a.name.as_deref().map(|n| format!(" ({})", esc(n))).unwrap_or_default(),
                        esc(&a.expected), esc(&a.actual), esc(&a.message)
                    );
                }
                o.push_str("</table>\n");
            }
            if !f.stdout_tail.is_empty() {
                let _ = writeln!(
                    o,
                    "<details><summary>stdout (tail)</summary><pre>{}</pre></details>",
                    esc(&f.stdout_tail)
                );
            }
        }
        o.push_str("</body></html>\n");
        o
    }
}

fn legend(agents: &[&str]) -> String {
    let mut o = String::from("<p class=legend>");
    for (i, a) in agents.iter().enumerate() {
        let _ = write!(
            o,
            "<span style=\"color:{}\">■ {}</span>",
            PALETTE[i % PALETTE.len()],
            esc(a)
        );
    }
    o.push_str("</p>\n");
    o
}

/// A small line chart, one line per agent over the recent runs.
fn trend_chart(
    points: &[TrendPoint],
    title: &str,
    value: impl Fn(&TrendPoint) -> f64,
    max: Option<f64>,
) -> String {
    let (w, h, pad) = (460.0, 200.0, 30.0);
    let mut runs: Vec<&str> = Vec::new();
    for p in points {
        if !runs.contains(&p.run_id.as_str()) {
            runs.push(&p.run_id);
        }
    }
    let top = max
        .unwrap_or_else(|| points.iter().map(&value).fold(0.0, f64::max))
        .max(1e-9);
    let x = |i: usize| {
        pad + (w - 2.0 * pad)
            * if runs.len() > 1 {
                i as f64 / (runs.len() - 1) as f64
            } else {
                0.5
            }
    };
    let y = |v: f64| h - pad - (h - 2.0 * pad) * (v / top);
    let mut o = format!(
        "<svg width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}\">",
        esc(title)
    );
    let _ = write!(
        o,
        "<text x=\"{pad}\" y=\"18\" font-size=\"12\">{} (max {:.3})</text>",
        esc(title),
        top
    );
    let _ = write!(
        o,
        "<line x1=\"{pad}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#9ca3af\"/>",
        h - pad,
        w - pad,
        h - pad
    );
    let mut agents: Vec<&str> = points.iter().map(|p| p.agent.as_str()).collect();
    agents.dedup();
    for (ai, agent) in agents.iter().enumerate() {
        let pts: Vec<String> = points
            .iter()
            .filter(|p| p.agent == *agent)
            .filter_map(|p| {
                runs.iter()
                    .position(|r| *r == p.run_id)
                    .map(|i| format!("{:.1},{:.1}", x(i), y(value(p))))
            })
            .collect();
        let color = PALETTE[ai % PALETTE.len()];
        let _ = write!(
            o,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>",
            pts.join(" ")
        );
        for pt in &pts {
            let (cx, cy) = pt.split_once(',').unwrap_or(("0", "0"));
            let _ = write!(
                o,
                "<circle cx=\"{cx}\" cy=\"{cy}\" r=\"3\" fill=\"{color}\"/>"
            );
        }
    }
    o.push_str("</svg>\n");
    o
}

fn histogram(hist: &Histogram, color: &str) -> String {
    let (w, h, pad) = (340.0, 150.0, 24.0);
    let max = hist.bins.iter().map(|b| b.1).max().unwrap_or(1).max(1) as f64;
    let bw = (w - 2.0 * pad) / hist.bins.len().max(1) as f64;
    let mut o = format!("<svg width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"durations of {}\">", esc(&hist.agent));
    let _ = write!(
        o,
        "<text x=\"{pad}\" y=\"16\" font-size=\"12\">{} · up to {}</text>",
        esc(&hist.agent),
        ms(hist.bins.last().map(|b| b.0).unwrap_or(0.0))
    );
    for (i, (_, count)) in hist.bins.iter().enumerate() {
        let bh = (h - 2.0 * pad) * (*count as f64 / max);
        let _ = write!(
            o,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{color}\"><title>{count}</title></rect>",
            pad + i as f64 * bw,
            h - pad - bh,
            (bw - 1.0).max(1.0),
            bh
        );
    }
    o.push_str("</svg>\n");
    o
}
