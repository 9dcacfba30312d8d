//! The `sandbox:` section of an agent (and of `settings:`, as every agent's default):
//! what a sandboxed agent may reach — network, environment, filesystem — and its limits.
//!
//! Parsing only; enforcement lives in `sandbox::prepare` and `sandbox::namespace`.

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// `network:` — `host` shares reev's network; `none` gives the agent an empty network
/// namespace (not even loopback is up).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    #[default]
    Host,
    None,
}

/// `filesystem:` — `protected` (the default) makes the results read-only: the runs tree
/// (but the session's own directory), the database, the reports directory, the config file
/// and the suite's benchmarks; `host` (only when written) leaves the filesystem as it is;
/// `scratch` makes every mount read-only except the session's scratch dir, its events file
/// and a private TMPDIR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Filesystem {
    #[default]
    Protected,
    Host,
    Scratch,
}

/// A size in bytes, written with a binary unit: `512KiB`, `256MiB`, `2GiB`, `1TiB`, `100B`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);

impl std::fmt::Display for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let b = self.0;
        for (unit, scale) in [
            ("TiB", 1u64 << 40),
            ("GiB", 1 << 30),
            ("MiB", 1 << 20),
            ("KiB", 1 << 10),
        ] {
            if b >= scale && b.is_multiple_of(scale) {
                return write!(f, "{}{unit}", b / scale);
            }
        }
        write!(f, "{b}B")
    }
}

/// Why a text is not a size; each names the text as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    #[error("`{0}` is not a size: write a whole number and a unit, e.g. 256MiB or 2GiB")]
    NoNumber(String),
    #[error("`{0}` needs a unit: B, KiB, MiB, GiB or TiB")]
    NoUnit(String),
    #[error("`{0}`: use binary units KiB, MiB, GiB, TiB (powers of 1024)")]
    DecimalUnit(String),
    #[error("`{text}`: unknown unit `{unit}` (use B, KiB, MiB, GiB or TiB)")]
    UnknownUnit { text: String, unit: String },
    #[error("`{0}` is too large")]
    TooLarge(String),
    #[error("`{0}`: a limit must be more than zero")]
    Zero(String),
}

/// Parse `2GiB`-style sizes strictly: digits, optional spaces, one of B/KiB/MiB/GiB/TiB.
/// Decimal units (KB, MB, GB) are refused so nobody wonders whether 1GB means 10^9 or 2^30.
pub fn parse_size(text: &str) -> Result<Size, SizeError> {
    let t = text.trim();
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    let (num, unit) = t.split_at(digits);
    let unit = unit.trim_start();
    let text = || text.to_string();
    if num.is_empty() {
        return Err(SizeError::NoNumber(text()));
    }
    let scale: u64 = match unit {
        "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        "" => return Err(SizeError::NoUnit(text())),
        "K" | "KB" | "k" | "kB" | "M" | "MB" | "G" | "GB" | "T" | "TB" => {
            return Err(SizeError::DecimalUnit(text()))
        }
        other => {
            return Err(SizeError::UnknownUnit {
                text: text(),
                unit: other.to_string(),
            })
        }
    };
    let n: u64 = num.parse().map_err(|_| SizeError::TooLarge(text()))?;
    let bytes = n
        .checked_mul(scale)
        .ok_or_else(|| SizeError::TooLarge(text()))?;
    if bytes == 0 {
        return Err(SizeError::Zero(text()));
    }
    Ok(Size(bytes))
}

fn size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Size>, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = Option<Size>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a size with a binary unit, such as 256MiB or 2GiB")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            parse_size(v).map(Some).map_err(E::custom)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Err(E::custom(format!(
                "`{v}` needs a unit: B, KiB, MiB, GiB or TiB (e.g. 256MiB)"
            )))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Err(E::custom(format!("`{v}` is not a size")))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Err(E::custom(format!("`{v}` is not a size")))
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

fn processes<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let n: Option<u64> = Option::deserialize(d)?;
    match n {
        None => Ok(None),
        Some(0) => Err(de::Error::custom("processes must be at least 1")),
        Some(n) => u32::try_from(n)
            .map(Some)
            .map_err(|_| de::Error::custom(format!("processes: {n} is too large"))),
    }
}

