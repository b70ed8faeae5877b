//! The `Form` extractor and response.

use std::fmt;
use std::future::Future;

use http::StatusCode;
use http::header::{self, HeaderMap, HeaderValue};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::rejection::{
    BytesRejection, composite_rejection, from_urlencoded, rejection_impls, unit_rejection,
};
use super::{FromRequest, Request};
use crate::vocab::response::{IntoResponse, Response, plain_text};

const FORM_URLENCODED: &str = "application/x-www-form-urlencoded";

/// A URL-encoded form (`application/x-www-form-urlencoded`) in either
/// direction: as an extractor it deserializes the request body; as a
/// response it serializes the value.
///
/// As an extractor, `Form` must be a handler's last argument. A request
/// without the form `content-type` is rejected with `415`; a body that
/// does not fit `T` with `422` and a message such as `missing form field
/// 'email'`. See [`FormRejection`]. To read a form sent in a `GET` query
/// string, use [`Query`](super::Query).
///
/// # Examples
///
/// ```
/// use serde::Deserialize;
/// use tramline::extract::Form;
/// use tramline::routing::post;
/// use tramline::test::TestClient;
/// use tramline::Router;
///
/// #[derive(Deserialize)]
/// struct SignUp { email: String, newsletter: Option<bool> }
///
/// let app = Router::new().route("/signup", post(|Form(f): Form<SignUp>| async move {
///     format!("{} {}", f.email, f.newsletter.unwrap_or(false))
/// }));
/// let client = TestClient::new(app);
/// client
///     .post("/signup")
///     .header("content-type", "application/x-www-form-urlencoded")
///     .body("email=a%40b.c&newsletter=true")
///     .send()
///     .assert_text("a@b.c true");
/// client
///     .post("/signup")
///     .form(&[("newsletter", "true")])
///     .send()
///     .assert_status(422)
///     .assert_text("missing form field 'email'");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Form<T>(pub T);

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(FORM_URLENCODED))
}

impl<T, S> FromRequest<S> for Form<T>
where
    T: DeserializeOwned + Send,
{
    type Rejection = FormRejection;

    fn from_request(
        req: Request,
        _state: &S,
    ) -> impl Future<Output = Result<Self, Self::Rejection>> + Send {
        let form = is_form(req.headers());
        let body = req.into_body();
        async move {
            if !form {
                return Err(MissingFormContentType::new().into());
            }
            let bytes = body.collect().await.map_err(BytesRejection::new)?;
            from_urlencoded(&bytes, "form field", "invalid form body")
                .map(Self)
                .map_err(|message| InvalidFormBody::new(message).into())
        }
    }
}

impl<T: Serialize> IntoResponse for Form<T> {
    fn into_response(self) -> Response {
        match serde_urlencoded::to_string(&self.0) {
            Ok(text) => {
                let mut res = Response::new(text.into());
                res.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(FORM_URLENCODED),
                );
                res
            }
            Err(error) => {
                tracing::error!(%error, "failed to serialize a form response");
                plain_text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "failed to serialize the response as a form",
                )
            }
        }
    }
}

impl<T> std::ops::Deref for Form<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

unit_rejection!(
    /// The request has no `content-type: application/x-www-form-urlencoded`
    /// header. `415 Unsupported Media Type`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tramline::extract::rejection::MissingFormContentType;
    ///
    /// fn status(r: &MissingFormContentType) -> tramline::http::StatusCode {
    ///     r.status()
    /// }
    /// ```
    MissingFormContentType,
    UNSUPPORTED_MEDIA_TYPE,
    "expected request with content-type: application/x-www-form-urlencoded"
);

/// The form body does not fit the requested type. `422 Unprocessable
/// Entity`: `missing form field 'email'`, or `invalid form body: ` and the
/// deserializer's message.
///
/// # Examples
///
/// ```
/// use tramline::extract::rejection::InvalidFormBody;
///
/// fn status(r: &InvalidFormBody) -> tramline::http::StatusCode {
///     r.status()
/// }
/// ```
#[derive(Debug)]
pub struct InvalidFormBody {
    message: String,
}

impl InvalidFormBody {
    pub(crate) fn new(message: String) -> Self {
        Self { message }
    }

    /// Returns the status code of the response: `422 Unprocessable Entity`.
    pub fn status(&self) -> StatusCode {
        StatusCode::UNPROCESSABLE_ENTITY
    }

    fn fmt_text(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for InvalidFormBody {}
rejection_impls!(InvalidFormBody);

/// Rejection of [`Form`](Form).
///
/// # Examples
///
/// ```
/// use tramline::extract::rejection::FormRejection;
///
/// fn is_bad_content_type(r: &FormRejection) -> bool {
///     matches!(r, FormRejection::MissingFormContentType(_))
/// }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum FormRejection {
    /// The `content-type` is not a URL-encoded form.
    MissingFormContentType(MissingFormContentType),
    /// The form does not fit the target type.
    InvalidFormBody(InvalidFormBody),
    /// The body could not be read.
    BytesRejection(BytesRejection),
}

composite_rejection!(FormRejection {
    MissingFormContentType,
    InvalidFormBody,
    BytesRejection,
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::Body;
    use futures_lite::future::block_on;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Login {
        user: String,
        tries: u8,
    }

    fn extract(content_type: Option<&str>, body: &'static str) -> Result<Login, FormRejection> {
        let mut req = Request::post("/");
        if let Some(value) = content_type {
            req = req.header(header::CONTENT_TYPE, value);
        }
        let req = req.body(Body::from(body)).unwrap();
        block_on(Form::<Login>::from_request(req, &())).map(|Form(l)| l)
    }

    #[test]
    fn form_rejections_name_the_problem() {
        let form = Some(FORM_URLENCODED);
        assert_eq!(
            extract(
                Some("application/x-www-form-urlencoded; charset=utf-8"),
                "user=a+b&tries=2"
            )
            .unwrap(),
            Login {
                user: "a b".into(),
                tries: 2
            }
        );
        let cases = [
            (
                None,
                "user=a&tries=1",
                415,
                "expected request with content-type: application/x-www-form-urlencoded",
            ),
            (
                Some("application/json"),
                "{}",
                415,
                "expected request with content-type: application/x-www-form-urlencoded",
            ),
            (form, "user=a", 422, "missing form field 'tries'"),
            (
                form,
                "user=a&tries=x",
                422,
                "invalid form field 'tries': invalid digit found in string",
            ),
        ];
        for (content_type, body, status, text) in cases {
            let rejection = extract(content_type, body).unwrap_err();
            assert_eq!(
                (rejection.status().as_u16(), rejection.body_text().as_str()),
                (status, text),
                "{body}"
            );
        }
    }

    #[test]
    fn form_response_is_urlencoded() {
        let res = Form([("a", "x y"), ("b", "&")]).into_response();
        assert_eq!(res.headers()[header::CONTENT_TYPE], FORM_URLENCODED);
        assert_eq!(block_on(res.into_body().collect()).unwrap(), "a=x+y&b=%26");
    }
}
