//! Type-erased handlers: each handler is boxed once, at registration, and
//! each request then costs one boxed future, plus one per middleware layer
//! it passes through.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::middleware::{Layer, wrap};
use crate::routing::handler::Handler;
use crate::vocab::service::{BoxFuture, ErasedService};
use crate::vocab::{Request, Response};

/// A handler that still needs the router's state `S` on every call.
trait ErasedHandler<S>: Send + Sync + 'static {
    fn call(&self, req: Request, state: &S) -> BoxFuture;

    /// Erases the handler again together with `state`, so that it no longer
    /// needs one.
    fn bind(&self, state: S) -> Arc<dyn ErasedService>;
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

    fn bind(&self, state: S) -> Arc<dyn ErasedService> {
        Arc::new(Bound {
            handler: self.handler.clone(),
            state,
            _args: PhantomData,
        })
    }
}

impl<H, T, S> ErasedService for Bound<H, T, S>
where
    H: Handler<T, S>,
    T: 'static,
    S: Clone + Send + Sync + 'static,
{
    fn call(&self, req: Request) -> BoxFuture {
        Box::pin(self.handler.clone().call(req, self.state.clone()))
    }
}

/// One erased handler with its middleware, cheap to clone, callable with a
/// `&S`.
pub(crate) struct Endpoint<S> {
    core: Core<S>,
    /// The middleware in front of `core`, outermost first.
    layers: Vec<Layer>,
    /// How many of the first `layers` were added at the current level (the
    /// method router or router that now holds the endpoint); a new layer
    /// at this level goes right after them, inside them and outside the
    /// layers of inner levels.
    level: usize,
    /// `layers` around `core`, built whenever `core` has its state.
    /// INVARIANT: `Some` iff `layers` is not empty and the state is known.
    chain: Option<Arc<dyn ErasedService>>,
}

enum Core<S> {
    /// Registered on a `Router<S>`; takes the state at call time.
    Unbound(Arc<dyn ErasedHandler<S>>),
    /// Given its state by `with_state`; ignores the state at call time.
    Bound(Arc<dyn ErasedService>),
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
        Self {
            core: Core::Unbound(Arc::new(Unbound {
                handler,
                _args: PhantomData,
            })),
            layers: Vec::new(),
            level: 0,
            chain: None,
        }
    }

    #[inline]
    pub(crate) fn call(&self, req: Request, state: &S) -> BoxFuture {
        if let Some(chain) = &self.chain {
            return chain.call(req);
        }
        match &self.core {
            Core::Bound(route) if self.layers.is_empty() => route.call(req),
            Core::Unbound(handler) if self.layers.is_empty() => handler.call(req, state),
            _ => self.call_unbuilt(req, state),
        }
    }

    /// Layers around a handler whose state only arrives now: only a router
    /// that was never given its state gets here, and `Service` is
    /// implemented for `Router<()>` alone, whose chains are built eagerly.
    /// Correct, if slower: it builds the chain. Kept out of line so that
    /// [`call`](Self::call) stays small enough to inline, which saves a
    /// copy of the request.
    #[cold]
    fn call_unbuilt(&self, req: Request, state: &S) -> BoxFuture {
        wrap(&self.layers, self.core.bind(state.clone())).call(req)
    }

    /// Adds `layer` at the current level: inside the layers added before it
    /// at this level, outside those of inner levels.
    pub(crate) fn layer(mut self, layer: &Layer) -> Self {
        self.layers.insert(self.level, Arc::clone(layer));
        self.level += 1;
        self.rebuild();
        self
    }

    /// Starts a new level: the endpoint has moved into an enclosing method
    /// router or router, whose layers go outside all present ones.
    pub(crate) fn enter_level(&mut self) {
        self.level = 0;
    }

    /// Gives the endpoint `state`; the result fits a router of any state.
    pub(crate) fn with_state<S2>(self, state: &S) -> Endpoint<S2> {
        let route = self.core.bind(state.clone());
        let chain = (!self.layers.is_empty()).then(|| wrap(&self.layers, Arc::clone(&route)));
        Endpoint {
            core: Core::Bound(route),
            layers: self.layers,
            level: self.level,
            chain,
        }
    }

    fn rebuild(&mut self) {
        let route = match &self.core {
            Core::Bound(route) => Some(Arc::clone(route)),
            // A router without state can bind its handlers now, so that
            // requests find the chain built.
            Core::Unbound(handler) => (&() as &dyn Any)
                .downcast_ref::<S>()
                .map(|unit| handler.bind(unit.clone())),
        };
        self.chain = route
            .filter(|_| !self.layers.is_empty())
            .map(|route| wrap(&self.layers, route));
    }
}

impl<S: Clone + Send + Sync + 'static> Core<S> {
    fn bind(&self, state: S) -> Arc<dyn ErasedService> {
        match self {
            Self::Unbound(handler) => handler.bind(state),
            Self::Bound(route) => Arc::clone(route),
        }
    }
}

impl<S> Clone for Endpoint<S> {
    fn clone(&self) -> Self {
        Self {
            core: match &self.core {
                Core::Unbound(handler) => Core::Unbound(Arc::clone(handler)),
                Core::Bound(route) => Core::Bound(Arc::clone(route)),
            },
            layers: self.layers.clone(),
            level: self.level,
            chain: self.chain.clone(),
        }
    }
}

impl<S> fmt::Debug for Endpoint<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("layers", &self.layers.len())
            .finish_non_exhaustive()
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
    use crate::extract::State;
    use crate::vocab::Body;
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
