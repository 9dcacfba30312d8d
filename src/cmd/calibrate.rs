//! `reev calibrate`: replay the regression gate on the stored history and print how often it
//! would have failed comparisons of runs that were (as far as reev knows) the same code.

use std::io::Write;

use crate::cli::{CalibrateArgs, CalibrateFormat};
use crate::error::{Error, Result};
use crate::report;
use crate::report::gate::CheckKind;
use crate::store::{self, Mode};

pub fn calibrate(args: CalibrateArgs) -> Result<()> {
    let conn = store::open(&args.db.db, Mode::ReadOnly, args.db.wait)?;
    let replays = report::calibrate(&conn, args.runs)?;
    drop(conn);
    if replays.is_empty() {
        return Err(Error::input(format!(
            "{} holds no runs to replay; run `reev run` and `reev load` first",
            args.db.db.display()
        )));
    }
    let mut out = std::io::stdout().lock();
    let written = match args.format {
        CalibrateFormat::Json => replays.iter().try_for_each(|r| {
            serde_json::to_writer(&mut out, r)
                .map_err(std::io::Error::from)
                .and_then(|_| writeln!(out))
        }),
        CalibrateFormat::Table => table(&mut out, &replays),
    };
    written.and_then(|_| out.flush()).map_err(Error::stdout)
}

fn table(out: &mut impl Write, replays: &[report::gate::regress::Replay]) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<24} {:>11} {:>6} {:>11} {:>6} {:>17} {:>11} {:>9} {:>12}",
        "agent",
        "comparisons",
        "alarms",
        "false_alarm",
        "slower",
        "success_rate_drop",
        "new_failure",
        "costlier",
        "inconclusive"
    )?;
    for r in replays {
        let kind = |k: CheckKind| r.by_kind.get(&k).copied().unwrap_or(0);
        let rate = match r.comparisons {
            0 => "-".to_string(),
            n => format!("{:.1}%", r.alarms as f64 * 100.0 / n as f64),
        };
        writeln!(
            out,
            "{:<24} {:>11} {:>6} {:>11} {:>6} {:>17} {:>11} {:>9} {:>12}",
            r.agent,
            r.comparisons,
            r.alarms,
            rate,
            kind(CheckKind::Slower),
            kind(CheckKind::SuccessRateDrop),
            kind(CheckKind::NewFailure),
            kind(CheckKind::Costlier),
            r.inconclusive
        )?;
    }
    Ok(())
}
