//! One HTTP/2 stream: its request given to the app, with the body pumped
//! from h2 as the app reads it, and the app's response sent back within
//! the client's flow-control window.

use std::convert::Infallible;
use std::future::poll_fn;
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::task::Poll;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use futures_lite::{FutureExt, Stream, future};
use h2::server::SendResponse;
use h2::{Reason, RecvStream, SendStream};
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, StatusCode};

use super::limit;
use crate::proto::call::{call, echoed, panic_message, settle};
use crate::proto::clock::Budget;
use crate::proto::{Connection, Reject, Timer};
use crate::vocab::body::Inner;
use crate::vocab::incoming::{self, Pump};
use crate::vocab::response::plain_text;
use crate::vocab::service::Service;
use crate::vocab::{Body, Request, Response};

/// Waits for `f` within `budget`, which loses the time waited; `None` if
/// it ran out first. The clock is read only when `f` has to wait.
async fn within<T: Timer, F: Future>(timer: &T, budget: &mut Budget, f: F) -> Option<F::Output> {
    let mut f = pin!(f);
    if let Some(out) = future::poll_once(f.as_mut()).await {
        return Some(out);
    }
    let started = Instant::now();
    let out = limit(timer, budget.left(), f).await;
    budget.spend(started.elapsed());
    out
}

/// Gives the app the request as HTTP/1.1 would: an origin-form target
/// (`/path?query`) and a `Host` field made from `:authority` (RFC 9113
/// §8.3.1), so a handler tells the protocols apart only by `version()`.
/// CONNECT keeps its authority-form target.
fn as_origin_form(parts: &mut http::request::Parts) {
    if parts.method == Method::CONNECT {
        return;
    }
    if let Some(authority) = parts.uri.authority() {
        if !parts.headers.contains_key(header::HOST) {
            if let Ok(host) = HeaderValue::from_str(authority.as_str()) {
                parts.headers.insert(header::HOST, host);
            }
        }
    }
    if parts.uri.scheme().is_some() || parts.uri.authority().is_some() {
        let mut origin = http::uri::Parts::default();
        origin.path_and_query = Some(
            parts
                .uri
                .path_and_query()
                .cloned()
                .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/")),
        );
        if let Ok(uri) = http::Uri::from_parts(origin) {
            parts.uri = uri;
        }
    }
}

/// Why a response could not be sent whole; the stream is reset (by h2 or
/// by us) either way.
struct Broken;

/// Serves one request stream.
pub(super) async fn serve<T: Timer, S: Service>(
    ctx: &Connection<'_, T, S>,
    req: http::Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
) {
    let config = &*ctx.config;
    let (parts, mut recv) = req.into_parts();
    // The HTTP/1.1 limits h2's header list size does not already cover:
    // the request target (`:path`) and the number of fields.
    let refused = if parts.uri.path_and_query().map_or(0, |p| p.as_str().len()) > config.max_uri_len
    {
        Some(Reject::URI_TOO_LONG)
    } else if parts.headers.len() > config.max_headers {
        Some(Reject::TOO_MANY_HEADERS)
    } else {
        None
    };
    if let Some(reject) = refused {
        tracing::debug!(status = %reject.status, reason = reject.reason, "rejecting HTTP/2 request");
        drop(recv);
        let _ = send(
            ctx,
            &mut respond,
            plain_text(reject.status, reject.reason),
            false,
        )
        .await;
        return;
    }
    let (body, pump) = if recv.is_end_stream() {
        (Body::empty(), None)
    } else {
        let len = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok());
        let (incoming, pump) = incoming::channel(len);
        (Body::incoming(incoming, config.max_body_size), Some(pump))
    };
    let mut parts = parts;
    as_origin_form(&mut parts);
    // h2 has set the version: `Request::version()` is `HTTP_2`.
    let req = Request::from_parts(parts, body);
    let is_head = req.method() == Method::HEAD;
    let peer = config.trusted_proxies.client(ctx.peer, req.headers());

    let response = {
        let called = call(&*ctx.service, req, peer);
        // Never completes, so it can be polled again after the app has
        // answered (for an echo, below).
        let mut pumping = pin!(async {
            pump_body(ctx, &mut recv, pump.as_ref()).await;
            std::future::pending::<Infallible>().await
        });
        let mut called = pin!(called);
        // The app runs while the body is pumped, and stops if the client
        // resets the stream: its answer would go nowhere.
        let outcome = poll_fn(|cx| {
            if respond.poll_reset(cx).is_ready() {
                return Poll::Ready(None);
            }
            let _ = pumping.as_mut().poll(cx);
            called.as_mut().poll(cx).map(Some)
        })
        .await;
        let Some(mut response) = outcome else {
            tracing::trace!(peer = %ctx.peer, "HTTP/2 stream reset by the client");
            return;
        };
        // The connection goes on whatever the answer (HTTP/2 closes the
        // stream, not the connection), and there are no upgrades.
        settle(&mut response, false, ctx.peer);
        if matches!(response.body().inner_ref(), Inner::Incoming(_)) {
            // An echo: the app answers with its own request body, read
            // whole (with the pump running) under its limit, as HTTP/1.1
            // does.
            let (parts, body) = response.into_parts();
            let collected =
                future::or(body.collect(), async { match pumping.as_mut().await {} }).await;
            response = echoed(parts, collected);
        }
        response
    };
    // The request body left unread is dropped with `recv`: h2 then resets
    // the request side (RFC 9113 §8.1 lets a server answer early).
    drop(recv);
    if send(ctx, &mut respond, response, is_head).await.is_err() {
        tracing::debug!(peer = %ctx.peer, "HTTP/2 response not sent whole; stream reset");
    }
}

