use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures::FutureExt as _;
use tokio::sync::mpsc;

use crate::budget::{ByteBudget, Charge, over_budget};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use tokio::time::Sleep;

use crate::archive::Tape;
use crate::fair::Slot;
use crate::pool::{HostPool, Lease, Peer, ReqBody};
use crate::traffic::HostTraffic;
use crate::{ErrorKind, FetchError, Stats, TimeoutKind};

/// A response body as it comes off the connection: the request holds its
/// slot under the global cap and its connection while it lives. At the end
/// of the body the connection goes back to the pool for reuse; dropped
/// early, the connection is closed. The body fails with `too-large` past
/// the size limit and with `timeout` at the request's deadline or when no
/// data arrives within the between-bytes timeout. These limits are checked
/// while the body is polled: the host polls it itself (reading a `fetch`
/// to its end, or reading ahead for a [`ResponseBody`]), never at a
/// plugin's pace.
pub(crate) struct WireBody {
    incoming: Option<Source>,
    /// The HTTP/1 connection, handed back at the end of the body.
    conn: Option<H1Return>,
    slot: Option<Slot>,
    deadline: Pin<Box<Sleep>>,
    between_bytes: Option<(Duration, Pin<Box<Sleep>>)>,
    limit: u64,
    received: u64,
    stats: Arc<Stats>,
    host: Option<Arc<HostTraffic>>,
    started: Instant,
    url: Arc<str>,
    /// The exchange being recorded, if the client records.
    tape: Option<Box<Tape>>,
}

/// Where a body comes from: the connection, or a recording.
enum Source {
    Wire(Incoming),
    /// A replayed body, handed over whole (then `None`).
    Replayed(Option<Bytes>),
}

impl Body for Source {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            Source::Wire(incoming) => Pin::new(incoming).poll_frame(cx),
            Source::Replayed(body) => Poll::Ready(body.take().map(|data| Ok(Frame::data(data)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Source::Wire(incoming) => incoming.is_end_stream(),
            Source::Replayed(body) => body.as_ref().is_none_or(Bytes::is_empty),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Source::Wire(incoming) => incoming.size_hint(),
            Source::Replayed(body) => {
                SizeHint::with_exact(body.as_ref().map_or(0, |b| b.len() as u64))
            }
        }
    }
}

impl std::fmt::Debug for WireBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WireBody")
            .field("url", &self.url)
            .field("received", &self.received)
            .field("done", &self.incoming.is_none())
            .finish_non_exhaustive()
    }
}

/// An HTTP/1 connection to hand back to its host's pool at the end of a body.
/// The session's lease on it ends after the hand-back.
pub(crate) type H1Return = (
    http1::SendRequest<ReqBody>,
    Peer,
    Arc<HostPool>,
    Option<Lease>,
);

pub(crate) struct BodyParts {
    pub(crate) conn: Option<H1Return>,
    /// None for a replayed body, which holds no slot.
    pub(crate) slot: Option<Slot>,
    pub(crate) deadline: Instant,
    pub(crate) between_bytes: Option<Duration>,
    pub(crate) limit: u64,
    pub(crate) stats: Arc<Stats>,
    /// The host's figures in the client's traffic, if it is kept.
    pub(crate) host: Option<Arc<HostTraffic>>,
    pub(crate) started: Instant,
    pub(crate) url: Arc<str>,
    pub(crate) tape: Option<Box<Tape>>,
}

impl WireBody {
    pub(crate) fn new(incoming: Incoming, parts: BodyParts) -> Self {
        Self::of(Source::Wire(incoming), parts)
    }

    /// A body replayed from a recording.
    pub(crate) fn replayed(body: Bytes, parts: BodyParts) -> Self {
        Self::of(Source::Replayed(Some(body)), parts)
    }

    fn of(source: Source, parts: BodyParts) -> Self {
        let between_bytes = parts
            .between_bytes
            .map(|d| (d, Box::pin(tokio::time::sleep(d))));
        let mut body = Self {
            incoming: Some(source),
            conn: parts.conn,
            slot: parts.slot,
            deadline: Box::pin(tokio::time::sleep_until(parts.deadline.into())),
            between_bytes,
            limit: parts.limit,
            received: 0,
            stats: parts.stats,
            host: parts.host,
            started: parts.started,
            url: parts.url,
            tape: parts.tape,
        };
        if body.incoming.as_ref().is_some_and(Body::is_end_stream) {
            body.finish();
        }
        body
    }

