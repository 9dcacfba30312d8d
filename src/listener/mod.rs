//! The run's HTTP listener: one HTTP/1.1 server per `reev run` process on 127.0.0.1 (hyper on
//! a one-thread tokio runtime of its own), started by the first session that registers.
//!
//! Every session gets an unguessable token and the base `http://127.0.0.1:PORT/s/TOKEN`:
//! `/s/TOKEN/v1/...` goes to the session's model gateway (`crate::gateway`, only for agents
//! with `gateway:`), `POST /s/TOKEN/otlp/v1/traces` to its OTLP collector (`crate::otlp`).
//! Data flows one way: this module calls gateway and otlp, exec registers sessions here.
//!
//! `network: none` sessions (as root) live in their worker's empty network namespace: there
//! the same port is bound once more on that namespace's loopback ([`Listener::serve_in`]), so
//! the session's base URL is the same string in both places.

mod conns;
mod netns;

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use crate::gateway::{self, Body};
use crate::otlp;

/// How long a finished session waits for connections that carried its requests to close.
pub const GRACE: Duration = Duration::from_secs(2);

/// The run's one listener.
pub struct Listener {
    port: u16,
    shared: Arc<Shared>,
    runtime: tokio::runtime::Handle,
    /// Network namespaces (by device and inode) where the port is bound too.
    namespaces: Mutex<HashSet<(u64, u64)>>,
}

#[derive(Default)]
struct Shared {
    sessions: Mutex<HashMap<String, Arc<Entry>>>,
    conns: conns::Conns,
}

/// One registered session, as the listener's connections see it.
struct Entry {
    otlp: otlp::Collector,
    gateway: Option<Arc<gateway::Session>>,
    /// Open connections that carried at least one request for this session.
    open: Mutex<usize>,
    closed: Condvar,
}

/// What a session registers.
pub struct Registration {
    pub session_id: String,
    /// The session's model gateway, for an agent with `gateway:`.
    pub gateway: Option<gateway::Session>,
}

/// A registered session; [`Handle::finish`] unregisters it.
pub struct Handle {
    token: String,
    base: String,
    entry: Arc<Entry>,
    shared: Arc<Shared>,
    runtime: tokio::runtime::Handle,
    traceparent: String,
}

/// What a session's requests left, taken when it ends.
pub struct Received {
    pub otlp: otlp::Received,
    pub gateway: Option<gateway::Recording>,
}

/// Why the listener, or its port inside a network namespace, could not be had, or a session
/// not registered: the session's error. (Its causes are shared: the run's listener is
/// started once, and its failure told to every session.)
#[derive(Debug, Clone, thiserror::Error)]
pub enum ListenerError {
    /// `what` could not be done (listen, start the runtime, enter the namespace, ...).
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: Arc<std::io::Error>,
    },
    #[error("the listener's thread ended before it started")]
    ThreadEnded,
    #[error("the thread entering the network namespace panicked")]
    NetnsThreadPanicked,
}

impl ListenerError {
    fn io(what: impl Into<String>, e: impl Into<std::io::Error>) -> Self {
        ListenerError::Io {
            what: what.into(),
            source: Arc::new(e.into()),
        }
    }
}

static LISTENER: OnceLock<Result<Listener, ListenerError>> = OnceLock::new();

/// The run's listener, started on first use; the error says why it could not start.
pub fn get() -> Result<&'static Listener, ListenerError> {
    LISTENER
        .get_or_init(Listener::start)
        .as_ref()
        .map_err(|e| e.clone())
}

