//! The one response body type of the listener: whole chunks (short answers, replayed
//! responses) or the upstream's body passed through frame by frame while it is recorded
//! ([`Tap`]), so a streamed answer reaches the agent as it arrives, never buffered.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};

use super::record::Chunk;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A response body.
pub enum Body {
    /// Chunks sent one frame each (a short answer is one chunk).
    Chunks(VecDeque<Bytes>),
    /// The upstream's body, recorded as it passes.
    Tap(Box<Tap>),
}

impl Body {
    pub fn full(b: Bytes) -> Body {
        Body::Chunks(VecDeque::from([b]))
    }
}

/// Where a tapped response's chunks go when it ends (or is cut, or abandoned).
pub trait Sink: Send {
    /// Called exactly once: the chunks with their times, and how the body ended.
    fn done(self: Box<Self>, chunks: Vec<Chunk>, end: End);
}

/// How a tapped body ended.
pub enum End {
    Complete,
    /// The upstream's body failed mid-way (a cut stream).
    Cut(String),
    /// The agent went away before the body ended.
    Abandoned,
}

/// The upstream's body on its way to the agent, each frame noted with its time.
pub struct Tap {
    inner: Incoming,
    started: Instant,
    chunks: Vec<Chunk>,
    sink: Option<Box<dyn Sink>>,
}

impl Tap {
    pub fn new(inner: Incoming, started: Instant, sink: Box<dyn Sink>) -> Tap {
        Tap {
            inner,
            started,
            chunks: Vec::new(),
            sink: Some(sink),
        }
    }

    fn end(&mut self, end: End) {
        if let Some(sink) = self.sink.take() {
            sink.done(std::mem::take(&mut self.chunks), end);
        }
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.end(End::Abandoned);
    }
}

impl HttpBody for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Body::Chunks(q) => Poll::Ready(q.pop_front().map(|b| Ok(Frame::data(b)))),
            Body::Tap(tap) => {
                let polled = Pin::new(&mut tap.inner).poll_frame(cx);
                match polled {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(None) => {
                        tap.end(End::Complete);
                        Poll::Ready(None)
                    }
                    Poll::Ready(Some(Ok(frame))) => {
                        if let Some(data) = frame.data_ref() {
                            tap.chunks.push(Chunk::new(tap.started.elapsed(), data));
                        }
                        // With a Content-Length the server stops polling after the last
                        // frame: the body is complete now, not at a `None` that never comes.
                        if tap.inner.is_end_stream() {
                            tap.end(End::Complete);
                        }
                        Poll::Ready(Some(Ok(frame)))
                    }
                    Poll::Ready(Some(Err(e))) => {
                        let why = e.to_string();
                        tap.end(End::Cut(why));
                        Poll::Ready(Some(Err(Box::new(e))))
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Chunks(q) => q.is_empty(),
            Body::Tap(tap) => tap.inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Chunks(q) => SizeHint::with_exact(q.iter().map(|b| b.len() as u64).sum()),
            Body::Tap(tap) => tap.inner.size_hint(),
        }
    }
}
