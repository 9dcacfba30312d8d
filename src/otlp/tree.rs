//! A session's spans as a tree (parent → children, each level by start time): lines for
//! `reev show`, nested lists for the HTML report. Span names and attributes are the agent's
//! text: the caller of [`lines`] makes them visible (`term::visible`), [`html`] escapes them.

use std::collections::{BTreeMap, HashSet};

use super::span::{Code, SpanRecord};

/// Spans shown at most; the rest are counted.
pub const MAX_SHOWN: usize = 500;

/// The spans in tree order: (depth, span). A span whose parent is not among them (the
/// agent's root under the session's own span, or one whose parent was dropped) is a root.
/// A cycle of parents (forged ids) cannot loop: each span is visited once, and one of the
/// cycle is made a root.
pub fn ordered(spans: &[SpanRecord]) -> Vec<(usize, &SpanRecord)> {
    let ids: HashSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    let mut children: BTreeMap<&str, Vec<&SpanRecord>> = BTreeMap::new();
    let mut roots = Vec::new();
    for s in spans {
        match s
            .parent_span_id
            .as_deref()
            .filter(|p| ids.contains(p) && *p != s.span_id)
        {
            Some(p) => children.entry(p).or_default().push(s),
            None => roots.push(s),
        }
    }
    let by_start =
        |v: &mut Vec<&SpanRecord>| v.sort_by_key(|s| (s.start_unix_nano, s.end_unix_nano));
    by_start(&mut roots);
    children.values_mut().for_each(by_start);
    let mut out = Vec::with_capacity(spans.len());
    let mut seen = HashSet::new();
    let mut stack: Vec<(usize, &SpanRecord)> = roots.into_iter().rev().map(|s| (0, s)).collect();
    let mut rest = spans.iter();
    loop {
        while let Some((depth, s)) = stack.pop() {
            if !seen.insert(s.span_id.as_str()) {
                continue;
            }
            out.push((depth, s));
            if let Some(kids) = children.get(s.span_id.as_str()) {
                stack.extend(kids.iter().rev().map(|k| (depth + 1, *k)));
            }
        }
        // Spans in a cycle of parents are reached from no root: each becomes one.
        match rest.find(|s| !seen.contains(s.span_id.as_str())) {
            Some(s) => stack.push((0, s)),
            None => return out,
        }
    }
}

/// What a span line says besides its name: kind, duration, status, the attributes reev reads.
pub fn summary(s: &SpanRecord) -> String {
    let mut parts = vec![format!("{} {:.1} ms", s.kind.as_str(), s.duration_ms())];
    match (s.status, &s.status_message) {
        (Code::Error, Some(m)) => parts.push(format!("error: {m}")),
        (Code::Error, None) => parts.push("error".into()),
        _ => {}
    }
    for key in [
        "gen_ai.operation.name",
        "gen_ai.request.model",
        "gen_ai.tool.name",
        "openinference.span.kind",
        "llm.model_name",
        "tool.name",
    ] {
        if let Some(v) = s.attributes.get(key) {
            parts.push(format!(
                "{key}={}",
                v.as_str().map_or_else(|| v.to_string(), str::to_string)
            ));
        }
    }
    for key in ["gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens"] {
        if let Some(v) = s.attributes.get(key) {
            parts.push(format!("{}={v}", key.trim_start_matches("gen_ai.usage.")));
        }
    }
    if s.foreign {
        parts.push(format!("foreign trace {}", s.trace_id));
    }
    parts.join(", ")
}

