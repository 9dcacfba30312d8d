//! `matrix:` on an agent: a sweep over parameter values (models, temperatures), expanded into
//! one agent per combination so one run compares them and `reev compare --agent` reads
//! naturally.
//!
//! ```yaml
//! chat:
//!   command: [python3, agent.py, --model, "{model}", --temperature, "{temperature}"]
//!   matrix: {model: [glm-4.6, gpt-4o-mini], temperature: [0, 0.7]}
//! ```
//! becomes `chat.glm-4.6_0`, `chat.glm-4.6_0.7`, `chat.gpt-4o-mini_0`, `chat.gpt-4o-mini_0.7`:
//! the declared name, a dot, the values in key order joined by `_`, each value with every
//! character outside reev's id alphabet replaced by `-` (`openai/gpt-4o` -> `openai-gpt-4o`).
//! Keys are sorted, so the ids do not depend on how the mapping was written.

use std::collections::HashMap;
use std::path::Path;

use serde_saphyr::{Location, Spanned};

use super::placeholders::PLACEHOLDERS;
use super::yaml;
use crate::error::Diagnostic;

/// What `matrix:` holds: key -> list of scalar values.
pub type MatrixSpec = Spanned<HashMap<Spanned<String>, Spanned<Vec<serde_json::Value>>>>;

/// Combinations one agent may expand to: a typo (`[a, b, c, ..., z]` x 5 keys) must not plan
/// millions of sessions.
pub const MAX_CELLS: usize = 256;

/// One combination: its agent id, its (key, value) pairs in key order, where it was declared.
#[derive(Debug, Clone)]
pub struct Cell {
    pub id: String,
    pub values: Vec<(String, String)>,
    pub at: Location,
}

/// The cells of agent `name`'s matrix (none without one), with a diagnostic at the offending
/// key or value for anything that cannot become a placeholder, a variable or an id.
pub fn expand(
    path: &Path,
    name: &Spanned<String>,
    spec: Option<&MatrixSpec>,
    diags: &mut Vec<Diagnostic>,
) -> Vec<Cell> {
    let Some(spec) = spec else {
        return Vec::new();
    };
    let at = |loc: Location, msg: String| {
        yaml::at(path, loc, format!("agent `{}`: matrix: {msg}", name.value))
    };
    let before = diags.len();
    if spec.value.is_empty() {
        diags.push(at(spec.referenced, "needs at least one key".into()));
    }
    let mut keys: Vec<_> = spec.value.iter().collect();
    keys.sort_by(|a, b| a.0.value.cmp(&b.0.value));
    let axes: Vec<(String, Vec<String>)> = keys
        .into_iter()
        .map(|(key, values)| axis(key, values, &mut |loc, msg| diags.push(at(loc, msg))))
        .collect();
    let cells: usize = axes.iter().map(|(_, v)| v.len()).product();
    if cells > MAX_CELLS {
        diags.push(at(
            spec.referenced,
            format!("{cells} combinations; at most {MAX_CELLS} per agent"),
        ));
    }
    if diags.len() > before {
        return Vec::new();
    }
    cells_of(&name.value, &axes, spec.referenced).unwrap_or_else(|e| {
        diags.push(at(spec.referenced, e.to_string()));
        Vec::new()
    })
}

/// One key and its values as texts, each problem sent to `diag` at the key or the list.
fn axis(
    key: &Spanned<String>,
    values: &Spanned<Vec<serde_json::Value>>,
    diag: &mut dyn FnMut(Location, String),
) -> (String, Vec<String>) {
    if let Err(e) = check_key(&key.value) {
        diag(key.referenced, e.to_string());
    }
    if values.value.is_empty() {
        diag(
            values.referenced,
            format!("`{}` needs at least one value", key.value),
        );
    }
    let mut texts: Vec<String> = Vec::new();
    for v in &values.value {
        match scalar(v) {
            Some(t) if texts.contains(&t) => diag(
                values.referenced,
                format!("`{}` lists `{t}` twice", key.value),
            ),
            Some(t) if slug(&t).is_empty() => diag(
                values.referenced,
                format!("`{}`: the value `{t}` is empty", key.value),
            ),
            Some(t) => texts.push(t),
            None => diag(
                values.referenced,
                format!("`{}`: `{v}` is not a string, number or boolean", key.value),
            ),
        }
    }
    (key.value.clone(), texts)
}

