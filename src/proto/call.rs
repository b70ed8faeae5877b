//! The app call and the rules every engine applies to what the app
//! answers.
//!
//! [`call`] runs the app with the peer address set and a panic caught;
//! [`settle`] then turns what came back into the response the engine
//! sends, by the rules that do not depend on the protocol; [`echoed`]
//! finishes a response whose body is the request's own.

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::StatusCode;

use super::upgrade::{Callback, take_callback};
use crate::vocab::response::plain_text;
use crate::vocab::service::Service;
use crate::vocab::{Body, BodyError, Request, Response};

/// Calls the app with `peer` as the current peer address. A panic (while
/// routing, extracting or running the handler) is caught and answered by
/// the first of the rules [`settle`] applies: `500`, and the connection
/// closes.
///
/// Routing runs here, synchronously; the future it returns is polled by
/// [`Call`], which sets the peer and catches a panic in each poll. One
/// layer instead of an async block inside a `catch_unwind` inside a peer
/// scope: each of those kept its own copy of the request or the response
/// and moved it on (about 400 instructions a request of `memcpy`).
pub(crate) fn call<S: Service>(service: &S, req: Request, peer: SocketAddr) -> Call<S::Future> {
    // The closures borrow the request rather than capture it, so it is not
    // copied into each of them on the way to the service.
    let mut req = Some(req);
    let req = &mut req;
    let routed = crate::vocab::peer::enter(peer, || {
        std::panic::catch_unwind(AssertUnwindSafe(|| {
            service.call(req.take().expect("the service is called once"))
        }))
    });
    match routed {
        Ok(future) => Call::Running { future, peer },
        Err(payload) => Call::Panicked {
            message: Some(panic_message(&*payload)),
            peer,
        },
    }
}

pin_project_lite::pin_project! {
    // The app's future for one request, polled with the peer address set
    // and a panic caught; see `call`.
    #[project = CallProj]
    pub(crate) enum Call<F> {
        Running {
            #[pin]
            future: F,
            peer: SocketAddr,
        },
        Panicked { message: Option<String>, peer: SocketAddr },
    }
}

impl<F: Future<Output = Response>> Future for Call<F> {
    type Output = Response;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            CallProj::Running { future, peer } => {
                let polled = crate::vocab::peer::enter(*peer, || {
                    std::panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx)))
                });
                match polled {
                    Ok(polled) => polled,
                    Err(payload) => Poll::Ready(panicked(&panic_message(&*payload), *peer)),
                }
            }
            CallProj::Panicked { message, peer } => {
                let message = message.take().unwrap_or_else(|| "polled again".into());
                Poll::Ready(panicked(&message, *peer))
            }
        }
    }
}

pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

/// The mark on the `500` that stands in for the response of an app that
/// panicked: [`settle`] closes the connection after it.
#[derive(Debug, Clone, Copy)]
struct Panicked;

/// What the connection does after an answer, once [`settle`] has run.
pub(crate) struct Settled {
    /// Whether it may carry another request.
    pub(crate) then: Then,
    /// A `101` the request offered, with the function that takes the
    /// connection once the head is written.
    pub(crate) upgrade: Option<Callback>,
}

/// Applies the rules after the handler returns, the same on every
/// protocol, to the response [`call`] gave:
///
/// - a panic (while routing, extracting or handling) answered `500`, and
///   the connection closes: the app may have left shared state half done;
/// - a `1xx` cannot end an exchange (RFC 9110 §15.2): only a `101` the
///   request offered (`can_upgrade`, which only HTTP/1.1 sets; RFC 9113
///   §8.6 has no upgrades) goes out, with its hand-over; any other `1xx`
///   is the handler's mistake and answers `500`;
/// - after a `413` the connection closes (RFC 9110 §15.5.14), so the
///   client stops sending a body nobody reads; always doing so keeps the
///   verdict the same whether or not the rest of the body arrived already.
///
/// It works on the response where the engine holds it, and the rare cases
/// are out of line: moved in and out of a result value, the response cost
/// two `memcpy` calls a request (about 70 instructions in
/// `tramline-bench --instr`).
#[inline(always)]
pub(crate) fn settle(response: &mut Response, can_upgrade: bool, peer: SocketAddr) -> Settled {
    let status = response.status();
    if status.is_informational() {
        return Settled {
            then: Then::Continue,
            upgrade: informational(response, can_upgrade, peer),
        };
    }
    let then = if status == StatusCode::PAYLOAD_TOO_LARGE {
        Then::CloseLingering
    } else if status == StatusCode::INTERNAL_SERVER_ERROR
        && response.extensions().get::<Panicked>().is_some()
    {
        Then::Close
    } else {
        Then::Continue
    };
    Settled {
        then,
        upgrade: None,
    }
}

/// The app panicked: `500`, marked so that the connection closes.
#[cold]
#[inline(never)]
fn panicked(message: &str, peer: SocketAddr) -> Response {
    tracing::error!(panic = %message, %peer, "handler panicked; answering 500");
    let mut response = internal_error();
    response.extensions_mut().insert(Panicked);
    response
}

/// A `1xx`: the hand-over of an offered `101`, or else a `500` in place of
/// the response.
#[cold]
#[inline(never)]
fn informational(response: &mut Response, can_upgrade: bool, peer: SocketAddr) -> Option<Callback> {
    match take_callback(response) {
        Some(callback) if can_upgrade && response.status() == StatusCode::SWITCHING_PROTOCOLS => {
            Some(callback)
        }
        _ => {
            tracing::error!(
                status = %response.status(),
                %peer,
                "handler answered 1xx without an upgrade the request offered; answering 500"
            );
            *response = internal_error();
            None
        }
    }
}

