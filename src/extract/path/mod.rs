//! The `Path` extractor.

use std::fmt;
use std::future::{Future, ready};

use http::StatusCode;
use http::request::Parts;
use serde::de::DeserializeOwned;

use super::FromRequestParts;
use super::rejection::rejection_impls;
use crate::routing::params::{ParamsView, PathParams};

mod de;

/// Extracts the matched route's path parameters, deserialized with serde.
///
/// Values are percent-decoded first (`%20` is a space, `+` stays a plus).
/// `T` can be:
///
/// - one value (`u32`, `String`, a unit-variant enum, ...) when the route
///   has exactly one parameter;
/// - a tuple, holding the parameters in path order;
/// - a struct or a map (`HashMap<String, String>`), keyed by parameter name.
///
/// A value that does not parse is a `400 Bad Request` naming the parameter,
/// e.g. `invalid path parameter 'id': expected an unsigned integer, got
/// "abc"`; a `T` that does not fit the route (a tuple of the wrong length)
/// is a `500`. See [`PathRejection`].
///
/// # Examples
///
/// ```
/// use serde::Deserialize;
/// use tramline::extract::Path;
/// use tramline::{Router, Body, Request};
/// use tramline::routing::get;
///
/// #[derive(Deserialize)]
/// struct Params {
///     user: String,
///     post: u32,
/// }
///
/// let app = Router::new()
///     .route("/users/{id}", get(|Path(id): Path<u32>| async move { format!("user {id}") }))
///     .route("/files/{*path}", get(|Path(path): Path<String>| async move { path }))
///     .route("/u/{user}/p/{post}", get(|Path(p): Path<Params>| async move {
///         format!("{} #{}", p.user, p.post)
///     }))
///     .route("/pair/{a}/{b}", get(|Path((a, b)): Path<(String, u8)>| async move {
///         format!("{a}={b}")
///     }));
///
/// let text = |uri: &str| {
///     let req = Request::get(uri).body(Body::empty()).unwrap();
///     let res = futures_lite::future::block_on(app.handle(req));
///     let body = futures_lite::future::block_on(res.into_body().collect()).unwrap();
///     String::from_utf8(body.to_vec()).unwrap()
/// };
/// assert_eq!(text("/users/7"), "user 7");
/// assert_eq!(text("/files/a/b%20c.txt"), "a/b c.txt");
/// assert_eq!(text("/u/ann/p/3"), "ann #3");
/// assert_eq!(text("/pair/x/9"), "x=9");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned> Path<T> {
    fn from_parts(parts: &Parts) -> Result<Self, PathRejection> {
        let view = match parts.extensions.get::<PathParams>() {
            Some(params) => params.view().map_err(|(name, utf8)| {
                PathRejection::new(PathErrorKind::Encoding {
                    name: name.to_owned(),
                    utf8,
                })
            })?,
            // The router stores nothing for routes without parameters.
            None => ParamsView::EMPTY,
        };
        T::deserialize(de::PathDeserializer::new(view))
            .map(Self)
            .map_err(|e| PathRejection::new(e.into_kind()))
    }
}

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
{
    type Rejection = PathRejection;

    fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> impl Future<Output = Result<Self, Self::Rejection>> + Send {
        ready(Self::from_parts(parts))
    }
}

impl<T> std::ops::Deref for Path<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// Rejection of [`Path`](Path): the matched path parameters do not
/// fit the requested type.
///
/// Bad input (a value that does not parse, a bad percent-encoding) is a
/// `400 Bad Request` that names the parameter. A mismatch between the route
/// and the type (wrong number of parameters, a type the path cannot hold)
/// is a `500 Internal Server Error`, since only the server can fix it.
///
/// # Examples
///
/// ```
/// use tramline::{Router, Body, Request};
/// use tramline::routing::get;
/// use tramline::extract::Path;
///
/// let app = Router::new().route("/users/{id}", get(|Path(id): Path<u32>| async move { id.to_string() }));
/// let req = Request::get("/users/abc").body(Body::empty()).unwrap();
/// let res = futures_lite::future::block_on(app.handle(req));
/// assert_eq!(res.status(), 400);
/// let body = futures_lite::future::block_on(res.into_body().collect()).unwrap();
/// assert_eq!(
///     body,
///     r#"invalid path parameter 'id': expected an unsigned integer, got "abc""#,
/// );
/// ```
#[derive(Debug)]
pub struct PathRejection {
    kind: PathErrorKind,
}

#[derive(Debug)]
pub(crate) enum PathErrorKind {
    /// One value did not deserialize.
    InvalidParam {
        name: String,
        message: String,
    },
    /// A value was not valid percent-encoding, or not UTF-8 once decoded.
    Encoding {
        name: String,
        utf8: bool,
    },
    /// A deserializer error that names no parameter (e.g. a missing field).
    Message(String),
    WrongCount {
        expected: usize,
        got: usize,
    },
    Unsupported(&'static str),
}

impl PathRejection {
    pub(crate) fn new(kind: PathErrorKind) -> Self {
        Self { kind }
    }

