//! The `Multipart` extractor: `multipart/form-data` bodies, field by field,
//! on the `multer` crate.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use futures_lite::{Stream, StreamExt};
use http::StatusCode;
use http::header::{self, HeaderMap};

use super::{FromRequest, Request};
use crate::vocab::response::{IntoResponse, Response, plain_text};
use crate::vocab::{Body, BodyError, BoxError};

/// How many fields a form may have unless [`Multipart::max_fields`] says
/// otherwise.
const DEFAULT_MAX_FIELDS: usize = 100;

/// A `multipart/form-data` request body (RFC 7578), read one field at a
/// time.
///
/// As an extractor, `Multipart` must be a handler's last argument. A
/// request whose `content-type` is not `multipart/form-data` is rejected
/// with `415`, one without a boundary with `400` (see
/// [`MultipartRejection`]). Fields are then read with
/// [`Multipart::next_field`], which streams: nothing is buffered beyond
/// what the field being read needs.
///
/// # Limits
///
/// Each violation is a [`MultipartError`] whose response is a `413` that
/// says which limit was passed:
///
/// - the number of fields: [`Multipart::max_fields`], 100 by default;
/// - one field's data: [`Multipart::max_field_size`];
/// - all fields' data together: [`Multipart::max_size`].
///
/// The request body's own limit (the server's
/// [`max_body_size`](crate::Server::max_body_size), 2 MiB by default, or a
/// route's [`BodyLimit`](crate::middleware::BodyLimit)) always applies as
/// well, so the two size limits default to it. A body that does not parse
/// as multipart is a `400`.
///
/// Return the error as it is (`Result<_, MultipartError>`) to send that
/// response: it implements [`IntoResponse`].
///
/// # Examples
///
/// ```
/// use tramline::extract::{Multipart, MultipartError};
/// use tramline::routing::post;
/// use tramline::test::TestClient;
/// use tramline::Router;
///
/// async fn upload(mut multipart: Multipart) -> Result<String, MultipartError> {
///     multipart.max_fields(8).max_field_size(1 << 20);
///     let mut names = Vec::new();
///     while let Some(field) = multipart.next_field().await? {
///         let name = field.name().unwrap_or("").to_owned();
///         let len = field.bytes().await?.len();
///         names.push(format!("{name}={len}"));
///     }
///     Ok(names.join(" "))
/// }
///
/// let app = Router::new().route("/upload", post(upload));
/// let body = "--X\r\ncontent-disposition: form-data; name=\"a\"\r\n\r\nhello\r\n--X--\r\n";
/// TestClient::new(app)
///     .post("/upload")
///     .header("content-type", "multipart/form-data; boundary=X")
///     .body(body)
///     .send()
///     .assert_text("a=5");
/// ```
pub struct Multipart {
    inner: multer::Multipart<'static>,
    max_fields: usize,
    max_field_size: u64,
    max_size: u64,
    /// Fields handed out so far.
    fields: usize,
    /// Field data bytes read so far, over all fields.
    read: u64,
}

impl Multipart {
    /// Sets the most fields the form may have (100 unless set).
    pub fn max_fields(&mut self, max: usize) -> &mut Self {
        self.max_fields = max;
        self
    }

    /// Sets the most bytes one field's data may have (unless set, only the
    /// request body's limit bounds it).
    pub fn max_field_size(&mut self, bytes: u64) -> &mut Self {
        self.max_field_size = bytes;
        self
    }

    /// Sets the most bytes all fields' data together may have (unless set,
    /// only the request body's limit bounds it). It cannot raise the
    /// request body's limit: use [`BodyLimit`](crate::middleware::BodyLimit)
    /// for that.
    pub fn max_size(&mut self, bytes: u64) -> &mut Self {
        self.max_size = bytes;
        self
    }

    /// Returns the next field, or `None` after the last one.
    ///
    /// The previous field must be dropped first: a [`Field`] borrows the
    /// `Multipart`. Whatever of it was not read is skipped.
    ///
    /// # Errors
    ///
    /// Returns an error if the form has more than [`Multipart::max_fields`]
    /// fields, if the skipped rest of the previous field passes a size
    /// limit, if the body is not valid multipart, or if it cannot be read.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: a field being skipped or its headers being read
    /// may be lost.
    pub async fn next_field(&mut self) -> Result<Option<Field<'_>>, MultipartError> {
        let Some(inner) = self
            .inner
            .next_field()
            .await
            .map_err(MultipartError::from_multer)?
        else {
            return Ok(None);
        };
        self.fields += 1;
        if self.fields > self.max_fields {
            return Err(MultipartError::new(Kind::TooManyFields(self.max_fields)));
        }
        Ok(Some(Field {
            inner,
            read: 0,
            multipart: self,
        }))
    }
}