/// The response to an echo, a handler that answered with its own request
/// body, once the engine has read that body whole (`collected`) under its
/// limit: the same response with the bytes, or what was wrong with the
/// body.
pub(crate) fn echoed(
    parts: http::response::Parts,
    collected: Result<Bytes, BodyError>,
) -> Response {
    match collected {
        Ok(bytes) => Response::from_parts(parts, Body::from(bytes)),
        Err(e) if e.is_too_large() => {
            plain_text(StatusCode::PAYLOAD_TOO_LARGE, "request body too large")
        }
        Err(_) => plain_text(StatusCode::BAD_REQUEST, "invalid request body"),
    }
}

/// Whether a connection may carry another request after an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Then {
    /// It may, as far as the answer goes.
    Continue,
    /// It closes.
    Close,
    /// It closes while the client may still be sending a body nobody will
    /// read, so the close lingers until the client has read the answer.
    CloseLingering,
}

fn internal_error() -> Response {
    plain_text(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
}

#[cfg(test)]
mod tests {
    use futures_lite::future;

    use super::*;
    use crate::Router;
    use crate::routing::get;

    /// A service that panics while routing, before it has a future.
    struct PanicsWhileRouting;

    impl Service for PanicsWhileRouting {
        type Future = future::Ready<Response>;

        fn call(&self, _req: Request) -> Self::Future {
            panic!("routing broke")
        }
    }

    #[test]
    fn a_panic_while_routing_or_polling_becomes_a_marked_500() {
        let peer = SocketAddr::from(([127, 0, 0, 1], 7));
        let routed =
            futures_lite::future::block_on(call(&PanicsWhileRouting, Request::default(), peer));
        assert_eq!(routed.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(routed.extensions().get::<Panicked>().is_some());

        let router = Router::new().route(
            "/",
            get(|| async {
                futures_lite::future::yield_now().await;
                // The peer is set in every poll, not only the first.
                assert_eq!(
                    crate::vocab::peer::current(),
                    Some(SocketAddr::from(([127, 0, 0, 1], 7)))
                );
                panic!("handler broke");
                #[allow(unreachable_code)]
                "never"
            }),
        );
        let polled = futures_lite::future::block_on(call(&router, Request::default(), peer));
        assert_eq!(polled.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(polled.extensions().get::<Panicked>().is_some());
        assert_eq!(crate::vocab::peer::current(), None);

        let ok = Router::new().route("/", get(|| async { "ok" }));
        let answered = futures_lite::future::block_on(call(&ok, Request::default(), peer));
        assert_eq!(answered.status(), StatusCode::OK);
        assert!(answered.extensions().get::<Panicked>().is_none());
    }

    fn status(code: u16) -> Response {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::from_u16(code).unwrap();
        response
    }

    fn with_hand_over(mut response: Response) -> Response {
        let callback: Callback = Box::new(|_| Box::pin(async {}));
        response
            .extensions_mut()
            .insert(super::super::upgrade::OnUpgrade::new(callback));
        response
    }

    fn text(response: Response) -> String {
        let body = futures_lite::future::block_on(response.into_body().collect()).unwrap();
        String::from_utf8(body.to_vec()).unwrap()
    }

    #[test]
    fn the_rules_after_the_handler() {
        let peer = SocketAddr::from(([127, 0, 0, 1], 7));
        // (what the app answered, whether an upgrade was offered) →
        // (status sent, then, whether the connection is handed over)
        let cases = [
            (status(200), false, 200, Then::Continue, false),
            (panicked("boom", peer), true, 500, Then::Close, false),
            // A 500 of the app's own keeps the connection.
            (status(500), true, 500, Then::Continue, false),
            (with_hand_over(status(101)), true, 101, Then::Continue, true),
            // Not offered (or HTTP/2): no switch.
            (
                with_hand_over(status(101)),
                false,
                500,
                Then::Continue,
                false,
            ),
            // A 101 without the function that takes the connection.
            (status(101), true, 500, Then::Continue, false),
            (status(103), true, 500, Then::Continue, false),
            (status(413), false, 413, Then::CloseLingering, false),
        ];
        for (i, case) in cases.into_iter().enumerate() {
            let (mut response, can_upgrade, sent, then, upgrades) = case;
            let settled = settle(&mut response, can_upgrade, peer);
            assert_eq!(response.status().as_u16(), sent, "case {i}");
            assert_eq!(settled.then, then, "case {i}");
            assert_eq!(settled.upgrade.is_some(), upgrades, "case {i}");
            // The engine's own 500s say no more than this.
            if sent == 500 && i != 2 {
                assert_eq!(text(response), "internal server error", "case {i}");
            }
        }
    }

    #[test]
    fn an_echo_is_answered_with_its_body_or_what_was_wrong_with_it() {
        let (parts, _) = status(201).into_parts();
        let ok = echoed(parts, Ok(Bytes::from_static(b"abc")));
        assert_eq!((ok.status().as_u16(), text(ok)), (201, "abc".into()));

        let too_large = futures_lite::future::block_on(Body::from("abcd").with_limit(2).collect());
        let (parts, _) = status(200).into_parts();
        let refused = echoed(parts, too_large);
        assert_eq!(
            (refused.status().as_u16(), text(refused)),
            (413, "request body too large".into())
        );

        let (parts, _) = status(200).into_parts();
        let broken = echoed(parts, Err(BodyError::new(std::io::Error::other("reset"))));
        assert_eq!(
            (broken.status().as_u16(), text(broken)),
            (400, "invalid request body".into())
        );
    }
}
