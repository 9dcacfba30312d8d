//! Accepting connections so that a finishing session finds every request of its own that
//! reached the machine before its agent exited.
//!
//! An agent may send a request whole and exit without waiting for the answer (an exporter
//! flushing at shutdown, a fire-and-forget span). When reev sees the exit, that request can
//! still sit in the listening socket's backlog, or in an accepted connection the listener
//! thread has not read yet; a session that only waited for connections it had already routed
//! would unregister and lose it. So connections are accepted under one lock, both by the
//! listener's accept loop and by a finishing session ([`settle`]), which drains the backlogs
//! and reads (`MSG_PEEK`, nothing consumed) the token in the first request line of every
//! connection not routed yet. A connection that names the session counts as open for it, and
//! the session then waits, at most the grace, until it closes. A connection that has sent
//! nothing cannot hold a request of an agent that has exited, so it is never waited for:
//! another agent's idle connection does not delay anyone.

use std::collections::HashMap;
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::os::fd::AsFd;
use std::task::Poll;

use hyper_util::rt::TokioIo;
use tokio::runtime::Handle;

use super::{lock, route, session_path, Entry, Shared};

/// Listening sockets and the connections accepted whose first request is not routed yet.
#[derive(Default)]
pub(super) struct Conns(Mutex<State>);

#[derive(Default)]
struct State {
    /// A second descriptor of each listening socket (the same socket, non-blocking), for
    /// [`settle`] to accept from outside the listener's runtime.
    listeners: Vec<TcpListener>,
    /// By connection id: a second descriptor of the socket, to peek at its first bytes.
    unrouted: HashMap<u64, Unrouted>,
    next_id: u64,
}

struct Unrouted {
    peek: TcpStream,
    carried: Arc<Carried>,
}

impl Conns {
    /// The connection `id` has been routed (or closed): it needs no peeking any more.
    pub(super) fn routed(&self, id: u64) {
        lock(&self.0).unrouted.remove(&id);
    }
}

