//! The `Handler` trait: async functions that answer requests.

use std::future::Future;

use crate::vocab::{FromRequest, FromRequestParts, Request};
use crate::vocab::{IntoResponse, Response};

/// An async function (or closure) that can answer a request.
///
/// `Handler` is implemented for every `Clone + Send + Sync + 'static`
/// function or closure of up to 16 arguments that returns a `Send` future
/// whose output implements [`IntoResponse`], where every argument but the
/// last implements [`FromRequestParts<S>`] and the last implements
/// [`FromRequest<S, M>`] (which every parts extractor does too). The
/// arguments are extracted in order; the first rejection becomes the
/// response and the function is not called.
///
/// `T` only tells the impls apart (it is the tuple of argument types plus a
/// marker); you never name it. `S` is the router's state.
///
/// You rarely implement `Handler` yourself: write an `async fn` and pass it
/// to [`get`](crate::routing::get) and friends.
///
/// When a function is not a handler, the compiler's error starts with
/// ``the trait `Handler<_, _>` is not implemented`` and lists the usual
/// mistakes: a body extractor that is not last, a return type that is not
/// [`IntoResponse`], a future that is not `Send`, a `State<T>` the router
/// cannot provide. This one takes the body before the method:
///
/// ```compile_fail
/// use tramline::http::Method;
/// use tramline::{Json, Router};
/// use tramline::routing::post;
///
/// async fn wrong_order(Json(v): Json<u32>, method: Method) -> String {
///     format!("{method} {v}")
/// }
/// let app: Router = Router::new().route("/", post(wrong_order));
/// ```
///
/// And this one holds a `std::sync::MutexGuard` across an `.await`, so its
/// future is not `Send`:
///
/// ```compile_fail
/// use std::sync::{Arc, Mutex};
/// use tramline::Router;
/// use tramline::extract::State;
/// use tramline::routing::get;
///
/// async fn not_send(State(m): State<Arc<Mutex<u32>>>) -> String {
///     let guard = m.lock().unwrap();
///     futures_lite::future::yield_now().await;
///     guard.to_string()
/// }
/// let app: Router = Router::new().route("/", get(not_send)).with_state(Arc::new(Mutex::new(0)));
/// ```
///
/// # Examples
///
/// ```
/// use http::{Method, StatusCode};
/// use tramline::extract::Path;
/// use tramline::{Router, Body, Json, Request};
/// use tramline::routing::post;
///
/// async fn update(method: Method, Path(id): Path<u32>, Json(tags): Json<Vec<String>>) -> (StatusCode, String) {
///     (StatusCode::ACCEPTED, format!("{method} {id}: {}", tags.join(",")))
/// }
///
/// let app = Router::new().route("/items/{id}", post(update));
/// let req = Request::post("/items/5")
///     .header("content-type", "application/json")
///     .body(Body::from(r#"["a","b"]"#))
///     .unwrap();
/// let res = futures_lite::future::block_on(app.handle(req));
/// assert_eq!(res.status(), 202);
/// let body = futures_lite::future::block_on(res.into_body().collect()).unwrap();
/// assert_eq!(body, "POST 5: a,b");
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a valid handler",
    label = "not a valid handler",
    note = "a handler is an `async fn` or closure returning a future; check each of these:",
    note = "every argument but the last must implement `FromRequestParts`; a body extractor (`Json`, `Form`, `String`, `Bytes`, `Request`, `Body`) must be the last argument, and there may be only one",
    note = "the returned value must implement `IntoResponse`",
    note = "the future must be `Send`: do not hold an `Rc`, `RefCell` borrow or `std::sync::MutexGuard` across an `.await`",
    note = "a `State<T>` argument needs `T: FromRef` of the router's state; give the router its state with `Router::with_state`",
    note = "handlers take at most 16 arguments"
)]
pub trait Handler<T, S>: Clone + Send + Sync + Sized + 'static {
    /// Extracts the arguments from `req` and `state`, calls the handler and
    /// turns its output into a response.
    fn call(self, req: Request, state: S) -> impl Future<Output = Response> + Send + 'static;
}

impl<F, Fut, Res, S> Handler<((),), S> for F
where
    F: FnOnce() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Res> + Send + 'static,
    Res: IntoResponse,
{
    #[allow(
        clippy::manual_async_fn,
        reason = "an `async fn` would capture `Res` and `S` and so need them `'static`"
    )]
    fn call(self, req: Request, _state: S) -> impl Future<Output = Response> + Send + 'static {
        // The request is not read: its header map goes back for the
        // thread's next request.
        crate::vocab::recycle::give(req.into_parts().0.headers);
        async move { self().await.into_response() }
    }
}

// One argument: it takes the whole request, so the request is not split
// into head and body to be put back together (two copies of it).
#[allow(non_snake_case, reason = "the argument names are the type names")]
impl<F, Fut, Res, S, M, T1> Handler<(M, T1), S> for F
where
    F: FnOnce(T1) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Res> + Send + 'static,
    Res: IntoResponse,
    S: Send + Sync + 'static,
    M: 'static,
    T1: FromRequest<S, M> + Send + 'static,
{
    #[allow(
        clippy::manual_async_fn,
        reason = "an `async fn` would capture `Res` and so need it `'static`"
    )]
    fn call(self, req: Request, state: S) -> impl Future<Output = Response> + Send + 'static {
        async move {
            let T1 = match T1::from_request(req, &state).await {
                Ok(value) => value,
                Err(rejection) => return rejection.into_response(),
            };
            self(T1).await.into_response()
        }
    }
}

