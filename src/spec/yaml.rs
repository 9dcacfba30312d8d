//! YAML parsing with positions: serde-saphyr errors become diagnostics naming file, line and column.

use std::path::Path;
use std::time::Duration;

use serde::de::{self, Deserialize, DeserializeOwned, Deserializer, Visitor};
use serde_saphyr::{Location, Spanned};

use crate::error::Diagnostic;

/// A problem at a position the parser recorded in `file` (a key or a value).
pub fn at(file: &Path, loc: Location, message: impl Into<String>) -> Diagnostic {
    Diagnostic::at(file, loc.line(), loc.column(), message)
}

/// Nodes (scalars, sequences, mappings) one YAML file may hold: 100,000 assertions with a
/// name and a weight each take about 700,000; serde-saphyr's default (250,000) refused them.
pub const MAX_NODES: usize = 5_000_000;
/// Parser events one file may produce (a little more than one per node).
pub const MAX_EVENTS: usize = 2 * MAX_NODES;

/// serde-saphyr's budget, sized so large honest files load: only the node and event counts are
/// raised. Alias bombs still fail fast on the default alias, anchor and recorded-anchor limits
/// (a billion laughs replays far more than a million recorded events).
fn budget() -> serde_saphyr::Budget {
    let mut b = serde_saphyr::Budget::default();
    b.max_nodes = MAX_NODES;
    b.max_events = MAX_EVENTS;
    b
}

/// Parse one YAML document into `T`, within [`budget`] (alias bombs and runaway nesting are
/// rejected with a sentence naming the limit); duplicate keys are errors.
pub fn parse<T: DeserializeOwned>(file: &Path, text: &str) -> Result<T, Diagnostic> {
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget());
    serde_saphyr::from_str_with_options::<T>(text, options).map_err(|err| {
        let plain = err.without_snippet();
        let message = match budget_breach(plain) {
            Some(b) => describe_breach(b),
            None => {
                let options =
                    serde_saphyr::render_options! { snippets: serde_saphyr::SnippetMode::Off };
                strip_position(&plain.render_with_options(options))
            }
        };
        match plain.location() {
            Some(loc) => at(file, loc, message),
            None => Diagnostic::new(file, message),
        }
    })
}

fn budget_breach(err: &serde_saphyr::Error) -> Option<&serde_saphyr::budget::BudgetBreach> {
    match err {
        serde_saphyr::Error::Budget { breach, .. } => Some(breach),
        serde_saphyr::Error::WithSnippet { error, .. }
        | serde_saphyr::Error::AliasError { error, .. } => budget_breach(error),
        _ => None,
    }
}

/// A budget breach as a sentence: which limit, how far the file got, what the limit is.
fn describe_breach(b: &serde_saphyr::budget::BudgetBreach) -> String {
    use serde_saphyr::budget::BudgetBreach as B;
    let d = serde_saphyr::Budget::default();
    let (what, limit) = match b {
        B::Nodes { .. } => ("YAML nodes (scalars, lists and maps)", MAX_NODES),
        B::Events { .. } => ("YAML parser events", MAX_EVENTS),
        B::Aliases { .. } => ("aliases (*name)", d.max_aliases),
        B::Anchors { .. } => ("anchors (&name)", d.max_anchors),
        B::Depth { .. } => ("levels of nesting", d.max_depth),
        B::Documents { .. } => ("documents", d.max_documents),
        B::ScalarBytes { .. } => ("bytes of text in values", d.max_total_scalar_bytes),
        B::MergeKeys { .. } => ("merge keys (<<)", d.max_merge_keys),
        B::RecordedAnchorEvents { .. } => (
            "events copied to expand aliases (an alias bomb?)",
            d.max_recorded_anchor_events,
        ),
        B::RecordedAnchorBytes { .. } => (
            "bytes copied to expand aliases (an alias bomb?)",
            d.max_recorded_anchor_bytes,
        ),
        B::AliasAnchorRatio { aliases, anchors } => {
            return format!(
                "the file uses {aliases} aliases for {anchors} anchors, more than {} per anchor \
                 (an alias bomb?), reev's limit for one YAML file",
                d.alias_anchor_ratio_multiplier
            )
        }
        other => return format!("the file exceeds one of reev's YAML safety limits ({other:?})"),
    };
    format!("the file has more than {limit} {what}, reev's limit for one YAML file")
}

/// serde-saphyr appends " at line L, column C" to plain messages; we print the position up front.
fn strip_position(message: &str) -> String {
    let trimmed = message.trim();
    match trimmed.rfind(" at line ") {
        Some(i) if trimmed[i..].contains("column") => trimmed[..i].to_string(),
        _ => trimmed.to_string(),
    }
}

