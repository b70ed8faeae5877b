//! Server-Sent Events: a response that streams [`Event`]s to an
//! `EventSource` (WHATWG HTML §9.2, "Server-sent events").
//!
//! # Examples
//!
//! ```
//! use std::convert::Infallible;
//! use tramline::response::sse::{Event, Sse};
//! use tramline::routing::get;
//! use tramline::test::TestClient;
//! use tramline::Router;
//!
//! let app = Router::new().route("/ticks", get(|| async {
//!     let events = (0..3).map(|i| Ok::<_, Infallible>(Event::default().data(i.to_string())));
//!     Sse::new(futures_lite::stream::iter(events))
//! }));
//! let res = TestClient::new(app).get("/ticks").send();
//! res.assert_header("content-type", "text/event-stream")
//!     .assert_text("data: 0\n\ndata: 1\n\ndata: 2\n\n");
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_lite::Stream;
use http::HeaderValue;
use http::header;
use serde::Serialize;
use tramline_rt::Runtime;

use super::{IntoResponse, Response};
use crate::vocab::{Body, BoxError};

/// A response that streams Server-Sent Events.
///
/// Sent as `content-type: text/event-stream` with `cache-control:
/// no-cache`, in a streamed body (chunked on HTTP/1.1). Each event is
/// written to the client as soon as the stream yields it. An `Err` from the
/// stream ends the response by closing the connection, which an
/// `EventSource` answers by reconnecting (after `retry`).
///
/// See the [module docs](self) for an example.
#[must_use]
pub struct Sse<S> {
    stream: S,
    keep_alive: Option<KeepAlive>,
}

impl<S> Sse<S> {
    /// Creates the response over `stream`.
    pub fn new(stream: S) -> Self {
        Self {
            stream,
            keep_alive: None,
        }
    }

    /// Sends a comment whenever the stream has been quiet for the
    /// keep-alive's interval, so that proxies and clients do not time the
    /// connection out.
    pub fn keep_alive(mut self, keep_alive: KeepAlive) -> Self {
        self.keep_alive = Some(keep_alive);
        self
    }
}

impl<S> fmt::Debug for Sse<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sse")
            .field("keep_alive", &self.keep_alive)
            .finish_non_exhaustive()
    }
}

impl<S, E> IntoResponse for Sse<S>
where
    S: Stream<Item = Result<Event, E>> + Send + 'static,
    E: Into<BoxError>,
{
    fn into_response(self) -> Response {
        let stream = EventStream {
            events: Box::pin(self.stream),
            keep_alive: self.keep_alive.map(|k| Quiet {
                keep_alive: k,
                sleep: None,
                last: Instant::now(),
            }),
            done: false,
        };
        let mut res = crate::vocab::recycle::response(Body::from_stream(stream));
        let headers = res.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        res
    }
}

/// The body of an [`Sse`] response: the events as bytes, with keep-alive
/// comments in the gaps.
struct EventStream<S> {
    // Boxed once per response: the body boxes the whole stream anyway, and
    // this keeps `S` free of an `Unpin` bound.
    events: Pin<Box<S>>,
    keep_alive: Option<Quiet>,
    done: bool,
}

/// The keep-alive's state while the stream runs.
struct Quiet {
    keep_alive: KeepAlive,
    /// The sleep, with the deadline (`last + interval`) it was armed for;
    /// `None` until the stream first waits. One sleep lives per interval,
    /// not per event: an event only moves `last`, and a sleep that fires
    /// before the moved deadline is re-armed for what is left.
    sleep: Option<(SleepFuture, Instant)>,
    /// When the last bytes (an event or a keep-alive) went out.
    last: Instant,
}