/// Two combinations whose values make the same id (`a/b` and `a-b` both slug to `a-b`).
#[derive(Debug, thiserror::Error)]
#[error("two combinations both get the id `{0}`; make the values differ in letters or digits")]
struct SameId(String);

/// One cell per combination of the axes, with its id.
fn cells_of(name: &str, axes: &[(String, Vec<String>)], at: Location) -> Result<Vec<Cell>, SameId> {
    let mut out = Vec::new();
    for values in product(axes) {
        let id = format!(
            "{name}.{}",
            values
                .iter()
                .map(|(_, v)| slug(v))
                .collect::<Vec<_>>()
                .join("_")
        );
        if out.iter().any(|c: &Cell| c.id == id) {
            return Err(SameId(id));
        }
        out.push(Cell { id, values, at });
    }
    Ok(out)
}

/// Why a `matrix:` key cannot be one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("key `{0}` must be lower-case letters, digits and `_`, starting with a letter (it becomes the placeholder {{{0}}})")]
    Spelling(String),
    #[error("key `{0}` is one of reev's own placeholders or columns; choose another name")]
    Taken(String),
}

/// A key becomes a placeholder `{key}` and a variable `REEV_MATRIX_<KEY>`: lower-case letters,
/// digits and `_`, starting with a letter, and not one of reev's own placeholders.
fn check_key(key: &str) -> Result<(), KeyError> {
    let ok = key.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ok {
        return Err(KeyError::Spelling(key.to_string()));
    }
    // `run_id` is a column of the `agent_matrix` view, next to one column per key.
    if PLACEHOLDERS.contains(&key) || key == "run_id" {
        return Err(KeyError::Taken(key.to_string()));
    }
    Ok(())
}

/// A scalar as the text placeholders receive: `0.7`, `glm-4.6`, `true`.
fn scalar(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A value as part of an id: reev's id alphabet ([A-Za-z0-9._-]), anything else as `-`,
/// without leading or trailing separators.
pub fn slug(v: &str) -> String {
    let s: String = v
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    s.trim_matches(|c| c == '-' || c == '.').to_string()
}

/// Every combination of the axes, the last key varying fastest.
fn product(axes: &[(String, Vec<String>)]) -> Vec<Vec<(String, String)>> {
    let mut out: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for (key, values) in axes {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                values.iter().map(move |v| {
                    let mut next = prefix.clone();
                    next.push((key.clone(), v.clone()));
                    next
                })
            })
            .collect();
    }
    out
}

/// A cell's values as `model=glm-4.6 temperature=0`.
pub fn text<'a>(values: impl IntoIterator<Item = (&'a String, &'a String)>) -> String {
    values
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The environment variable carrying a key's value: `REEV_MATRIX_MODEL`.
pub fn variable(key: &str) -> String {
    format!("REEV_MATRIX_{}", key.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    #[test]
    fn slugs_keep_the_id_alphabet() {
        assert_eq!(super::slug("openai/gpt-4o"), "openai-gpt-4o");
        assert_eq!(super::slug("0.7"), "0.7");
        assert_eq!(super::slug(" / "), "");
    }

    #[test]
    fn product_varies_the_last_key_fastest() {
        let axes = vec![
            ("a".to_string(), vec!["1".to_string(), "2".to_string()]),
            ("b".to_string(), vec!["x".to_string(), "y".to_string()]),
        ];
        let p = super::product(&axes);
        assert_eq!(p.len(), 4);
        assert_eq!(p[1], [("a".into(), "1".into()), ("b".into(), "y".into())]);
    }
}