/// `reev show`'s lines: one per span, indented by depth, each on one line (newlines in the
/// agent's text shown as `\n`). `prefix` starts every line (the tree's left margin).
pub fn lines(spans: &[SpanRecord], prefix: &str) -> Vec<String> {
    let one = |t: &str| crate::term::visible_one_line(t).into_owned();
    let tree = ordered(spans);
    let mut out: Vec<String> = tree
        .iter()
        .take(MAX_SHOWN)
        .map(|(depth, s)| {
            format!(
                "{prefix}{}{} ({})",
                "  ".repeat(*depth),
                one(&s.name),
                one(&summary(s))
            )
        })
        .collect();
    if tree.len() > MAX_SHOWN {
        out.push(format!("{prefix}… {} more spans", tree.len() - MAX_SHOWN));
    }
    out
}

/// The span tree as nested HTML lists (every text escaped by maud), for the report's trace
/// view: `<ul class="spans">` with one `<li>` per span.
pub fn html(spans: &[SpanRecord]) -> maud::Markup {
    let tree = ordered(spans);
    let shown = &tree[..tree.len().min(MAX_SHOWN)];
    // Nested lists from (depth, span): open a list when going deeper, close when going up.
    let mut body = String::new();
    let mut depth_open = 0usize;
    for (i, (depth, s)) in shown.iter().enumerate() {
        if i == 0 || *depth > depth_open {
            body.push_str("<ul class=\"spans\">");
        } else {
            body.push_str("</li>");
            for _ in *depth..depth_open {
                body.push_str("</ul></li>");
            }
        }
        depth_open = *depth;
        let item = maud::html! {
            li.error[s.status == Code::Error] { code { (s.name) } " " span.muted { (summary(s)) } }
        };
        // maud closes the <li>; reopen it for its children by dropping the closing tag.
        body.push_str(item.0.strip_suffix("</li>").unwrap_or(&item.0));
    }
    if !shown.is_empty() {
        body.push_str("</li>");
        for _ in 0..depth_open {
            body.push_str("</ul></li>");
        }
        body.push_str("</ul>");
    }
    if tree.len() > MAX_SHOWN {
        body.push_str(&maud::html! { p.muted { "… " (tree.len() - MAX_SHOWN) " more spans" } }.0);
    }
    maud::PreEscaped(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::span::Kind;

    fn span(id: &str, parent: Option<&str>, start: u64, name: &str) -> SpanRecord {
        SpanRecord {
            trace_id: "t".into(),
            span_id: id.into(),
            parent_span_id: parent.map(String::from),
            name: name.into(),
            kind: Kind::Internal,
            start_unix_nano: start,
            end_unix_nano: start + 1_000_000,
            status: Code::Unset,
            status_message: None,
            attributes: Default::default(),
            service: None,
            foreign: false,
        }
    }

    #[test]
    fn tree_orders_by_parent_then_start_and_survives_cycles() {
        let spans = vec![
            span("c", Some("a"), 3, "c"),
            span("b", Some("a"), 2, "b"),
            span("a", Some("root-elsewhere"), 1, "a"),
            span("x", Some("y"), 5, "x"),
            span("y", Some("x"), 6, "y"),
        ];
        let order: Vec<(usize, &str)> = ordered(&spans)
            .iter()
            .map(|(d, s)| (*d, s.name.as_str()))
            .collect();
        assert_eq!(order[..3], [(0, "a"), (1, "b"), (1, "c")]);
        // x and y are each other's parent: shown once each, no loop.
        assert_eq!(order[3..], [(0, "x"), (1, "y")]);
    }

    #[test]
    fn html_escapes_and_nests() {
        let spans = vec![
            span("a", None, 1, "<script>"),
            span("b", Some("a"), 2, "child"),
            span("c", None, 3, "next"),
        ];
        let h = html(&spans).0;
        assert!(h.contains("&lt;script&gt;"), "{h}");
        assert!(!h.contains("<script>"));
        assert_eq!(h.matches("<ul").count(), h.matches("</ul>").count(), "{h}");
        assert_eq!(h.matches("<li").count(), h.matches("</li>").count(), "{h}");
        let lines = lines(&spans, "");
        assert!(lines[1].starts_with("  child"), "{lines:?}");
    }
}