    /// The URL of the request, for messages.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Gives up on the body with `err` (counted in the stats): the
    /// connection closes and the slot is freed; the body ends.
    pub(crate) fn abandon(&mut self, err: FetchError) -> FetchError {
        self.fail(err)
    }

    /// The body ended: hand the connection back, free the slot, record.
    fn finish(&mut self) {
        if self.incoming.take().is_none() {
            return;
        }
        if let Some((sender, peer, host, lease)) = self.conn.take() {
            host.put_back(sender, peer);
            drop(lease);
        }
        self.slot = None;
        let latency = self.started.elapsed();
        self.stats.latency(latency);
        self.stats.request_ended();
        if let Some(host) = &self.host {
            host.body_ended(self.received, Ok(latency));
        }
        if let Some(tape) = self.tape.take() {
            tape.write(&self.url);
        }
    }

    /// The body failed: close the connection, free the slot, record.
    fn fail(&mut self, err: FetchError) -> FetchError {
        if self.incoming.take().is_some() {
            self.conn = None;
            self.slot = None;
            self.stats.record_error(err.kind);
            self.stats.request_ended();
            if let Some(host) = &self.host {
                host.body_ended(self.received, Err(err.kind));
            }
        }
        err
    }
}

impl Body for WireBody {
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
                    if let Some(tape) = &mut this.tape {
                        tape.body.extend_from_slice(data);
                    }
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
                        sleep
                            .as_mut()
                            .reset(crate::politeness::later(Instant::now(), *d).into());
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
                    let err = FetchError::timeout(
                        TimeoutKind::Whole,
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
                    let err = FetchError::timeout(
                        TimeoutKind::BetweenBytes,
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

impl Drop for WireBody {
    fn drop(&mut self) {
        // Dropped before the end: the connection closes with `incoming`.
        if self.incoming.take().is_some() {
            self.conn = None;
            self.stats.request_ended();
            if let Some(host) = &self.host {
                host.body_dropped(self.received);
            }
        }
    }
}

/// The streaming body of a response from [`Session::send`](crate::Session::send)
/// (the `wasi:http` path).
///
/// The host reads the body off the connection as fast as it arrives, on a
/// task of its own, whatever the plugin does: the request's slot under the
/// global cap and its connection are given back when the body has arrived,
/// not when the plugin has read it, and the request's deadlines hold even
/// for a plugin that never reads (or drops) the body. What has arrived and
/// the plugin has not read yet is charged to its session's budget of
/// buffered bytes ([`ClientConfig::max_buffered_bytes`](crate::ClientConfig::max_buffered_bytes)):
/// a body that does not fit fails with `too-large`, and its connection is
/// closed at once. Dropping the body early closes the connection too.
pub struct ResponseBody {
    /// Pieces that had arrived already when the response was handed over
    /// (for most pages, the whole body: then no reader task is needed).
    early: VecDeque<Piece>,
    /// The rest, from the reader task; `None` once it ended.
    frames: Option<mpsc::UnboundedReceiver<Piece>>,
    hint: SizeHint,
    /// The reader task; aborted when the body is dropped.
    reader: Option<tokio::task::JoinHandle<()>>,
    url: Arc<str>,
    received: u64,
}

/// A piece of a body read ahead, with what it holds of the session's
/// budget (given back when the piece is handed over), or the failure.
type Piece = Result<(Frame<Bytes>, Charge), FetchError>;

impl std::fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody")
            .field("url", &self.url)
            .field("received", &self.received)
            .field("done", &self.is_end_stream())
            .finish_non_exhaustive()
    }
}

impl ResponseBody {
    /// Starts reading `wire` ahead of the plugin, on `runtime` (or the
    /// current one), charging `budget`.
    pub(crate) fn read_ahead(
        mut wire: WireBody,
        budget: &Arc<ByteBudget>,
        runtime: Option<&tokio::runtime::Handle>,
    ) -> Self {
        let hint = wire.size_hint();
        let url = wire.url.clone();
        let done = |early| Self {
            early,
            frames: None,
            hint,
            reader: None,
            url: url.clone(),
            received: 0,
        };
        // Take what has arrived already without waiting: often the whole
        // body, and then no task is needed (the connection is back in the
        // pool already).
        let mut early = VecDeque::new();
        if wire.is_end_stream() {
            return done(early);
        }
        while let Some(frame) =
            std::future::poll_fn(|cx| Pin::new(&mut wire).poll_frame(cx)).now_or_never()
        {
            match step(&mut wire, budget, frame) {
                Step::End => return done(early),
                Step::Piece(piece) => early.push_back(piece),
                Step::Last(piece) => {
                    early.push_back(piece);
                    return done(early);
                }
            }
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let reader = read_body(wire, budget.clone(), tx);
        let reader = match runtime {
            Some(handle) => handle.spawn(reader),
            None => tokio::spawn(reader),
        };
        Self {
            early,
            frames: Some(rx),
            hint,
            reader: Some(reader),
            url,
            received: 0,
        }
    }

    /// Bytes of body the plugin has read so far.
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
                    let hint = self.hint.exact().unwrap_or(self.hint.lower());
                    let hint = usize::try_from(hint)
                        .unwrap_or(0)
                        .max(head.len() + data.len());
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
}

/// What one frame (or the end) of a wire body becomes for the reader.
enum Step {
    /// A piece, more may follow.
    Piece(Piece),
    /// The last piece: a failure (the body is over).
    Last(Piece),
    /// The body ended.
    End,
}

/// Charges a frame of `wire` to `budget`; one that does not fit fails the
/// body (closing its connection).
fn step(
    wire: &mut WireBody,
    budget: &Arc<ByteBudget>,
    frame: Option<Result<Frame<Bytes>, FetchError>>,
) -> Step {
    match frame {
        None => Step::End,
        Some(Err(err)) => Step::Last(Err(err)),
        Some(Ok(frame)) => {
            let mut charge = Charge::new(budget);
            let len = frame.data_ref().map_or(0, |data| data.len() as u64);
            match charge.grow(len) {
                Ok(()) => Step::Piece(Ok((frame, charge))),
                Err(over) => {
                    let err = over_budget(wire.url(), over);
                    Step::Last(Err(wire.abandon(err)))
                }
            }
        }
    }
}

/// The reader task of a [`ResponseBody`]: polls the wire body to its end
/// (which enforces its deadlines and gives back its connection and slot),
/// charging each piece to the session's budget until the plugin reads it.
async fn read_body(mut wire: WireBody, budget: Arc<ByteBudget>, tx: mpsc::UnboundedSender<Piece>) {
    loop {
        let frame = tokio::select! {
            frame = std::future::poll_fn(|cx| Pin::new(&mut wire).poll_frame(cx)) => frame,
            // The plugin dropped the body: `wire` closes the connection.
            () = tx.closed() => return,
        };
        match step(&mut wire, &budget, frame) {
            // The end: dropping `tx` tells the reader.
            Step::End => return,
            Step::Piece(piece) => {
                if tx.send(piece).is_err() {
                    return;
                }
            }
            Step::Last(piece) => {
                let _ = tx.send(piece);
                return;
            }
        }
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
        let next = match this.early.pop_front() {
            Some(piece) => Poll::Ready(Some(piece)),
            None => match this.frames.as_mut() {
                Some(frames) => frames.poll_recv(cx),
                None => Poll::Ready(None),
            },
        };
        match next {
            // The piece's charge is given back as it is handed over.
            Poll::Ready(Some(Ok((frame, _charge)))) => {
                if let Some(data) = frame.data_ref() {
                    this.received += data.len() as u64;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(err))) => {
                this.early.clear();
                this.frames = None;
                Poll::Ready(Some(Err(err)))
            }
            Poll::Ready(None) => {
                this.frames = None;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.early.is_empty() && self.frames.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        if self.is_end_stream() {
            return SizeHint::with_exact(0);
        }
        match self.hint.exact() {
            Some(exact) => SizeHint::with_exact(exact.saturating_sub(self.received)),
            None => SizeHint::default(),
        }
    }
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        if let Some(reader) = self.reader.take() {
            reader.abort();
        }
    }
}
