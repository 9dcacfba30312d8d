//! The DuckDB schema: data tables derived from files, bookkeeping tables, and analyst views.

/// Bumped when the schema changes; a database of another version must be rebuilt (`--rebuild`).
/// Version 2: captured output longer than [`TEXT_PART`] bytes is stored whole in `output_parts`.
/// Version 3: `sessions` gains `input_tokens`, `output_tokens` and `cost_usd` (tokens and
/// cost), `try_number` and `port` (`--retry-errors`, fixtures); the `current_sessions` view
/// (each planned session's latest try), which every report reads.
/// Version 4: `sessions.score` is NULL for `error` sessions (not judged: no score), so every
/// mean score leaves them out.
/// Version 5: `superseded_tries`, written by the loader (`tries.rs`), and `sessions.session_no`
/// its key; `current_sessions` anti-joins it instead of ranking every session's tries on each
/// query; `run_totals` and `pair_totals` (with the view `current_runs`), so that reports and
/// `latest_sessions` do not aggregate every session to find the latest runs.
/// Also version 5: `session_matrix` (the `matrix:` values of each session's agent) and the
/// `agent_matrix` view, one column per matrix key; `assertions.verifier` (how a verifier ran,
/// for the report's session pages).
/// Also version 5: `model_calls`, one row per model call through the gateway, and `spans`
/// (the spans agents send over OTLP).
/// Version 6: `run_numbers` and a `run_no` column in `sessions` and the child tables reports
/// read per run (`assertions`, `events`, `spans`, `session_matrix`) and in `run_totals` and
/// `pair_totals`: an integer key the loader gives each run, which DuckDB's zone maps prune
/// on (they keep only the first 8 bytes of a string, which run ids of one day share);
/// `sessions.latest_try`, so that `current_sessions` filters a column instead of
/// anti-joining every superseded try (`superseded_tries` keeps only the tries a later load
/// superseded); `run_totals.shape`, so the gate finds comparable runs without listing every
/// run's pairs; `pair_latest`, each pair's latest run as of each load, for `latest_sessions`; `accepted_runs` is part of the schema (it was created by the first
/// acceptance).
pub const SCHEMA_VERSION: i64 = 6;

/// Longest text stored in one value. DuckDB 2.0 keeps a row group's large strings in memory
/// while it commits and checkpoints them, beyond `memory_limit`: 300 values of 1 MiB need
/// 1.7 GB, while the same bytes in 16 KiB values load within the limit. So a stream longer
/// than this is stored in parts of at most this size (cut at character boundaries).
pub const TEXT_PART: usize = 16 * 1024;

/// SQL: the number of the run bound next (`?`, a run id). A report's queries of `sessions`
/// and its child tables filter `run_no` with it, not `run_id`: DuckDB skips the row groups of
/// other runs only on the integer (see `run_numbers.rs`). A run the database does not hold
/// has none (NULL): no rows.
pub const RUN_NO: &str = "(SELECT run_no FROM run_numbers WHERE run_id = ?)";

/// SQL: the ids bound next (`?`, one text of ids separated by spaces), for `session_id IN`.
/// Ids are names without spaces (`spec::check_name`, checked when loaded). One parameter,
/// not a literal list: DuckDB's parser takes ~15 ms for a list of 500 quoted ids.
pub const IN_IDS: &str = "(SELECT unnest(string_split(?, ' ')))";

pub const DDL: &str = r#"
CREATE TABLE IF NOT EXISTS reev_meta (key VARCHAR PRIMARY KEY, value VARCHAR);

CREATE TABLE IF NOT EXISTS runs (
    run_id            VARCHAR NOT NULL,
    manifest          VARCHAR NOT NULL,   -- run.json or run.shard-K-of-N.json
    shard             VARCHAR,            -- K/N, or NULL
    created_at        TIMESTAMP,
    reev_version      VARCHAR,
    host              VARCHAR,
    git_commit        VARCHAR,
    command_line      JSON,
    selection         JSON,
    timeout_ms        BIGINT,
    jobs              BIGINT,
    planned_sessions  BIGINT,
    manifest_sha256   VARCHAR NOT NULL,
    run_planned       JSON,               -- {agent: sessions} of the whole run (all shards); NULL from older manifests
    machine           JSON                -- CPU count, load average, PSI at the start; NULL if unknown
);

