//! The model gateway: each session of an agent with `gateway:` sends its model requests to
//! reev's listener (`OPENAI_BASE_URL`), which forwards them to the agent's `upstream` and
//! streams the answer back frame by frame while recording it ([`record`]); or, in a replay,
//! answers from the cassette of the same session of an earlier run ([`replay`]) without
//! contacting any upstream.
//!
//! Credentials never reach disk: request headers are not recorded at all, the agent's own
//! credential headers are dropped, and the key named by `api_key_env` is added upstream only.

pub mod body;
pub mod record;
pub mod replay;
mod upstream;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

pub use body::Body;
pub use record::{Call, CallSummary, Cassette, GatewayRecord};
pub use upstream::Upstream;

/// Largest request body the gateway reads (a prompt with a long history is a few MiB).
pub const MAX_REQUEST: usize = 64 * 1024 * 1024;

/// Where a session's answers come from.
pub enum Mode {
    /// Forwarded to the upstream, with the key (from `api_key_env`) when there is one.
    Live {
        upstream: Arc<Upstream>,
        key: Option<String>,
    },
    /// From a cassette of run `from_run`, in order.
    Replay {
        from_run: String,
        upstream: String,
        calls: Vec<Call>,
    },
}

/// One session's gateway: its mode and what it recorded.
pub struct Session {
    mode: Mode,
    next: AtomicU32,
    calls: Mutex<Vec<Call>>,
}

/// What a session's gateway recorded, taken when it ends.
pub struct Recording {
    pub upstream: String,
    pub replayed_from: Option<String>,
    /// In the order the requests arrived.
    pub calls: Vec<Call>,
}

impl Recording {
    /// The first infrastructure error among the calls (unreachable upstream, malformed JSON,
    /// a cut stream, a replay mismatch): it makes the session `error`.
    pub fn error(&self) -> Option<&str> {
        self.calls.iter().find_map(|c| c.error.as_deref())
    }

    /// The calls' tokens by model (the request's `model`; `""` when it names none).
    pub fn usage(&self) -> std::collections::BTreeMap<String, crate::spec::prices::Tokens> {
        let mut by = std::collections::BTreeMap::<String, crate::spec::prices::Tokens>::new();
        for c in self.calls.iter().filter(|c| c.input_tokens.is_some()) {
            let t = by.entry(c.model.clone().unwrap_or_default()).or_default();
            t.input += c.input_tokens.unwrap_or(0);
            t.output += c.output_tokens.unwrap_or(0);
        }
        by
    }
}

impl Session {
    pub fn new(mode: Mode) -> Session {
        Session {
            mode,
            next: AtomicU32::new(1),
            calls: Mutex::new(Vec::new()),
        }
    }

    /// Everything recorded so far, in arrival order.
    pub fn finish(&self) -> Recording {
        let mut calls = std::mem::take(&mut *lock(&self.calls));
        calls.sort_by_key(|c| c.seq);
        let (upstream, replayed_from) = match &self.mode {
            Mode::Live { upstream, .. } => (upstream.url.clone(), None),
            Mode::Replay {
                from_run, upstream, ..
            } => (upstream.clone(), Some(from_run.clone())),
        };
        Recording {
            upstream,
            replayed_from,
            calls,
        }
    }

    fn push(&self, call: Call) {
        lock(&self.calls).push(call);
    }

