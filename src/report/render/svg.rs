//! Inline SVG charts for report.html, each readable on its own: a title, axes with tick
//! marks, units and labels, a legend, and every value on hover (an SVG `<title>`).
//! No script; rendered with maud, which escapes every label. Every SVG element is written
//! with an explicit end tag: inside HTML, `<line>` without one would swallow what follows.

use maud::{html, Markup};

/// Line colours, one per agent, in agent order.
pub const PALETTE: [&str; 6] = [
    "#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2",
];

/// One line of a line chart: an agent's value per run (x is the run's index).
pub struct Series<'a> {
    pub name: &'a str,
    pub color: &'a str,
    pub points: Vec<(usize, f64)>,
}

/// A run on the x axis: a short label under the axis and the full text on hover.
pub struct XLabel {
    pub short: String,
    pub full: String,
    /// The run the report is about: its label is bold.
    pub current: bool,
}

/// A line chart of one measure per run, one line per agent.
pub struct LineChart<'a> {
    pub title: &'a str,
    /// The y axis label, with its unit ("success rate (%)").
    pub y_label: &'a str,
    /// Values are in this unit already; `None` lets the axis grow to the data.
    pub y_max: Option<f64>,
    pub x: Vec<XLabel>,
    pub series: Vec<Series<'a>>,
    /// A value as hover text ("75.0%", "812 ms").
    pub value_text: &'a dyn Fn(f64) -> String,
}

const FONT: &str = "system-ui,sans-serif";
const AXIS: &str = "#6b7280";

/// A coordinate as written: one decimal.
fn c(v: f64) -> String {
    format!("{v:.1}")
}

impl LineChart<'_> {
    pub fn svg(&self) -> Markup {
        let (w, h) = (540.0, 300.0);
        let (left, right, top, bottom) = (62.0, 18.0, 30.0, 92.0);
        let data_max = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .fold(0.0, f64::max);
        let ticks = nice_ticks(self.y_max.unwrap_or(data_max).max(data_max));
        let top_value = *ticks.last().unwrap_or(&1.0);
        let plot_w = w - left - right;
        let plot_h = h - top - bottom;
        let n = self.x.len();
        let x = |i: usize| {
            left + if n > 1 {
                plot_w * i as f64 / (n - 1) as f64
            } else {
                plot_w / 2.0
            }
        };
        let y = |v: f64| top + plot_h - plot_h * (v / top_value);
        let base = top + plot_h;
        let axis = Axis {
            left,
            right: w - right,
            mid: top + plot_h / 2.0,
        };
        html! {
            svg width=(w) height=(h) viewBox=(format!("0 0 {w} {h}")) role="img" aria-label=(self.title) font-family=(FONT) fill="#1f2937" {
                (title(left, self.title))
                (y_axis(&ticks, &axis, &y, self.y_label))
                // x axis: one tick per run, its start time below, the run id on hover.
                line x1=(left) y1=(base) x2=(w - right) y2=(base) stroke=(AXIS) {}
                @for (i, l) in self.x.iter().enumerate() {
                    line x1=(c(x(i))) y1=(base) x2=(c(x(i))) y2=(c(base + 4.0)) stroke=(AXIS) {}
                    text x=(c(x(i))) y=(c(base + 14.0)) font-size="10" text-anchor="end" font-weight=[l.current.then_some("bold")]
                        transform=(format!("rotate(-35 {} {})", c(x(i)), c(base + 14.0))) {
                        (l.short) title { (l.full) }
                    }
                }
                text x=(c(left + plot_w / 2.0)) y=(c(h - 24.0)) font-size="11" text-anchor="middle" fill="#4b5563" { "run (start time, UTC)" }
                @for s in &self.series {
                    polyline fill="none" stroke=(s.color) stroke-width="2"
                        points=(s.points.iter().map(|(i, v)| format!("{},{}", c(x(*i)), c(y(*v)))).collect::<Vec<_>>().join(" ")) {}
                    @for (i, v) in &s.points {
                        circle cx=(c(x(*i))) cy=(c(y(*v))) r="4" fill=(s.color) {
                            title { (s.name) ": " ((self.value_text)(*v)) " (" (self.x.get(*i).map(|l| l.full.as_str()).unwrap_or("")) ")" }
                        }
                    }
                }
                (legend(&self.series, left, h - 6.0))
            }
        }
    }
}