macro_rules! impl_handler {
    ([$($ty:ident),*], $last:ident) => {
        #[allow(non_snake_case, reason = "the argument names are the type names")]
        impl<F, Fut, Res, S, M, $($ty,)* $last> Handler<(M, $($ty,)* $last,), S> for F
        where
            F: FnOnce($($ty,)* $last) -> Fut + Clone + Send + Sync + 'static,
            Fut: Future<Output = Res> + Send + 'static,
            Res: IntoResponse,
            S: Send + Sync + 'static,
            M: 'static,
            $($ty: FromRequestParts<S> + Send + 'static,)*
            $last: FromRequest<S, M> + Send + 'static,
        {
            fn call(self, req: Request, state: S) -> impl Future<Output = Response> + Send + 'static {
                async move {
                    let (mut parts, body) = req.into_parts();
                    $(
                        let $ty = match $ty::from_request_parts(&mut parts, &state).await {
                            Ok(value) => value,
                            Err(rejection) => return rejection.into_response(),
                        };
                    )*
                    let req = Request::from_parts(parts, body);
                    let $last = match $last::from_request(req, &state).await {
                        Ok(value) => value,
                        Err(rejection) => return rejection.into_response(),
                    };
                    self($($ty,)* $last).await.into_response()
                }
            }
        }
    };
}

impl_handler!([T1], T2);
impl_handler!([T1, T2], T3);
impl_handler!([T1, T2, T3], T4);
impl_handler!([T1, T2, T3, T4], T5);
impl_handler!([T1, T2, T3, T4, T5], T6);
impl_handler!([T1, T2, T3, T4, T5, T6], T7);
impl_handler!([T1, T2, T3, T4, T5, T6, T7], T8);
impl_handler!([T1, T2, T3, T4, T5, T6, T7, T8], T9);
impl_handler!([T1, T2, T3, T4, T5, T6, T7, T8, T9], T10);
impl_handler!([T1, T2, T3, T4, T5, T6, T7, T8, T9, T10], T11);
impl_handler!([T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11], T12);
impl_handler!([T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12], T13);
impl_handler!(
    [T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13],
    T14
);
impl_handler!(
    [T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14],
    T15
);
impl_handler!(
    [
        T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14, T15
    ],
    T16
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::{Path, Query, State};
    use crate::vocab::Body;
    use bytes::Bytes;
    use futures_lite::future::block_on;
    use http::{HeaderMap, Method, StatusCode, Uri, Version};
    use std::collections::HashMap;

    fn assert_handler<T, S, H: Handler<T, S>>(_: H) {}

    #[test]
    fn handler_shapes_compile() {
        assert_handler::<_, (), _>(|| async {});
        assert_handler::<_, (), _>(|| async { StatusCode::OK });
        assert_handler::<_, (), _>(|_: Bytes| async { "bytes last" });
        assert_handler::<_, (), _>(|_: Method| async { "parts extractor last" });
        assert_handler::<_, (), _>(|_: Method, _: Request| async { "request last" });
        assert_handler::<_, (), _>(|_: Result<String, _>| async { "result of body" });
        // The most arguments a handler takes, as a closure (the same
        // `Handler` impls serve closures and functions).
        let sixteen = |_: Method,
                       _: Uri,
                       _: Version,
                       _: HeaderMap,
                       _: State<u8>,
                       _: Option<Path<u32>>,
                       _: Query<HashMap<String, String>>,
                       _: Method,
                       _: Uri,
                       _: Version,
                       _: HeaderMap,
                       _: State<u8>,
                       _: Option<Method>,
                       _: Method,
                       _: Uri,
                       _: String| async {};
        assert_handler::<_, u8, _>(sixteen);
    }

    fn run<T, H: Handler<T, ()>>(handler: H, req: Request) -> (StatusCode, String) {
        let res = block_on(handler.call(req, ()));
        let status = res.status();
        let body = block_on(res.into_body().collect()).unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[test]
    fn arguments_are_extracted_in_order() {
        let handler = |method: Method, uri: Uri, body: String| async move {
            format!("{method} {uri} {body}")
        };
        let req = Request::put("/x?y").body(Body::from("z")).unwrap();
        assert_eq!(run(handler, req), (StatusCode::OK, "PUT /x?y z".into()));
    }

    #[test]
    fn first_rejection_answers_and_skips_the_handler() {
        let called = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = called.clone();
        let handler = move |_: Query<HashMap<String, u32>>, _: String| {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
            async {}
        };
        let req = Request::get("/?a=x").body(Body::from(vec![0xff])).unwrap();
        let (status, body) = run(handler, req);
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            body,
            "invalid query parameter 'a': invalid digit found in string"
        );
        assert!(!called.load(std::sync::atomic::Ordering::SeqCst));
    }
}
