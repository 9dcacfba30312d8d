//! The `prices:` section of reev.yml (USD per million tokens, per model) and what a session's
//! model requests cost by it.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::error::Diagnostic;

/// One model's price as written: USD per million input and output tokens.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceSpec {
    #[serde(deserialize_with = "super::yaml::spanned")]
    input: Spanned<f64>,
    #[serde(deserialize_with = "super::yaml::spanned")]
    output: Spanned<f64>,
}

/// A validated price: USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    pub input: f64,
    pub output: f64,
}

/// Model name -> price.
#[derive(Debug, Clone, Default)]
pub struct Prices(BTreeMap<String, Price>);

/// Tokens one model used in a session, summed over its `model_request` events.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Tokens {
    pub input: u64,
    pub output: u64,
}

/// The largest token count reev records: DuckDB's BIGINT maximum (i64::MAX). Sums saturate
/// there instead of wrapping, so a hostile or broken agent that reports absurd counts cannot
/// make its session look cheap (a wrapped sum) or turn negative in the database; a session
/// whose counts reached it says so in its trace (see `exec::record_usage`).
pub const MAX_TOKENS: u64 = i64::MAX as u64;

/// `a + b`, saturating at [`MAX_TOKENS`].
pub fn add_tokens(a: u64, b: u64) -> u64 {
    a.saturating_add(b).min(MAX_TOKENS)
}

impl Prices {
    /// Check every entry: a non-empty model name, non-negative finite prices. Errors carry
    /// the file, line and column of the offending key or value.
    pub fn parse(
        path: &Path,
        spec: HashMap<Spanned<String>, PriceSpec>,
        diags: &mut Vec<Diagnostic>,
    ) -> Prices {
        let mut prices = BTreeMap::new();
        for (model, p) in spec {
            if model.value.trim().is_empty() {
                diags.push(super::yaml::at(
                    path,
                    model.referenced,
                    "prices: a model name must not be empty",
                ));
            }
            for (what, v) in [("input", &p.input), ("output", &p.output)] {
                if !(v.value.is_finite() && v.value >= 0.0) {
                    diags.push(super::yaml::at(
                        path,
                        v.referenced,
                        format!(
                            "prices.{}.{what}: `{}` is not a price: USD per million tokens, a finite number of at least 0",
                            model.value, v.value
                        ),
                    ));
                }
            }
            let price = Price {
                input: p.input.value,
                output: p.output.value,
            };
            prices.insert(model.value, price);
        }
        Prices(prices)
    }

    /// What the requests cost, in USD: `None` when no model was asked (nothing to price) or
    /// when any model used has no price — a partial sum would pass for the whole cost.
    pub fn cost(&self, by_model: &BTreeMap<String, Tokens>) -> Option<f64> {
        if by_model.is_empty() {
            return None;
        }
        by_model.iter().try_fold(0.0, |sum, (model, t)| {
            let p = self.0.get(model)?;
            Some(sum + (t.input as f64 * p.input + t.output as f64 * p.output) / 1e6)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_is_known_only_when_every_model_has_a_price() {
        let prices = Prices(BTreeMap::from([(
            "m".to_string(),
            Price {
                input: 0.6,
                output: 2.2,
            },
        )]));
        let t = |i, o| Tokens {
            input: i,
            output: o,
        };
        let one = BTreeMap::from([("m".to_string(), t(1_000_000, 500_000))]);
        assert!((prices.cost(&one).unwrap() - 1.7).abs() < 1e-12);
        let two = BTreeMap::from([("m".to_string(), t(1, 1)), ("x".to_string(), t(1, 1))]);
        assert_eq!(prices.cost(&two), None);
        assert_eq!(prices.cost(&BTreeMap::new()), None);
    }
}
