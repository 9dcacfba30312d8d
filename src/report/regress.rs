//! The regression gate: what counts as worse than the baseline, judged so it does not cry wolf.
//!
//! - success-rate drop, per agent: one-sided Fisher exact test, p < alpha / agents;
//! - slower, per agent: one-sided Mann–Whitney U, p < alpha / agents, and the median at least
//!   `min_slowdown` slower;
//! - new failure, per (benchmark, agent): it succeeded in every baseline attempt and in every
//!   earlier run of the recent history, and fails in every attempt now.

use super::model::Regression;
use crate::stats;

#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    pub alpha: f64,
    pub min_slowdown: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            alpha: 0.01,
            min_slowdown: 0.10,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct AgentSample {
    pub agent: String,
    pub successes: u64,
    pub n: u64,
    pub durations: Vec<f64>,
}

#[derive(Debug, Clone)]
pub struct PairOutcome {
    pub agent: String,
    pub benchmark_id: String,
    pub base_attempts: u64,
    pub base_succeeded: u64,
    pub current_attempts: u64,
    pub current_succeeded: u64,
    /// No failure of this pair in the recent runs before the current one.
    pub history_clean: bool,
}

pub fn detect(
    base: &[AgentSample],
    current: &[AgentSample],
    pairs: &[PairOutcome],
    t: Thresholds,
) -> Vec<Regression> {
    let mut out = Vec::new();
    let compared: Vec<(&AgentSample, &AgentSample)> = current
        .iter()
        .filter_map(|c| base.iter().find(|b| b.agent == c.agent).map(|b| (b, c)))
        .filter(|(b, c)| b.n > 0 && c.n > 0)
        .collect();
    let alpha = t.alpha / compared.len().max(1) as f64;
    for (b, c) in &compared {
        let (rate_b, rate_c) = (
            b.successes as f64 / b.n as f64,
            c.successes as f64 / c.n as f64,
        );
        let p = stats::fisher_lower(b.successes, b.n, c.successes, c.n);
        if rate_c < rate_b && p < alpha {
            out.push(Regression {
                kind: "success_rate_drop".into(),
                agent: c.agent.clone(),
                benchmark_id: None,
                baseline: rate_b,
                current: rate_c,
                p_value: Some(p),
                detail: format!(
                    "success rate {:.1}% -> {:.1}% ({}/{} -> {}/{}), Fisher exact p = {p:.2e}",
                    rate_b * 100.0,
                    rate_c * 100.0,
                    b.successes,
                    b.n,
                    c.successes,
                    c.n
                ),
            });
        }
        let (mut bd, mut cd) = (b.durations.clone(), c.durations.clone());
        bd.sort_by(f64::total_cmp);
        cd.sort_by(f64::total_cmp);
        if let (Some(mb), Some(mc)) = (stats::percentile(&bd, 0.5), stats::percentile(&cd, 0.5)) {
            let (_, p) = stats::mann_whitney_greater(&bd, &cd);
            if mb > 0.0 && mc >= mb * (1.0 + t.min_slowdown) && p < alpha {
                out.push(Regression {
                    kind: "slower".into(),
                    agent: c.agent.clone(),
                    benchmark_id: None,
                    baseline: mb,
                    current: mc,
                    p_value: Some(p),
                    detail: format!(
                        "median duration {mb:.0} ms -> {mc:.0} ms (+{:.0}%), Mann-Whitney p = {p:.2e}",
                        (mc / mb - 1.0) * 100.0
                    ),
                });
            }
        }
    }
    for pair in pairs {
        let passed_before = pair.base_attempts > 0
            && pair.base_succeeded == pair.base_attempts
            && pair.history_clean;
        let fails_now = pair.current_attempts > 0 && pair.current_succeeded == 0;
        if passed_before && fails_now {
            out.push(Regression {
                kind: "new_failure".into(),
                agent: pair.agent.clone(),
                benchmark_id: Some(pair.benchmark_id.clone()),
                baseline: 1.0,
                current: 0.0,
                p_value: None,
                detail: format!(
                    "{} passed all {} baseline attempts (and recent runs) and failed all {} now",
                    pair.benchmark_id, pair.base_attempts, pair.current_attempts
                ),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift64*), so the simulation needs no crate.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            ((self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64) / (1u64 << 53) as f64
        }
        fn normal(&mut self) -> f64 {
            let (u, v) = (self.next().max(1e-12), self.next());
            (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
        }
    }

    /// (agent, benchmark, attempts, successes) per pair.
    type Pairs = Vec<(String, String, u64, u64)>;

    /// One run: 2 agents x 12 benchmarks x 6 attempts, with fixed per-benchmark success odds
    /// (some certain, some flaky, some hopeless) and log-normal durations.
    fn sample(rng: &mut Rng, slowdown: f64, success_drop: f64) -> (Vec<AgentSample>, Pairs) {
        let odds = [1.0, 1.0, 1.0, 0.98, 0.95, 0.9, 0.9, 0.8, 0.7, 0.5, 0.2, 0.0];
        let mut agents = Vec::new();
        let mut pairs = Vec::new();
        for agent in ["a", "b"] {
            let mut s = AgentSample {
                agent: agent.into(),
                ..Default::default()
            };
            for (i, p) in odds.iter().enumerate() {
                let mut ok = 0;
                for _ in 0..6 {
                    let p = (p - success_drop).max(0.0);
                    let success = rng.next() < p;
                    ok += u64::from(success);
                    s.n += 1;
                    s.successes += u64::from(success);
                    s.durations
                        .push(1000.0 * (1.0 + slowdown) * (0.3 * rng.normal()).exp());
                }
                pairs.push((agent.to_string(), format!("bench{i}"), 6, ok));
            }
            agents.push(s);
        }
        (agents, pairs)
    }

    fn gate(seed: u64, slowdown: f64, drop: f64) -> Vec<Regression> {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let (base, base_pairs) = sample(&mut rng, 0.0, 0.0);
        let (cur, cur_pairs) = sample(&mut rng, slowdown, drop);
        let pairs: Vec<PairOutcome> = cur_pairs
            .iter()
            .zip(&base_pairs)
            .map(|(c, b)| PairOutcome {
                agent: c.0.clone(),
                benchmark_id: c.1.clone(),
                base_attempts: b.2,
                base_succeeded: b.3,
                current_attempts: c.2,
                current_succeeded: c.3,
                history_clean: b.3 == b.2,
            })
            .collect();
        detect(&base, &cur, &pairs, Thresholds::default())
    }

    #[test]
    fn the_gate_does_not_cry_wolf() {
        let trials = 400;
        let fired = (0..trials)
            .filter(|s| !gate(*s, 0.0, 0.0).is_empty())
            .count();
        assert!(
            fired as u64 * 100 <= trials * 5,
            "gate fired in {fired} of {trials} same-distribution trials"
        );
    }

    #[test]
    fn the_gate_catches_real_regressions() {
        let trials = 100;
        let slow = (0..trials)
            .filter(|s| gate(*s, 0.30, 0.0).iter().any(|r| r.kind == "slower"))
            .count();
        assert!(
            slow as u64 * 100 >= trials * 95,
            "a 30% slowdown was caught in only {slow} of {trials}"
        );
        let drop = (0..trials)
            .filter(|s| {
                gate(*s, 0.0, 0.40)
                    .iter()
                    .any(|r| r.kind == "success_rate_drop")
            })
            .count();
        assert!(
            drop as u64 * 100 >= trials * 95,
            "a 40-point drop was caught in only {drop} of {trials}"
        );
    }

    #[test]
    fn a_stable_benchmark_that_breaks_is_a_new_failure() {
        let pair = PairOutcome {
            agent: "a".into(),
            benchmark_id: "x".into(),
            base_attempts: 1,
            base_succeeded: 1,
            current_attempts: 1,
            current_succeeded: 0,
            history_clean: true,
        };
        let r = detect(&[], &[], std::slice::from_ref(&pair), Thresholds::default());
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].kind, "new_failure");
        let flaky = PairOutcome {
            history_clean: false,
            ..pair
        };
        assert!(detect(&[], &[], &[flaky], Thresholds::default()).is_empty());
    }
}