/// Serve one listening socket (the run's, or its twin in a worker's network namespace) on
/// the listener's runtime for as long as the run lasts.
pub(super) async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    match listener.as_fd().try_clone_to_owned() {
        Ok(fd) => lock(&shared.conns.0).listeners.push(TcpListener::from(fd)),
        // Then only this loop accepts from it: a request in its backlog when an agent exits
        // may be missed by the session, as before `settle` existed.
        Err(e) => tracing::debug!("listener: cannot duplicate the listening socket: {e}"),
    }
    let runtime = Handle::current();
    loop {
        // The accept and the connection's registration happen under the lock `settle`
        // takes: it never sees a connection accepted but not yet registered.
        let accepted = std::future::poll_fn(|cx| {
            let mut state = lock(&shared.conns.0);
            match listener.poll_accept(cx) {
                Poll::Ready(Ok((stream, _))) => Poll::Ready(
                    stream
                        .into_std()
                        .map(|s| admit(&shared, &mut state, s, &runtime)),
                ),
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            }
        })
        .await;
        if let Err(e) = accepted {
            // EMFILE and the like: wait a moment instead of spinning.
            tracing::debug!("listener accept: {e}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// A finishing session's look at everything that may still carry its requests: accept what
/// waits in every backlog, then tie each connection not routed yet whose first request line
/// names a session to that session (counted open until it closes).
pub(super) fn settle(shared: &Arc<Shared>, runtime: &Handle) {
    let mut state = lock(&shared.conns.0);
    let mut accepted = Vec::new();
    for l in &state.listeners {
        accept_all(l, &mut accepted);
    }
    for stream in accepted {
        admit(shared, &mut state, stream, runtime);
    }
    let sessions = lock(&shared.sessions);
    state.unrouted.retain(|_, u| match peek_token(&u.peek) {
        Some(token) => {
            if let Some(entry) = sessions.get(&token) {
                u.carried.add(entry);
            }
            false
        }
        None => true,
    });
}

/// Accept until the backlog is empty or accepting fails.
fn accept_all(listener: &TcpListener, into: &mut Vec<TcpStream>) {
    loop {
        match listener.accept() {
            Ok((stream, _)) => into.push(stream),
            Err(e) => {
                if e.kind() != std::io::ErrorKind::WouldBlock {
                    tracing::debug!("listener accept: {e}");
                }
                return;
            }
        }
    }
}

fn admit(shared: &Arc<Shared>, state: &mut State, stream: TcpStream, runtime: &Handle) {
    let _ = stream.set_nodelay(true);
    if let Err(e) = stream.set_nonblocking(true) {
        tracing::debug!("listener connection: {e}");
        return;
    }
    state.next_id += 1;
    let carried = Arc::new(Carried::new(state.next_id));
    match stream.try_clone() {
        Ok(peek) => {
            let unrouted = Unrouted {
                peek,
                carried: carried.clone(),
            };
            state.unrouted.insert(carried.id, unrouted);
        }
        // Without a second descriptor the connection is only tied when it is routed.
        Err(e) => tracing::debug!("listener connection: {e}"),
    }
    runtime.spawn(connection(stream, carried, shared.clone()));
}

/// One connection, served by hyper until the client closes it.
async fn connection(stream: TcpStream, carried: Arc<Carried>, shared: Arc<Shared>) {
    let stream = match tokio::net::TcpStream::from_std(stream) {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!("listener connection: {e}");
            shared.conns.routed(carried.id);
            return;
        }
    };
    let conn = carried.clone();
    let serving = shared.clone();
    let service = hyper::service::service_fn(move |req| {
        let (shared, conn) = (serving.clone(), conn.clone());
        async move { Ok::<_, std::convert::Infallible>(route(&shared, &conn, req).await) }
    });
    // Half-closed connections are served: an agent that sends its request and exits (or
    // shuts its write side) without waiting for the answer has the whole request in the
    // socket, and hyper's default would drop it at the EOF behind it, unread.
    let served = hyper::server::conn::http1::Builder::new()
        .half_close(true)
        .serve_connection(TokioIo::new(Tying::new(stream, &carried, &shared)), service)
        .await;
    if let Err(e) = served {
        tracing::debug!("listener connection: {e}");
    }
    shared.conns.routed(carried.id);
    carried.close();
}

/// The session token of the request line at the start of what `stream` has received
/// (`POST /s/TOKEN/...`), read without consuming it; `None` while nothing names one.
fn peek_token(stream: &TcpStream) -> Option<String> {
    let mut head = [0u8; HEAD];
    let n = stream.peek(&mut head).ok()?;
    token_in(&head[..n]).map(str::to_string)
}

/// Bytes of a request's start looked at for its token: the request line's method and path.
const HEAD: usize = 256;

/// The token of the request line `head` starts with, read as `route` reads the path
/// (absolute-form targets and queries included); `None` while the target is incomplete.
fn token_in(head: &[u8]) -> Option<&str> {
    let line = std::str::from_utf8(&head[..head.len().min(HEAD)])
        .or_else(|e| std::str::from_utf8(&head[..e.valid_up_to()]))
        .ok()?;
    let (_, rest) = line.split_once(' ')?;
    let (target, _) = rest.split_once(' ')?;
    let path = match target.split_once("://") {
        Some((_, after)) => &after[after.find('/')?..],
        None => target,
    };
    let path = path.split(['?', '#']).next()?;
    session_path(path).map(|(token, _)| token)
}

/// The connection's stream as hyper reads it. The first bytes read tie the connection to the
/// session their request line names, under the lock [`settle`] takes: a request is always
/// either still in the socket, where `settle` peeks it, or tied, never in between (read by
/// hyper, not yet routed).
struct Tying {
    stream: tokio::net::TcpStream,
    carried: Arc<Carried>,
    shared: Arc<Shared>,
    /// The request's start read so far, until its token is known or cannot be.
    head: Option<Vec<u8>>,
}

impl Tying {
    fn new(stream: tokio::net::TcpStream, carried: &Arc<Carried>, shared: &Arc<Shared>) -> Self {
        Tying {
            stream,
            carried: carried.clone(),
            shared: shared.clone(),
            head: Some(Vec::new()),
        }
    }

    /// `got` was read: tie the connection when the head names a session, stop looking once
    /// it has a whole request line or enough bytes to know it never will.
    fn saw(&mut self, state: &mut State, got: &[u8]) {
        let Some(head) = self.head.as_mut() else {
            return;
        };
        head.extend_from_slice(&got[..got.len().min(HEAD)]);
        let token = token_in(head);
        if token.is_none() && head.len() < HEAD && !head.contains(&b'\n') {
            return;
        }
        if let Some(entry) = token.and_then(|t| lock(&self.shared.sessions).get(t).cloned()) {
            self.carried.add(&entry);
        }
        state.unrouted.remove(&self.carried.id);
        self.head = None;
    }
}

impl tokio::io::AsyncRead for Tying {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if this.head.is_none() {
            return std::pin::Pin::new(&mut this.stream).poll_read(cx, buf);
        }
        let shared = this.shared.clone();
        let mut state = lock(&shared.conns.0);
        let before = buf.filled().len();
        let read = std::pin::Pin::new(&mut this.stream).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = read {
            let got = buf.filled()[before..].to_vec();
            this.saw(&mut state, &got);
        }
        read
    }
}

impl tokio::io::AsyncWrite for Tying {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// The sessions one connection carried requests for: each counts it open until it closes.
pub(super) struct Carried {
    pub(super) id: u64,
    sessions: Mutex<Vec<Arc<Entry>>>,
}

impl Carried {
    fn new(id: u64) -> Self {
        Carried {
            id,
            sessions: Mutex::new(Vec::new()),
        }
    }

    pub(super) fn add(&self, entry: &Arc<Entry>) {
        let mut list = lock(&self.sessions);
        if !list.iter().any(|e| Arc::ptr_eq(e, entry)) {
            *lock(&entry.open) += 1;
            list.push(entry.clone());
        }
    }

    fn close(&self) {
        for entry in lock(&self.sessions).drain(..) {
            let mut open = lock(&entry.open);
            *open = open.saturating_sub(1);
            entry.closed.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::token_in;

    #[test]
    fn the_token_is_read_from_the_request_line_only() {
        let t = "0123456789abcdef0123456789abcdef";
        let line = format!("POST /s/{t}/otlp/v1/traces HTTP/1.1\r\n");
        assert_eq!(token_in(line.as_bytes()), Some(t));
        // As route reads it: absolute-form targets and queries too; no slash after the
        // token is no session's path.
        let abs = format!("POST http://127.0.0.1:9/s/{t}/v1/chat?x=1 HTTP/1.1");
        assert_eq!(token_in(abs.as_bytes()), Some(t));
        assert_eq!(token_in(format!("GET /s/{t} HTTP/1.1").as_bytes()), None);
        // Not all of the request target has arrived: nothing to tie yet.
        assert_eq!(token_in(b"POST /s/0123"), None);
        assert_eq!(token_in(b"POST /x/s/abc/ HTTP/1.1"), None);
        assert_eq!(token_in(b""), None);
    }
}
