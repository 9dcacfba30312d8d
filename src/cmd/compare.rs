//! `reev compare`: parse, compare in the library (`report::gate::compare`), print; with
//! --fail-on-regression, exit 1 on a newly failing benchmark or a significant worsening.

use crate::cli::{CompareArgs, CompareFormat};
use crate::error::{Error, Result};
use crate::report::render::compare::{self as compare_render, Format};
use crate::store::{self, Mode};

pub fn compare(args: CompareArgs) -> Result<()> {
    let conn = store::open(&args.db.db, Mode::ReadOnly, args.db.wait)?;
    let c = crate::report::gate::compare::compare(&conn, &args.runs, &args.agents)?;
    drop(conn);
    let format = match args.format {
        CompareFormat::Md => Format::Md,
        CompareFormat::Html => Format::Html,
        CompareFormat::Json => Format::Json,
    };
    let text = compare_render::render(&c, format);
    match &args.out {
        Some(path) => std::fs::write(path, text.as_bytes())
            .map_err(|e| Error::io("cannot write the comparison", path, e))?,
        None => super::print(&text)?,
    }
    for r in &c.regressions {
        crate::logging::line(tracing::Level::WARN, &format!("regression: {r}"));
    }
    if args.fail_on_regression && !c.regressions.is_empty() {
        return Err(Error::failed(format!(
            "{} regression(s) from {} to {} (--fail-on-regression)",
            c.regressions.len(),
            c.before.label(),
            c.after.label()
        )));
    }
    Ok(())
}
