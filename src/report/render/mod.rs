//! One renderer per format over the shared [`Report`] model (as hyperfine's `export/`):
//! Markdown, HTML (the viewer), JSON, JUnit; SVG charts for the HTML; `reev compare`'s formats.

pub mod compare;
pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
mod svg;

use super::gather::model::AgentSummary;
use super::model::Report;
use super::text::{tokens, usd};

/// One output format: a file name and a rendering of the report.
pub trait Renderer {
    fn file_name(&self) -> &'static str;
    fn render(&self, report: &Report) -> String;
}

/// A report format (`--format` of `report` and `batch`: the report files to write).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    #[value(alias = "markdown")]
    Md,
    Html,
    Json,
    Junit,
}

pub fn renderer(format: Format) -> Box<dyn Renderer> {
    match format {
        Format::Md => Box::new(markdown::Markdown),
        Format::Html => Box::new(html::Html),
        Format::Json => Box::new(json::Json),
        Format::Junit => Box::new(junit::Junit),
    }
}

/// The agents' rows for the tokens and cost table: (agent, tokens per session, cost per
/// session, cost per success, priced sessions of all); empty when no agent reported tokens.
pub fn cost_rows(agents: &[AgentSummary]) -> Vec<[String; 5]> {
    if agents
        .iter()
        .all(|a| a.tokens_per_session.is_none() && a.priced_sessions == 0)
    {
        return Vec::new();
    }
    agents
        .iter()
        .map(|a| {
            [
                a.agent.clone(),
                tokens(a.tokens_per_session),
                usd(a.cost_per_session),
                usd(a.cost_per_success),
                format!("{} of {}", a.priced_sessions, a.sessions),
            ]
        })
        .collect()
}
