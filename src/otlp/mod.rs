//! Placeholder for the OTLP trace collector (issue 21): the interface the run's listener
//! calls, exactly as agreed in HELPERS.md, so the listener builds and routes
//! `POST /s/TOKEN/otlp/v1/traces` before the real collector is merged. The otlp helper's
//! `src/otlp/` replaces this file whole; until then requests are counted and answered, and
//! their spans are not kept.

use std::sync::atomic::{AtomicU64, Ordering};

/// Largest request body the listener accepts on `/v1/traces`; it answers 413 past it.
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// Spans and bytes kept per session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    pub spans: usize,
    pub bytes: usize,
}

impl Default for Caps {
    fn default() -> Self {
        Caps {
            spans: 10_000,
            bytes: 8 * 1024 * 1024,
        }
    }
}

/// The ids reev gives a session's trace (derived from the session id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceIds {
    pub trace_id: [u8; 16],
    pub root_span_id: [u8; 8],
}

impl TraceIds {
    pub fn for_session(session_id: &str) -> Self {
        use sha2::Digest;
        let d: [u8; 32] = sha2::Sha256::digest(format!("reev-trace\0{session_id}")).into();
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
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        format!("00-{}-{}-01", hex(&self.trace_id), hex(&self.root_span_id))
    }
}

/// Why a request was refused: the listener answers with the status named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    /// 400
    #[error("malformed OTLP request: {0}")]
    Malformed(String),
    /// 413
    #[error("OTLP request over {} MiB", MAX_BODY >> 20)]
    TooLarge,
    /// 415
    #[error("unsupported OTLP content type (application/x-protobuf or application/json)")]
    UnsupportedMediaType,
}

/// What one request delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    pub kept: u64,
    pub dropped: u64,
}

/// Everything a session's collector received, taken when the session ends.
#[derive(Debug, Default)]
pub struct Received {
    pub requests: u64,
}

/// One session's OTLP receiver.
pub struct Collector {
    ids: TraceIds,
    requests: AtomicU64,
}

impl Collector {
    pub fn new(trace_id: [u8; 16], root_span_id: [u8; 8], _caps: Caps) -> Self {
        Collector {
            ids: TraceIds {
                trace_id,
                root_span_id,
            },
            requests: AtomicU64::new(0),
        }
    }

    /// One `POST /v1/traces` body; `content_type` as sent.
    pub fn receive(&self, _content_type: Option<&str>, body: &[u8]) -> Result<Accepted, Rejected> {
        if body.len() > MAX_BODY {
            return Err(Rejected::TooLarge);
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        Ok(Accepted {
            kept: 0,
            dropped: 0,
        })
    }

    pub fn finish(&self) -> Received {
        Received {
            requests: self.requests.swap(0, Ordering::Relaxed),
        }
    }

    pub fn ids(&self) -> TraceIds {
        self.ids
    }
}
