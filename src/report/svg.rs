//! Inline SVG charts for report.html, each readable on its own: a title, axes with tick
//! marks, units and labels, a legend, and every value on hover (an SVG `<title>`).
//! No script; every string that reaches the SVG goes through `escape`.

use std::fmt::Write;

use super::escape as esc;

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

const FONT: &str = "font-family=\"system-ui,sans-serif\"";

impl LineChart<'_> {
    pub fn svg(&self) -> String {
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
        let mut o = open(w, h, self.title);
        title(&mut o, left, self.title);
        y_axis(
            &mut o,
            &ticks,
            left,
            w - right,
            &y,
            self.y_label,
            top + plot_h / 2.0,
        );
        // x axis: one tick per run, its start time below, the run id on hover.
        let base = top + plot_h;
        let _ = write!(
            o,
            "<line x1=\"{left}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\" stroke=\"#6b7280\"/>",
            w - right
        );
        for (i, l) in self.x.iter().enumerate() {
            let xi = x(i);
            let weight = if l.current {
                " font-weight=\"bold\""
            } else {
                ""
            };
            let _ = write!(
                o,
                "<line x1=\"{xi:.1}\" y1=\"{base}\" x2=\"{xi:.1}\" y2=\"{:.1}\" stroke=\"#6b7280\"/>\
                 <text x=\"{xi:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\"{weight} transform=\"rotate(-35 {xi:.1} {:.1})\">{}<title>{}</title></text>",
                base + 4.0,
                base + 14.0,
                base + 14.0,
                esc(&l.short),
                esc(&l.full)
            );
        }
        let _ = write!(
            o,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\" fill=\"#4b5563\">run (start time, UTC)</text>",
            left + plot_w / 2.0,
            h - 24.0
        );
        for s in &self.series {
            let pts: Vec<String> = s
                .points
                .iter()
                .map(|(i, v)| format!("{:.1},{:.1}", x(*i), y(*v)))
                .collect();
            let _ = write!(
                o,
                "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"/>",
                s.color,
                pts.join(" ")
            );
            for (i, v) in &s.points {
                let run = self.x.get(*i).map(|l| l.full.as_str()).unwrap_or("");
                let _ = write!(
                    o,
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{}\"><title>{}: {} ({})</title></circle>",
                    x(*i),
                    y(*v),
                    s.color,
                    esc(s.name),
                    esc(&(self.value_text)(*v)),
                    esc(run)
                );
            }
        }
        legend(&mut o, &self.series, left, h - 6.0);
        o.push_str("</svg>\n");
        o
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
    pub fn svg(&self) -> String {
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
        let mut o = open(w, h, &chart_title);
        title(&mut o, left, &chart_title);
        y_axis(
            &mut o,
            &ticks,
            left,
            w - right,
            &y,
            "sessions",
            top + plot_h / 2.0,
        );
        let bw = plot_w / self.bins.len().max(1) as f64;
        let mut lower = 0.0;
        for (i, (hi, count)) in self.bins.iter().enumerate() {
            let bh = plot_h * (*count as f64 / top_count);
            let _ = write!(
                o,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{}–{} {}: {count} session{}</title></rect>",
                left + i as f64 * bw + 0.5,
                top + plot_h - bh,
                (bw - 1.0).max(1.0),
                bh,
                self.color,
                edge_text(lower),
                edge_text(*hi),
                unit.name(),
                if *count == 1 { "" } else { "s" }
            );
            lower = *hi;
        }
        // x axis: ticks at round durations (0, 250, 500, ...), placed on the linear scale
        // the bins share (bin i covers [i, i+1] × width).
        let base = top + plot_h;
        let _ = write!(
            o,
            "<line x1=\"{left}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\" stroke=\"#6b7280\"/>",
            w - right
        );
        let span = unit.scale(upper);
        let x_ticks = nice_ticks(span);
        let step = if x_ticks.len() > 1 { x_ticks[1] } else { 1.0 };
        for t in x_ticks.iter().filter(|t| **t <= span * (1.0 + 1e-9)) {
            let xe = left + if span > 0.0 { plot_w * t / span } else { 0.0 };
            let _ = write!(
                o,
                "<line x1=\"{xe:.1}\" y1=\"{base}\" x2=\"{xe:.1}\" y2=\"{:.1}\" stroke=\"#6b7280\"/>\
                 <text x=\"{xe:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\">{}</text>",
                base + 4.0,
                base + 15.0,
                tick_text(*t, step)
            );
        }
        let _ = write!(
            o,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\" fill=\"#4b5563\">duration ({})</text>",
            left + plot_w / 2.0,
            h - 8.0,
            unit.name()
        );
        o.push_str("</svg>\n");
        o
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

fn open(w: f64, h: f64, label: &str) -> String {
    format!(
        "<svg width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}\" {FONT} fill=\"#1f2937\">",
        esc(label)
    )
}

fn title(o: &mut String, x: f64, text: &str) {
    let _ = write!(
        o,
        "<text x=\"{x}\" y=\"18\" font-size=\"13\" font-weight=\"600\">{}</text>",
        esc(text)
    );
}

/// The y axis: gridlines, tick marks and values at `ticks`, and a rotated axis label.
fn y_axis(
    o: &mut String,
    ticks: &[f64],
    left: f64,
    right: f64,
    y: &dyn Fn(f64) -> f64,
    label: &str,
    mid: f64,
) {
    let step = if ticks.len() > 1 {
        ticks[1] - ticks[0]
    } else {
        1.0
    };
    for t in ticks {
        let yt = y(*t);
        let _ = write!(
            o,
            "<line x1=\"{left}\" y1=\"{yt:.1}\" x2=\"{right}\" y2=\"{yt:.1}\" stroke=\"#eef0f3\"/>\
             <line x1=\"{:.1}\" y1=\"{yt:.1}\" x2=\"{left}\" y2=\"{yt:.1}\" stroke=\"#6b7280\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\">{}</text>",
            left - 4.0,
            left - 6.0,
            yt + 3.5,
            tick_text(*t, step)
        );
    }
    let bottom = ticks.first().map(|t| y(*t)).unwrap_or(0.0);
    let top = ticks.last().map(|t| y(*t)).unwrap_or(0.0);
    let _ = write!(
        o,
        "<line x1=\"{left}\" y1=\"{top:.1}\" x2=\"{left}\" y2=\"{bottom:.1}\" stroke=\"#6b7280\"/>\
         <text x=\"14\" y=\"{mid:.1}\" font-size=\"11\" text-anchor=\"middle\" fill=\"#4b5563\" transform=\"rotate(-90 14 {mid:.1})\">{}</text>",
        esc(label)
    );
}

fn legend(o: &mut String, series: &[Series<'_>], left: f64, y: f64) {
    let mut x = left;
    for s in series {
        let _ = write!(
            o,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{:.1}\" y=\"{y:.1}\" font-size=\"11\">{}</text>",
            y - 9.0,
            s.color,
            x + 14.0,
            esc(s.name)
        );
        x += 24.0 + 7.0 * s.name.chars().count() as f64;
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
