//! report.html: a viewer of one run in one self-contained page — inline CSS, inline SVG
//! charts and a small inline script (the filter), no network, so it opens offline from a CI
//! artifact. Rendered with maud: every string from benchmarks, agents or captured output is
//! escaped by the template, never by hand.
//!
//! Layout: a table of contents; the sections (regressions, the gate, agents, the benchmark
//! matrix heat map, trends, durations, flaky benchmarks, slowest sessions, failures grouped by
//! benchmark, every session); then one page per session (`#s-<session id>`), shown alone
//! when its anchor is the target (CSS `:target`), so every link (a regression, a heat-map
//! cell, a slow session, a failure) opens the session's own page: its trace, assertions,
//! verifier runs and output tails. The bounds that keep a big run's page sane are in
//! `trace.rs`.

use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::svg::{self, TimeUnit, PALETTE};
use super::Renderer;
use crate::report::gate::Regression;
use crate::report::gather::completeness::{planned_text, Completeness};
use crate::report::gather::model::{AgentSummary, MatrixCell, SessionBrief, TrendPoint};
use crate::report::model::Report;
use crate::report::text::{bytes, ms, pct, usd};
use crate::session::Status;

pub struct Html;

pub(crate) const CSS: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1f2937}
header{background:#f9fafb;border-bottom:1px solid #e5e7eb;padding:.6em 1em}header h1{font-size:1.4em;margin:.2em 0}
nav.toc{display:flex;flex-wrap:wrap;gap:.2em .9em;font-size:.95em}nav.toc a{text-decoration:none}
main{max-width:1150px;margin:0 auto;padding:0 1em 3em}
h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #e5e7eb}h3{font-size:1em;margin:1.2em 0 .3em}
a{color:#1d4ed8}table{border-collapse:collapse;margin:.5em 0}th,td{padding:.3em .6em;border:1px solid #e5e7eb;text-align:left;vertical-align:top}
th{background:#f9fafb}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.n small{display:block;color:#6b7280}.scroll{overflow-x:auto;max-width:100%}td.name{overflow-wrap:anywhere;min-width:6em}
.replayed{background:#fef3c7;padding:.3em .6em;border-radius:4px}.ok{color:#15803d}.bad{color:#b91c1c;font-weight:600}.muted{color:#6b7280}.warn{color:#b45309}
.hm td.c{text-align:center;min-width:4.5em}.hm td.c a{color:#111827;text-decoration:none;font-weight:600}.hm td.c small a{font-weight:400;margin:0 .15em}
pre{white-space:pre-wrap;background:#f9fafb;padding:.5em;max-height:16em;overflow:auto;margin:.3em 0}
table.trace{font-size:.9em}ul.spans{margin:.2em 0 .2em 1.2em;padding:0;font-size:.9em}ul.spans li.error>code{color:#b91c1c}table.trace td code{overflow-wrap:anywhere}
.charts{display:flex;flex-wrap:wrap;gap:.6em}svg{background:#fff;border:1px solid #e5e7eb}
.filters{position:sticky;top:0;background:#fff;padding:.4em 0;border-bottom:1px solid #e5e7eb;display:flex;gap:.6em;flex-wrap:wrap;align-items:center}
.filters input{min-width:18em}details.group>summary{cursor:pointer;font-weight:600;margin:.4em 0}
.session{display:none}.session:target{display:block}body:has(.session:target) main>section:not(#session-pages){display:none}
.session h2 small{font-weight:400}dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:.1em 1em}dl.meta dt{color:#6b7280}dl.meta dd{margin:0}
.pass{background:#f0fdf4}.fail{background:#fef2f2}";

/// The filter of the failures and sessions tables: text, agent and status, from the inputs
/// or the page's query string (`report.html?agent=naive&status=failed&q=overdraft`), so a
/// link can open the page filtered.
pub(crate) const SCRIPT: &str = r#"(function(){
var q=document.getElementById('q'),ag=document.getElementById('f-agent'),st=document.getElementById('f-status');
if(!q)return;
var p=new URLSearchParams(location.search);
q.value=p.get('q')||'';ag.value=p.get('agent')||'';st.value=p.get('status')||'';
function apply(){
 var t=q.value.toLowerCase(),a=ag.value,s=st.value,shown=0;
 document.querySelectorAll('tr[data-agent]').forEach(function(r){
  var ok=(!a||r.dataset.agent===a)&&(!s||r.dataset.status===s)&&(!t||r.textContent.toLowerCase().indexOf(t)>=0);
  r.hidden=!ok;if(ok&&r.closest('#failures'))shown++;
 });
 document.querySelectorAll('details.group').forEach(function(g){
  g.hidden=!g.querySelector('tr[data-agent]:not([hidden])');
 });
 var c=document.getElementById('f-count');if(c)c.textContent=shown+' failure(s) shown';
}
[q,ag,st].forEach(function(e){e.addEventListener('input',apply);});
apply();
})();"#;

impl Renderer for Html {
    fn file_name(&self) -> &'static str {
        "report.html"
    }

    fn render(&self, r: &Report) -> String {
        let page = html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { "reev report " (r.run_id) }
                    style { (PreEscaped(CSS)) }
                }
                body {
                    (header(r))
                    main {
                        section #summary { (completeness(&r.completeness)) }
                        (regressions(r))
                        (gate(r))
                        (agents(r))
                        (heat_map(r))
                        (trends(r))
                        (distributions(r))
                        (flaky(r))
                        (slowest(r))
                        (failures(r))
                        (all_sessions(r))
                        section #session-pages {
                            @for s in &r.sessions { (session_page(r, s)) }
                        }
                    }
                    script { (PreEscaped(SCRIPT)) }
                }
            }
        };
        page.into_string()
    }
}

/// The anchor of a session's page.
pub fn session_href(session_id: &str) -> String {
    format!("#s-{session_id}")
}

fn header(r: &Report) -> Markup {
    let toc = [
        ("summary", "Summary"),
        ("regressions", "Regressions"),
        ("gate", "Gate"),
        ("agents", "Agents"),
        ("matrix", "Benchmark matrix"),
        ("trends", "Trends"),
        ("durations", "Durations"),
        ("flaky", "Flaky"),
        ("slowest", "Slowest"),
        ("failures", "Failures"),
        ("sessions", "All sessions"),
    ];
    html! {
        header #top {
            h1 { "reev report: run " (r.run_id) }
            p.muted {
                "Generated " (r.generated_at) " by reev " (r.reev_version) "; baseline: "
                (r.baseline_run_id.as_deref().unwrap_or("none")) "; "
                (r.sessions.len()) " sessions, " (r.failures.len()) " not succeeded."
            }
            @if let Some(from) = &r.replayed_from {
                p.replayed {
                    strong { "Replayed" } " from run " code { (from) }
                    ": the model's answers came from its cassettes (no model was called, cost 0)."
                }
            }
            nav.toc aria-label="Contents" {
                @for (id, title) in toc {
                    a href=(format!("#{id}")) { (title) }
                }
            }
        }
    }
}

/// The first session of (benchmark, agent) that did not succeed, else its first session.
fn cell_session<'a>(r: &'a Report, benchmark: &str, agent: &str) -> Option<&'a SessionBrief> {
    let mine = || {
        r.sessions
            .iter()
            .filter(move |s| s.benchmark_id == benchmark && s.agent == agent)
    };
    mine()
        .find(|s| s.status != Status::Succeeded)
        .or_else(|| mine().next())
}

/// Regressions first: that is what a reader of a CI report looks for. Each links to what it
/// is about: a benchmark's failing session, or the agent's row.
fn regressions(r: &Report) -> Markup {
    html! {
        section #regressions {
            h2 { "Regressions" }
            @if r.regressions.is_empty() {
                p.ok { "None found." }
            } @else {
                ul {
                    @for g in &r.regressions {
                        li.bad { (g.kind.as_str()) " — " (regression_link(r, g)) ": " (g.detail) }
                    }
                }
            }
        }
    }
}

