//! The `State` extractor and the `FromRef` conversion behind it.

use std::convert::Infallible;
use std::future::{Future, ready};

use http::request::Parts;

use super::FromRequestParts;

/// Produces a value from a reference to another; lets a handler extract a
/// part of the router's state.
///
/// Every `Clone` type converts from itself, so `State<AppState>` works on a
/// `Router<AppState>` with no extra code. Implement `FromRef<AppState>` for
/// a field's type to extract just that field (a "substate").
///
/// # Examples
///
/// ```
/// use tramline::extract::{FromRef, State};
/// use tramline::{Router, Body, Request};
/// use tramline::routing::get;
///
/// #[derive(Clone)]
/// struct AppState {
///     greeting: Greeting,
/// }
///
/// #[derive(Clone)]
/// struct Greeting(&'static str);
///
/// impl FromRef<AppState> for Greeting {
///     fn from_ref(state: &AppState) -> Self {
///         state.greeting.clone()
///     }
/// }
///
/// let app = Router::new()
///     .route("/", get(|State(Greeting(g)): State<Greeting>| async move { g }))
///     .with_state(AppState { greeting: Greeting("hello") });
/// let res = futures_lite::future::block_on(app.handle(Request::get("/").body(Body::empty()).unwrap()));
/// let body = futures_lite::future::block_on(res.into_body().collect()).unwrap();
/// assert_eq!(body, "hello");
/// ```
pub trait FromRef<T> {
    /// Converts to this type from a reference to `input`.
    fn from_ref(input: &T) -> Self;
}

impl<T: Clone> FromRef<T> for T {
    fn from_ref(input: &T) -> Self {
        input.clone()
    }
}

/// Extracts the router's state, or a part of it via [`FromRef`].
///
/// The state is given with [`Router::with_state`](crate::Router::with_state);
/// a router whose handlers need a state cannot be served until it has one,
/// and forgetting it is a compile error. The state is cloned once per
/// extraction, so keep it cheap to clone (wrap big data in an `Arc`).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use tramline::extract::State;
/// use tramline::{Router, Body, Request};
/// use tramline::routing::post;
///
/// let hits = Arc::new(AtomicU32::new(0));
/// let app = Router::new()
///     .route("/hit", post(|State(hits): State<Arc<AtomicU32>>| async move {
///         hits.fetch_add(1, Ordering::Relaxed);
///     }))
///     .with_state(hits.clone());
/// futures_lite::future::block_on(app.handle(Request::post("/hit").body(Body::empty()).unwrap()));
/// assert_eq!(hits.load(Ordering::Relaxed), 1);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct State<S>(pub S);

impl<Outer, Inner> FromRequestParts<Outer> for State<Inner>
where
    Inner: FromRef<Outer> + Send,
{
    type Rejection = Infallible;

    fn from_request_parts(
        _parts: &mut Parts,
        state: &Outer,
    ) -> impl Future<Output = Result<Self, Self::Rejection>> + Send {
        ready(Ok(Self(Inner::from_ref(state))))
    }
}

impl<S> std::ops::Deref for State<S> {
    type Target = S;

    fn deref(&self) -> &S {
        &self.0
    }
}

impl<S> std::ops::DerefMut for State<S> {
    fn deref_mut(&mut self) -> &mut S {
        &mut self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::block_on;

    #[derive(Clone)]
    struct Outer {
        inner: Inner,
    }

    #[derive(Clone, Debug, PartialEq)]
    struct Inner(u8);

    impl FromRef<Outer> for Inner {
        fn from_ref(outer: &Outer) -> Self {
            outer.inner.clone()
        }
    }

    #[test]
    fn state_extracts_whole_state_and_substate() {
        let (mut parts, ()) = http::Request::new(()).into_parts();
        let outer = Outer { inner: Inner(7) };
        let State(inner) =
            block_on(State::<Inner>::from_request_parts(&mut parts, &outer)).unwrap();
        assert_eq!(inner, Inner(7));
        let State(whole) =
            block_on(State::<Outer>::from_request_parts(&mut parts, &outer)).unwrap();
        assert_eq!(whole.inner, Inner(7));
    }
}