CREATE TABLE IF NOT EXISTS benchmarks (
    benchmark_id  VARCHAR NOT NULL,
    sha256        VARCHAR NOT NULL,       -- SHA-256 of the benchmark file's bytes
    description   VARCHAR,
    tags          JSON,
    yaml          VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS sessions (
    session_id        VARCHAR NOT NULL,
    run_id            VARCHAR NOT NULL,
    benchmark_id      VARCHAR NOT NULL,
    benchmark_sha256  VARCHAR NOT NULL,
    agent             VARCHAR NOT NULL,
    agent_command     JSON,
    attempt           INTEGER NOT NULL,
    status            VARCHAR NOT NULL,
    score             DOUBLE,             -- NULL for an `error` session: not judged, no score
    pass_threshold    DOUBLE NOT NULL,
    assertions_passed INTEGER NOT NULL,
    assertions_total  INTEGER NOT NULL,
    exit_code         INTEGER,
    signal            INTEGER,
    error             VARCHAR,
    started_at        TIMESTAMP NOT NULL,
    finished_at       TIMESTAMP NOT NULL,
    duration_ms       BIGINT NOT NULL,
    timeout_ms        BIGINT NOT NULL,
    cpu_user_ms       BIGINT NOT NULL,
    cpu_system_ms     BIGINT NOT NULL,
    peak_rss_bytes    BIGINT NOT NULL,
    stdout            VARCHAR,            -- whole when at most 16 KiB, else its last 16 KiB;
                                          -- all of it in output_parts / session_output
    stdout_bytes      BIGINT,
    stdout_truncated  BOOLEAN,
    stderr            VARCHAR,
    stderr_bytes      BIGINT,
    stderr_truncated  BOOLEAN,
    events_count      INTEGER NOT NULL,
    events_dropped    BIGINT NOT NULL,
    host              VARCHAR,
    reev_version      VARCHAR,
    file_sha256       VARCHAR NOT NULL,   -- SHA-256 of the session file's bytes
    -- Machine pressure (Linux PSI stall, ms) while the session ran; NULL where PSI is absent.
    psi_cpu_some_ms     BIGINT,
    psi_memory_some_ms  BIGINT,
    psi_memory_full_ms  BIGINT,
    -- Tokens of the session's model requests, and their cost in USD by the prices of its run;
    -- NULL when unknown (no model request, a model without a price, an older session file).
    input_tokens        BIGINT,
    output_tokens       BIGINT,
    cost_usd            DOUBLE,
    try_number        INTEGER NOT NULL,   -- 1, or 2.. for the tries --retry-errors ran after an error
    port              INTEGER,            -- the TCP port reserved for the session; NULL in older files
    session_no        BIGINT NOT NULL,    -- a number for the session id (the first 64 bits of its
                                          -- SHA-256): the key superseded_tries refers to
    latest_try        BOOLEAN NOT NULL,   -- false: a later try of its planned session was
                                          -- loaded before or with it (one loaded later is
                                          -- in superseded_tries; store/tries.rs)
    run_no            BIGINT NOT NULL     -- run_numbers.run_no of run_id: the key to filter a run on
);

-- Each run's number: given by the loader in the order it first meets the run, never
-- changed. Queries of one run filter `run_no`, which DuckDB skips whole row groups on.
CREATE TABLE IF NOT EXISTS run_numbers (
    run_id  VARCHAR PRIMARY KEY,
    run_no  BIGINT NOT NULL UNIQUE
);

-- Tries that a try loaded later replaced (its planned session: run, benchmark, agent,
-- attempt): insert-only (store/tries.rs). A try already replaced when the load that brought
-- it ended has `latest_try` false instead. `current_sessions` is `sessions` without both.
CREATE TABLE IF NOT EXISTS superseded_tries (
    session_no  BIGINT NOT NULL,          -- sessions.session_no (an integer joins fast)
    session_id  VARCHAR NOT NULL
);

-- Per run, written by each load that added sessions to it (store/tries.rs): its current
-- sessions and when the latest of them started; the row of the highest load_id holds. So
-- reports find the latest run and a run's size without aggregating every session.
CREATE TABLE IF NOT EXISTS run_totals (
    run_id       VARCHAR NOT NULL,
    load_id      BIGINT NOT NULL,
    sessions     BIGINT NOT NULL,
    started_max  TIMESTAMP NOT NULL,
    run_no       BIGINT NOT NULL,
    shape        VARCHAR NOT NULL         -- SHA-256 of its agent x benchmark pairs, sorted: the
                                          -- gate compares only runs of the same shape
);

-- The same per run × benchmark × agent (what pair_latest is computed from).
CREATE TABLE IF NOT EXISTS pair_totals (
    run_id        VARCHAR NOT NULL,
    benchmark_id  VARCHAR NOT NULL,
    agent         VARCHAR NOT NULL,
    load_id       BIGINT NOT NULL,
    started_max   TIMESTAMP NOT NULL,
    run_no        BIGINT NOT NULL
);

-- For each benchmark × agent, the run that started last (ties: the larger run id), written
-- by each load for the pairs of the runs it added sessions to; the row of the highest load_id
-- holds. latest_sessions reads these few rows instead of grouping every run's pairs.
CREATE TABLE IF NOT EXISTS pair_latest (
    benchmark_id  VARCHAR NOT NULL,
    agent         VARCHAR NOT NULL,
    load_id       BIGINT NOT NULL,
    run_no        BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS output_parts (
    session_id  VARCHAR NOT NULL,
    stream      VARCHAR NOT NULL,         -- stdout | stderr
    part        INTEGER NOT NULL,         -- from 0; string_agg(text, '' ORDER BY part) is the text
    text        VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS assertions (
    session_id  VARCHAR NOT NULL,
    idx         INTEGER NOT NULL,         -- position in ground_truth.assertions, from 0
    type        VARCHAR NOT NULL,
    name        VARCHAR,
    weight      DOUBLE NOT NULL,
    passed      BOOLEAN NOT NULL,
    expected    JSON,
    actual      JSON,
    message     VARCHAR,
    verifier    JSON,                     -- how a verify: program ran (argv, exit, output heads); NULL otherwise
    run_no      BIGINT NOT NULL           -- the session's run (run_numbers): what reports filter on
);

CREATE TABLE IF NOT EXISTS events (
    session_id  VARCHAR NOT NULL,
    seq         BIGINT NOT NULL,
    type        VARCHAR NOT NULL,
    name        VARCHAR,                  -- data.name when present (tool or metric name)
    data        JSON,
    error       VARCHAR,
    raw         VARCHAR,
    run_no      BIGINT NOT NULL           -- the session's run (run_numbers)
);

-- The `matrix:` values of the agent each session ran (one row per key); see `agent_matrix`.
CREATE TABLE IF NOT EXISTS session_matrix (
    session_id  VARCHAR NOT NULL,
    key         VARCHAR NOT NULL,
    value       VARCHAR NOT NULL,
    run_no      BIGINT NOT NULL           -- the session's run (run_numbers)
);

-- The spans an agent sent over OTLP (or left in an otlp-json events file); attribute values
-- are the agent's text. One row per span kept (same caps as events).
CREATE TABLE IF NOT EXISTS spans (
    session_id      VARCHAR NOT NULL,
    idx             INTEGER NOT NULL,     -- arrival order, from 0
    trace_id        VARCHAR NOT NULL,     -- hex
    span_id         VARCHAR NOT NULL,     -- hex
    parent_span_id  VARCHAR,              -- hex; NULL for a root
    name            VARCHAR NOT NULL,
    kind            VARCHAR NOT NULL,     -- internal | server | client | producer | consumer | unspecified
    start_time      TIMESTAMP,
    end_time        TIMESTAMP,
    duration_ms     DOUBLE NOT NULL,
    status          VARCHAR NOT NULL,     -- unset | ok | error
    status_message  VARCHAR,
    attributes      JSON,
    service         VARCHAR,              -- the resource's service.name
    foreign_trace   BOOLEAN NOT NULL,     -- its trace id is not the session's
    run_no          BIGINT NOT NULL       -- the session's run (run_numbers)
);

CREATE TABLE IF NOT EXISTS metrics (
    session_id  VARCHAR NOT NULL,
    name        VARCHAR NOT NULL,
    value       DOUBLE NOT NULL
);

-- One row per model call an agent made through reev's gateway (agents with `gateway:`).
CREATE TABLE IF NOT EXISTS model_calls (
    session_id      VARCHAR NOT NULL,
    run_id          VARCHAR NOT NULL,
    seq             INTEGER NOT NULL,     -- 1, 2, ... in the order the requests arrived
    path            VARCHAR NOT NULL,     -- below the gateway's base: /v1/chat/completions
    model           VARCHAR,              -- the request's model
    status          INTEGER,              -- the upstream's HTTP status; NULL: no answer
    request_sha256  VARCHAR NOT NULL,     -- method, path and canonical JSON body
    input_tokens    BIGINT,
    output_tokens   BIGINT,
    duration_ms     DOUBLE NOT NULL,
    replayed        BOOLEAN NOT NULL,     -- answered from a cassette (reev run --replay)
    replayed_from   VARCHAR,              -- the run replayed
    error           VARCHAR
);

-- Runs `reev accept` made the new normal for the gate (report/gate/accept.rs): derived from
-- the `accepted.json` files in the runs tree, rewritten by every load and by `reev accept`.
CREATE TABLE IF NOT EXISTS accepted_runs (
    run_id       VARCHAR PRIMARY KEY,
    accepted_at  VARCHAR NOT NULL,        -- RFC 3339, UTC
    note         VARCHAR,
    path         VARCHAR NOT NULL         -- the file it was read from
);

CREATE TABLE IF NOT EXISTS loaded_files (
    path        VARCHAR NOT NULL,
    size        BIGINT NOT NULL,
    mtime_ns    BIGINT NOT NULL,
    sha256      VARCHAR NOT NULL,
    kind        VARCHAR NOT NULL,         -- session | manifest | benchmark
    session_id  VARCHAR,
    load_id     BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS loads (
    load_id           BIGINT NOT NULL,
    started_at        TIMESTAMP NOT NULL,
    finished_at       TIMESTAMP NOT NULL,
    roots             JSON,
    files_seen        BIGINT NOT NULL,
    files_new         BIGINT NOT NULL,
    files_skipped     BIGINT NOT NULL,
    files_quarantined BIGINT NOT NULL,
    files_conflicted  BIGINT NOT NULL,
    reev_version      VARCHAR
);

CREATE TABLE IF NOT EXISTS quarantine (
    load_id  BIGINT NOT NULL,
    path     VARCHAR NOT NULL,
    error    VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS conflicts (
    load_id         BIGINT NOT NULL,
    path            VARCHAR NOT NULL,
    session_id      VARCHAR,
    kind            VARCHAR NOT NULL,     -- changed_after_load | duplicate_session_id
    loaded_sha256   VARCHAR NOT NULL,
    found_sha256    VARCHAR NOT NULL,
    loaded_path     VARCHAR
);
"#;

pub const VIEWS: &str = r#"
-- Every planned session once: its latest try. Earlier tries (sessions that ended `error` and
-- were run again by --retry-errors) stay in `sessions`; reports and the gate read this view.
-- Which tries are superseded is decided at load time (store/tries.rs), not per query.
-- (NOT IN, not NOT EXISTS: DuckDB plans NOT EXISTS beside another filter as a grouping of
-- every session; session_no is never NULL, so the two mean the same.)
CREATE OR REPLACE VIEW current_sessions AS
SELECT * EXCLUDE (latest_try) FROM sessions
WHERE latest_try AND session_no NOT IN (SELECT session_no FROM superseded_tries);

-- success_rate leaves out `error` sessions (not judged); error_rate is their share.
CREATE OR REPLACE VIEW agent_performance AS
SELECT agent,
       count(*)                                              AS sessions,
       count(*) FILTER (WHERE status = 'succeeded')          AS succeeded,
       avg(CASE WHEN status = 'succeeded' THEN 1 ELSE 0 END) FILTER (WHERE status <> 'error') AS success_rate,
       avg(score)                                            AS mean_score,
       quantile_cont(duration_ms, 0.5)                       AS p50_duration_ms,
       quantile_cont(duration_ms, 0.95)                      AS p95_duration_ms,
       avg(CASE WHEN status = 'error' THEN 1 ELSE 0 END)     AS error_rate
FROM current_sessions
GROUP BY agent;

-- Per run: its current sessions and when the latest started (what reports order runs by).
CREATE OR REPLACE VIEW current_runs AS
SELECT run_id, any_value(run_no) AS run_no, arg_max(sessions, load_id) AS sessions,
       arg_max(started_max, load_id) AS started_max, arg_max(shape, load_id) AS shape
FROM run_totals GROUP BY run_id;

CREATE OR REPLACE VIEW latest_sessions AS
WITH latest AS (
    SELECT benchmark_id, agent, arg_max(run_no, load_id) AS run_no FROM pair_latest
    GROUP BY benchmark_id, agent
)
SELECT s.* FROM current_sessions s JOIN latest USING (benchmark_id, agent, run_no);

CREATE OR REPLACE VIEW benchmark_matrix AS
SELECT benchmark_id,
       agent,
       any_value(run_id)                                      AS run_id,
       arg_max(status, attempt)                               AS latest_status,
       arg_max(score, attempt)                                AS latest_score,
       count(*)                                               AS attempts,
       count(*) FILTER (WHERE status = 'succeeded')           AS succeeded,
       avg(score)                                             AS mean_score
FROM latest_sessions
GROUP BY benchmark_id, agent;

CREATE OR REPLACE VIEW run_summary AS
SELECT run_id,
       agent,
       min(started_at)                                        AS started_at,
       max(finished_at)                                       AS finished_at,
       count(*)                                               AS sessions,
       count(*) FILTER (WHERE status = 'succeeded')           AS succeeded,
       count(*) FILTER (WHERE status = 'failed')              AS failed,
       count(*) FILTER (WHERE status = 'timed_out')           AS timed_out,
       count(*) FILTER (WHERE status = 'error')               AS errors,
       avg(CASE WHEN status = 'succeeded' THEN 1 ELSE 0 END) FILTER (WHERE status <> 'error') AS success_rate,
       avg(score)                                             AS mean_score,
       quantile_cont(duration_ms, 0.5)                        AS p50_duration_ms,
       quantile_cont(duration_ms, 0.95)                       AS p95_duration_ms,
       avg(CASE WHEN status = 'error' THEN 1 ELSE 0 END)      AS error_rate
FROM current_sessions
GROUP BY run_id, agent;

-- The whole captured text of every session's streams, short ones from sessions and long
-- ones reassembled from their parts.
CREATE OR REPLACE VIEW session_output AS
SELECT session_id, 'stdout' AS stream, stdout AS text FROM sessions
WHERE session_id NOT IN (SELECT session_id FROM output_parts WHERE stream = 'stdout')
UNION ALL
SELECT session_id, 'stderr', stderr FROM sessions
WHERE session_id NOT IN (SELECT session_id FROM output_parts WHERE stream = 'stderr')
UNION ALL
SELECT session_id, stream, string_agg(text, '' ORDER BY part) FROM output_parts
GROUP BY session_id, stream;

CREATE OR REPLACE VIEW current_quarantine AS
SELECT path, error FROM quarantine WHERE load_id = (SELECT max(load_id) FROM loads);
"#;

/// The `agent_matrix` view: one row per (run, agent) of a `matrix:` sweep, one column per
/// matrix key, so analysts group by them:
/// `SELECT m.model, avg(s.score) FROM current_sessions s JOIN agent_matrix m USING (run_id, agent) GROUP BY ALL`.
/// Its columns depend on the data (DuckDB refuses a PIVOT over data-derived values in a view),
/// so it is written from the keys present, when the schema is created and after every load.
pub fn agent_matrix_view(keys: &[String]) -> String {
    let quote = |k: &str| format!("\"{}\"", k.replace('"', "\"\""));
    let literal = |k: &str| format!("'{}'", k.replace('\'', "''"));
    let columns: String = keys
        .iter()
        .map(|k| {
            format!(
                ", any_value(m.value) FILTER (WHERE m.key = {}) AS {}",
                literal(k),
                quote(k)
            )
        })
        .collect();
    format!(
        "CREATE OR REPLACE VIEW agent_matrix AS
         SELECT s.run_id, s.agent{columns}
         FROM current_sessions s JOIN session_matrix m USING (session_id)
         GROUP BY s.run_id, s.agent"
    )
}

/// Rewrite `agent_matrix` for the keys the database holds now.
pub fn refresh_agent_matrix(conn: &duckdb::Connection) -> duckdb::Result<()> {
    let mut st = conn.prepare("SELECT DISTINCT key FROM session_matrix ORDER BY key")?;
    let keys: Vec<String> = st
        .query_map([], |r| r.get(0))?
        .collect::<duckdb::Result<_>>()?;
    conn.execute_batch(&agent_matrix_view(&keys))
}
