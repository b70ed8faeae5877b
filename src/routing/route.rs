//! Type-erased handlers: each handler is boxed once, at registration, and
//! each request then costs one boxed future.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::handler::Handler;
use crate::{Request, Response};

type BoxFuture = Pin<Box<dyn Future<Output = Response> + Send + 'static>>;

/// A handler that still needs the router's state `S` on every call.
trait ErasedHandler<S>: Send + Sync + 'static {
    fn call(&self, req: Request, state: &S) -> BoxFuture;

    /// Erases the handler again together with `state`, so that it no longer
    /// needs one.
    fn bind(&self, state: S) -> Arc<dyn ErasedRoute>;
}

/// A handler that carries everything it needs.
trait ErasedRoute: Send + Sync + 'static {
    fn call(&self, req: Request) -> BoxFuture;
}

/// `H` with the `T` that selects its `Handler` impl.
struct Unbound<H, T> {
    handler: H,
    _args: PhantomData<fn() -> T>,
}

struct Bound<H, T, S> {
    handler: H,
    state: S,
    _args: PhantomData<fn() -> T>,
}

impl<H, T, S> ErasedHandler<S> for Unbound<H, T>
where
    H: Handler<T, S>,
    T: 'static,
    S: Clone + Send + Sync + 'static,
{
    fn call(&self, req: Request, state: &S) -> BoxFuture {
        Box::pin(self.handler.clone().call(req, state.clone()))
    }

    fn bind(&self, state: S) -> Arc<dyn ErasedRoute> {
        Arc::new(Bound {
            handler: self.handler.clone(),
            state,
            _args: PhantomData,
        })
    }
}

impl<H, T, S> ErasedRoute for Bound<H, T, S>
where
    H: Handler<T, S>,
    T: 'static,
    S: Clone + Send + Sync + 'static,
{
    fn call(&self, req: Request) -> BoxFuture {
        Box::pin(self.handler.clone().call(req, self.state.clone()))
    }
}

/// One erased handler, cheap to clone, callable with a `&S`.
pub(crate) struct Endpoint<S>(Kind<S>);

enum Kind<S> {
    /// Registered on a `Router<S>`; takes the state at call time.
    Unbound(Arc<dyn ErasedHandler<S>>),
    /// Given its state by `with_state`; ignores the state at call time.
    Bound(Arc<dyn ErasedRoute>),
}

impl<S> Endpoint<S>
where
    S: Clone + Send + Sync + 'static,
{
    pub(crate) fn new<H, T>(handler: H) -> Self
    where
        H: Handler<T, S>,
        T: 'static,
    {
        Self(Kind::Unbound(Arc::new(Unbound {
            handler,
            _args: PhantomData,
        })))
    }

    pub(crate) fn call(&self, req: Request, state: &S) -> BoxFuture {
        match &self.0 {
            Kind::Unbound(handler) => handler.call(req, state),
            Kind::Bound(route) => route.call(req),
        }
    }

    /// Gives the endpoint `state`; the result fits a router of any state.
    pub(crate) fn with_state<S2>(self, state: &S) -> Endpoint<S2> {
        Endpoint(Kind::Bound(match self.0 {
            Kind::Unbound(handler) => handler.bind(state.clone()),
            Kind::Bound(route) => route,
        }))
    }
}

impl<S> Clone for Endpoint<S> {
    fn clone(&self) -> Self {
        Self(match &self.0 {
            Kind::Unbound(handler) => Kind::Unbound(Arc::clone(handler)),
            Kind::Bound(route) => Kind::Bound(Arc::clone(route)),
        })
    }
}

impl<S> fmt::Debug for Endpoint<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Endpoint")
    }
}

/// The future of one routed request: the handler's boxed future, or a
/// response the router made itself (404, 405, automatic OPTIONS).
#[must_use = "futures do nothing unless you .await or poll them"]
pub(crate) struct CallFuture(CallKind);

enum CallKind {
    Handler(BoxFuture),
    Ready(Option<Response>),
}

impl CallFuture {
    pub(crate) fn handler(future: BoxFuture) -> Self {
        Self(CallKind::Handler(future))
    }

    pub(crate) fn ready(res: Response) -> Self {
        Self(CallKind::Ready(Some(res)))
    }
}

impl Future for CallFuture {
    type Output = Response;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Response> {
        match &mut self.0 {
            CallKind::Handler(future) => future.as_mut().poll(cx),
            CallKind::Ready(res) => {
                Poll::Ready(res.take().expect("CallFuture polled after completion"))
            }
        }
    }
}

impl fmt::Debug for CallFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CallFuture")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Body;
    use crate::extract::State;
    use futures_lite::future::block_on;

    fn body_of(res: Response) -> String {
        String::from_utf8(block_on(res.into_body().collect()).unwrap().to_vec()).unwrap()
    }

    #[test]
    fn bound_endpoint_uses_its_own_state() {
        let endpoint = Endpoint::<String>::new(|State(s): State<String>| async move { s });
        let unbound = body_of(block_on(
            endpoint.call(Request::new(Body::empty()), &"call".into()),
        ));
        assert_eq!(unbound, "call");

        let bound: Endpoint<()> = endpoint.with_state(&"bound".into());
        assert_eq!(
            body_of(block_on(bound.call(Request::new(Body::empty()), &()))),
            "bound"
        );
        // Binding again keeps the first state.
        let rebound: Endpoint<u8> = bound.with_state(&());
        assert_eq!(
            body_of(block_on(rebound.call(Request::new(Body::empty()), &0))),
            "bound"
        );
    }

    #[test]
    fn ready_future_yields_its_response() {
        let res = block_on(CallFuture::ready(Response::new(Body::from("r"))));
        assert_eq!(body_of(res), "r");
    }
}