/// One `sandbox:` section as written; every key optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxSpec {
    #[serde(default)]
    pub network: Option<Network>,
    #[serde(default)]
    pub env: Option<Vec<String>>,
    #[serde(default)]
    pub filesystem: Option<Filesystem>,
    #[serde(default, deserialize_with = "size")]
    pub memory: Option<Size>,
    #[serde(default, deserialize_with = "processes")]
    pub processes: Option<u32>,
    #[serde(default, deserialize_with = "size")]
    pub file_size: Option<Size>,
}

/// The effective sandbox of one agent: its own keys, else those of `settings.sandbox`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sandbox {
    pub network: Network,
    /// `None`: the agent inherits reev's whole environment.
    pub env: Option<Vec<String>>,
    pub filesystem: Filesystem,
    pub memory: Option<Size>,
    pub processes: Option<u32>,
    pub file_size: Option<Size>,
}

impl Sandbox {
    /// Merge key by key: the agent's section wins over the default from `settings:`.
    /// `None` when neither asks for a sandbox.
    pub fn merge(agent: Option<&SandboxSpec>, default: Option<&SandboxSpec>) -> Option<Sandbox> {
        if agent.is_none() && default.is_none() {
            return None;
        }
        let pick = |f: &dyn Fn(&SandboxSpec) -> bool| agent.filter(|a| f(a)).or(default);
        Some(Sandbox {
            network: pick(&|s| s.network.is_some())
                .and_then(|s| s.network)
                .unwrap_or_default(),
            env: pick(&|s| s.env.is_some()).and_then(|s| s.env.clone()),
            filesystem: pick(&|s| s.filesystem.is_some())
                .and_then(|s| s.filesystem)
                .unwrap_or_default(),
            memory: pick(&|s| s.memory.is_some()).and_then(|s| s.memory),
            processes: pick(&|s| s.processes.is_some()).and_then(|s| s.processes),
            file_size: pick(&|s| s.file_size.is_some()).and_then(|s| s.file_size),
        })
    }

    /// May this variable of reev's environment reach the agent?
    pub fn passes_env(&self, name: &str) -> bool {
        name.starts_with("REEV_")
            || self
                .env
                .as_ref()
                .is_none_or(|allowed| allowed.iter().any(|a| a == name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_strict() {
        assert_eq!(parse_size("2GiB"), Ok(Size(2 << 30)));
        assert_eq!(parse_size("256 MiB"), Ok(Size(256 << 20)));
        assert_eq!(parse_size("100B"), Ok(Size(100)));
        for bad in [
            "2GB",
            "2",
            "GiB",
            "-1GiB",
            "1.5GiB",
            "0MiB",
            "2gib",
            "99999999999TiB",
            "",
        ] {
            assert!(parse_size(bad).is_err(), "{bad} accepted");
        }
        let text = |s| parse_size(s).unwrap_err().to_string();
        assert_eq!(text("99999999999TiB"), "`99999999999TiB` is too large");
        assert_eq!(text("0MiB"), "`0MiB`: a limit must be more than zero");
        assert_eq!(
            text("2 PiB"),
            "`2 PiB`: unknown unit `PiB` (use B, KiB, MiB, GiB or TiB)"
        );
        assert_eq!(Size(2 << 30).to_string(), "2GiB");
        assert_eq!(Size(1000).to_string(), "1000B");
    }

    #[test]
    fn agent_keys_win_over_settings() {
        let agent = SandboxSpec {
            network: Some(Network::None),
            ..Default::default()
        };
        let default = SandboxSpec {
            network: Some(Network::Host),
            memory: Some(Size(1 << 30)),
            ..Default::default()
        };
        let s = Sandbox::merge(Some(&agent), Some(&default)).unwrap();
        assert_eq!(s.network, Network::None);
        assert_eq!(s.memory, Some(Size(1 << 30)));
        assert!(Sandbox::merge(None, None).is_none());
    }
}