impl<S, E> Stream for EventStream<S>
where
    S: Stream<Item = Result<Event, E>>,
    E: Into<BoxError>,
{
    type Item = Result<Bytes, BoxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        match this.events.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(event))) => {
                if let Some(quiet) = &mut this.keep_alive {
                    quiet.last = Instant::now();
                }
                return Poll::Ready(Some(Ok(event.into_bytes())));
            }
            Poll::Ready(Some(Err(e))) => {
                this.done = true;
                return Poll::Ready(Some(Err(e.into())));
            }
            Poll::Ready(None) => {
                this.done = true;
                return Poll::Ready(None);
            }
            Poll::Pending => {}
        }
        let Some(quiet) = &mut this.keep_alive else {
            return Poll::Pending;
        };
        loop {
            let due = quiet.last + quiet.keep_alive.interval;
            let (sleep, armed_for) = quiet.sleep.get_or_insert_with(|| {
                let left = due.saturating_duration_since(Instant::now());
                ((quiet.keep_alive.sleep)(left), due)
            });
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let armed_for = *armed_for;
            quiet.sleep = None;
            // The timer is trusted over the clock (it may round), unless an
            // event went out since it was armed and moved the deadline.
            if due <= armed_for {
                quiet.last = Instant::now();
                return Poll::Ready(Some(Ok(quiet.keep_alive.comment.clone())));
            }
        }
    }
}

type SleepFuture = Pin<Box<dyn Future<Output = ()> + Send>>;
type SleepFn = Arc<dyn Fn(Duration) -> SleepFuture + Send + Sync>;

/// Keep-alive comments for an [`Sse`] response: one is sent whenever no
/// event has gone out for the interval (15 s unless set).
///
/// tramline has no global runtime, so the timer is passed in: take it from
/// where you build the server (the value given to
/// [`Server::bind_with`](crate::Server::bind_with)), and hand it to the
/// handler as state. For a timer that is not a [`Runtime`], use
/// [`KeepAlive::with_sleep`].
///
/// # Examples
///
/// ```no_run
/// # #[cfg(feature = "default-runtime")] {
/// use std::convert::Infallible;
/// use std::time::Duration;
/// use tramline::extract::State;
/// use tramline::response::sse::{Event, KeepAlive, Sse};
/// use tramline::rt::DefaultRuntime;
/// use tramline::routing::get;
/// use tramline::{Router, Server};
///
/// let rt = DefaultRuntime::default();
/// let app = Router::new()
///     .route("/events", get(|State(rt): State<DefaultRuntime>| async move {
///         let events = futures_lite::stream::pending::<Result<Event, Infallible>>();
///         Sse::new(events).keep_alive(KeepAlive::new(rt).interval(Duration::from_secs(10)))
///     }))
///     .with_state(rt.clone());
/// Server::bind_with(rt, "127.0.0.1:3000")?.serve(app)?;
/// # }
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
#[must_use]
pub struct KeepAlive {
    sleep: SleepFn,
    interval: Duration,
    /// The whole comment as it goes on the wire.
    comment: Bytes,
}

impl KeepAlive {
    /// Creates keep-alive comments timed by `runtime`'s sleep.
    pub fn new<R: Runtime>(runtime: R) -> Self {
        Self::with_sleep(move |d| runtime.sleep(d))
    }

    /// Like [`KeepAlive::new`], with any sleep: `sleep(duration)` returns
    /// a future that completes after `duration`. It is called while the
    /// response is being sent, on the connection's task.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use std::time::Duration;
    /// use futures_lite::StreamExt;
    /// use tramline::response::sse::{Event, KeepAlive, Sse};
    /// use tramline::response::IntoResponse;
    ///
    /// // A "timer" that has always expired, over a stream that never yields.
    /// let keep_alive = KeepAlive::with_sleep(|_| std::future::ready(())).text("ping");
    /// let events = futures_lite::stream::pending::<Result<Event, Infallible>>();
    /// let mut body = Sse::new(events).keep_alive(keep_alive).into_response().into_body();
    /// let first = futures_lite::future::block_on(body.next()).unwrap().unwrap();
    /// assert_eq!(first, ":ping\n\n");
    /// ```
    pub fn with_sleep<F, Fut>(sleep: F) -> Self
    where
        F: Fn(Duration) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Self {
            // One allocation per interval that passes quietly, none per
            // event.
            sleep: Arc::new(move |d| Box::pin(sleep(d)) as SleepFuture),
            interval: Duration::from_secs(15),
            comment: Bytes::from_static(b":\n\n"),
        }
    }

    /// Sets how long the stream may be quiet before a comment is sent.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Sets the comment's text (empty unless set). Line breaks in it start
    /// new comment lines.
    pub fn text(mut self, text: &str) -> Self {
        self.comment = Event::default().comment(text).into_bytes();
        self
    }
}

