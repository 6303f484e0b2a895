use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use tokio::time::Sleep;

use crate::fair::Slot;
use crate::pool::{HostPool, Peer, ReqBody};
use crate::{ErrorKind, FetchError, Stats};

/// The streaming body of a response from [`Session::send`](crate::Session::send).
///
/// While it lives, the request holds its slot under the global cap and its
/// connection. At the end of the body the connection goes back to the pool
/// for reuse; dropped early, the connection is closed. The body fails with
/// `too-large` past the size limit and with `timeout` at the request's
/// deadline or when no data arrives within the between-bytes timeout.
pub struct ResponseBody {
    incoming: Option<Incoming>,
    /// The HTTP/1 connection, handed back at the end of the body.
    conn: Option<H1Return>,
    slot: Option<Slot>,
    deadline: Pin<Box<Sleep>>,
    between_bytes: Option<(Duration, Pin<Box<Sleep>>)>,
    limit: u64,
    received: u64,
    stats: Arc<Stats>,
    started: Instant,
    url: Arc<str>,
}

impl std::fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody")
            .field("url", &self.url)
            .field("received", &self.received)
            .field("done", &self.incoming.is_none())
            .finish_non_exhaustive()
    }
}

/// An HTTP/1 connection to hand back to its host's pool at the end of a body.
pub(crate) type H1Return = (http1::SendRequest<ReqBody>, Peer, Arc<HostPool>);

pub(crate) struct BodyParts {
    pub(crate) conn: Option<H1Return>,
    pub(crate) slot: Slot,
    pub(crate) deadline: Instant,
    pub(crate) between_bytes: Option<Duration>,
    pub(crate) limit: u64,
    pub(crate) stats: Arc<Stats>,
    pub(crate) started: Instant,
    pub(crate) url: Arc<str>,
}

impl ResponseBody {
    pub(crate) fn new(incoming: Incoming, parts: BodyParts) -> Self {
        let between_bytes = parts
            .between_bytes
            .map(|d| (d, Box::pin(tokio::time::sleep(d))));
        let mut body = Self {
            incoming: Some(incoming),
            conn: parts.conn,
            slot: Some(parts.slot),
            deadline: Box::pin(tokio::time::sleep_until(parts.deadline.into())),
            between_bytes,
            limit: parts.limit,
            received: 0,
            stats: parts.stats,
            started: parts.started,
            url: parts.url,
        };
        if body.incoming.as_ref().is_some_and(Body::is_end_stream) {
            body.finish();
        }
        body
    }

    /// Bytes of body received so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Reads the whole body into one buffer (without copying when it arrives
    /// in one piece).
    pub async fn collect(mut self) -> Result<Bytes, FetchError> {
        let mut first: Option<Bytes> = None;
        let mut rest: Option<BytesMut> = None;
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut self).poll_frame(cx)).await
        {
            let Ok(data) = frame?.into_data() else {
                continue; // trailers
            };
            match (&mut first, &mut rest) {
                (None, _) => first = Some(data),
                (Some(head), None) => {
                    let hint = self.incoming_size_hint().max(head.len() + data.len());
                    let mut buf = BytesMut::with_capacity(hint);
                    buf.extend_from_slice(head);
                    buf.extend_from_slice(&data);
                    rest = Some(buf);
                }
                (Some(_), Some(buf)) => buf.extend_from_slice(&data),
            }
        }
        Ok(match rest {
            Some(buf) => buf.freeze(),
            None => first.unwrap_or_default(),
        })
    }

    fn incoming_size_hint(&self) -> usize {
        let hint = self.size_hint();
        let exact = hint.exact().unwrap_or(hint.lower());
        usize::try_from(exact.min(self.limit)).unwrap_or(0) + self.received as usize
    }

    /// The body ended: hand the connection back, free the slot, record.
    fn finish(&mut self) {
        if self.incoming.take().is_none() {
            return;
        }
        if let Some((sender, peer, host)) = self.conn.take() {
            host.put_back(sender, peer);
        }
        self.slot = None;
        self.stats.latency(self.started.elapsed());
        self.stats.request_ended();
    }

    /// The body failed: close the connection, free the slot, record.
    fn fail(&mut self, err: FetchError) -> FetchError {
        if self.incoming.take().is_some() {
            self.conn = None;
            self.slot = None;
            self.stats.record_error(err.kind);
            self.stats.request_ended();
        }
        err
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = FetchError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, FetchError>>> {
        let this = self.get_mut();
        let Some(incoming) = this.incoming.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(&mut *incoming).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let end = incoming.is_end_stream();
                if let Some(data) = frame.data_ref() {
                    this.received += data.len() as u64;
                    this.stats.bytes(data.len() as u64);
                    if this.received > this.limit {
                        let err = FetchError::new(
                            ErrorKind::TooLarge,
                            format!(
                                "response body of {} is larger than the limit of {} bytes",
                                this.url, this.limit
                            ),
                        );
                        return Poll::Ready(Some(Err(this.fail(err))));
                    }
                    if let Some((d, sleep)) = &mut this.between_bytes {
                        sleep.as_mut().reset((Instant::now() + *d).into());
                    }
                }
                if end {
                    this.finish();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                let err = FetchError::from_hyper(&e, &format!("reading the body of {}", this.url));
                Poll::Ready(Some(Err(this.fail(err))))
            }
            Poll::Ready(None) => {
                this.finish();
                Poll::Ready(None)
            }
            Poll::Pending => {
                if this.deadline.as_mut().poll(cx).is_ready() {
                    let err = FetchError::new(
                        ErrorKind::Timeout,
                        format!(
                            "{} did not finish within the request timeout ({} of body bytes read)",
                            this.url, this.received
                        ),
                    );
                    return Poll::Ready(Some(Err(this.fail(err))));
                }
                if let Some((d, sleep)) = &mut this.between_bytes
                    && sleep.as_mut().poll(cx).is_ready()
                {
                    let err = FetchError::new(
                        ErrorKind::Timeout,
                        format!("{} sent no data for {d:?}", this.url),
                    );
                    return Poll::Ready(Some(Err(this.fail(err))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        // Dropped before the end: the connection closes with `incoming`.
        if self.incoming.take().is_some() {
            self.conn = None;
            self.stats.request_ended();
        }
    }
}