    /// One request from the agent; `rest` is its path below the session's base (`/v1/...`).
    pub async fn handle(self: Arc<Self>, req: Request<Incoming>, rest: &str) -> Response<Body> {
        let started = Instant::now();
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        let path = match req.uri().query() {
            Some(q) => format!("{rest}?{q}"),
            None => rest.to_string(),
        };
        let (parts, body) = req.into_parts();
        let bytes = match http_body_util::Limited::new(body, MAX_REQUEST)
            .collect()
            .await
        {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                return error_response(
                    StatusCode::BAD_REQUEST,
                    &format!("reev's gateway could not read request {seq}: {e}"),
                )
            }
        };
        let request = record::canonical(&bytes);
        let call = Call {
            seq,
            method: parts.method.to_string(),
            request_sha256: record::request_digest(parts.method.as_str(), &path, &request),
            model: request
                .get("model")
                .and_then(|m| m.as_str())
                .map(str::to_string),
            path,
            request,
            status: None,
            content_type: None,
            chunks: Vec::new(),
            duration_ms: 0.0,
            input_tokens: None,
            output_tokens: None,
            error: None,
        };
        // The request upstream, or the cassette's answer: decided before `self` moves on.
        let next = match &self.mode {
            Mode::Live { upstream, key } => Ok((
                upstream.clone(),
                upstream.request(&parts, &call.path, bytes, key.as_deref()),
            )),
            Mode::Replay {
                from_run, calls, ..
            } => Err(replay::answer(from_run, calls, &call)),
        };
        match next {
            Ok((upstream, Ok(req))) => self.forward(upstream, req, call, started).await,
            Ok((_, Err(why))) => self.fail(call, started, StatusCode::BAD_REQUEST, why),
            Err(answer) => self.replayed(call, answer, started),
        }
    }

    /// Send upstream; the answer's body is tapped on its way back.
    async fn forward(
        self: Arc<Self>,
        upstream: Arc<Upstream>,
        req: Request<http_body_util::Full<Bytes>>,
        mut call: Call,
        started: Instant,
    ) -> Response<Body> {
        let resp = match upstream::client().request(req).await {
            Ok(r) => r,
            Err(e) => {
                let why = format!(
                    "cannot reach the model upstream {} ({}): {}",
                    upstream.url,
                    upstream.address,
                    upstream::cause(&e)
                );
                return self.fail(call, started, StatusCode::BAD_GATEWAY, why);
            }
        };
        let (mut parts, incoming) = resp.into_parts();
        call.status = Some(parts.status.as_u16());
        call.content_type = parts
            .headers
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        upstream::answer_headers(&mut parts.headers);
        let sink = Box::new(Pending {
            session: self,
            call,
            started,
        });
        Response::from_parts(
            parts,
            Body::Tap(Box::new(body::Tap::new(incoming, started, sink))),
        )
    }

    /// A request that got no answer from upstream: recorded, and the agent told why.
    fn fail(
        &self,
        mut call: Call,
        started: Instant,
        status: StatusCode,
        why: String,
    ) -> Response<Body> {
        call.duration_ms = ms(started);
        call.error = Some(why.clone());
        self.push(call);
        error_response(status, &why)
    }

    /// A replayed answer (or the mismatch that refuses one), recorded as served.
    fn replayed(
        &self,
        mut call: Call,
        answer: Result<Call, String>,
        started: Instant,
    ) -> Response<Body> {
        let recorded = match answer {
            Ok(c) => c,
            Err(why) => return self.fail(call, started, StatusCode::CONFLICT, why),
        };
        call.status = recorded.status;
        call.content_type = recorded.content_type.clone();
        call.chunks = recorded.chunks.clone();
        call.input_tokens = recorded.input_tokens;
        call.output_tokens = recorded.output_tokens;
        call.error = recorded.error.clone();
        call.duration_ms = ms(started);
        self.push(call);
        let Some(status) = recorded.status.and_then(|s| StatusCode::from_u16(s).ok()) else {
            return error_response(
                StatusCode::BAD_GATEWAY,
                recorded
                    .error
                    .as_deref()
                    .unwrap_or("the recorded request got no answer"),
            );
        };
        let mut r = Response::new(Body::Chunks(
            recorded
                .chunks
                .iter()
                .map(|c| Bytes::from(c.data.clone()))
                .collect(),
        ));
        *r.status_mut() = status;
        if let Some(v) = recorded
            .content_type
            .as_deref()
            .and_then(|t| hyper::header::HeaderValue::from_str(t).ok())
        {
            r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
        }
        r
    }
}

/// A forwarded call waiting for its body to end.
struct Pending {
    session: Arc<Session>,
    call: Call,
    started: Instant,
}

impl body::Sink for Pending {
    fn done(self: Box<Self>, chunks: Vec<record::Chunk>, end: body::End) {
        let Pending {
            session,
            mut call,
            started,
        } = *self;
        call.duration_ms = ms(started);
        call.chunks = chunks;
        let bytes: usize = call.chunks.iter().map(|c| c.data.len()).sum();
        match end {
            body::End::Cut(why) => {
                call.error = Some(format!(
                    "the model upstream cut its response to request {} after {bytes} bytes: {why}",
                    call.seq
                ))
            }
            body::End::Abandoned => {
                tracing::debug!(
                    "request {}: the agent left before the response ended",
                    call.seq
                )
            }
            body::End::Complete => {
                match record::usage(call.content_type.as_deref(), &call.body()) {
                    Ok(Some((i, o))) => {
                        call.input_tokens = Some(i);
                        call.output_tokens = Some(o);
                    }
                    Ok(None) => {}
                    Err(why) => call.error = Some(format!("request {}: {why}", call.seq)),
                }
            }
        }
        session.push(call);
    }
}

fn ms(since: Instant) -> f64 {
    (since.elapsed().as_secs_f64() * 1e6).round() / 1e3
}

/// An OpenAI-style error answer, so that clients print the message.
fn error_response(status: StatusCode, message: &str) -> Response<Body> {
    let body = serde_json::json!({"error": {"message": message, "type": "reev_gateway"}});
    let mut r = Response::new(Body::full(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

/// A poisoned lock only means a request's task panicked while pushing a whole call.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