/// A histogram of one agent's session durations.
pub struct Histogram<'a> {
    pub agent: &'a str,
    pub color: &'a str,
    /// Upper bounds of the bins in ms, and the count in each (bins start at 0).
    pub bins: &'a [(f64, u64)],
}

impl Histogram<'_> {
    pub fn svg(&self) -> Markup {
        let (w, h) = (360.0, 210.0);
        let (left, right, top, bottom) = (46.0, 14.0, 28.0, 48.0);
        let plot_w = w - left - right;
        let plot_h = h - top - bottom;
        let ticks = count_ticks(self.bins.iter().map(|b| b.1).max().unwrap_or(0));
        let top_count = *ticks.last().unwrap_or(&1.0);
        let y = |v: f64| top + plot_h - plot_h * (v / top_count);
        let upper = self.bins.last().map(|b| b.0).unwrap_or(0.0);
        let unit = TimeUnit::for_max(upper);
        // Enough decimals to tell neighbouring bin edges apart.
        let bin_width = unit.scale(upper) / self.bins.len().max(1) as f64;
        let decimals = if bin_width >= 10.0 {
            0
        } else if bin_width >= 1.0 {
            1
        } else {
            2
        };
        let edge_text = |ms: f64| format!("{:.decimals$}", unit.scale(ms));
        let chart_title = format!("{}: session durations", self.agent);
        let bw = plot_w / self.bins.len().max(1) as f64;
        let lowers: Vec<f64> = std::iter::once(0.0)
            .chain(self.bins.iter().map(|b| b.0))
            .collect();
        let base = top + plot_h;
        // x axis: ticks at round durations (0, 250, 500, ...), placed on the linear scale
        // the bins share (bin i covers [i, i+1] × width).
        let span = unit.scale(upper);
        let x_ticks = nice_ticks(span);
        let step = if x_ticks.len() > 1 { x_ticks[1] } else { 1.0 };
        let xe = |t: f64| left + if span > 0.0 { plot_w * t / span } else { 0.0 };
        let axis = Axis {
            left,
            right: w - right,
            mid: top + plot_h / 2.0,
        };
        html! {
            svg width=(w) height=(h) viewBox=(format!("0 0 {w} {h}")) role="img" aria-label=(chart_title) font-family=(FONT) fill="#1f2937" {
                (title(left, &chart_title))
                (y_axis(&ticks, &axis, &y, "sessions"))
                @for (i, (hi, count)) in self.bins.iter().enumerate() {
                    @let bh = plot_h * (*count as f64 / top_count);
                    rect x=(c(left + i as f64 * bw + 0.5)) y=(c(base - bh)) width=(c((bw - 1.0).max(1.0))) height=(c(bh)) fill=(self.color) {
                        title { (edge_text(lowers[i])) "–" (edge_text(*hi)) " " (unit.name()) ": " (count) " session" @if *count != 1 { "s" } }
                    }
                }
                line x1=(left) y1=(base) x2=(w - right) y2=(base) stroke=(AXIS) {}
                @for t in x_ticks.iter().filter(|t| **t <= span * (1.0 + 1e-9)) {
                    line x1=(c(xe(*t))) y1=(base) x2=(c(xe(*t))) y2=(c(base + 4.0)) stroke=(AXIS) {}
                    text x=(c(xe(*t))) y=(c(base + 15.0)) font-size="10" text-anchor="middle" { (tick_text(*t, step)) }
                }
                text x=(c(left + plot_w / 2.0)) y=(c(h - 8.0)) font-size="11" text-anchor="middle" fill="#4b5563" { "duration (" (unit.name()) ")" }
            }
        }
    }
}

/// Milliseconds or seconds, whichever reads better for values up to a maximum.
#[derive(Clone, Copy)]
pub enum TimeUnit {
    Ms,
    S,
}

impl TimeUnit {
    pub fn for_max(max_ms: f64) -> Self {
        if max_ms >= 10_000.0 {
            TimeUnit::S
        } else {
            TimeUnit::Ms
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            TimeUnit::Ms => "ms",
            TimeUnit::S => "s",
        }
    }

    pub fn scale(self, ms: f64) -> f64 {
        match self {
            TimeUnit::Ms => ms,
            TimeUnit::S => ms / 1000.0,
        }
    }
}

