//! Statistics for reports and the regression gate: intervals, percentiles, pass@k, tests.

use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

/// Wilson score interval for `successes` out of `n` at confidence `1 - alpha` (two-sided).
pub fn wilson(successes: u64, n: u64, alpha: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let z = z_two_sided(alpha);
    let n = n as f64;
    let p = successes as f64 / n;
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    ((center - half).max(0.0), (center + half).min(1.0))
}

/// A Student-t interval from summary statistics: mean, sample standard deviation, count.
pub fn t_interval(mean: f64, sd: f64, n: u64, alpha: f64) -> (f64, f64) {
    if n < 2 || !sd.is_finite() {
        return (mean, mean);
    }
    let t = StudentsT::new(0.0, 1.0, (n - 1) as f64)
        .map(|d| d.inverse_cdf(1.0 - alpha / 2.0))
        .unwrap_or(1.96);
    let half = t * sd / (n as f64).sqrt();
    (mean - half, mean + half)
}

/// Percentile `q` in [0, 1] with linear interpolation between closest ranks (like DuckDB's
/// `quantile_cont` and NumPy's default). `sorted` must be ascending.
pub fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64))
}

/// The median of values in any order. Values already ascending (the gate's samples, sorted
/// once when gathered and read again for every run it replays) are not copied or sorted.
pub fn median(values: &[f64]) -> Option<f64> {
    if ascending(values) {
        return percentile(values, 0.5);
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    percentile(&v, 0.5)
}

/// Whether `values` are in ascending order (by `total_cmp`, as they are sorted here).
fn ascending(values: &[f64]) -> bool {
    values.is_sorted_by(|a, b| a.total_cmp(b).is_le())
}

/// The unbiased pass@k estimator (Chen et al., 2021): the chance that at least one of k attempts
/// drawn without replacement from n attempts, c of them successful, succeeds.
pub fn pass_at_k(n: u64, c: u64, k: u64) -> Option<f64> {
    if k == 0 || k > n || c > n {
        return None;
    }
    if n - c < k {
        return Some(1.0);
    }
    // 1 - C(n-c, k) / C(n, k) = 1 - prod_{i=n-c+1}^{n} (1 - k / i)
    let prod: f64 = ((n - c + 1)..=n)
        .map(|i| 1.0 - k as f64 / i as f64)
        .product();
    Some(1.0 - prod)
}

/// pass^k: the chance that all k attempts drawn without replacement succeed, C(c, k) / C(n, k).
pub fn pass_hat_k(n: u64, c: u64, k: u64) -> Option<f64> {
    if k == 0 || k > n || c > n {
        return None;
    }
    if c < k {
        return Some(0.0);
    }
    Some((0..k).map(|i| (c - i) as f64 / (n - i) as f64).product())
}

/// One-sided Fisher exact test that the current success rate is lower than the baseline's:
/// P(X <= cur_success) under the hypergeometric null with the margins fixed.
pub fn fisher_lower(base_success: u64, base_n: u64, cur_success: u64, cur_n: u64) -> f64 {
    let total = base_n + cur_n;
    let successes = base_success + cur_success;
    if cur_n == 0 || base_n == 0 {
        return 1.0;
    }
    let lo = successes.saturating_sub(base_n);
    let hi = successes.min(cur_n);
    let log_p = |x: u64| {
        ln_choose(successes, x) + ln_choose(total - successes, cur_n - x) - ln_choose(total, cur_n)
    };
    let observed = cur_success.clamp(lo, hi);
    (lo..=observed)
        .map(|x| log_p(x).exp())
        .sum::<f64>()
        .min(1.0)
}

fn ln_choose(n: u64, k: u64) -> f64 {
    if k > n {
        return f64::NEG_INFINITY;
    }
    ln_factorial(n) - ln_factorial(k) - ln_factorial(n - k)
}

fn ln_factorial(n: u64) -> f64 {
    statrs::function::factorial::ln_factorial(n)
}

/// Mann–Whitney U test, one-sided: is `current` stochastically larger than `baseline`?
/// Returns (U of current, p-value) from the normal approximation with tie and continuity
/// corrections.
pub fn mann_whitney_greater(baseline: &[f64], current: &[f64]) -> (f64, f64) {
    let (n1, n2) = (current.len() as f64, baseline.len() as f64);
    if current.is_empty() || baseline.is_empty() {
        return (0.0, 1.0);
    }
    let all = ranked(current, baseline);
    let n = all.len();
    let mut rank_sum_current = 0.0;
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        let t = (j - i + 1) as f64;
        tie_term += t * t * t - t;
        for item in &all[i..=j] {
            if item.1 {
                rank_sum_current += rank;
            }
        }
        i = j + 1;
    }
    let u = rank_sum_current - n1 * (n1 + 1.0) / 2.0;
    let mean = n1 * n2 / 2.0;
    let nn = n1 + n2;
    let var = n1 * n2 / 12.0 * ((nn + 1.0) - tie_term / (nn * (nn - 1.0)));
    if var <= 0.0 {
        return (u, 1.0);
    }
    let z = (u - mean - 0.5) / var.sqrt();
    (u, 1.0 - std_normal_cdf(z))
}

/// The values of both samples in ascending order, each marked `true` when it is `current`'s:
/// merged when both are ascending already (the gate's samples), sorted otherwise.
fn ranked(current: &[f64], baseline: &[f64]) -> Vec<(f64, bool)> {
    fn mark(v: &[f64], m: bool) -> impl Iterator<Item = (f64, bool)> + '_ {
        v.iter().map(move |x| (*x, m))
    }
    if !(ascending(current) && ascending(baseline)) {
        let mut all: Vec<(f64, bool)> = mark(current, true).chain(mark(baseline, false)).collect();
        all.sort_by(|a, b| a.0.total_cmp(&b.0));
        return all;
    }
    let mut all = Vec::with_capacity(current.len() + baseline.len());
    let (mut a, mut b) = (
        mark(current, true).peekable(),
        mark(baseline, false).peekable(),
    );
    loop {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if x.0.total_cmp(&y.0).is_le() => a.next(),
            (Some(_), Some(_)) => b.next(),
            (Some(_), None) => a.next(),
            (None, _) => b.next(),
        };
        match next {
            Some(v) => all.push(v),
            None => return all,
        }
    }
}

