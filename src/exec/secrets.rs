//! The variables of reev's environment that no process reev starts may inherit: the keys
//! that agents' `gateway.api_key_env` name. reev sends such a key upstream itself, so the
//! agent never needs it; stripping it from every inherited environment (agent, setup,
//! teardown, verifiers; sandboxed or not, whatever a sandbox's `env:` list passes) keeps it
//! out of the agent's reach. A value an agent's own `env:` sets is the config's, not reev's,
//! and is left alone.

use std::sync::OnceLock;

static HELD: OnceLock<Vec<String>> = OnceLock::new();

/// Keep these variables from every child this process starts (set once, before the first
/// session; later calls are ignored).
pub fn hold(names: impl IntoIterator<Item = String>) {
    let _ = HELD.set(names.into_iter().collect());
}

/// Is `name` one of the held variables?
pub fn is_held(name: &str) -> bool {
    HELD.get()
        .is_some_and(|held| held.iter().any(|h| h == name))
}

/// The held variable names.
pub fn held() -> &'static [String] {
    HELD.get().map_or(&[], Vec::as_slice)
}

/// reev's environment as a child inherits it: UTF-8 entries, the held ones left out.
pub fn inherited() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| !is_held(k))
        .collect()
}