fn regression_link(r: &Report, g: &Regression) -> Markup {
    let session = g
        .benchmark_id
        .as_deref()
        .and_then(|b| cell_session(r, b, &g.agent));
    html! {
        @match (session, &g.benchmark_id) {
            (Some(s), Some(b)) => a href=(session_href(&s.session_id)) { (g.agent) " / " (b) },
            _ => a href=(format!("#agent-{}", g.agent)) { (g.agent) },
        }
    }
}

/// How the gate decided, each check with its comparison, threshold and replayed false alarms.
fn gate(r: &Report) -> Markup {
    html! {
        section #gate {
            h2 { "How the gate decided" }
            @match &r.gate {
                None => p.muted { "No baseline run: only the error rate was checked." },
                Some(g) => {
                    @if g.learning {
                        p.muted { "The gate is still learning: too few comparable runs of history to know run-to-run noise, so no check fails yet (large effects are described below)." }
                    }
                    details {
                        summary { (g.checks.len()) " checks against " (g.history_runs.len()) " earlier run(s)" }
                        div.scroll { table {
                            tr { th { "check" } th { "agent" } th { "compared with" } th { "threshold" } th { "observed" } th { "outcome" } th { "false alarms replayed" } }
                            @for c in &g.checks {
                                tr {
                                    td { (c.kind.as_str()) } td { a href=(format!("#agent-{}", c.agent)) { (c.agent) } }
                                    td { (c.compared_with) } td { (c.threshold) } td { (c.observed) }
                                    td { (format!("{:?}", c.outcome)) } td { (g.replayed(&c.agent, c.kind)) }
                                }
                            }
                        } }
                    }
                }
            }
        }
    }
}