impl fmt::Debug for Multipart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Multipart")
            .field("max_fields", &self.max_fields)
            .field("max_field_size", &self.max_field_size)
            .field("max_size", &self.max_size)
            .field("fields", &self.fields)
            .finish_non_exhaustive()
    }
}

impl<S> FromRequest<S> for Multipart {
    type Rejection = MultipartRejection;

    fn from_request(
        req: Request,
        _state: &S,
    ) -> impl Future<Output = Result<Self, Self::Rejection>> + Send {
        let boundary = boundary(req.headers());
        let body = req.into_body();
        std::future::ready(boundary.map(|boundary| Self::new(body, boundary)))
    }
}

impl Multipart {
    fn new(body: Body, boundary: String) -> Self {
        Self {
            inner: multer::Multipart::new(body, boundary),
            max_fields: DEFAULT_MAX_FIELDS,
            max_field_size: u64::MAX,
            max_size: u64::MAX,
            fields: 0,
            read: 0,
        }
    }
}

/// The boundary of a `multipart/form-data` content type.
fn boundary(headers: &HeaderMap) -> Result<String, MultipartRejection> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .ok_or(MultipartRejection::NOT_MULTIPART)?;
    multer::parse_boundary(content_type).map_err(|e| match e {
        multer::Error::NoBoundary => MultipartRejection::NO_BOUNDARY,
        _ => MultipartRejection::NOT_MULTIPART,
    })
}

/// One field of a [`Multipart`] form: its headers, then its data, read in
/// chunks or whole.
pub struct Field<'a> {
    inner: multer::Field<'static>,
    /// This field's data bytes read so far.
    read: u64,
    multipart: &'a mut Multipart,
}

impl Field<'_> {
    /// Returns the field's name, from its `content-disposition`.
    pub fn name(&self) -> Option<&str> {
        self.inner.name()
    }

    /// Returns the file name the client gave, for a file field.
    ///
    /// It comes from the client as it is: never use it as a path without
    /// checking it (it may hold `..` or `/`).
    pub fn file_name(&self) -> Option<&str> {
        self.inner.file_name()
    }

    /// Returns the field's `content-type`, if it has one.
    pub fn content_type(&self) -> Option<&str> {
        self.inner.content_type().map(AsRef::as_ref)
    }

    /// Returns all of the field's headers.
    pub fn headers(&self) -> &HeaderMap {
        self.inner.headers()
    }

    /// Returns the next chunk of the field's data, or `None` at its end.
    ///
    /// # Errors
    ///
    /// Returns an error if the field or the form passes a size limit, if
    /// the body is not valid multipart, or if it cannot be read.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a chunk is only taken when it is returned.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, MultipartError> {
        self.next().await.transpose()
    }

    /// Counts `chunk` against the field's and the form's limits.
    fn count(&mut self, chunk: Bytes) -> Result<Bytes, MultipartError> {
        let len = chunk.len() as u64;
        self.read += len;
        self.multipart.read += len;
        if self.read > self.multipart.max_field_size {
            return Err(MultipartError::new(Kind::FieldTooLarge {
                name: self.name().map(str::to_owned),
                limit: self.multipart.max_field_size,
            }));
        }
        if self.multipart.read > self.multipart.max_size {
            return Err(MultipartError::new(Kind::TooLarge(self.multipart.max_size)));
        }
        Ok(chunk)
    }

    /// Reads the rest of the field's data into one buffer.
    ///
    /// # Errors
    ///
    /// As [`Field::chunk`].
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: the chunks read so far are lost if the future is
    /// dropped.
    pub async fn bytes(mut self) -> Result<Bytes, MultipartError> {
        let mut buf = BytesMut::new();
        while let Some(chunk) = self.chunk().await? {
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    }

    /// Reads the rest of the field's data as UTF-8 text.
    ///
    /// # Errors
    ///
    /// As [`Field::chunk`], and an error (`400`) if the data is not UTF-8.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe, as [`Field::bytes`].
    pub async fn text(self) -> Result<String, MultipartError> {
        let name = self.name().map(str::to_owned);
        let bytes = self.bytes().await?;
        String::from_utf8(Vec::from(bytes)).map_err(|_| MultipartError::new(Kind::NotUtf8(name)))
    }
}

/// The field's data as a stream of chunks, as [`Field::chunk`] reads them.
impl Stream for Field<'_> {
    type Item = Result<Bytes, MultipartError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        Poll::Ready(match ready!(Pin::new(&mut this.inner).poll_next(cx)) {
            None => None,
            Some(Err(e)) => Some(Err(MultipartError::from_multer(e))),
            Some(Ok(chunk)) => Some(this.count(chunk)),
        })
    }
}

