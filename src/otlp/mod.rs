//! OpenTelemetry for agents: a per-session OTLP/HTTP trace collector (`Collector`, fed by the
//! run's listener), the spans it keeps (`span.rs`), their meaning as reev events (GenAI and
//! OpenInference conventions, `convert.rs`), trace files in other formats (`formats.rs`:
//! `events_format: otlp-json | atif`), the session as OTLP JSON (`export.rs`) and the span
//! tree for terminals and HTML (`tree.rs`).
//!
//! Data flows one way: the listener (`crate::listener`) calls [`Collector::receive`] for every
//! `POST /s/TOKEN/otlp/v1/traces`; exec takes [`Collector::finish`] when the session ends and
//! merges it into the session's trace ([`merge`]). Nothing here imports the listener or exec's
//! process code.

pub mod convert;
pub mod db;
pub mod decode;
pub mod export;
pub mod formats;
pub mod span;
pub mod tree;

use std::collections::BTreeMap;
use std::sync::Mutex;

pub use convert::merge;
pub use span::SpanRecord;

use crate::spec::prices::Tokens;

/// Largest request body the listener accepts on `/v1/traces`; it answers 413 past it. The
/// SDKs export at most 512 spans per request by default: 16 MiB leaves room for the long
/// prompts OpenInference puts in attributes.
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// Spans and bytes kept per session: the same caps as the events file's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    pub spans: usize,
    pub bytes: usize,
}

impl Default for Caps {
    fn default() -> Self {
        Caps {
            spans: crate::judge::caps::MAX_EVENTS,
            bytes: crate::judge::caps::MAX_BYTES as usize,
        }
    }
}

/// The ids reev gives a session's trace: its trace id and the id of the session's root span,
/// under which the agent's spans nest (`TRACEPARENT`). Derived from the session id, so that
/// `reev export` finds the same ids again from the session file alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceIds {
    pub trace_id: [u8; 16],
    pub root_span_id: [u8; 8],
}

impl TraceIds {
    pub fn for_session(session_id: &str) -> Self {
        let d = sha2_of(&format!("reev-trace\0{session_id}"));
        let mut trace_id = [0u8; 16];
        let mut root_span_id = [0u8; 8];
        trace_id.copy_from_slice(&d[..16]);
        root_span_id.copy_from_slice(&d[16..24]);
        TraceIds {
            trace_id,
            root_span_id,
        }
    }

    /// The W3C `traceparent` value that makes the agent's spans children of the session.
    pub fn traceparent(&self) -> String {
        format!(
            "00-{}-{}-01",
            span::hex(&self.trace_id),
            span::hex(&self.root_span_id)
        )
    }
}

fn sha2_of(text: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes()).into()
}

/// Why a request was refused: the listener answers with the status named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    /// 400: not an `ExportTraceServiceRequest` in the encoding its content type names.
    #[error("malformed OTLP request: {0}")]
    Malformed(String),
    /// 413: over [`MAX_BODY`].
    #[error("OTLP request over {} MiB", MAX_BODY >> 20)]
    TooLarge,
    /// 415: neither `application/x-protobuf` nor `application/json`.
    #[error("unsupported OTLP content type (application/x-protobuf or application/json)")]
    UnsupportedMediaType,
}

/// What one request delivered: the spans kept, and those refused by the caps (the listener
/// reports them as `partialSuccess.rejectedSpans`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    pub kept: u64,
    pub dropped: u64,
}