/// The matrix keys any agent of the run has (`matrix:` sweeps), in order.
fn matrix_keys(agents: &[AgentSummary]) -> Vec<&str> {
    let mut keys: Vec<&str> = agents
        .iter()
        .flat_map(|a| a.matrix.keys().map(String::as_str))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// Per-agent numbers; intervals go on a second, smaller line so the table fits its column
/// (and scrolls inside it, not the page, when there is still not room).
fn agents(r: &Report) -> Markup {
    let keys = matrix_keys(&r.agents);
    html! {
        section #agents {
            h2 { "Agents" }
            div.scroll { table {
                tr {
                    th { "agent" }
                    @for k in &keys { th { (k) } }
                    th { "sessions" } th { "error rate" } th { "success rate" br; small { "95% CI" } }
                    th { "mean score" br; small { "95% CI" } } th { "p50" } th { "p95" } th { "p99" }
                    th { "mean CPU" } th { "peak RSS" } th { "pass@1" } th { "pass@k" } th { "pass^k" }
                }
                @for a in &r.agents { (agent_row(a, &keys)) }
            } }
            p { "Success rates count judged sessions only: sessions that ended " code { "error" } " (not judged) are left out, and shown as the error rate." }
            (costs(&r.agents))
        }
    }
}

fn agent_row(a: &AgentSummary, keys: &[&str]) -> Markup {
    html! {
        tr id=(format!("agent-{}", a.agent)) {
            td.name { a href=(format!("?agent={}#failures", a.agent)) title="this agent's failures" { (a.agent) } }
            @for k in keys { td { (a.matrix.get(*k).map(String::as_str).unwrap_or("–")) } }
            td.n { (a.sessions) }
            td.n { (pct(a.error_rate)) }
            @let [rate, rate_ci] = crate::report::text::with_ci(a.success_rate, a.success_rate_ci, pct);
            @let [mean, mean_ci] = crate::report::text::with_ci(a.mean_score, a.mean_score_ci, crate::report::text::score3);
            td.n { (rate) small { (rate_ci) } }
            td.n { (mean) small { (mean_ci) } }
            td.n { (ms(a.p50_duration_ms)) } td.n { (ms(a.p95_duration_ms)) } td.n { (ms(a.p99_duration_ms)) }
            td.n { (ms(a.mean_cpu_ms)) } td.n { (bytes(a.max_peak_rss_bytes as f64)) }
            td.n { (pct(a.pass_at_1)) } td.n { (pct(a.pass_at_k)) small { "k=" (a.k) } } td.n { (pct(a.pass_hat_k)) }
        }
    }
}