impl fmt::Debug for Field<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Field")
            .field("name", &self.name())
            .field("file_name", &self.file_name())
            .field("content_type", &self.content_type())
            .finish_non_exhaustive()
    }
}

/// Rejection of [`Multipart`]: the request is not a multipart form.
///
/// `415 Unsupported Media Type` when the `content-type` is missing or not
/// `multipart/form-data`; `400 Bad Request` when it has no boundary.
#[derive(Debug)]
pub struct MultipartRejection {
    status: StatusCode,
    text: &'static str,
}

impl MultipartRejection {
    const NOT_MULTIPART: Self = Self {
        status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
        text: "expected a multipart/form-data request",
    };
    const NO_BOUNDARY: Self = Self {
        status: StatusCode::BAD_REQUEST,
        text: "multipart/form-data request without a boundary",
    };

    /// Returns the status code of the response.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Returns the text sent as the response body.
    pub fn body_text(&self) -> String {
        self.text.to_owned()
    }
}

impl fmt::Display for MultipartRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text)
    }
}

impl std::error::Error for MultipartRejection {}

impl IntoResponse for MultipartRejection {
    fn into_response(self) -> Response {
        plain_text(self.status, self.text)
    }
}

/// An error reading a [`Multipart`] form: a limit passed (`413`), a body
/// that is not valid multipart or text that is not UTF-8 (`400`), or a
/// body that could not be read (`400`, or `413` past the body's limit).
///
/// Its response is a short `text/plain` body that says which, for example
/// `multipart field 'avatar' is larger than 1024 bytes`.
pub struct MultipartError {
    kind: Kind,
    source: Option<BoxError>,
}

enum Kind {
    TooManyFields(usize),
    FieldTooLarge {
        name: Option<String>,
        limit: u64,
    },
    TooLarge(u64),
    /// The request body passed its own limit.
    BodyTooLarge,
    /// The request body could not be read (the client broke its framing
    /// or went away).
    Read,
    Malformed,
    NotUtf8(Option<String>),
}

impl MultipartError {
    fn new(kind: Kind) -> Self {
        Self { kind, source: None }
    }

    fn from_multer(e: multer::Error) -> Self {
        let kind = match &e {
            multer::Error::StreamReadFailed(cause) => match cause.downcast_ref::<BodyError>() {
                Some(body) if body.is_too_large() => Kind::BodyTooLarge,
                _ => Kind::Read,
            },
            _ => Kind::Malformed,
        };
        Self {
            kind,
            source: Some(Box::new(e)),
        }
    }

    /// Returns the status code of the response: `413 Payload Too Large`
    /// for a limit passed, else `400 Bad Request`.
    pub fn status(&self) -> StatusCode {
        match self.kind {
            Kind::TooManyFields(_)
            | Kind::FieldTooLarge { .. }
            | Kind::TooLarge(_)
            | Kind::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Kind::Read | Kind::Malformed | Kind::NotUtf8(_) => StatusCode::BAD_REQUEST,
        }
    }

    /// Returns the text sent as the response body.
    pub fn body_text(&self) -> String {
        self.to_string()
    }

    /// Returns `true` if a limit was passed (the status is `413`).
    pub fn is_too_large(&self) -> bool {
        self.status() == StatusCode::PAYLOAD_TOO_LARGE
    }
}

impl fmt::Display for MultipartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::TooManyFields(n) => write!(f, "more than {n} multipart fields"),
            Kind::FieldTooLarge {
                name: Some(name),
                limit,
            } => write!(f, "multipart field '{name}' is larger than {limit} bytes"),
            Kind::FieldTooLarge { name: None, limit } => {
                write!(f, "a multipart field is larger than {limit} bytes")
            }
            Kind::TooLarge(limit) => write!(f, "multipart fields larger than {limit} bytes"),
            Kind::BodyTooLarge => f.write_str("request body too large"),
            Kind::Read => f.write_str("failed to read the request body"),
            Kind::Malformed => match &self.source {
                Some(cause) => write!(f, "invalid multipart body: {cause}"),
                None => f.write_str("invalid multipart body"),
            },
            Kind::NotUtf8(Some(name)) => write!(f, "multipart field '{name}' is not UTF-8"),
            Kind::NotUtf8(None) => f.write_str("a multipart field is not UTF-8"),
        }
    }
}

impl fmt::Debug for MultipartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MultipartError")
            .field("status", &self.status())
            .field("message", &self.to_string())
            .field("source", &self.source)
            .finish()
    }
}

impl std::error::Error for MultipartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as _)
    }
}

impl IntoResponse for MultipartError {
    fn into_response(self) -> Response {
        plain_text(self.status(), self.body_text())
    }
}

#[cfg(test)]
mod tests {
    use futures_lite::future::block_on;

    use super::*;

