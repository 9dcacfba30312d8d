//! An analyst's DuckDB connection in a real second process (Python's duckdb package), held
//! open across reev commands: it answers a query when it connects and again on each line
//! written to it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Lines, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

const SCRIPT: &str = r#"
import duckdb, sys
con = duckdb.connect(sys.argv[1], read_only=(sys.argv[2] == "ro"))
query = sys.argv[3]
print(con.execute(query).fetchall()[0][0], flush=True)
for _ in sys.stdin:
    print(con.execute(query).fetchall()[0][0], flush=True)
"#;

pub struct Analyst {
    pub child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Analyst {
    /// Connect to `db` (read-only or read-write) and return once the first answer is in.
    pub fn open(db: &Path, read_only: bool, query: &str) -> (Analyst, String) {
        let python = std::env::var_os("REEV_TEST_PYTHON").unwrap_or_else(|| "python3".into());
        let mut child = Command::new(python)
            .args(["-c", SCRIPT])
            .arg(db)
            .arg(if read_only { "ro" } else { "rw" })
            .arg(query)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 with the duckdb package (make dev-deps)");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let first = lines.next().expect("the analyst answers").expect("a line");
        (Analyst { child, lines }, first)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Ask the same query again on the connection held open.
    pub fn ask(&mut self) -> String {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        stdin.write_all(b"\n").expect("write");
        stdin.flush().expect("flush");
        self.lines
            .next()
            .expect("the analyst answers again")
            .expect("a line")
    }

    pub fn close(mut self) {
        drop(self.child.stdin.take());
        let status = self.child.wait().expect("wait");
        assert!(
            status.success(),
            "the analyst's connection failed: {status}"
        );
    }
}