fn costs(agents: &[AgentSummary]) -> Markup {
    let rows = super::cost_rows(agents);
    html! {
        @if !rows.is_empty() {
            h3 { "Tokens and cost" }
            div.scroll { table {
                tr { th { "agent" } th { "tokens / session" } th { "cost / session" } th { "cost / success" } th { "priced sessions" } }
                @for [agent, tokens, per_session, per_success, priced] in &rows {
                    tr { td.name { (agent) } td.n { (tokens) } td.n { (per_session) } td.n { (per_success) } td.n { (priced) } }
                }
            } }
        }
    }
}

/// The benchmark x agent heat map, coloured by success (succeeded over attempts: a 0/3
/// benchmark is red whatever its partial scores); each cell links to its sessions' pages.
fn heat_map(r: &Report) -> Markup {
    html! {
        section #matrix {
            h2 { "Benchmark matrix" }
            p.muted { "Succeeded / attempts per benchmark and agent, coloured by success rate; the number links to the cell's first failing session, the attempt links to each session." }
            div.scroll { table.hm {
                tr { th { "benchmark" } @for a in &r.agents { th { a href=(format!("#agent-{}", a.agent)) { (a.agent) } } } }
                @for b in &r.benchmarks {
                    @let desc = r.descriptions.get(b).map(String::as_str).unwrap_or("");
                    tr {
                        td title=(desc) { (b) br; small.muted { (desc) } }
                        @for a in &r.agents {
                            @match r.matrix.iter().find(|c| &c.benchmark_id == b && c.agent == a.agent) {
                                Some(c) => (heat_cell(r, c)),
                                None => td.c { "–" },
                            }
                        }
                    }
                }
            } }
        }
    }
}

fn heat_cell(r: &Report, c: &MatrixCell) -> Markup {
    let rate = if c.attempts == 0 {
        0.0
    } else {
        c.succeeded as f64 / c.attempts as f64
    };
    let hue = (rate * 120.0).round();
    let first = cell_session(r, &c.benchmark_id, &c.agent);
    let attempts: Vec<&SessionBrief> = r
        .sessions
        .iter()
        .filter(|s| s.benchmark_id == c.benchmark_id && s.agent == c.agent)
        .collect();
    html! {
        td.c style=(format!("background:hsl({hue},65%,82%)"))
            title=(format!("{} of {} succeeded, mean score {}, latest {}", c.succeeded, c.attempts, crate::report::text::score(c.mean_score, 2), c.latest_status.as_str())) {
            @match first {
                Some(s) => a href=(session_href(&s.session_id)) { (c.succeeded) "/" (c.attempts) },
                None => { (c.succeeded) "/" (c.attempts) },
            }
            br;
            small {
                @for s in &attempts {
                    a href=(session_href(&s.session_id)) title=(format!("attempt {}: {}", s.attempt, s.status.as_str())) {
                        @if s.status == Status::Succeeded { "✓" } @else { "✗" }
                    }
                }
            }
        }
    }
}

/// Success rate and p95 duration per agent over the recent runs, one chart each.
fn trends(r: &Report) -> Markup {
    let runs = runs_in_order(&r.trends);
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
        x: x_labels(&runs, &r.run_id),
        series: series(&|p| Some(unit.scale(p.p95_duration_ms))),
        value_text: &|v| format!("{} {}", trim_number(v), unit.name()),
    };
    html! {
        section #trends {
            h2 { "Trends" }
            p.muted { "The last runs that ran these agents; hover a point for its value and run." }
            div.charts { (rate.svg()) (p95.svg()) }
        }
    }
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