/// Hands request body chunks to the app as it asks for them, releasing
/// the window for each, so an app that stops reading stops the client.
async fn pump_body<T: Timer, S>(
    ctx: &Connection<'_, T, S>,
    recv: &mut RecvStream,
    pump: Option<&Pump>,
) {
    let Some(pump) = pump else { return };
    // As on HTTP/1.1, a body trickled below the minimum rate runs out of
    // time however it spaces its bytes.
    let mut budget = Budget::full(ctx.config.body_timeout, ctx.config.min_body_rate);
    loop {
        if !pump.demand().await {
            return;
        }
        let next = within(&ctx.timer, &mut budget, poll_fn(|cx| recv.poll_data(cx))).await;
        match next {
            Some(Some(Ok(chunk))) => {
                budget.earn(chunk.len());
                // Given back as the app takes it: the window moves with
                // the app, not with h2's buffer.
                let _ = recv.flow_control().release_capacity(chunk.len());
                pump.send(chunk);
            }
            Some(None) => {
                pump.finish(Ok(()));
                return;
            }
            Some(Some(Err(e))) => {
                tracing::debug!(peer = %ctx.peer, error = %e, "HTTP/2 request body broken");
                pump.finish(Err("request body broken"));
                return;
            }
            None => {
                tracing::debug!(peer = %ctx.peer, "HTTP/2 request body timed out");
                pump.finish(Err("request body timed out"));
                return;
            }
        }
    }
}

