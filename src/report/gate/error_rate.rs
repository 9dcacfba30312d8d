//! The error-rate check of the gate: an agent whose sessions too often could not be judged
//! (`error`: it could not start, setup failed, it exited 75) fails the gate on that, and its
//! success rate is not compared — a night of model-API outages is not a regression of the agent.

use super::regress::{Check, Outcome};
use super::{CheckKind, Gate, Regression};
use crate::report::gather::model::AgentSummary;

/// Parse `10%` or `0.1` into a fraction in 0..=1.
pub fn parse(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let (number, scale) = match t.strip_suffix('%') {
        Some(n) => (n.trim(), 100.0),
        None => (t, 1.0),
    };
    match number.parse::<f64>() {
        Ok(x) if x.is_finite() && (0.0..=scale).contains(&x) => Ok(x / scale),
        _ => Err(format!(
            "`{text}` is not an error rate: give a fraction from 0 to 1 (0.1) or a percentage from 0% to 100% (10%)"
        )),
    }
}

/// Add an `error_rate` regression (and a gate check) for each agent above `max`, and drop the
/// success-rate regressions and checks of those agents.
pub fn judge(
    agents: &[AgentSummary],
    max: f64,
    regressions: &mut Vec<Regression>,
    gate: Option<&mut Gate>,
) {
    let over: Vec<&AgentSummary> = agents.iter().filter(|a| a.error_rate > max).collect();
    let is_over = |agent: &str| over.iter().any(|a| a.agent == agent);
    regressions.retain(|g| !(g.kind == CheckKind::SuccessRateDrop && is_over(&g.agent)));
    let mut checks = Vec::new();
    for a in agents {
        let observed = format!(
            "{} of {} sessions ended `error` ({:.1}%)",
            a.errors,
            a.sessions,
            a.error_rate * 100.0
        );
        let hit = a.error_rate > max;
        if hit {
            regressions.push(Regression {
                kind: CheckKind::ErrorRate,
                agent: a.agent.clone(),
                benchmark_id: None,
                baseline: max,
                current: a.error_rate,
                p_value: None,
                detail: format!(
                    "error rate {:.1}% is above --max-error-rate {:.1}% ({observed}); its success rate is not compared",
                    a.error_rate * 100.0,
                    max * 100.0
                ),
            });
        }
        checks.push(Check {
            kind: CheckKind::ErrorRate,
            agent: a.agent.clone(),
            compared_with: "--max-error-rate".into(),
            threshold: format!("error rate > {:.1}%", max * 100.0),
            observed,
            outcome: if hit {
                Outcome::Regression
            } else {
                Outcome::Pass
            },
        });
    }
    if let Some(g) = gate {
        g.regressions
            .retain(|r| !(r.kind == CheckKind::SuccessRateDrop && is_over(&r.agent)));
        g.checks
            .retain(|c| !(c.kind == CheckKind::SuccessRateDrop && is_over(&c.agent)));
        g.checks.extend(checks);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fractions_and_percentages() {
        assert_eq!(parse("10%"), Ok(0.1));
        assert_eq!(parse("0.25"), Ok(0.25));
        assert_eq!(parse("0"), Ok(0.0));
        assert_eq!(parse("100%"), Ok(1.0));
        assert!(parse("1.5").is_err());
        assert!(parse("101%").is_err());
        assert!(parse("-1%").is_err());
        assert!(parse("NaN").is_err());
        assert!(parse("ten").is_err());
    }
}
