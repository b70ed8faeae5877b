//! `Json`: a JSON request body extractor and a JSON response.

use std::fmt;
use std::future::Future;

use http::StatusCode;
use http::header::{self, HeaderMap, HeaderValue};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::extract::rejection::{
    BytesRejection, composite_rejection, rejection_impls, unit_rejection,
};
use crate::vocab::response::{IntoResponse, Response, plain_text};
use crate::vocab::{FromRequest, Request};

const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");

/// JSON in either direction: as an extractor it deserializes the request
/// body; as a response it serializes the value.
///
/// As an extractor, `Json` must be a handler's last argument. It requires a
/// `content-type` of `application/json` or any `application/*+json`
/// (parameters such as `charset` are ignored), else it rejects with `415`;
/// a body that is not JSON is a `400` with the parser's line and column,
/// and JSON of the wrong shape is a `422`. See [`JsonRejection`].
///
/// As a response it is sent with `content-type: application/json`. If
/// serialization fails (a map with non-string keys, a failing `Serialize`
/// impl), the response is a plain `500` and the error is logged.
///
/// # Examples
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use tramline::{Router, Json, Body, Request};
/// use tramline::routing::post;
///
/// #[derive(Deserialize)]
/// struct NewUser { name: String }
///
/// #[derive(Serialize)]
/// struct User { id: u32, name: String }
///
/// let app = Router::new().route("/users", post(|Json(new): Json<NewUser>| async move {
///     Json(User { id: 1, name: new.name })
/// }));
///
/// let req = Request::post("/users")
///     .header("content-type", "application/json")
///     .body(Body::from(r#"{"name":"ann"}"#))
///     .unwrap();
/// let res = futures_lite::future::block_on(app.handle(req));
/// assert_eq!(res.headers()["content-type"], "application/json");
/// let body = futures_lite::future::block_on(res.into_body().collect()).unwrap();
/// assert_eq!(body, r#"{"id":1,"name":"ann"}"#);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned> Json<T> {
    /// Deserializes `bytes` as JSON, classifying the errors as the extractor
    /// does (the `content-type` is not checked).
    ///
    /// # Examples
    ///
    /// ```
    /// use tramline::Json;
    ///
    /// let Json(v) = Json::<Vec<u8>>::from_bytes(b"[1,2]").unwrap();
    /// assert_eq!(v, [1, 2]);
    /// assert_eq!(Json::<u8>::from_bytes(b"tru").unwrap_err().status(), 400);
    /// assert_eq!(Json::<u8>::from_bytes(b"300").unwrap_err().status(), 422);
    /// ```
    ///
    /// # Errors
    ///
    /// Returns [`JsonRejection::JsonSyntaxError`] for input that is not JSON
    /// and [`JsonRejection::JsonDataError`] for JSON that does not fit `T`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, JsonRejection> {
        serde_json::from_slice(bytes).map(Self).map_err(|e| {
            use serde_json::error::Category;
            match e.classify() {
                Category::Data => JsonDataError::new(e).into(),
                Category::Syntax | Category::Eof | Category::Io => JsonSyntaxError::new(e).into(),
            }
        })
    }
}

/// Returns `true` for `application/json` and `application/*+json`,
/// ignoring case and parameters.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json")
            || subtype.len() > 5
                && subtype.as_bytes()[subtype.len() - 5..].eq_ignore_ascii_case(b"+json"))
}

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned + Send,
{
    type Rejection = JsonRejection;

    fn from_request(
        req: Request,
        _state: &S,
    ) -> impl Future<Output = Result<Self, Self::Rejection>> + Send {
        let json = is_json(req.headers());
        let body = req.into_body();
        async move {
            if !json {
                return Err(MissingJsonContentType::new().into());
            }
            let bytes = body.collect().await.map_err(BytesRejection::new)?;
            Self::from_bytes(&bytes)
        }
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(bytes) => {
                let mut res = crate::vocab::recycle::response(bytes.into());
                res.headers_mut()
                    .insert(header::CONTENT_TYPE, APPLICATION_JSON);
                res
            }
            Err(error) => {
                tracing::error!(%error, "failed to serialize a JSON response");
                plain_text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "failed to serialize the response as JSON",
                )
            }
        }
    }
}

impl<T> From<T> for Json<T> {
    fn from(inner: T) -> Self {
        Self(inner)
    }
}