/// Sends `response` on the stream: the head, then the body within the
/// client's window.
async fn send<T: Timer, S>(
    ctx: &Connection<'_, T, S>,
    respond: &mut SendResponse<Bytes>,
    response: Response,
    is_head: bool,
) -> Result<(), Broken> {
    let (mut parts, body) = response.into_parts();
    // RFC 9113 §8.2.2: connection-specific fields are malformed in HTTP/2
    // (h2 refuses to send them); HTTP/1.1 handlers may set them.
    for name in [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
        HeaderName::from_static("keep-alive"),
        HeaderName::from_static("proxy-connection"),
    ] {
        parts.headers.remove(name);
    }
    if !parts.headers.contains_key(header::DATE) {
        let date = httpdate::fmt_http_date(SystemTime::now());
        if let Ok(date) = HeaderValue::from_str(&date) {
            parts.headers.insert(header::DATE, date);
        }
    }
    // RFC 9110 §8.6: no Content-Length on a 204, and none on a 304 but the
    // one the 200 would have had (which a handler sets itself), or a cache
    // would take the stored entity's length for 0.
    let bodiless_status =
        parts.status == StatusCode::NO_CONTENT || parts.status == StatusCode::NOT_MODIFIED;
    // A whole body, or the body to stream (polled as a `Body`, so a
    // request body given back keeps its limit).
    let (whole, body) = match body.inner_ref() {
        Inner::Full(_) | Inner::Vec(_) => {
            let bytes = match body.into_inner() {
                Inner::Full(bytes) => bytes,
                Inner::Vec(bytes) => Bytes::from(bytes),
                Inner::Stream(_) | Inner::Incoming(_) => Bytes::new(),
            };
            if !bodiless_status && !parts.headers.contains_key(header::CONTENT_LENGTH) {
                parts
                    .headers
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
            }
            (Some(bytes), None)
        }
        Inner::Stream(_) | Inner::Incoming(_) => (None, Some(body)),
    };
    let no_body = is_head || bodiless_status || whole.as_ref().is_some_and(Bytes::is_empty);
    let head = http::Response::from_parts(parts, ());
    let mut send = respond.send_response(head, no_body).map_err(|_| Broken)?;
    if no_body {
        return Ok(());
    }
    // The response's, drained only while the client's window is shut: a
    // long stream the client keeps up with (server-sent events) is never
    // cut.
    let mut budget = Budget::full(ctx.config.write_timeout, ctx.config.min_write_rate);
    match (whole, body) {
        (Some(bytes), _) => send_data(ctx, &mut send, &mut budget, bytes, true).await,
        (None, Some(body)) => send_stream(ctx, &mut send, &mut budget, body).await,
        (None, None) => send.send_data(Bytes::new(), true).map_err(|_| Broken),
    }
}

/// Sends a streamed body chunk by chunk: the next chunk is asked of the
/// app only once the last one is in h2's hands, so a client that does not
/// take its window holds up the app, not memory.
async fn send_stream<T: Timer, S>(
    ctx: &Connection<'_, T, S>,
    send: &mut SendStream<Bytes>,
    budget: &mut Budget,
    body: Body,
) -> Result<(), Broken> {
    let mut body = pin!(body);
    loop {
        let next = poll_fn(|cx| {
            if send.poll_reset(cx).is_ready() {
                return Poll::Ready(Err(Broken));
            }
            body.as_mut().poll_next(cx).map(Ok)
        });
        // A panic in the stream comes after the head went out: all that
        // can be done is to reset the stream.
        let next = match AssertUnwindSafe(next).catch_unwind().await {
            Ok(next) => next?,
            Err(payload) => {
                tracing::error!(panic = %panic_message(&*payload), "body stream panicked");
                send.send_reset(Reason::INTERNAL_ERROR);
                return Err(Broken);
            }
        };
        match next {
            None => return send.send_data(Bytes::new(), true).map_err(|_| Broken),
            Some(Ok(chunk)) if chunk.is_empty() => {}
            Some(Ok(chunk)) => send_data(ctx, send, budget, chunk, false).await?,
            Some(Err(e)) => {
                // The client must not take a truncated body for a whole one.
                tracing::debug!(error = %e, "response body stream failed; stream reset");
                send.send_reset(Reason::INTERNAL_ERROR);
                return Err(Broken);
            }
        }
    }
}

/// Sends `data` as the client's window allows, waiting for grants within
/// the response's write budget: a client that never opens its window, or
/// opens it slower than the minimum write rate, gets its stream reset.
async fn send_data<T: Timer, S>(
    ctx: &Connection<'_, T, S>,
    send: &mut SendStream<Bytes>,
    budget: &mut Budget,
    mut data: Bytes,
    end: bool,
) -> Result<(), Broken> {
    while !data.is_empty() {
        send.reserve_capacity(data.len());
        let granted = within(&ctx.timer, budget, poll_fn(|cx| send.poll_capacity(cx))).await;
        match granted {
            Some(Some(Ok(0))) => {}
            Some(Some(Ok(n))) => {
                let chunk = data.split_to(n.min(data.len()));
                budget.earn(chunk.len());
                send.send_data(chunk, end && data.is_empty())
                    .map_err(|_| Broken)?;
            }
            Some(Some(Err(_)) | None) => return Err(Broken),
            None => {
                tracing::debug!(peer = %ctx.peer, "HTTP/2 client took no window in time; stream reset");
                send.send_reset(Reason::CANCEL);
                return Err(Broken);
            }
        }
    }
    Ok(())
}