impl Accepted {
    /// The success response for a request sent as `content_type`: its content type and body,
    /// an `ExportTraceServiceResponse` in the request's encoding, with `partial_success` when
    /// the caps refused spans (so the sender can tell).
    pub fn response(&self, content_type: Option<&str>) -> (&'static str, Vec<u8>) {
        use opentelemetry_proto::tonic::collector::trace::v1::{
            ExportTracePartialSuccess, ExportTraceServiceResponse,
        };
        let partial = (self.dropped > 0).then(|| ExportTracePartialSuccess {
            rejected_spans: i64::try_from(self.dropped).unwrap_or(i64::MAX),
            error_message: "over the session's span caps (reev keeps at most as many spans and bytes as events)".into(),
        });
        let response = ExportTraceServiceResponse {
            partial_success: partial,
        };
        match decode::Encoding::of(content_type) {
            Ok(decode::Encoding::Json) => (
                "application/json",
                serde_json::to_vec(&response).unwrap_or_else(|_| b"{}".to_vec()),
            ),
            _ => (
                "application/x-protobuf",
                prost::Message::encode_to_vec(&response),
            ),
        }
    }
}

/// Everything a session's collector received, taken when the session ends.
#[derive(Debug, Default)]
pub struct Received {
    /// In arrival order, at most the caps.
    pub spans: Vec<SpanRecord>,
    pub stats: Stats,
    /// Tokens of the model-request spans past the caps: counted like events past theirs.
    pub dropped_usage: BTreeMap<String, Tokens>,
}

impl Received {
    /// Add what another source received (a trace file's spans and the receiver's).
    pub fn absorb(&mut self, other: Received) {
        self.spans.extend(other.spans);
        let (a, b) = (&mut self.stats, other.stats);
        a.requests += b.requests;
        a.spans += b.spans;
        a.spans_dropped += b.spans_dropped;
        a.rejected += b.rejected;
        a.foreign += b.foreign;
        for (model, t) in other.dropped_usage {
            let u = self.dropped_usage.entry(model).or_default();
            u.input = u.input.saturating_add(t.input);
            u.output = u.output.saturating_add(t.output);
        }
    }
}

/// The session file's account of its OTLP traffic (`otlp`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stats {
    /// Requests accepted.
    pub requests: u64,
    /// Spans kept (also in `spans`).
    pub spans: u64,
    /// Spans past the caps: not kept, counted in `events_dropped`.
    pub spans_dropped: u64,
    /// Requests refused: malformed (400), too large (413), wrong content type (415).
    pub rejected: u64,
    /// Spans whose trace id is not the session's (kept, `foreign` set).
    pub foreign: u64,
}

impl Stats {
    pub fn is_empty(&self) -> bool {
        *self == Stats::default()
    }
}

/// One session's OTLP receiver. `receive` runs on the listener's threads while the agent
/// runs; `finish` once, when it is done.
pub struct Collector {
    ids: TraceIds,
    /// The trace the spans should belong to; `None` for a trace file, whose ids are its own.
    expect: Option<[u8; 16]>,
    caps: Caps,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    received: Received,
    bytes: usize,
}

impl Collector {
    pub fn new(trace_id: [u8; 16], root_span_id: [u8; 8], caps: Caps) -> Self {
        Collector {
            ids: TraceIds {
                trace_id,
                root_span_id,
            },
            expect: Some(trace_id),
            caps,
            state: Mutex::new(State::default()),
        }
    }

    /// A collector for the spans of a trace file (`events_format: otlp-json`): no span is
    /// foreign there.
    pub fn for_file(caps: Caps) -> Self {
        Collector {
            ids: TraceIds {
                trace_id: [0; 16],
                root_span_id: [0; 8],
            },
            expect: None,
            caps,
            state: Mutex::new(State::default()),
        }
    }

    /// One `POST /v1/traces` body; `content_type` as sent (parameters allowed).
    pub fn receive(&self, content_type: Option<&str>, body: &[u8]) -> Result<Accepted, Rejected> {
        let decoded = if body.len() > MAX_BODY {
            Err(Rejected::TooLarge)
        } else {
            decode::request(content_type, body)
        };
        let request = match decoded {
            Ok(r) => r,
            Err(e) => {
                self.lock().received.stats.rejected += 1;
                return Err(e);
            }
        };
        // Converted outside the lock: concurrent requests of one session decode in parallel.
        let spans = span::from_request(request, self.expect.as_ref());
        let mut st = self.lock();
        st.received.stats.requests += 1;
        Ok(st.keep(spans, &self.caps))
    }

