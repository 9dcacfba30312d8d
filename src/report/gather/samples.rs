//! What the gate needs of each (run, agent) among a few runs: every judged session's wall
//! time, CPU time and cost (the samples of its medians and rank tests), attempts and
//! successes per benchmark, the machine's pressure, and the share of sessions that ended
//! `error`.
//!
//! One query, read as Arrow batches. The gate replays itself over the 20 runs before the
//! reported one, so at 5,000 sessions a run this is 300,000 numbers: read as DuckDB `Value`
//! lists, plus a second query for the error rates, they cost ~80 ms of a report's 0.3 s.

use std::collections::BTreeMap;
use std::sync::Arc;

use duckdb::arrow::array::{Array, ArrayRef, AsArray};
use duckdb::arrow::compute::cast;
use duckdb::arrow::datatypes::{DataType, Field, Float64Type, Int64Type};
use duckdb::arrow::record_batch::RecordBatch;
use duckdb::Connection;

use super::model::RunAgent;
use crate::error::{Error, Result};

/// (run, agent) -> what the gate needs of it.
pub type RunAgents = BTreeMap<(String, String), RunAgent>;

/// The samples of some runs, and each (run, agent)'s share of sessions that ended `error`.
#[derive(Debug, Default)]
pub struct Samples {
    /// Only (run, agent)s with a judged session (not `error`).
    pub data: RunAgents,
    pub errors: BTreeMap<(String, String), f64>,
}

/// `run_nos`: SQL for the numbers of the runs to read (`run_no IN (...)`).
pub fn gather(conn: &Connection, run_nos: &str) -> Result<Samples> {
    let err =
        |e: &dyn std::fmt::Display| Error::env(format!("report query `gate samples` failed: {e}"));
    let mut st = conn
        .prepare(&format!(
            "SELECT run_id, agent, benchmark_id,
                    count(*) FILTER (WHERE status <> 'error'), count(*) FILTER (WHERE status = 'succeeded'),
                    count(*) FILTER (WHERE status = 'error'),
                    list(duration_ms::DOUBLE) FILTER (WHERE status <> 'error'),
                    list((cpu_user_ms + cpu_system_ms)::DOUBLE) FILTER (WHERE status <> 'error'),
                    list(cost_usd) FILTER (WHERE status <> 'error' AND cost_usd IS NOT NULL),
                    coalesce(sum(psi_cpu_some_ms) FILTER (WHERE status <> 'error'), 0)::DOUBLE,
                    coalesce(sum(psi_memory_some_ms) FILTER (WHERE status <> 'error'), 0)::DOUBLE,
                    coalesce(sum(duration_ms) FILTER (WHERE status <> 'error' AND psi_cpu_some_ms IS NOT NULL), 0)::DOUBLE
             FROM current_sessions WHERE run_no IN ({run_nos}) GROUP BY ALL ORDER BY 1, 2, 3"
        ))
        .map_err(|e| err(&e))?;
    let mut acc = Acc::default();
    for batch in st.stream_arrow([]).map_err(|e| err(&e))? {
        let batch = batch.map_err(|e| err(&e))?;
        acc.batch(&batch).map_err(|e| err(&e))?;
    }
    Ok(acc.finish())
}

/// Sums per (run, agent) while the batches arrive.
#[derive(Default)]
struct Acc {
    out: RunAgents,
    /// (sessions, errors) of every (run, agent), judged or not.
    totals: BTreeMap<(String, String), (i64, i64)>,
    /// CPU stall, memory stall, and the wall time they are shares of.
    stall: BTreeMap<(String, String), [f64; 3]>,
}

impl Acc {
    fn batch(
        &mut self,
        b: &RecordBatch,
    ) -> std::result::Result<(), duckdb::arrow::error::ArrowError> {
        let text = |i| column(b, i, DataType::Utf8);
        let (runs, agents, benches) = (text(0)?, text(1)?, text(2)?);
        let (runs, agents, benches) = (
            runs.as_string::<i32>(),
            agents.as_string::<i32>(),
            benches.as_string::<i32>(),
        );
        let count = |i| column(b, i, DataType::Int64);
        let (judged, ok, errors) = (count(3)?, count(4)?, count(5)?);
        let (judged, ok, errors) = (
            judged.as_primitive::<Int64Type>(),
            ok.as_primitive::<Int64Type>(),
            errors.as_primitive::<Int64Type>(),
        );
        let list = |i| {
            column(
                b,
                i,
                DataType::List(Arc::new(Field::new("item", DataType::Float64, true))),
            )
        };
        let (wall, cpu, cost) = (list(6)?, list(7)?, list(8)?);
        let (wall, cpu, cost) = (
            wall.as_list::<i32>(),
            cpu.as_list::<i32>(),
            cost.as_list::<i32>(),
        );
        let number = |i| column(b, i, DataType::Float64);
        let (psi_cpu, psi_mem, psi_wall) = (number(9)?, number(10)?, number(11)?);
        let psi = [
            psi_cpu.as_primitive::<Float64Type>(),
            psi_mem.as_primitive::<Float64Type>(),
            psi_wall.as_primitive::<Float64Type>(),
        ];
        for i in 0..b.num_rows() {
            let key = (runs.value(i).to_string(), agents.value(i).to_string());
            let t = self.totals.entry(key.clone()).or_default();
            t.0 += judged.value(i) + errors.value(i);
            t.1 += errors.value(i);
            if judged.value(i) == 0 {
                continue;
            }
            let a = self.out.entry(key.clone()).or_insert_with(|| RunAgent {
                run_id: key.0.clone(),
                agent: key.1.clone(),
                ..Default::default()
            });
            a.benchmarks.insert(
                benches.value(i).to_string(),
                (judged.value(i) as u64, ok.value(i) as u64),
            );
            a.durations.extend(doubles(wall, i));
            a.cpu.extend(doubles(cpu, i));
            a.costs.extend(doubles(cost, i));
            let s = self.stall.entry(key).or_default();
            (0..3).for_each(|k| s[k] += psi[k].value(i));
        }
        Ok(())
    }

    fn finish(mut self) -> Samples {
        for (key, [cpu, mem, wall]) in self.stall {
            if let Some(a) = self.out.get_mut(&key).filter(|_| wall > 0.0) {
                a.cpu_pressure = Some(cpu / wall);
                a.memory_pressure = Some(mem / wall);
            }
        }
        // Sorted once here: the gate reads each run's samples again for every run it
        // replays, and takes medians and ranks of sorted samples without sorting again.
        for a in self.out.values_mut() {
            for v in [&mut a.durations, &mut a.cpu, &mut a.costs] {
                v.sort_by(f64::total_cmp);
            }
        }
        let errors = self
            .totals
            .into_iter()
            .map(|(key, (n, e))| (key, e as f64 / n.max(1) as f64))
            .collect();
        Samples {
            data: self.out,
            errors,
        }
    }
}

/// Column `i` of `b` as `to` (DuckDB chooses its Arrow types; a cast of the same type is free).
fn column(
    b: &RecordBatch,
    i: usize,
    to: DataType,
) -> std::result::Result<ArrayRef, duckdb::arrow::error::ArrowError> {
    cast(b.column(i), &to)
}

/// The non-null numbers of list `i` (none for a NULL list: no session matched the filter).
fn doubles(lists: &duckdb::arrow::array::ListArray, i: usize) -> Vec<f64> {
    if lists.is_null(i) {
        return Vec::new();
    }
    let values = lists.value(i);
    values
        .as_primitive::<Float64Type>()
        .iter()
        .flatten()
        .collect()
}