impl<T> std::ops::Deref for Json<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> std::ops::DerefMut for Json<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

unit_rejection!(
    /// The request has no `content-type: application/json` (or `+json`)
    /// header. `415 Unsupported Media Type`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tramline::{Router, Json, Body, Request};
    /// use tramline::routing::post;
    ///
    /// let app = Router::new().route("/", post(|Json(v): Json<u32>| async move { v.to_string() }));
    /// let req = Request::post("/").body(Body::from("1")).unwrap();
    /// let res = futures_lite::future::block_on(app.handle(req));
    /// assert_eq!(res.status(), 415);
    /// ```
    MissingJsonContentType,
    UNSUPPORTED_MEDIA_TYPE,
    "expected request with content-type: application/json"
);

/// The body is not syntactically valid JSON. `400 Bad Request`, with the
/// parser's position and message: `invalid JSON at line 1 column 9:
/// expected value`.
///
/// # Examples
///
/// ```
/// use tramline::{Router, Json, Body, Request};
/// use tramline::routing::post;
///
/// let app = Router::new().route("/", post(|Json(v): Json<u32>| async move { v.to_string() }));
/// let req = Request::post("/")
///     .header("content-type", "application/json")
///     .body(Body::from("1 2"))
///     .unwrap();
/// let res = futures_lite::future::block_on(app.handle(req));
/// assert_eq!(res.status(), 400);
/// ```
#[derive(Debug)]
pub struct JsonSyntaxError {
    source: serde_json::Error,
}

impl JsonSyntaxError {
    pub(crate) fn new(source: serde_json::Error) -> Self {
        Self { source }
    }

    /// Returns the status code of the response: always `400 Bad Request`.
    pub fn status(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }

    fn fmt_text(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_json_error(f, "invalid JSON", &self.source)
    }
}

impl std::error::Error for JsonSyntaxError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}
rejection_impls!(JsonSyntaxError);

/// The body is valid JSON but does not fit the requested type.
/// `422 Unprocessable Entity`, with the position and what was wrong:
/// ``invalid JSON data at line 1 column 14: missing field `age` ``.
///
/// # Examples
///
/// ```
/// use tramline::{Router, Json, Body, Request};
/// use tramline::routing::post;
///
/// let app = Router::new().route("/", post(|Json(v): Json<u32>| async move { v.to_string() }));
/// let req = Request::post("/")
///     .header("content-type", "application/json")
///     .body(Body::from("\"seven\""))
///     .unwrap();
/// let res = futures_lite::future::block_on(app.handle(req));
/// assert_eq!(res.status(), 422);
/// ```
#[derive(Debug)]
pub struct JsonDataError {
    source: serde_json::Error,
}

impl JsonDataError {
    pub(crate) fn new(source: serde_json::Error) -> Self {
        Self { source }
    }

    /// Returns the status code of the response: `422 Unprocessable Entity`.
    pub fn status(&self) -> StatusCode {
        StatusCode::UNPROCESSABLE_ENTITY
    }

    fn fmt_text(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_json_error(f, "invalid JSON data", &self.source)
    }
}

impl std::error::Error for JsonDataError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}
rejection_impls!(JsonDataError);

/// Writes `{what} at line L column C: {message}`, moving serde_json's
/// position to the front where a reader looks first.
fn fmt_json_error(
    f: &mut fmt::Formatter<'_>,
    what: &str,
    error: &serde_json::Error,
) -> fmt::Result {
    let text = error.to_string();
    let position = format!(" at line {} column {}", error.line(), error.column());
    match text.strip_suffix(&position) {
        Some(message) if error.line() > 0 => write!(f, "{what}{position}: {message}"),
        _ => write!(f, "{what}: {text}"),
    }
}

/// Rejection of [`Json`](crate::Json).
///
/// # Examples
///
/// ```
/// use tramline::extract::rejection::JsonRejection;
///
/// fn is_client_error(r: &JsonRejection) -> bool {
///     matches!(r, JsonRejection::JsonSyntaxError(_) | JsonRejection::JsonDataError(_))
/// }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum JsonRejection {
    /// The `content-type` is not JSON.
    MissingJsonContentType(MissingJsonContentType),
    /// The body is not valid JSON.
    JsonSyntaxError(JsonSyntaxError),
    /// The JSON does not fit the target type.
    JsonDataError(JsonDataError),
    /// The body could not be read.
    BytesRejection(BytesRejection),
}