impl fmt::Debug for KeepAlive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeepAlive")
            .field("interval", &self.interval)
            .field("comment", &self.comment)
            .finish_non_exhaustive()
    }
}

/// One Server-Sent Event, built field by field.
///
/// The fields are written in the order they are set; a client only looks
/// at them when the event ends, so the order does not matter to it.
/// Setting `data` again adds lines to it (the client joins them with
/// `\n`); setting `event`, `id` or `retry` again sends the field again, and
/// the client keeps the last one.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tramline::response::sse::Event;
///
/// let event = Event::default()
///     .event("update")?
///     .id("42")?
///     .retry(Duration::from_secs(3))
///     .data("line one\nline two");
/// assert_eq!(
///     event.to_string(),
///     "event: update\nid: 42\nretry: 3000\ndata: line one\ndata: line two\n\n"
/// );
/// # Ok::<(), tramline::response::sse::EventError>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct Event {
    /// The fields so far, each line ending in `\n`; the blank line that
    /// ends the event is added when it is sent.
    buf: Vec<u8>,
}

impl Event {
    /// Adds `data`. Each line of it (split at `\n`, `\r\n` or `\r`) goes in
    /// a `data:` line of its own, so the client sees the text unchanged.
    pub fn data(mut self, data: impl AsRef<str>) -> Self {
        self.lines("data", data.as_ref());
        self
    }

    /// Adds `value` serialized as JSON as the data (one line: JSON escapes
    /// its line breaks).
    ///
    /// # Errors
    ///
    /// Returns an error if `value` cannot be serialized.
    pub fn json_data<T: Serialize + ?Sized>(mut self, value: &T) -> Result<Self, EventError> {
        let json = serde_json::to_vec(value).map_err(|e| EventError::json(e.into()))?;
        self.buf.extend_from_slice(b"data: ");
        self.buf.extend_from_slice(&json);
        self.buf.push(b'\n');
        Ok(self)
    }

    /// Sets the event's type, which picks the client's listener
    /// (`addEventListener(name, ..)`; without one, `onmessage`).
    ///
    /// # Errors
    ///
    /// Returns an error if `name` contains a line break (`\r` or `\n`),
    /// which would end the field early.
    pub fn event(self, name: &str) -> Result<Self, EventError> {
        self.field("event", name, b"\r\n")
    }

    /// Sets the event's id, which the client sends back in
    /// `Last-Event-ID` when it reconnects.
    ///
    /// # Errors
    ///
    /// Returns an error if `id` contains a line break or NUL: a client
    /// ignores an id with NUL (WHATWG HTML §9.2.6).
    pub fn id(self, id: &str) -> Result<Self, EventError> {
        self.field("id", id, b"\r\n\0")
    }

    /// Sets how long the client waits before reconnecting after the
    /// connection is lost, in whole milliseconds.
    pub fn retry(mut self, retry: Duration) -> Self {
        let mut ms = itoa::Buffer::new();
        self.buf.extend_from_slice(b"retry: ");
        self.buf
            .extend_from_slice(ms.format(retry.as_millis()).as_bytes());
        self.buf.push(b'\n');
        self
    }

    /// Adds a comment, which the client ignores. Each line of it goes in a
    /// comment line of its own.
    pub fn comment(mut self, text: &str) -> Self {
        self.lines("", text);
        self
    }

    fn field(mut self, name: &'static str, value: &str, banned: &[u8]) -> Result<Self, EventError> {
        if value.bytes().any(|b| banned.contains(&b)) {
            return Err(EventError::field(name));
        }
        self.put(name, value);
        Ok(self)
    }

