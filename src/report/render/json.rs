//! report.json: every number of the report, for machines.

use super::Renderer;
use crate::report::model::Report;

pub struct Json;

impl Renderer for Json {
    fn file_name(&self) -> &'static str {
        "report.json"
    }
    fn render(&self, r: &Report) -> String {
        let mut s =
            serde_json::to_string_pretty(r).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
        s.push('\n');
        s
    }
}