composite_rejection!(JsonRejection {
    MissingJsonContentType,
    JsonSyntaxError,
    JsonDataError,
    BytesRejection,
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::Body;
    use futures_lite::future::block_on;
    use serde::Deserialize;
    use std::collections::BTreeMap;

    #[derive(Debug, Deserialize, PartialEq)]
    struct User {
        name: String,
        age: u8,
    }

    fn extract(content_type: Option<&str>, body: &'static str) -> Result<User, JsonRejection> {
        let mut req = Request::post("/");
        if let Some(value) = content_type {
            req = req.header(header::CONTENT_TYPE, value);
        }
        let req = req.body(Body::from(body)).unwrap();
        block_on(Json::<User>::from_request(req, &())).map(|Json(u)| u)
    }

    #[test]
    fn json_content_types_are_recognised() {
        let cases = [
            ("application/json", true),
            ("application/json; charset=utf-8", true),
            ("Application/JSON", true),
            ("application/problem+json", true),
            ("application/vnd.api+JSON;v=1", true),
            ("application/+json", false),
            ("text/json", false),
            ("application/jsonx", false),
            ("text/plain", false),
            ("json", false),
        ];
        for (value, want) in cases {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(value));
            assert_eq!(is_json(&headers), want, "{value}");
        }
        assert!(!is_json(&HeaderMap::new()));
    }

    #[test]
    fn json_body_deserializes() {
        let user = extract(Some("application/json"), r#"{"name":"ann","age":30}"#).unwrap();
        assert_eq!(
            user,
            User {
                name: "ann".into(),
                age: 30
            }
        );
    }

    #[test]
    fn json_rejections_have_status_and_message() {
        let cases = [
            (
                None,
                "{}",
                415,
                "expected request with content-type: application/json",
            ),
            (
                Some("text/plain"),
                "{}",
                415,
                "expected request with content-type: application/json",
            ),
            (
                Some("application/json"),
                r#"{"name": "#,
                400,
                "invalid JSON at line 1 column 9: EOF while parsing a value",
            ),
            (
                Some("application/json"),
                r#"{"name" 1}"#,
                400,
                "invalid JSON at line 1 column 9: expected `:`",
            ),
            (
                Some("application/json"),
                r#"{"name": }"#,
                400,
                "invalid JSON at line 1 column 10: expected value",
            ),
            (
                Some("application/json"),
                r#"{"name":"ann"}"#,
                422,
                "invalid JSON data at line 1 column 14: missing field `age`",
            ),
            (
                Some("application/json"),
                r#"{"name":"ann","age":300}"#,
                422,
                "invalid JSON data at line 1 column 23: invalid value: integer `300`, expected u8",
            ),
        ];
        for (content_type, body, status, text) in cases {
            let rejection = extract(content_type, body).unwrap_err();
            assert_eq!(rejection.status(), status, "{body}");
            assert_eq!(rejection.body_text(), text, "{body}");
        }
    }

    #[test]
    fn json_response_serializes_with_content_type() {
        let res = Json(BTreeMap::from([("a", 1), ("b", 2)])).into_response();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()[header::CONTENT_TYPE], "application/json");
        let body = block_on(res.into_body().collect()).unwrap();
        assert_eq!(body, r#"{"a":1,"b":2}"#);
    }

    #[test]
    fn json_serialization_failure_is_a_plain_500() {
        // JSON object keys must be strings.
        let res = Json(BTreeMap::from([((1, 2), "x")])).into_response();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            res.headers()[header::CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
        let body = block_on(res.into_body().collect()).unwrap();
        assert_eq!(body, "failed to serialize the response as JSON");
    }

    #[test]
    fn json_rejection_delegates_to_its_cause() {
        let syntax = serde_json::from_str::<Vec<u32>>("[1,]").unwrap_err();
        let rejection = JsonRejection::from(JsonSyntaxError::new(syntax));
        assert_eq!(rejection.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            rejection.body_text(),
            "invalid JSON at line 1 column 4: trailing comma"
        );
        assert!(std::error::Error::source(&rejection).is_some());

        let rejection = JsonRejection::from(MissingJsonContentType::new());
        assert_eq!(rejection.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(
            crate::extract::rejection::tests::response_text(rejection.into_response()),
            (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "text/plain; charset=utf-8".to_owned(),
                "expected request with content-type: application/json".to_owned()
            )
        );
    }
}
