//! One module per command: each takes typed options (defined in the room that does the
//! work), calls the library, prints, and returns a `Result` for `app` to map. Data flows one
//! way: commands import the rooms, never the reverse.

pub mod accept;
pub mod batch;
pub mod calibrate;
pub mod compare;
pub mod config;
pub mod export;
pub mod list;
pub mod load;
pub mod query;
pub mod report;
pub mod run;
pub mod show;
pub mod status;
pub mod validate;

use crate::error::Error;
use crate::spec::{self, Suite, SuitePaths};

/// How [`print`] treats stdout; `reev batch` sets it (see [`Stdout`]).
static STDOUT: std::sync::Mutex<Stdout> = std::sync::Mutex::new(Stdout::Direct { json: false });

/// Where stdout text goes.
#[derive(Debug)]
pub enum Stdout {
    /// Straight out; with `json`, each line as a JSON log object (`reev batch --log-format
    /// json`: every line a log collector gets from a batch is JSON, stdout too).
    Direct { json: bool },
    /// Kept until the batch knows whether it failed (`reev batch -q`: silent on success).
    Held { json: bool, text: String },
}

/// Switch stdout to `mode`; a held text is dropped.
pub fn set_stdout(mode: Stdout) {
    if let Ok(mut m) = STDOUT.lock() {
        *m = mode;
    }
}

/// Write what was held (if anything) and write directly from now on.
pub fn release_stdout() -> Result<(), Error> {
    let held = match STDOUT.lock() {
        Ok(mut m) => match std::mem::replace(&mut *m, Stdout::Direct { json: false }) {
            Stdout::Held { json, text } => {
                *m = Stdout::Direct { json };
                text
            }
            direct => {
                *m = direct;
                String::new()
            }
        },
        Err(_) => String::new(),
    };
    write_stdout(&held)
}

/// Write `text` to stdout. A reader that went away (`reev ... | head`) ends reev quietly
/// with 141, like a Unix tool killed by SIGPIPE; see `Error::stdout`.
pub fn print(text: &str) -> Result<(), Error> {
    let text = match STDOUT.lock().as_deref_mut() {
        Ok(Stdout::Held { json, text: held }) => {
            held.push_str(&as_json_lines(text, *json));
            return Ok(());
        }
        Ok(Stdout::Direct { json }) => as_json_lines(text, *json),
        Err(_) => text.to_string(),
    };
    write_stdout(&text)
}

/// `text` unchanged, or each of its lines as a JSON log object.
fn as_json_lines(text: &str, json: bool) -> String {
    if !json {
        return text.to_string();
    }
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| format!("{}\n", crate::logging::json_line(tracing::Level::INFO, l)))
        .collect()
}

fn write_stdout(text: &str) -> Result<(), Error> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(Error::stdout)
}

/// Load the suite or fail with every diagnostic.
pub fn load_suite(paths: &SuitePaths) -> Result<Suite, Error> {
    spec::load(paths).map_err(|d| Error::diagnostics(&d))
}