/// Deserialize a time limit (`timeout:`, `duration_at_most:`) written as a number of
/// seconds (`30`, `1.5`) or a string (`90s`, `2m`), in the range of [`crate::duration`]
/// (1 ms to 7 days); out of range is an error at the value's line and column.
pub fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    use crate::duration::{check, parse, Range};
    struct V;
    impl Visitor<'_> for V {
        type Value = Option<Duration>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a duration: seconds as a number, or a string such as 90s, 1500ms, 5m")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            check(Duration::from_secs(v), Range::Timeout)
                .map(Some)
                .map_err(|e| E::custom(format!("`{v}` {e}")))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            match u64::try_from(v) {
                Ok(s) => self.visit_u64(s),
                Err(_) => Err(E::custom("a duration cannot be negative")),
            }
        }
        fn visit_u128<E: de::Error>(self, v: u128) -> Result<Self::Value, E> {
            match u64::try_from(v) {
                Ok(s) => self.visit_u64(s),
                Err(_) => self.visit_str(&v.to_string()),
            }
        }
        fn visit_i128<E: de::Error>(self, v: i128) -> Result<Self::Value, E> {
            match u128::try_from(v) {
                Ok(s) => self.visit_u128(s),
                Err(_) => Err(E::custom("a duration cannot be negative")),
            }
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            parse(&v.to_string(), Range::Timeout)
                .map(Some)
                .map_err(E::custom)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            parse(v, Range::Timeout).map(Some).map_err(E::custom)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    d.deserialize_any(V)
}

/// A number written as a YAML number. serde-saphyr's typed numbers also take a quoted
/// scalar (`weight: "2"`); "strict" means a quoted number is a string and an error at its
/// line and column, like any other type error. Read through [`number`], [`opt_number`],
/// [`spanned`] and [`opt_spanned`].
pub struct Strict<T>(pub T);

/// A YAML number as the parser inferred it.
enum Scalar {
    Unsigned(u64),
    Signed(i64),
    Float(f64),
}

impl<'de> de::Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number (without quotes)")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar::Unsigned(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar::Signed(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                // No number reev reads may be infinite or NaN.
                if !v.is_finite() {
                    return Err(E::custom(format!(
                        "non-finite float `{v}` is not a number here"
                    )));
                }
                Ok(Scalar::Float(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Err(E::custom(format!(
                    "expected a number, found the string \"{v}\": write numbers without quotes"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> de::Deserialize<'de> for Strict<f64> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Strict(match Scalar::deserialize(d)? {
            Scalar::Unsigned(v) => v as f64,
            Scalar::Signed(v) => v as f64,
            Scalar::Float(v) => v,
        }))
    }
}

/// An integer of type `T`: a fraction or a value out of `T`'s range is an error.
fn integer<'de, D: Deserializer<'de>, T: TryFrom<i128>>(d: D, what: &str) -> Result<T, D::Error> {
    let v = match Scalar::deserialize(d)? {
        Scalar::Unsigned(v) => i128::from(v),
        Scalar::Signed(v) => i128::from(v),
        Scalar::Float(v) => return Err(de::Error::custom(format!("expected {what}, found {v}"))),
    };
    T::try_from(v).map_err(|_| de::Error::custom(format!("{v} is out of range for {what}")))
}

impl<'de> de::Deserialize<'de> for Strict<i64> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        integer(d, "an integer").map(Strict)
    }
}

impl<'de> de::Deserialize<'de> for Strict<u32> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        integer(d, "a whole number from 0 to 4294967295").map(Strict)
    }
}

/// A strict number (see [`Strict`]).
pub fn number<'de, D: Deserializer<'de>, T>(d: D) -> Result<T, D::Error>
where
    Strict<T>: de::Deserialize<'de>,
{
    Strict::<T>::deserialize(d).map(|s| s.0)
}

/// An optional strict number; `null` or absent (with `#[serde(default)]`) is `None`.
pub fn opt_number<'de, D: Deserializer<'de>, T>(d: D) -> Result<Option<T>, D::Error>
where
    Strict<T>: de::Deserialize<'de>,
{
    Option::<Strict<T>>::deserialize(d).map(|o| o.map(|s| s.0))
}

/// A strict number with its position.
pub fn spanned<'de, D: Deserializer<'de>, T>(d: D) -> Result<Spanned<T>, D::Error>
where
    Strict<T>: de::Deserialize<'de>,
{
    let s = Spanned::<Strict<T>>::deserialize(d)?;
    Ok(Spanned::new(s.value.0, s.referenced, s.defined))
}

/// An optional strict number with its position.
pub fn opt_spanned<'de, D: Deserializer<'de>, T>(d: D) -> Result<Option<Spanned<T>>, D::Error>
where
    Strict<T>: de::Deserialize<'de>,
{
    Option::<Spanned<Strict<T>>>::deserialize(d)
        .map(|o| o.map(|s| Spanned::new(s.value.0, s.referenced, s.defined)))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use std::time::Duration;

    proptest! {
        /// `timeout:` values (digits, exponents, units) never panic, and accepted ones are safe.
        #[test]
        fn yaml_values_never_panic(
            value in "[-+]?[0-9]{0,25}(\\.[0-9]{0,6})?([eE][-+]?[0-9]{0,4})?(ms|s|m|h|days)?"
        ) {
            #[derive(serde::Deserialize)]
            struct T {
                #[serde(default, deserialize_with = "super::duration")]
                timeout: Option<Duration>,
            }
            let text = format!("timeout: {value}\n");
            if let Ok(t) = super::parse::<T>(std::path::Path::new("t.yml"), &text) {
                if let Some(d) = t.timeout {
                    crate::duration::tests::accepted_is_safe(d);
                    prop_assert!(d >= crate::duration::MIN_TIMEOUT);
                }
            }
        }
    }
}