    /// Returns the status code of the response: `400` for bad input, `500`
    /// when the route and the requested type disagree.
    pub fn status(&self) -> StatusCode {
        match self.kind {
            PathErrorKind::InvalidParam { .. }
            | PathErrorKind::Encoding { .. }
            | PathErrorKind::Message(_) => StatusCode::BAD_REQUEST,
            PathErrorKind::WrongCount { .. } | PathErrorKind::Unsupported(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    fn fmt_text(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            PathErrorKind::InvalidParam { name, message } => {
                write!(f, "invalid path parameter '{name}': {message}")
            }
            PathErrorKind::Encoding { name, utf8: false } => {
                write!(f, "invalid percent-encoding in path parameter '{name}'")
            }
            PathErrorKind::Encoding { name, utf8: true } => {
                write!(
                    f,
                    "path parameter '{name}' is not valid UTF-8 once percent-decoded"
                )
            }
            PathErrorKind::Message(message) => write!(f, "invalid path parameters: {message}"),
            PathErrorKind::WrongCount { expected, got } => {
                write!(
                    f,
                    "wrong number of path parameters: expected {expected}, got {got}"
                )
            }
            PathErrorKind::Unsupported(what) => {
                write!(f, "unsupported type for path parameters: {what}")
            }
        }
    }
}

impl std::error::Error for PathRejection {}
rejection_impls!(PathRejection);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::params::param_names;
    use crate::vocab::IntoResponse;
    use http::StatusCode;
    use serde::Deserialize;
    use std::collections::HashMap;
    use std::fmt::Debug;

    /// Matches `path` against `pattern` the way the router does and
    /// returns the head the extractor sees.
    fn parts(pattern: &str, path: &str) -> Parts {
        let mut router = matchit::Router::new();
        router.insert(pattern, ()).unwrap();
        let (mut parts, ()) = http::Request::get(path).body(()).unwrap().into_parts();
        let params = {
            let m = router.at(parts.uri.path()).unwrap();
            (!m.params.is_empty())
                .then(|| PathParams::new(&param_names(pattern), &m.params, &parts.uri))
        };
        if let Some(params) = params {
            params.insert_into(&mut parts.extensions);
        }
        parts
    }

    fn extract<T: DeserializeOwned>(pattern: &str, path: &str) -> Result<T, PathRejection> {
        Path::<T>::from_parts(&parts(pattern, path)).map(|Path(t)| t)
    }

    fn ok<T: DeserializeOwned + PartialEq + Debug>(pattern: &str, path: &str, want: T) {
        assert_eq!(
            extract::<T>(pattern, path).unwrap(),
            want,
            "{pattern} {path}"
        );
    }

    fn err<T: DeserializeOwned + Debug>(pattern: &str, path: &str, status: StatusCode, text: &str) {
        let rejection = extract::<T>(pattern, path).unwrap_err();
        assert_eq!(
            (rejection.status(), &*rejection.body_text()),
            (status, text),
            "{path}"
        );
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct UserPost {
        user: String,
        post: u32,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum Kind {
        Book,
        Film,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Id(u64);

    #[test]
    fn single_values_of_each_kind() {
        ok("/{id}", "/42", 42u32);
        ok("/{id}", "/-42", -42i64);
        ok("/{id}", "/255", 255u8);
        ok("/{x}", "/1.5", 1.5f64);
        ok("/{flag}", "/true", true);
        ok("/{c}", "/z", 'z');
        ok("/{name}", "/ann", String::from("ann"));
        ok("/{kind}", "/film", Kind::Film);
        ok("/{id}", "/9", Id(9));
        ok("/{id}", "/9", Some(9u32));
        ok("/{*rest}", "/a/b/c", String::from("a/b/c"));
    }

    #[test]
    fn values_are_percent_decoded() {
        ok("/{name}", "/a%20b", String::from("a b"));
        ok("/{name}", "/a+b", String::from("a+b"));
        ok("/{name}", "/%E2%9C%93", String::from("✓"));
        ok("/{n}", "/%34%32", 42u32);
    }

    #[test]
    fn tuples_structs_and_maps() {
        ok("/{a}/{b}", "/x/7", (String::from("x"), 7u32));
        ok(
            "/u/{user}/p/{post}",
            "/u/ann/p/3",
            UserPost {
                user: "ann".into(),
                post: 3,
            },
        );
        // Struct fields match by name, not by position.
        ok(
            "/p/{post}/u/{user}",
            "/p/3/u/ann",
            UserPost {
                user: "ann".into(),
                post: 3,
            },
        );
        let map: HashMap<String, String> = [("a", "1"), ("b", "two")]
            .map(|(k, v)| (k.into(), v.into()))
            .into();
        ok("/{a}/{b}", "/1/two", map);
        ok("/{a}/{b}/{c}", "/1/2/3", vec![1u8, 2, 3]);
        ok("/static", "/static", HashMap::<String, String>::new());
        ok("/static", "/static", ());
    }

    #[test]
    fn bad_values_name_the_parameter() {
        let bad = StatusCode::BAD_REQUEST;
        err::<u32>(
            "/{id}",
            "/abc",
            bad,
            r#"invalid path parameter 'id': expected an unsigned integer, got "abc""#,
        );
        err::<u32>(
            "/{id}",
            "/-1",
            bad,
            r#"invalid path parameter 'id': expected an unsigned integer, got "-1""#,
        );
        err::<u8>(
            "/{id}",
            "/256",
            bad,
            r#"invalid path parameter 'id': expected an unsigned integer that fits in u8, got "256""#,
        );
        err::<i32>(
            "/{n}",
            "/1.5",
            bad,
            r#"invalid path parameter 'n': expected an integer, got "1.5""#,
        );
        err::<f64>(
            "/{x}",
            "/pi",
            bad,
            r#"invalid path parameter 'x': expected a number, got "pi""#,
        );
        err::<bool>(
            "/{f}",
            "/yes",
            bad,
            r#"invalid path parameter 'f': expected `true` or `false`, got "yes""#,
        );
        err::<char>(
            "/{c}",
            "/ab",
            bad,
            r#"invalid path parameter 'c': expected a single character, got "ab""#,
        );
        err::<(String, u32)>(
            "/{a}/{b}",
            "/x/y",
            bad,
            r#"invalid path parameter 'b': expected an unsigned integer, got "y""#,
        );
        err::<UserPost>(
            "/u/{user}/p/{post}",
            "/u/a/p/x",
            bad,
            r#"invalid path parameter 'post': expected an unsigned integer, got "x""#,
        );
        err::<Kind>(
            "/{kind}",
            "/song",
            bad,
            "invalid path parameter 'kind': unknown variant `song`, expected `book` or `film`",
        );
        err::<UserPost>(
            "/u/{user}",
            "/u/a",
            bad,
            "invalid path parameters: missing field `post`",
        );
    }

    #[test]
    fn bad_encoding_is_a_bad_request() {
        let bad = StatusCode::BAD_REQUEST;
        err::<String>(
            "/{name}",
            "/a%zz",
            bad,
            "invalid percent-encoding in path parameter 'name'",
        );
        err::<String>(
            "/{name}",
            "/%ff",
            bad,
            "path parameter 'name' is not valid UTF-8 once percent-decoded",
        );
    }

    #[test]
    fn route_and_type_mismatches_are_server_errors() {
        let server = StatusCode::INTERNAL_SERVER_ERROR;
        err::<u32>(
            "/{a}/{b}",
            "/1/2",
            server,
            "wrong number of path parameters: expected 1, got 2",
        );
        err::<u32>(
            "/static",
            "/static",
            server,
            "wrong number of path parameters: expected 1, got 0",
        );
        err::<(u32, u32, u32)>(
            "/{a}/{b}",
            "/1/2",
            server,
            "wrong number of path parameters: expected 3, got 2",
        );
        err::<Vec<Vec<u8>>>(
            "/{a}",
            "/1",
            server,
            "unsupported type for path parameters: a sequence or map inside one path parameter",
        );
    }

    #[test]
    fn path_rejections_pick_status_and_text() {
        let cases = [
            (
                PathErrorKind::InvalidParam {
                    name: "id".into(),
                    message: "bad".into(),
                },
                StatusCode::BAD_REQUEST,
                "invalid path parameter 'id': bad",
            ),
            (
                PathErrorKind::Encoding {
                    name: "n".into(),
                    utf8: false,
                },
                StatusCode::BAD_REQUEST,
                "invalid percent-encoding in path parameter 'n'",
            ),
            (
                PathErrorKind::Encoding {
                    name: "n".into(),
                    utf8: true,
                },
                StatusCode::BAD_REQUEST,
                "path parameter 'n' is not valid UTF-8 once percent-decoded",
            ),
            (
                PathErrorKind::Message("missing field `a`".into()),
                StatusCode::BAD_REQUEST,
                "invalid path parameters: missing field `a`",
            ),
            (
                PathErrorKind::WrongCount {
                    expected: 1,
                    got: 2,
                },
                StatusCode::INTERNAL_SERVER_ERROR,
                "wrong number of path parameters: expected 1, got 2",
            ),
            (
                PathErrorKind::Unsupported("a map inside a parameter"),
                StatusCode::INTERNAL_SERVER_ERROR,
                "unsupported type for path parameters: a map inside a parameter",
            ),
        ];
        for (kind, status, text) in cases {
            let rejection = PathRejection::new(kind);
            assert_eq!(rejection.status(), status, "{text}");
            assert_eq!(rejection.body_text(), text);
            assert_eq!(
                crate::extract::rejection::tests::response_text(rejection.into_response()),
                (
                    status,
                    "text/plain; charset=utf-8".to_owned(),
                    text.to_owned()
                )
            );
        }
    }
}
