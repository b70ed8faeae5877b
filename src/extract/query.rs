//! The `Query` extractor.

use std::fmt;
use std::future::{Future, ready};

use http::StatusCode;
use http::request::Parts;
use serde::de::DeserializeOwned;

use super::FromRequestParts;
use super::rejection::{from_urlencoded, rejection_impls};

/// Extracts the query string, deserialized with serde from
/// `application/x-www-form-urlencoded` form.
///
/// A request without a query string deserializes from an empty one, so use
/// `Option` fields or `#[serde(default)]` for optional parameters.
///
/// # Examples
///
/// ```
/// use serde::Deserialize;
/// use tramline::extract::Query;
/// use tramline::{Router, Body, Request};
/// use tramline::routing::get;
///
/// #[derive(Deserialize)]
/// struct Paging {
///     page: u32,
///     per_page: Option<u32>,
/// }
///
/// let app = Router::new().route("/items", get(|Query(p): Query<Paging>| async move {
///     format!("page {} of size {}", p.page, p.per_page.unwrap_or(20))
/// }));
/// let req = Request::get("/items?page=3").body(Body::empty()).unwrap();
/// let res = futures_lite::future::block_on(app.handle(req));
/// let body = futures_lite::future::block_on(res.into_body().collect()).unwrap();
/// assert_eq!(body, "page 3 of size 20");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T> Query<T>
where
    T: DeserializeOwned,
{
    /// Deserializes `query` (the part of a URI after `?`, without the `?`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use tramline::extract::Query;
    ///
    /// let Query(map) = Query::<HashMap<String, String>>::from_query("a=1&b=x%20y").unwrap();
    /// assert_eq!(map["b"], "x y");
    /// ```
    ///
    /// # Errors
    ///
    /// Returns a [`QueryRejection`] when the query does not fit `T`.
    pub fn from_query(query: &str) -> Result<Self, QueryRejection> {
        from_urlencoded(query.as_bytes(), "query parameter", "invalid query string")
            .map(Self)
            .map_err(QueryRejection::new)
    }
}

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned + Send,
{
    type Rejection = QueryRejection;

    fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> impl Future<Output = Result<Self, Self::Rejection>> + Send {
        ready(Self::from_query(parts.uri.query().unwrap_or("")))
    }
}

impl<T> std::ops::Deref for Query<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// Rejection of [`Query`](Query): the query string does not fit the
/// requested type. Always `400 Bad Request`.
///
/// A missing field reads `missing query parameter 'page'`; other problems
/// read `invalid query string: ` followed by the deserializer's message.
///
/// # Examples
///
/// ```
/// use tramline::{Router, Body, Request};
/// use tramline::routing::get;
/// use tramline::extract::Query;
/// use std::collections::HashMap;
///
/// #[derive(serde::Deserialize)]
/// struct Page { page: u32 }
///
/// let app = Router::new().route("/", get(|Query(p): Query<Page>| async move { p.page.to_string() }));
/// let res = futures_lite::future::block_on(app.handle(Request::get("/").body(Body::empty()).unwrap()));
/// assert_eq!(res.status(), 400);
/// let body = futures_lite::future::block_on(res.into_body().collect()).unwrap();
/// assert_eq!(body, "missing query parameter 'page'");
/// ```
#[derive(Debug)]
pub struct QueryRejection {
    message: String,
}

impl QueryRejection {
    pub(crate) fn new(message: String) -> Self {
        Self { message }
    }

    /// Returns the status code of the response: always `400 Bad Request`.
    pub fn status(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }

    fn fmt_text(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for QueryRejection {}
rejection_impls!(QueryRejection);

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::block_on;
    use serde::Deserialize;
    use std::collections::HashMap;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Paging {
        page: u32,
        sort: Option<String>,
    }

    fn extract<T: DeserializeOwned + Send>(uri: &str) -> Result<T, QueryRejection> {
        let (mut parts, ()) = http::Request::get(uri).body(()).unwrap().into_parts();
        block_on(Query::<T>::from_request_parts(&mut parts, &())).map(|Query(t)| t)
    }

    #[test]
    fn query_deserializes_structs_and_maps() {
        let cases: [(&str, Paging); 3] = [
            (
                "/?page=2",
                Paging {
                    page: 2,
                    sort: None,
                },
            ),
            (
                "/?sort=name&page=1",
                Paging {
                    page: 1,
                    sort: Some("name".into()),
                },
            ),
            (
                "/?page=5&sort=a+b%21",
                Paging {
                    page: 5,
                    sort: Some("a b!".into()),
                },
            ),
        ];
        for (uri, want) in cases {
            assert_eq!(extract::<Paging>(uri).unwrap(), want, "{uri}");
        }
        let map = extract::<HashMap<String, String>>("/x?a=1&b=2").unwrap();
        assert_eq!(map.len(), 2);
        assert_eq!(map["b"], "2");
        assert!(extract::<HashMap<String, String>>("/x").unwrap().is_empty());
    }

    #[test]
    fn query_rejections_name_the_problem() {
        let cases = [
            ("/", "missing query parameter 'page'"),
            ("/?sort=x", "missing query parameter 'page'"),
            (
                "/?page=abc",
                "invalid query parameter 'page': invalid digit found in string",
            ),
            (
                "/?page=-1",
                "invalid query parameter 'page': invalid digit found in string",
            ),
        ];
        for (uri, text) in cases {
            let err = extract::<Paging>(uri).unwrap_err();
            assert_eq!(err.status(), http::StatusCode::BAD_REQUEST, "{uri}");
            assert_eq!(err.body_text(), text, "{uri}");
        }
    }
}