fn distributions(r: &Report) -> Markup {
    let charts: Vec<Markup> = r
        .histograms
        .iter()
        .map(|h| {
            let i = r
                .agents
                .iter()
                .position(|a| a.agent == h.agent)
                .unwrap_or(0);
            svg::Histogram {
                agent: &h.agent,
                color: PALETTE[i % PALETTE.len()],
                bins: &h.bins,
            }
            .svg()
        })
        .collect();
    html! {
        section #durations {
            h2 { "Duration distribution" }
            p.muted { "Sessions of this run by wall time; hover a bar for its range and count." }
            div.charts { @for chart in &charts { (chart) } }
        }
    }
}

/// Flaky benchmarks (mixed outcomes without a step change) and step changes (all-or-nothing
/// in every run, changed once: the agent or the benchmark changed), each linked to this
/// run's session.
fn flaky(r: &Report) -> Markup {
    let link = |b: &str, agent: &str| -> Markup {
        html! {
            @match cell_session(r, b, agent) {
                Some(s) => a href=(session_href(&s.session_id)) { (b) },
                None => (b),
            }
        }
    };
    html! {
        section #flaky {
            h2 { "Flaky benchmarks" }
            @if r.flaky.is_empty() {
                p.ok { "None: no benchmark had mixed outcomes without a step change over the recent runs." }
            } @else {
                table {
                    tr { th { "benchmark" } th { "agent" } th { "succeeded" } th { "runs" } }
                    @for f in &r.flaky {
                        tr { td { (link(&f.benchmark_id, &f.agent)) } td { (f.agent) } td.n { (f.succeeded) "/" (f.sessions) } td.n { (f.runs) } }
                    }
                }
            }
            @if !r.changes.is_empty() {
                h3 { "Changed (not flaky)" }
                p.muted { "All-or-nothing in every recent run, and the outcome changed once: a change in the agent or the benchmark." }
                table {
                    tr { th { "benchmark" } th { "agent" } th { "change" } th { "since run" } }
                    @for c in &r.changes {
                        tr {
                            td { (link(&c.benchmark_id, &c.agent)) } td { (c.agent) }
                            td { @if c.broke { span.bad { "broke" } } @else { span.ok { "fixed" } } }
                            td { (c.since_run) }
                        }
                    }
                }
            }
        }
    }
}

fn slowest(r: &Report) -> Markup {
    html! {
        section #slowest {
            h2 { "Slowest sessions" }
            div.scroll { table {
                tr { th { "session" } th { "benchmark" } th { "agent" } th { "attempt" } th { "status" } th { "duration" } }
                @for s in &r.slowest {
                    tr {
                        td { a href=(session_href(&s.session_id)) { code { (s.session_id) } } }
                        td { (s.benchmark_id) } td { (s.agent) } td.n { (s.attempt) } td { (s.status.as_str()) } td.n { (ms(s.duration_ms as f64)) }
                    }
                }
            } }
        }
    }
}