    /// Writes one `name: line` per line of `text`. A line ends at `\r\n`,
    /// `\n` or `\r` (WHATWG HTML §9.2.5).
    fn lines(&mut self, name: &str, text: &str) {
        let mut rest = text;
        loop {
            match rest.find(['\r', '\n']) {
                Some(i) => {
                    self.put(name, &rest[..i]);
                    let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
                    rest = &rest[i + skip..];
                }
                None => {
                    self.put(name, rest);
                    return;
                }
            }
        }
    }

    /// Writes `name: value`, or `:value` for a comment (a client strips
    /// one space after the colon, so none is added where it could be
    /// mistaken for part of the comment).
    fn put(&mut self, name: &str, value: &str) {
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.push(b':');
        if !name.is_empty() {
            self.buf.push(b' ');
        }
        self.buf.extend_from_slice(value.as_bytes());
        self.buf.push(b'\n');
    }

    /// The event as it goes on the wire, with the blank line that ends it.
    fn into_bytes(mut self) -> Bytes {
        self.buf.push(b'\n');
        Bytes::from(self.buf)
    }
}

impl fmt::Display for Event {
    /// Writes the event as it goes on the wire.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only `&str`s are ever written into the buffer.
        f.write_str(&String::from_utf8_lossy(&self.buf))?;
        f.write_str("\n")
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Event")
            .field(&String::from_utf8_lossy(&self.buf))
            .finish()
    }
}

/// An [`Event`] field that cannot be sent: a line break (or, in an id, a
/// NUL) in `event` or `id`, or data that did not serialize as JSON.
pub struct EventError {
    field: &'static str,
    cause: Option<BoxError>,
}

impl EventError {
    fn field(field: &'static str) -> Self {
        Self { field, cause: None }
    }

    fn json(cause: BoxError) -> Self {
        Self {
            field: "data",
            cause: Some(cause),
        }
    }
}

impl fmt::Debug for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventError")
            .field("field", &self.field)
            .field("cause", &self.cause)
            .finish()
    }
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.cause {
            Some(_) => f.write_str("event data is not serializable as json"),
            None => write!(f, "invalid event {}: contains a line break", self.field),
        }
    }
}

impl std::error::Error for EventError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause.as_deref().map(|e| e as _)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_lines_split_at_every_line_break() {
        let cases = [
            ("", "data: \n\n"),
            ("one", "data: one\n\n"),
            ("a\nb", "data: a\ndata: b\n\n"),
            ("a\r\nb\rc", "data: a\ndata: b\ndata: c\n\n"),
            ("a\n", "data: a\ndata: \n\n"),
            ("\n\n", "data: \ndata: \ndata: \n\n"),
        ];
        for (data, wire) in cases {
            assert_eq!(Event::default().data(data).to_string(), wire, "{data:?}");
        }
    }

    #[test]
    fn event_and_id_reject_line_breaks_and_nul() {
        for bad in ["a\nb", "a\r", "\r\n"] {
            assert!(Event::default().event(bad).is_err(), "{bad:?}");
            assert!(Event::default().id(bad).is_err(), "{bad:?}");
        }
        assert!(Event::default().id("a\0b").is_err());
        let err = Event::default().id("x\n").unwrap_err();
        assert_eq!(err.to_string(), "invalid event id: contains a line break");
        assert_eq!(
            Event::default().event("a b").unwrap().to_string(),
            "event: a b\n\n"
        );
    }

    #[test]
    fn comments_and_json_data() {
        assert_eq!(
            Event::default().comment("hi\nthere").to_string(),
            ":hi\n:there\n\n"
        );
        let event = Event::default().json_data(&["a\nb", "c"]).unwrap();
        assert_eq!(event.to_string(), "data: [\"a\\nb\",\"c\"]\n\n");
        let bad = std::collections::BTreeMap::from([(vec![1u8], 1)]);
        let err = Event::default().json_data(&bad).unwrap_err();
        assert!(std::error::Error::source(&err).is_some());
    }
}
