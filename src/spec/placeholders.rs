//! Placeholders: the `{name}` words an agent's argv, its `env:`, a benchmark's `setup:` /
//! `teardown:` and a verifier's command may contain — which names reev knows, finding them
//! in a template, and replacing them with a session's values.
//!
//! Its own module so that every part of the suite that checks templates (agents, their
//! `matrix:` keys, benchmarks, checks) reads one list without importing each other.

/// The placeholders an agent's argv may contain; each is replaced whole-word, once, no shell.
pub const PLACEHOLDERS: &[&str] = &[
    "prompt",
    "config_dir",
    "workdir",
    "events",
    "session_id",
    "benchmark_id",
    "attempt",
    "agent",
    "port",
    "benchmark_dir",
    "gateway_url",
];

/// One sentence per placeholder in `argv` that reev does not know.
pub(crate) fn unknown_placeholders(argv: &[String]) -> Vec<String> {
    unknown_placeholders_with(argv, &[])
}

/// As [`unknown_placeholders`], also knowing an agent's matrix keys.
pub(crate) fn unknown_placeholders_with(argv: &[String], extra: &[&str]) -> Vec<String> {
    argv.iter()
        .flat_map(|arg| placeholders_in(arg))
        .filter(|ph| !PLACEHOLDERS.contains(ph) && !extra.contains(ph))
        .map(|ph| {
            let mut known: Vec<&str> = PLACEHOLDERS.to_vec();
            known.extend(extra);
            format!(
                "unknown placeholder {{{ph}}} in command (known: {})",
                known.join(", ")
            )
        })
        .collect()
}

/// Names inside `{...}` that look like placeholders (identifier characters only).
pub fn placeholders_in(arg: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = arg;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let name = &after[..close];
                if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    out.push(name);
                }
                rest = &after[close + 1..];
            }
            None => break,
        }
    }
    out
}

/// Replace placeholders in one argv element. Values are inserted verbatim and never re-expanded.
pub fn expand(arg: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(arg.len());
    let mut rest = arg;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let replaced = after.find('}').and_then(|close| {
            let name = &after[..close];
            values
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v, close))
        });
        match replaced {
            Some((value, close)) => {
                out.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expand_replaces_once_and_never_reexpands() {
        let v = [
            ("prompt", "{events} $(rm -rf /) `x` ; | &"),
            ("events", "/tmp/e"),
        ];
        assert_eq!(
            expand("--p={prompt}", &v),
            "--p={events} $(rm -rf /) `x` ; | &"
        );
        assert_eq!(expand("{events}/{nope}", &v), "/tmp/e/{nope}");
        assert_eq!(expand("{", &v), "{");
    }

    #[test]
    fn finds_placeholders() {
        assert_eq!(placeholders_in("a{prompt}b{x y}{c}"), vec!["prompt", "c"]);
    }
}