    /// Count a request the listener refused before reading its body (413 by its
    /// `Content-Length`, for instance), as `receive` counts the ones it refuses.
    pub fn count_rejected(&self) {
        self.lock().received.stats.rejected += 1;
    }

    /// The spans received so far and the counts; the collector is empty afterwards.
    pub fn finish(&self) -> Received {
        let mut st = self.lock();
        st.bytes = 0;
        std::mem::take(&mut st.received)
    }

    pub fn ids(&self) -> TraceIds {
        self.ids
    }

    /// A poisoned lock only means another request's thread panicked mid-push: the state is
    /// still a list of whole spans, so it is used as it is.
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl State {
    /// Keep spans while under both caps; the rest are counted, their tokens tallied.
    fn keep(&mut self, spans: Vec<SpanRecord>, caps: &Caps) -> Accepted {
        let mut acc = Accepted {
            kept: 0,
            dropped: 0,
        };
        let r = &mut self.received;
        for s in spans {
            let size = s.approx_bytes();
            if r.spans.len() >= caps.spans || self.bytes + size > caps.bytes {
                if let Some(data) = convert::event_data(&s) {
                    crate::judge::caps::add_usage(&mut r.dropped_usage, &data);
                }
                r.stats.spans_dropped += 1;
                acc.dropped += 1;
                continue;
            }
            self.bytes += size;
            r.stats.foreign += u64::from(s.foreign);
            r.stats.spans += 1;
            acc.kept += 1;
            r.spans.push(s);
        }
        acc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_is_w3c_and_stable() {
        let a = TraceIds::for_session("abc");
        assert_eq!(a, TraceIds::for_session("abc"));
        assert_ne!(a, TraceIds::for_session("abd"));
        let tp = a.traceparent();
        let parts: Vec<&str> = tp.split('-').collect();
        assert_eq!(parts.len(), 4);
        assert_eq!(
            (parts[0], parts[1].len(), parts[2].len(), parts[3]),
            ("00", 32, 16, "01")
        );
    }

    /// The same request in protobuf, as the SDKs send it.
    fn protobuf_of(json: &str) -> Vec<u8> {
        prost::Message::encode_to_vec(&decode::json(json.as_bytes()).expect("json"))
    }

    #[test]
    fn rejects_are_counted_and_caps_hold() {
        let ids = TraceIds::for_session("s");
        let c = Collector::new(
            ids.trace_id,
            ids.root_span_id,
            Caps {
                spans: 2,
                bytes: 1 << 20,
            },
        );
        assert!(matches!(
            c.receive(Some("application/json"), b"{not json"),
            Err(Rejected::Malformed(_))
        ));
        assert_eq!(
            c.receive(Some("text/plain"), b"{}"),
            Err(Rejected::UnsupportedMediaType)
        );
        let body = convert::tests::json_request(&ids, 3);
        let acc = c
            .receive(Some("application/json"), body.as_bytes())
            .expect("accepted");
        assert_eq!((acc.kept, acc.dropped), (2, 1));
        // A chat span past the cap: not kept, its tokens still count.
        let chat = convert::tests::json_request(&ids, 1);
        let acc = c.receive(None, &protobuf_of(&chat)).expect("accepted");
        assert_eq!((acc.kept, acc.dropped), (0, 1));
        let r = c.finish();
        assert_eq!(r.spans.len(), 2);
        assert_eq!(r.stats.rejected, 2);
        assert_eq!(r.stats.spans_dropped, 2);
        assert_eq!(r.stats.requests, 2);
        assert_eq!(r.dropped_usage.get("m").map(|t| t.input), Some(10));
    }
}