/// Where the y axis goes: the plot's left and right edge, and the middle of its height.
struct Axis {
    left: f64,
    right: f64,
    mid: f64,
}

fn title(x: f64, text: &str) -> Markup {
    html! { text x=(x) y="18" font-size="13" font-weight="600" { (text) } }
}

/// The y axis: gridlines, tick marks and values at `ticks`, and a rotated axis label.
fn y_axis(ticks: &[f64], a: &Axis, y: &dyn Fn(f64) -> f64, label: &str) -> Markup {
    let step = if ticks.len() > 1 {
        ticks[1] - ticks[0]
    } else {
        1.0
    };
    let bottom = ticks.first().map(|t| y(*t)).unwrap_or(0.0);
    let top = ticks.last().map(|t| y(*t)).unwrap_or(0.0);
    let (left, mid) = (a.left, a.mid);
    html! {
        @for t in ticks {
            line x1=(left) y1=(c(y(*t))) x2=(a.right) y2=(c(y(*t))) stroke="#eef0f3" {}
            line x1=(c(left - 4.0)) y1=(c(y(*t))) x2=(left) y2=(c(y(*t))) stroke=(AXIS) {}
            text x=(c(left - 6.0)) y=(c(y(*t) + 3.5)) font-size="10" text-anchor="end" { (tick_text(*t, step)) }
        }
        line x1=(left) y1=(c(top)) x2=(left) y2=(c(bottom)) stroke=(AXIS) {}
        text x="14" y=(c(mid)) font-size="11" text-anchor="middle" fill="#4b5563" transform=(format!("rotate(-90 14 {})", c(mid))) { (label) }
    }
}

fn legend(series: &[Series<'_>], left: f64, y: f64) -> Markup {
    let mut x = left;
    let mut at = Vec::new();
    for s in series {
        at.push(x);
        x += 24.0 + 7.0 * s.name.chars().count() as f64;
    }
    html! {
        @for (s, x) in series.iter().zip(at) {
            rect x=(c(x)) y=(c(y - 9.0)) width="10" height="10" fill=(s.color) {}
            text x=(c(x + 14.0)) y=(c(y)) font-size="11" { (s.name) }
        }
    }
}

/// Round tick values from 0 to at least `max`: 4–6 steps of 1, 2, 2.5 or 5 × 10^k.
pub fn nice_ticks(max: f64) -> Vec<f64> {
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        1.0
    };
    let raw = max / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let n = (max / step - 1e-9).ceil().max(1.0) as usize;
    (0..=n).map(|i| i as f64 * step).collect()
}

/// A tick value with as many decimals as its step needs (0.25 steps: 2; 0.5: 1; 200: 0).
fn tick_text(v: f64, step: f64) -> String {
    let decimals = (0..4)
        .find(|d| {
            let scaled = step * 10f64.powi(*d);
            (scaled - scaled.round()).abs() < 1e-6
        })
        .unwrap_or(3) as usize;
    format!("{v:.decimals$}")
}

/// Ticks for counts: whole numbers only.
pub fn count_ticks(max: u64) -> Vec<f64> {
    if max < 5 {
        (0..=max.max(1)).map(|i| i as f64).collect()
    } else {
        nice_ticks(max as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_maximum() {
        assert_eq!(nice_ticks(100.0), vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        assert_eq!(
            nice_ticks(812.0),
            vec![0.0, 200.0, 400.0, 600.0, 800.0, 1000.0]
        );
        assert_eq!(nice_ticks(3.0), vec![0.0, 1.0, 2.0, 3.0]);
        assert_eq!(nice_ticks(0.0).len(), 6);
        assert_eq!(count_ticks(2), vec![0.0, 1.0, 2.0]);
        assert_eq!(count_ticks(0), vec![0.0, 1.0]);
        assert_eq!(tick_text(0.25, 0.25), "0.25");
        assert_eq!(tick_text(400.0, 200.0), "400");
        assert_eq!(tick_text(0.6000000000000001, 0.2), "0.6");
        for m in [1.0, 7.0, 13.0, 99.0, 1234.5, 0.03] {
            let t = nice_ticks(m);
            assert!(
                *t.last().unwrap() >= m && t.len() >= 2 && t.len() <= 7,
                "{m}: {t:?}"
            );
        }
    }
}