impl Listener {
    fn start() -> Result<Listener, ListenerError> {
        let std_listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| ListenerError::io("cannot listen on 127.0.0.1", e))?;
        let port = std_listener
            .local_addr()
            .map_err(|e| ListenerError::io("cannot read the listener's address", e))?
            .port();
        std_listener
            .set_nonblocking(true)
            .map_err(|e| ListenerError::io("cannot make the listener non-blocking", e))?;
        let shared = Arc::new(Shared::default());
        let (tx, rx) = std::sync::mpsc::channel();
        let serving = shared.clone();
        std::thread::Builder::new()
            .name("reev-listener".into())
            .spawn(move || {
                // One thread serves every session: requests are small and the upstream is
                // awaited, never blocked on.
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let what = "cannot start the listener's runtime";
                        let _ = tx.send(Err(ListenerError::io(what, e)));
                        return;
                    }
                };
                let _ = tx.send(Ok(rt.handle().clone()));
                rt.block_on(async move {
                    match tokio::net::TcpListener::from_std(std_listener) {
                        Ok(l) => conns::serve(l, serving).await,
                        Err(e) => tracing::error!("the run's listener cannot serve: {e}"),
                    }
                });
            })
            .map_err(|e| ListenerError::io("cannot start the listener's thread", e))?;
        let runtime = rx.recv().map_err(|_| ListenerError::ThreadEnded)??;
        tracing::debug!("listening on 127.0.0.1:{port} for sessions' model and trace requests");
        Ok(Listener {
            port,
            shared,
            runtime,
            namespaces: Mutex::new(HashSet::new()),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Register a session: its token, base URL and environment.
    pub fn register(&self, reg: Registration) -> Result<Handle, ListenerError> {
        let token = new_token().map_err(|e| ListenerError::io("cannot draw a session token", e))?;
        let ids = otlp::TraceIds::for_session(&reg.session_id);
        let entry = Arc::new(Entry {
            otlp: otlp::Collector::new(ids.trace_id, ids.root_span_id, otlp::Caps::default()),
            gateway: reg.gateway.map(Arc::new),
            open: Mutex::new(0),
            closed: Condvar::new(),
        });
        lock(&self.shared.sessions).insert(token.clone(), entry.clone());
        Ok(Handle {
            base: format!("http://127.0.0.1:{}/s/{token}", self.port),
            token,
            entry,
            shared: self.shared.clone(),
            runtime: self.runtime.clone(),
            traceparent: ids.traceparent(),
        })
    }

    /// Also serve the listener's port inside the network namespace `netns` (a descriptor of
    /// it), once per namespace: its loopback is brought up and the same port bound there.
    pub fn serve_in(&self, netns: OwnedFd) -> Result<(), ListenerError> {
        let key = netns::identity(netns.as_fd())?;
        let mut served = lock(&self.namespaces);
        if served.contains(&key) {
            return Ok(());
        }
        let std_listener = netns::bind_inside(netns, self.port)?;
        let _guard = self.runtime.enter();
        let l = tokio::net::TcpListener::from_std(std_listener)
            .map_err(|e| ListenerError::io("cannot serve inside the network namespace", e))?;
        self.runtime.spawn(conns::serve(l, self.shared.clone()));
        served.insert(key);
        Ok(())
    }
}

impl Handle {
    /// `http://127.0.0.1:PORT/s/TOKEN`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The model gateway's URL (`BASE/v1`), for an agent with `gateway:`.
    pub fn gateway_url(&self) -> Option<String> {
        self.entry
            .gateway
            .as_ref()
            .map(|_| format!("{}/v1", self.base))
    }

    /// The agent's environment for this session (see the README's "Model gateway").
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT".into(),
                format!("{}/otlp", self.base),
            ),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT".into(),
                format!("{}/otlp/v1/traces", self.base),
            ),
            ("TRACEPARENT".into(), self.traceparent.clone()),
        ];
        if let Some(url) = self.gateway_url() {
            env.push(("REEV_GATEWAY_URL".into(), url.clone()));
            env.push(("OPENAI_BASE_URL".into(), url));
        }
        env
    }

    /// Unregister after the agent exited: first wait, at most [`GRACE`], until no connection
    /// that carried a request for this session is open (an agent that never connected does
    /// not wait), then take what the session's requests left.
    pub fn finish(&self) -> Received {
        self.wait_quiet();
        lock(&self.shared.sessions).remove(&self.token);
        Received {
            otlp: self.entry.otlp.finish(),
            gateway: self.entry.gateway.as_ref().map(|g| g.finish()),
        }
    }

    /// After the agent exited, before its trace is judged: wait as [`Handle::finish`] does,
    /// then take the spans its OTLP requests left (the session stays registered).
    pub fn finish_otlp(&self) -> otlp::Received {
        self.wait_quiet();
        self.entry.otlp.finish()
    }

    /// Wait, at most [`GRACE`], until no connection that carried a request for this session
    /// is open; at once when there is none. Requests that reached the machine but not yet
    /// the listener count too (see `conns`).
    fn wait_quiet(&self) {
        let deadline = Instant::now() + GRACE;
        conns::settle(&self.shared, &self.runtime);
        let mut open = lock(&self.entry.open);
        while *open > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                tracing::debug!("{} connection(s) still open after the grace", *open);
                break;
            }
            open = self
                .entry
                .closed
                .wait_timeout(open, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }
}

