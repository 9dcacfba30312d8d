//! How every format (and the command line) writes numbers and text: percentages, scores,
//! durations, money and sizes.

pub fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// What every format shows for a number that does not exist (a session that was not judged
/// has no score; a run with no judged session has no success rate): never 0.
pub const NONE: &str = "–";

/// A value and its interval, `v (lo–hi)` with `f`; [`NONE`] when there is no value.
pub fn with_ci(x: Option<f64>, ci: Option<[f64; 2]>, f: fn(f64) -> String) -> [String; 2] {
    match (x, ci) {
        (Some(x), Some([lo, hi])) => [f(x), format!("{}–{}", f(lo), f(hi))],
        (Some(x), None) => [f(x), String::new()],
        (None, _) => [NONE.to_string(), String::new()],
    }
}

/// A score with `digits` decimals, or [`NONE`].
pub fn score(x: Option<f64>, digits: usize) -> String {
    x.map_or_else(|| NONE.to_string(), |x| format!("{x:.digits$}"))
}

/// Three decimals: how scores are shown in tables.
pub fn score3(x: f64) -> String {
    format!("{x:.3}")
}

pub fn ms(x: f64) -> String {
    if x >= 10_000.0 {
        format!("{:.1} s", x / 1000.0)
    } else {
        format!("{x:.0} ms")
    }
}

/// US dollars with four significant digits (model requests cost fractions of a cent); `-`
/// when unknown.
pub fn usd(x: Option<f64>) -> String {
    match x {
        None => "-".to_string(),
        Some(x) if x == 0.0 || !x.is_finite() => format!("${x}"),
        Some(x) => {
            let digits = (3 - x.abs().log10().floor() as i32).clamp(2, 10) as usize;
            format!("${x:.digits$}")
        }
    }
}

/// A token count (a mean, so rounded); `-` when unknown.
pub fn tokens(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_string(), |t| format!("{t:.0}"))
}

pub fn bytes(b: f64) -> String {
    if b >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} GiB", b / (1024.0 * 1024.0 * 1024.0))
    } else {
        format!("{:.1} MiB", b / (1024.0 * 1024.0))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn usd_keeps_four_significant_digits() {
        assert_eq!(super::usd(Some(1.23456)), "$1.235");
        assert_eq!(super::usd(Some(1234.5)), "$1234.50");
        assert_eq!(super::usd(Some(0.000123456)), "$0.0001235");
        assert_eq!(super::usd(Some(0.0)), "$0");
        assert_eq!(super::usd(None), "-");
    }
}
