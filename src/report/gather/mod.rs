//! Reading a run from the database into the report model: the aggregates (DuckDB) and their
//! statistics, the sessions with their traces, completeness, what the gate needs of the runs
//! before, and `reev compare`'s sides.

pub mod column;
pub mod compare;
pub mod completeness;
pub mod data;
pub mod model;
pub mod trace;
