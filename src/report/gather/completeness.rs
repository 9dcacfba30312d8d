//! Is the reported run whole? Planned against present sessions per agent, and the shards
//! that never arrived — in every format, and for the gate (`--fail-on-regression` fails an
//! incomplete run unless `--allow-incomplete`).
//!
//! The plan comes from the manifests in the `runs` table: every manifest with `run_planned`
//! (manifest schema 2) carries the whole run's plan per agent, so one shard is enough to know what
//! the others should have brought. Older manifests only give their own plan's size.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use duckdb::Connection;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::plan::Shard;
use crate::store::schema::RUN_NO;

#[derive(Debug, Clone, Serialize, Default)]
pub struct Completeness {
    /// No shard is missing and every planned session is present (as far as the plan is
    /// known: a run without a loaded manifest is not judged incomplete).
    pub complete: bool,
    /// Whether the whole run's plan is known (false without any manifest, or with only
    /// older manifests that record their own plan but not the whole run's).
    pub plan_known: bool,
    pub planned: u64,
    pub present: u64,
    /// N, when the run was split into shards.
    pub shard_count: Option<u32>,
    /// K of every shard whose manifest was loaded.
    pub shards_present: Vec<u32>,
    /// K of every shard with no manifest in the database.
    pub shards_missing: Vec<u32>,
    pub agents: Vec<AgentCompleteness>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AgentCompleteness {
    pub agent: String,
    /// `None` when the plan is unknown.
    pub planned: Option<u64>,
    pub present: u64,
}

impl Completeness {
    /// One line for logs and headlines: "78 of 117 planned sessions; shard 2/3 missing".
    pub fn summary(&self) -> String {
        let mut s = if self.plan_known {
            format!("{} of {} planned sessions", self.present, self.planned)
        } else {
            format!("{} sessions (plan unknown)", self.present)
        };
        if let Some(n) = self.shard_count {
            if !self.shards_missing.is_empty() {
                let missing: Vec<String> = self
                    .shards_missing
                    .iter()
                    .map(|k| format!("{k}/{n}"))
                    .collect();
                let _ = write!(s, "; missing shard(s) {}", missing.join(", "));
            }
        }
        s
    }
}

pub fn gather(conn: &Connection, run_id: &str) -> Result<Completeness> {
    let err = |what: &'static str| {
        move |e: duckdb::Error| Error::env(format!("report query `{what}` failed: {e}"))
    };
    let mut stmt = conn
        .prepare("SELECT shard, CAST(run_planned AS VARCHAR), planned_sessions FROM runs WHERE run_id = ?")
        .map_err(err("run manifests"))?;
    let manifests: Vec<(Option<String>, Option<String>, Option<i64>)> = stmt
        .query_map([run_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .map_err(err("run manifests"))?
        .collect::<std::result::Result<_, _>>()
        .map_err(err("run manifests"))?;
    let mut stmt = conn
        .prepare(&format!(
            "SELECT agent, count(*) FROM current_sessions WHERE run_no = {RUN_NO} GROUP BY agent ORDER BY agent",
        ))
        .map_err(err("sessions per agent"))?;
    let present: BTreeMap<String, u64> = stmt
        .query_map([run_id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
        })
        .map_err(err("sessions per agent"))?
        .collect::<std::result::Result<_, _>>()
        .map_err(err("sessions per agent"))?;
    Ok(judge(&manifests, &present))
}

/// Completeness from the manifests' (shard, run_planned JSON, own plan size) and the
/// sessions present per agent.
fn judge(
    manifests: &[(Option<String>, Option<String>, Option<i64>)],
    present: &BTreeMap<String, u64>,
) -> Completeness {
    let shards: Vec<Shard> = manifests
        .iter()
        .filter_map(|(s, _, _)| s.as_deref().and_then(|s| s.parse().ok()))
        .collect();
    let shard_count = shards.iter().map(|s| s.count).max();
    let shards_present: BTreeSet<u32> = shards.iter().map(|s| s.index).collect();
    let shards_missing: Vec<u32> = match shard_count {
        Some(n) => (1..=n).filter(|k| !shards_present.contains(k)).collect(),
        None => Vec::new(),
    };
    let run_planned: Option<BTreeMap<String, u64>> = manifests
        .iter()
        .filter_map(|(_, p, _)| p.as_deref())
        .find_map(|p| serde_json::from_str(p).ok());
    let unsharded_total: Option<u64> = manifests
        .iter()
        .find(|(s, _, _)| s.is_none())
        .and_then(|(_, _, n)| n.map(|n| n.max(0) as u64));
    let present_total: u64 = present.values().sum();
    let mut agents: Vec<AgentCompleteness> = Vec::new();
    let (plan_known, planned) = match (&run_planned, unsharded_total) {
        (Some(plan), _) => {
            let names: BTreeSet<&String> = plan.keys().chain(present.keys()).collect();
            for a in names {
                agents.push(AgentCompleteness {
                    agent: a.clone(),
                    planned: Some(plan.get(a).copied().unwrap_or(0)),
                    present: present.get(a).copied().unwrap_or(0),
                });
            }
            (true, plan.values().sum())
        }
        (None, Some(total)) if shard_count.is_none() => (true, total),
        _ => (false, 0),
    };
    if agents.is_empty() {
        agents = present
            .iter()
            .map(|(a, n)| AgentCompleteness {
                agent: a.clone(),
                planned: None,
                present: *n,
            })
            .collect();
    }
    let sessions_ok = if run_planned.is_some() {
        agents.iter().all(|a| a.present >= a.planned.unwrap_or(0))
    } else {
        !plan_known || present_total >= planned
    };
    Completeness {
        // Without any manifest nothing says what was planned: not known to be incomplete.
        complete: shards_missing.is_empty() && sessions_ok,
        plan_known,
        planned,
        present: present_total,
        shard_count,
        shards_present: shards_present.into_iter().collect(),
        shards_missing,
        agents,
    }
}

/// A planned count, or `?` when the plan is unknown.
pub fn planned_text(p: Option<u64>) -> String {
    p.map(|n| n.to_string()).unwrap_or_else(|| "?".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn present(v: &[(&str, u64)]) -> BTreeMap<String, u64> {
        v.iter().map(|(a, n)| (a.to_string(), *n)).collect()
    }

    #[test]
    fn a_lost_shard_is_named_and_makes_the_run_incomplete() {
        let plan = Some(r#"{"a": 6, "b": 6}"#.to_string());
        let m = vec![
            (Some("1/3".into()), plan.clone(), Some(4)),
            (Some("3/3".into()), plan, Some(4)),
        ];
        let c = judge(&m, &present(&[("a", 4), ("b", 4)]));
        assert!(!c.complete);
        assert_eq!(c.shards_missing, vec![2]);
        assert_eq!((c.planned, c.present), (12, 8));
        assert!(
            c.summary().contains("missing shard(s) 2/3"),
            "{}",
            c.summary()
        );
    }

    #[test]
    fn all_shards_and_sessions_make_it_complete() {
        let plan = Some(r#"{"a": 2}"#.to_string());
        let m = vec![
            (Some("1/2".into()), plan.clone(), Some(1)),
            (Some("2/2".into()), plan, Some(1)),
        ];
        assert!(judge(&m, &present(&[("a", 2)])).complete);
        assert!(!judge(&m, &present(&[("a", 1)])).complete);
    }

    #[test]
    fn older_manifests_fall_back_to_their_own_plan() {
        let m = vec![(None, None, Some(3))];
        assert!(judge(&m, &present(&[("a", 3)])).complete);
        assert!(!judge(&m, &present(&[("a", 2)])).complete);
        let none = judge(&[], &present(&[("a", 2)]));
        assert!(none.complete && !none.plan_known, "{none:?}");
    }
}
