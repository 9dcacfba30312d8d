//! `reev show SESSION`: one session as a tree (`show`), from a session file or by id.

use crate::error::Result;
use crate::show::{self, ShowOptions};

pub fn show(opts: ShowOptions) -> Result<()> {
    let path = show::session_path(&opts)?;
    super::print(&show::show(&opts, &path)?)
}