/// The filter bar: text, agent and status (the inline script applies it).
fn filters(r: &Report) -> Markup {
    let mut statuses: Vec<&str> = r.sessions.iter().map(|s| s.status.as_str()).collect();
    statuses.sort_unstable();
    statuses.dedup();
    html! {
        div.filters {
            label { "Filter " input #q type="search" placeholder="text in benchmark, message, error"; }
            label { "agent " select #f-agent { option value="" { "all" } @for a in &r.agents { option value=(a.agent) { (a.agent) } } } }
            label { "status " select #f-status { option value="" { "all" } @for s in statuses { option value=(s) { (s) } } } }
            span #f-count .muted {}
        }
    }
}

/// Failures grouped by benchmark, one row each, filterable; the row links to the session.
fn failures(r: &Report) -> Markup {
    let mut groups: Vec<(&str, Vec<&SessionBrief>)> = Vec::new();
    for f in &r.failures {
        match groups.last_mut() {
            Some((b, v)) if *b == f.benchmark_id => v.push(f),
            _ => groups.push((&f.benchmark_id, vec![f])),
        }
    }
    html! {
        section #failures {
            h2 { "Failures (" (r.failures.len()) ")" }
            (filters(r))
            @for (bench, list) in &groups {
                details.group id=(format!("failures-{bench}")) open {
                    summary { (bench) " — " (list.len()) " session(s) not succeeded" }
                    div.scroll { table {
                        tr { th { "agent" } th { "attempt" } th { "status" } th { "score" } th { "why" } }
                        @for f in list {
                            tr data-agent=(f.agent) data-status=(f.status.as_str()) {
                                td { a href=(session_href(&f.session_id)) { (f.agent) } }
                                td.n { (f.attempt) } td.bad { (f.status.as_str()) } td.n { (crate::report::text::score(f.score, 2)) }
                                td { (why(f)) }
                            }
                        }
                    } }
                }
            }
        }
    }
}

/// One line on why a session did not succeed: its error, else its first failing assertion.
fn why(s: &SessionBrief) -> String {
    if let Some(e) = &s.error {
        return e.chars().take(200).collect();
    }
    match s.failing.first() {
        Some(a) => {
            let more = if s.failing.len() > 1 {
                format!(" (+{} more)", s.failing.len() - 1)
            } else {
                String::new()
            };
            format!(
                "{}: {}{more}",
                a.kind,
                a.message.chars().take(200).collect::<String>()
            )
        }
        None => String::new(),
    }
}

/// Every session, one row each, linked to its page (the same filter applies).
fn all_sessions(r: &Report) -> Markup {
    html! {
        section #sessions {
            h2 { "All sessions (" (r.sessions.len()) ")" }
            p.muted { "The filter above applies here too. Each session id opens the session's page." }
            div.scroll { table {
                tr { th { "session" } th { "benchmark" } th { "agent" } th { "attempt" } th { "status" } th { "score" } th { "duration" } }
                @for s in &r.sessions {
                    tr data-agent=(s.agent) data-status=(s.status.as_str()) {
                        td { a href=(session_href(&s.session_id)) { code { (s.session_id) } } }
                        td { (s.benchmark_id) } td { (s.agent) } td.n { (s.attempt) }
                        td.ok[s.status == Status::Succeeded] .bad[s.status != Status::Succeeded] { (s.status.as_str()) }
                        td.n { (crate::report::text::score(s.score, 2)) } td.n { (ms(s.duration_ms as f64)) }
                    }
                }
            } }
        }
    }
}

/// A session's own page: its numbers, assertions (with the verifier's run), trace, output.
fn session_page(r: &Report, s: &SessionBrief) -> Markup {
    let matrix = r
        .agents
        .iter()
        .find(|a| a.agent == s.agent)
        .filter(|a| !a.matrix.is_empty())
        .map(|a| crate::spec::matrix::text(&a.matrix));
    let failed_here = r.failures.iter().any(|f| f.benchmark_id == s.benchmark_id);
    html! {
        article.session id=(format!("s-{}", s.session_id)) {
            p {
                a href="#sessions" { "← all sessions" }
                @if failed_here { " · " a href=(format!("#failures-{}", s.benchmark_id)) { "failures of " (s.benchmark_id) } }
                " · " a href="#top" { "report" }
            }
            h2 {
                (s.benchmark_id) " / " (s.agent) " #" (s.attempt) " "
                span.ok[s.status == Status::Succeeded] .bad[s.status != Status::Succeeded] { (s.status.as_str()) }
                " " small.muted { "score " (crate::report::text::score(s.score, 2)) }
            }
            dl.meta {
                dt { "session" } dd { code { (s.session_id) } " (" code { "reev show " (s.session_id) } ")" }
                dt { "duration" } dd { (ms(s.duration_ms as f64)) }
                @if let Some(t) = s.tokens { dt { "tokens" } dd { (t) } }
                @if s.cost_usd.is_some() { dt { "cost" } dd { (usd(s.cost_usd)) } }
                @if let Some(m) = matrix { dt { "matrix" } dd { (m) } }
                @if let Some(e) = &s.error { dt { "error" } dd.bad { (e) } }
            }
            @match &s.detail {
                Some(d) => {
                    (assertions(&d.assertions))
                    (spans_view(&d.spans))
                    (trace_view(s))
                    (output("stdout (tail)", &s.stdout_tail))
                    (output("stderr (tail)", &d.stderr_tail))
                }
                None => p.muted {
                    "Not detailed in this page (it details " (crate::report::gather::trace::MAX_DETAILED)
                    " sessions, failures first): " code { "reev show " (s.session_id) } " has everything."
                },
            }
        }
    }
}

fn assertions(list: &[crate::report::gather::model::AssertionView]) -> Markup {
    html! {
        h3 { "Assertions (" (list.iter().filter(|a| a.passed).count()) " of " (list.len()) " passed)" }
        @if !list.is_empty() {
            div.scroll { table {
                tr { th { "" } th { "assertion" } th { "expected" } th { "actual" } th { "message" } }
                @for a in list {
                    tr.pass[a.passed] .fail[!a.passed] {
                        td { @if a.passed { span.ok { "✓" } } @else { span.bad { "✗" } } }
                        td { (a.kind.as_str()) @if let Some(n) = &a.name { " (" (n) ")" } }
                        td { code { (a.expected) } } td { code { (a.actual) } } td { (a.message) }
                    }
                    @if let Some(v) = &a.verifier {
                        tr { td {} td colspan="4" {
                            details {
                                summary { "verifier: " code { (v.command.join(" ")) } " — exit " (v.exit_code.map_or("none".to_string(), |c| c.to_string()))
                                    @if v.timed_out { " (timed out)" } ", " (ms(v.duration_ms as f64)) }
                                @if !v.stdout.text.is_empty() { pre { (v.stdout.text) } }
                                @if !v.stderr.text.is_empty() { pre { (v.stderr.text) } }
                            }
                        } }
                    }
                }
            } }
        }
    }
}

/// The spans the agent sent over OTLP, as a tree (children under their parent, by start
/// time); nothing for an agent that sent none.
fn spans_view(spans: &[crate::otlp::span::SpanRecord]) -> Markup {
    html! {
        @if !spans.is_empty() {
            h3 { "Spans" }
            details.spans open {
                summary { (spans.len()) " span" @if spans.len() != 1 { "s" } " received over OTLP" }
                (crate::otlp::tree::html(spans))
            }
        }
    }
}

/// The session's trace: its events in order (tool calls with inputs and results, model
/// requests, metrics, errors).
fn trace_view(s: &SessionBrief) -> Markup {
    let full = s.trace.len() as i64 >= crate::report::gather::trace::MAX_EVENTS;
    html! {
        h3 { "Trace" }
        @if s.trace.is_empty() {
            p.muted { "No events in the trace." }
        } @else {
            details open {
                summary {
                    "trace: " (s.trace.len()) " event" @if s.trace.len() != 1 { "s" }
                    @if full { " (the first " (s.trace.len()) "; " code { "reev show " (s.session_id) } " has them all)" }
                }
                div.scroll { table.trace {
                    tr { th { "#" } th { "event" } th { "name" } th { "details" } }
                    @for e in &s.trace {
                        tr {
                            td.n { (e.seq) } td { (e.kind) } td { (e.name.as_deref().unwrap_or("")) }
                            td { @if let Some(err) = &e.error { span.bad { (err) } " " } code { (e.detail) } }
                        }
                    }
                } }
            }
        }
    }
}

fn output(title: &str, text: &str) -> Markup {
    html! {
        @if !text.is_empty() {
            details { summary { (title) } pre { (text) } }
        }
    }
}

/// The HTML section (maud escapes every string).
fn completeness(c: &Completeness) -> maud::Markup {
    maud::html! {
        h2 { "Completeness" }
        p.ok[c.complete] .bad[!c.complete] {
            @if c.complete { "Complete" } @else { "Incomplete run" } ": " (c.summary())
        }
        table {
            tr { th { "agent" } th { "planned" } th { "present" } }
            @for a in &c.agents {
                tr { td { (a.agent) } td.n { (planned_text(a.planned)) } td.n { (a.present) } }
            }
        }
    }
}