    fn form(content_type: &str, body: &'static str) -> Result<Multipart, MultipartRejection> {
        let req = Request::post("/")
            .header("content-type", content_type)
            .body(Body::from(body))
            .unwrap();
        block_on(Multipart::from_request(req, &()))
    }

    const TWO: &str = "--B\r\ncontent-disposition: form-data; name=\"a\"\r\n\r\nxyz\r\n\
                       --B\r\ncontent-disposition: form-data; name=\"f\"; filename=\"f.txt\"\r\n\
                       content-type: text/plain\r\n\r\nline\r\n--B--\r\n";

    #[test]
    fn reads_fields_in_order_with_their_headers() {
        let mut m = form("multipart/form-data; boundary=B", TWO).unwrap();
        block_on(async {
            let a = m.next_field().await.unwrap().unwrap();
            assert_eq!(
                (a.name(), a.file_name(), a.content_type()),
                (Some("a"), None, None)
            );
            assert_eq!(a.text().await.unwrap(), "xyz");
            let f = m.next_field().await.unwrap().unwrap();
            assert_eq!(f.file_name(), Some("f.txt"));
            assert_eq!(f.content_type(), Some("text/plain"));
            assert_eq!(f.bytes().await.unwrap(), "line");
            assert!(m.next_field().await.unwrap().is_none());
        });
    }

    #[test]
    fn content_types_other_than_multipart_form_data_are_refused() {
        for (ct, status) in [
            ("application/json", 415),
            ("multipart/mixed; boundary=B", 415),
            ("multipart/form-data", 400),
        ] {
            let err = form(ct, TWO).unwrap_err();
            assert_eq!(err.status(), status, "{ct}");
        }
        let req = Request::post("/").body(Body::from(TWO)).unwrap();
        let err = block_on(Multipart::from_request(req, &())).unwrap_err();
        assert_eq!(err.status(), 415);
        assert_eq!(err.body_text(), "expected a multipart/form-data request");
    }

    #[test]
    fn each_limit_has_its_own_413() {
        // (max fields, max field size, max size) and what passing it says.
        let cases = [
            ((2, u64::MAX, u64::MAX), ""),
            ((1, u64::MAX, u64::MAX), "more than 1 multipart fields"),
            (
                (2, 2, u64::MAX),
                "multipart field 'a' is larger than 2 bytes",
            ),
            ((2, 4, 5), "multipart fields larger than 5 bytes"),
        ];
        for ((fields, field_size, size), text) in cases {
            let mut m = form("multipart/form-data; boundary=B", TWO).unwrap();
            m.max_fields(fields)
                .max_field_size(field_size)
                .max_size(size);
            let read = block_on(async {
                while let Some(field) = m.next_field().await? {
                    field.bytes().await?;
                }
                Ok::<_, MultipartError>(())
            });
            match read {
                Ok(()) => assert_eq!(text, ""),
                Err(err) => assert_eq!(
                    (err.status(), err.body_text().as_str()),
                    (StatusCode::PAYLOAD_TOO_LARGE, text)
                ),
            }
        }
    }

    #[test]
    fn malformed_bodies_and_bad_text_are_400() {
        let mut m = form("multipart/form-data; boundary=B", "--B\r\nno headers end").unwrap();
        let err = block_on(m.next_field()).unwrap_err();
        assert_eq!(err.status(), 400);
        assert!(
            err.body_text().starts_with("invalid multipart body: "),
            "{err}"
        );

        let req = Request::post("/")
            .header("content-type", "multipart/form-data; boundary=B")
            .body(Body::from(
                &b"--B\r\ncontent-disposition: form-data; name=\"t\"\r\n\r\n\xff\r\n--B--\r\n"[..],
            ))
            .unwrap();
        let mut m = block_on(Multipart::from_request(req, &())).unwrap();
        let field = block_on(m.next_field()).unwrap().unwrap();
        let err = block_on(field.text()).unwrap_err();
        assert_eq!(
            (err.status(), err.body_text().as_str()),
            (StatusCode::BAD_REQUEST, "multipart field 't' is not UTF-8")
        );
    }

    #[test]
    fn the_body_limit_still_applies() {
        let req = Request::post("/")
            .header("content-type", "multipart/form-data; boundary=B")
            .body(Body::from(TWO).with_limit(10))
            .unwrap();
        let mut m = block_on(Multipart::from_request(req, &())).unwrap();
        let err = block_on(async {
            while let Some(field) = m.next_field().await? {
                field.bytes().await?;
            }
            Ok::<_, MultipartError>(())
        })
        .unwrap_err();
        assert_eq!(
            (err.status(), err.body_text().as_str()),
            (StatusCode::PAYLOAD_TOO_LARGE, "request body too large")
        );
    }
}
