//! YAML parsing with positions: serde-saphyr errors become diagnostics naming file, line and column.

use std::path::Path;
use std::time::Duration;

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};

use crate::error::Diagnostic;

/// Parse one YAML document into `T`. The default serde-saphyr budget applies, so alias
/// bombs and runaway nesting are rejected; duplicate keys are errors.
pub fn parse<T: DeserializeOwned>(file: &Path, text: &str) -> Result<T, Diagnostic> {
    serde_saphyr::from_str::<T>(text).map_err(|err| {
        let plain = err.without_snippet();
        let options = serde_saphyr::render_options! { snippets: serde_saphyr::SnippetMode::Off };
        let message = strip_position(&plain.render_with_options(options));
        match plain.location() {
            Some(loc) => Diagnostic::at(file, loc.line(), loc.column(), message),
            None => Diagnostic::new(file, message),
        }
    })
}

/// serde-saphyr appends " at line L, column C" to plain messages; we print the position up front.
fn strip_position(message: &str) -> String {
    let trimmed = message.trim();
    match trimmed.rfind(" at line ") {
        Some(i) if trimmed[i..].contains("column") => trimmed[..i].to_string(),
        _ => trimmed.to_string(),
    }
}

/// Deserialize a duration written as a number of seconds (`30`, `1.5`) or a string (`90s`, `2m`).
pub fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = Option<Duration>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a duration: seconds as a number, or a string such as 90s, 1500ms, 5m")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(Duration::from_secs(v)))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            u64::try_from(v)
                .map(|s| Some(Duration::from_secs(s)))
                .map_err(|_| E::custom("a duration cannot be negative"))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            crate::cli::parse_duration(&v.to_string())
                .map(Some)
                .map_err(E::custom)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            crate::cli::parse_duration(v).map(Some).map_err(E::custom)
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