impl Drop for Handle {
    /// A session that ended without [`Handle::finish`] (reev interrupted) is unregistered too.
    fn drop(&mut self) {
        lock(&self.shared.sessions).remove(&self.token);
    }
}

/// A poisoned lock only means a request's task panicked; the maps stay whole.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// 128 random bits, hex: a session's requests cannot be sent under another's token by guessing.
fn new_token() -> std::io::Result<String> {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A session's path split into its token and the rest (`/s/TOKEN/rest` → `(TOKEN, /rest)`);
/// the one reading of the scheme, also where a connection is tied before hyper routes it.
fn session_path(path: &str) -> Option<(&str, &str)> {
    let after = path.strip_prefix("/s/")?;
    let slash = after.find('/')?;
    Some((&after[..slash], &after[slash..]))
}

/// `/s/TOKEN/v1/...` to the gateway, `POST /s/TOKEN/otlp/v1/traces` to the collector.
async fn route(shared: &Shared, conn: &conns::Carried, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_string();
    let target =
        session_path(&path).map(|(t, r)| (lock(&shared.sessions).get(t).cloned(), r.to_string()));
    // Tied to its session before it stops counting as not routed (see `conns::settle`).
    if let Some((Some(entry), _)) = &target {
        conn.add(entry);
    }
    shared.conns.routed(conn.id);
    let Some((entry, rest)) = target else {
        return plain(StatusCode::NOT_FOUND, "not a session's path (/s/TOKEN/...)");
    };
    let Some(entry) = entry else {
        return plain(
            StatusCode::NOT_FOUND,
            "no session has this token (it ended, or never was)",
        );
    };
    if rest == "/otlp/v1/traces" {
        return traces(&entry, req).await;
    }
    if rest == "/v1" || rest.starts_with("/v1/") {
        return match &entry.gateway {
            Some(g) => g.clone().handle(req, &rest).await,
            None => plain(
                StatusCode::NOT_FOUND,
                "this session's agent declares no `gateway:` in reev.yml",
            ),
        };
    }
    plain(StatusCode::NOT_FOUND, &format!("no route {rest}"))
}

/// One OTLP/HTTP export request into the session's collector.
async fn traces(entry: &Entry, req: Request<Incoming>) -> Response<Body> {
    if req.method() != hyper::Method::POST {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "POST OTLP traces here");
    }
    let content_type = req
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = match http_body_util::Limited::new(req.into_body(), otlp::MAX_BODY)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            entry.otlp.count_rejected();
            return plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                &otlp::Rejected::TooLarge.to_string(),
            );
        }
        Err(e) => {
            return plain(
                StatusCode::BAD_REQUEST,
                &format!("cannot read the body: {e}"),
            )
        }
    };
    match entry.otlp.receive(content_type.as_deref(), &body) {
        Ok(acc) => {
            // In the request's encoding: an SDK sending protobuf parses the answer as protobuf.
            let (content_type, body) = acc.response(content_type.as_deref());
            respond(StatusCode::OK, content_type, Bytes::from(body))
        }
        Err(rejected) => {
            let status = match rejected {
                otlp::Rejected::Malformed(_) => StatusCode::BAD_REQUEST,
                otlp::Rejected::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
                otlp::Rejected::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            };
            plain(status, &rejected.to_string())
        }
    }
}

/// A short text answer.
pub(crate) fn plain(status: StatusCode, text: &str) -> Response<Body> {
    respond(
        status,
        "text/plain; charset=utf-8",
        Bytes::from(format!("{text}\n")),
    )
}

fn respond(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Body> {
    let mut r = Response::new(Body::full(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    r
}
