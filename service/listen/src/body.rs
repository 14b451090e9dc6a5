//! The bodies a connection wraps: a request body with a deadline ([`TimedBody`]), and an answer's
//! body that marks the connection idle again when it is written or dropped ([`Guarded`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::conn::Phase;

/// A request body did not arrive whole within the body-read timeout. A handler that reads the
/// body sees this error (axum's extractors answer 400 with its text); the connection closes after
/// the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyTimeout(pub Duration);

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the request body did not arrive whole within {} ms of its head (the body-read timeout)",
            self.0.as_millis()
        )
    }
}

impl std::error::Error for BodyTimeout {}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request body that fails with [`BodyTimeout`] once `limit` has passed since its head.
pub(crate) struct TimedBody<B> {
    inner: B,
    started: Instant,
    limit: Duration,
    /// Made at the first poll that finds the body incomplete (most bodies arrive with their head
    /// and never need a timer).
    deadline: Option<Pin<Box<Sleep>>>,
}

impl<B> TimedBody<B> {
    pub(crate) fn new(inner: B, limit: Duration) -> Self {
        TimedBody {
            inner,
            started: Instant::now(),
            limit,
            deadline: None,
        }
    }
}

impl<B> Body for TimedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let limit = self.limit;
        let until = self.started + limit;
        let deadline = self
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(until)));
        match deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimeout(limit))))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// One request in flight on a connection: when dropped (its answer's body written or dropped,
/// or the request abandoned), the connection may go idle.
pub(crate) struct InFlight(Arc<Phase>);

impl InFlight {
    pub(crate) fn new(phase: Arc<Phase>) -> Self {
        InFlight(phase)
    }

    /// The answer's body, holding this guard until hyper is done with it.
    pub(crate) fn guard<B>(self, body: B) -> Guarded<B> {
        Guarded {
            inner: body,
            _in_flight: self,
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_ended();
    }
}

/// An answer's body with the [`InFlight`] guard of its request.
pub(crate) struct Guarded<B> {
    inner: B,
    _in_flight: InFlight,
}

impl<B: Body + Unpin> Body for Guarded<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