fn std_normal_cdf(z: f64) -> f64 {
    Normal::new(0.0, 1.0).map(|d| d.cdf(z)).unwrap_or(0.5)
}

fn z_two_sided(alpha: f64) -> f64 {
    Normal::new(0.0, 1.0)
        .map(|d| d.inverse_cdf(1.0 - alpha / 2.0))
        .unwrap_or(1.959_963_984_540_054)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() <= tol, "{a} != {b} (tol {tol})");
    }

    #[test]
    fn wilson_matches_hand_computation() {
        // 8 of 10 at 95%: center (0.8 + 1.92/10)/(1.384) ... = [0.4902, 0.9433]
        let (lo, hi) = wilson(8, 10, 0.05);
        close(lo, 0.4902, 1e-4);
        close(hi, 0.9433, 1e-4);
        let (lo, hi) = wilson(0, 20, 0.05);
        close(lo, 0.0, 1e-12);
        close(hi, 0.1611, 1e-4);
        assert_eq!(wilson(0, 0, 0.05), (0.0, 1.0));
    }

    #[test]
    fn percentiles_interpolate_like_duckdb() {
        let v = [1.0, 2.0, 3.0, 4.0];
        close(percentile(&v, 0.5).unwrap(), 2.5, 1e-12);
        close(percentile(&v, 0.95).unwrap(), 3.85, 1e-12);
        close(percentile(&v, 0.0).unwrap(), 1.0, 1e-12);
        close(percentile(&[7.0], 0.99).unwrap(), 7.0, 1e-12);
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn pass_at_k_is_the_unbiased_estimator() {
        // n=5, c=2, k=2: 1 - C(3,2)/C(5,2) = 1 - 3/10
        close(pass_at_k(5, 2, 2).unwrap(), 0.7, 1e-12);
        close(pass_at_k(5, 2, 1).unwrap(), 0.4, 1e-12);
        close(pass_at_k(5, 0, 3).unwrap(), 0.0, 1e-12);
        close(pass_at_k(5, 4, 2).unwrap(), 1.0, 1e-12);
        // pass^k: n=5, c=3, k=2: C(3,2)/C(5,2) = 3/10
        close(pass_hat_k(5, 3, 2).unwrap(), 0.3, 1e-12);
        close(pass_hat_k(5, 5, 5).unwrap(), 1.0, 1e-12);
        close(pass_hat_k(5, 1, 2).unwrap(), 0.0, 1e-12);
        assert_eq!(pass_at_k(3, 1, 4), None);
    }

    #[test]
    fn fisher_exact_one_sided() {
        // Baseline 10/10, current 5/10: P = C(15,5)C(5,5)/C(20,10) summed over x <= 5
        // = 3003/184756 = 0.016254...
        close(fisher_lower(10, 10, 5, 10), 3003.0 / 184_756.0, 1e-9);
        close(fisher_lower(5, 10, 5, 10), 0.6718, 1e-4);
        assert_eq!(fisher_lower(3, 3, 0, 0), 1.0);
    }

    #[test]
    fn mann_whitney_matches_reference_values() {
        // Completely separated samples of 5: U = 25; z = (25 - 12.5 - 0.5)/sqrt(22.9167) = 2.5067
        let base = [1.0, 2.0, 3.0, 4.0, 5.0];
        let cur = [6.0, 7.0, 8.0, 9.0, 10.0];
        let (u, p) = mann_whitney_greater(&base, &cur);
        close(u, 25.0, 1e-12);
        close(p, 0.006_093, 1e-5);
        // Identical samples: no evidence at all.
        let (_, p) = mann_whitney_greater(&base, &base);
        assert!(p > 0.5, "{p}");
        // Ties everywhere: variance collapses, p = 1.
        assert_eq!(mann_whitney_greater(&[1.0, 1.0], &[1.0, 1.0]).1, 1.0);
    }

    #[test]
    fn sorted_samples_give_what_unsorted_ones_give() {
        // Merged (both ascending) or sorted (either not): the same ranks, ties included.
        let base = [1.0, 2.0, 2.0, 5.0, 8.0, 8.0];
        let cur = [2.0, 3.0, 8.0, 9.0, 9.5];
        let (shuffled_base, shuffled_cur) =
            ([8.0, 2.0, 5.0, 1.0, 8.0, 2.0], [9.5, 2.0, 9.0, 8.0, 3.0]);
        assert_eq!(
            mann_whitney_greater(&base, &cur),
            mann_whitney_greater(&shuffled_base, &shuffled_cur)
        );
        assert_eq!(median(&base), median(&shuffled_base));
        assert_eq!(median(&cur), Some(8.0));
    }

    #[test]
    fn t_interval_uses_student_t() {
        // mean 2, sd 1, n 4: t(0.975, 3) = 3.1824 -> half width 1.5912
        let sd = (2.0f64 / 3.0).sqrt();
        let (lo, hi) = t_interval(2.0, sd, 4, 0.05);
        close(hi - 2.0, 3.182_446 * sd / 2.0, 1e-4);
        close(2.0 - lo, hi - 2.0, 1e-12);
        assert_eq!(t_interval(0.5, 0.1, 1, 0.05), (0.5, 0.5));
    }
}
