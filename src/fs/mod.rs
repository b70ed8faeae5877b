//! Static files: [`ServeDir`] serves a directory, [`ServeFile`] one file.
//!
//! Both answer `GET` and `HEAD` (anything else gets `405` with
//! `Allow: GET, HEAD`) with:
//!
//! - `Content-Type` from the file's extension (text declared UTF-8);
//! - a strong `ETag` (from size and modification time) and
//!   `Last-Modified`, with `If-None-Match` / `If-Modified-Since` answered
//!   `304` and `If-Match` / `If-Unmodified-Since` answered `412`, in the
//!   order of RFC 9110 §13.2.2 (If-None-Match wins over If-Modified-Since);
//! - `Accept-Ranges: bytes`, `Range` and `If-Range` answered `206` (one
//!   range, or several as `multipart/byteranges`) or `416`;
//! - optionally, precompressed `.br` / `.gz` siblings chosen by
//!   `Accept-Encoding` (q-values honoured), sent with `Content-Encoding`
//!   and `Vary: Accept-Encoding`; ranges then apply to the encoded file.
//!
//! File IO runs on the [`blocking`](https://docs.rs/blocking) thread pool,
//! never on an executor thread, so this works the same on every runtime;
//! bodies stream in chunks of 64 KiB with their `Content-Length`, so a
//! large file costs little memory.
//!
//! # Paths
//!
//! A request path is percent-decoded exactly once and must be UTF-8; a
//! path with a `..` segment, a backslash, a NUL or a `:` (a Windows drive
//! or stream) is refused with `400`, and an absolute path cannot be
//! formed. Symlinks that lead out of the root are refused with `403`
//! unless [`ServeDir::follow_symlinks_outside`] allows them.
//!
//! # Examples
//!
//! ```no_run
//! use tramline::fs::{ServeDir, ServeFile};
//! use tramline::{Router, Server};
//!
//! let app = Router::new()
//!     .route_service("/favicon.ico", ServeFile::new("assets/favicon.ico"))
//!     .nest_service("/static", ServeDir::new("assets").precompressed_br().precompressed_gzip());
//! Server::bind("127.0.0.1:3000")?.serve(app)?;
//! # Ok::<(), std::io::Error>(())
//! ```
#![cfg_attr(docsrs, doc(cfg(feature = "fs")))]

mod encoding;
mod path;
mod range;
mod serve;

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use http::StatusCode;

use crate::routing::handler::Handler;
use crate::vocab::response::plain_text;
use crate::vocab::{Request, Response};
use encoding::Encoding;
use serve::{Lookup, Options};

/// Serves the files under a directory.
///
/// The file is the request's path under the root: mounted with
/// [`Router::nest_service`](crate::Router::nest_service), the path after the
/// prefix; as a [`fallback`](crate::Router::fallback), the whole path. A
/// handler can call [`serve`](Self::serve) or
/// [`serve_path`](Self::serve_path) itself.
///
/// A directory is answered with its `index.html` (see
/// [`index_file`](Self::index_file)); asked for without its trailing slash,
/// it redirects (`308`) to the path with one, so that relative links in the
/// page resolve. Cloning is cheap: the configuration is shared.
///
/// # Examples
///
/// ```
/// use tramline::fs::ServeDir;
/// use tramline::test::TestClient;
/// use tramline::Router;
///
/// let root = std::env::temp_dir().join(format!("tramline-doc-servedir-{}", std::process::id()));
/// std::fs::create_dir_all(&root).unwrap();
/// std::fs::write(root.join("hello.txt"), "hello").unwrap();
///
/// let app = Router::new().nest_service("/static", ServeDir::new(&root));
/// let client = TestClient::new(app);
/// let res = client.get("/static/hello.txt").send();
/// res.assert_status(200)
///     .assert_header("content-type", "text/plain; charset=utf-8")
///     .assert_header("accept-ranges", "bytes");
/// client.get("/static/missing.txt").send().assert_status(404);
/// client.get("/static/../secret").send().assert_status(400);
/// # std::fs::remove_dir_all(&root).unwrap();
/// ```
#[derive(Clone)]
pub struct ServeDir {
    inner: Arc<DirConfig>,
}

#[derive(Clone)]
struct DirConfig {
    root: PathBuf,
    options: Options,
    /// Answers the paths that name no file (single-page apps).
    fallback: Option<ServeFile>,
}

impl ServeDir {
    /// Creates a service for the files under `root`.
    ///
    /// `root` need not exist yet: every request looks it up afresh.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            inner: Arc::new(DirConfig {
                root: root.into(),
                options: Options::default(),
                fallback: None,
            }),
        }
    }

    fn config(&mut self) -> &mut DirConfig {
        Arc::make_mut(&mut self.inner)
    }

    /// Sends `file.br` instead of `file` to clients that accept brotli,
    /// when it exists.
    ///
    /// With [`precompressed_gzip`](Self::precompressed_gzip) too, a client
    /// that accepts both equally gets the coding enabled first.
    pub fn precompressed_br(mut self) -> Self {
        add_encoding(&mut self.config().options, Encoding::Brotli);
        self
    }

    /// Sends `file.gz` instead of `file` to clients that accept gzip, when
    /// it exists.
    pub fn precompressed_gzip(mut self) -> Self {
        add_encoding(&mut self.config().options, Encoding::Gzip);
        self
    }

    /// Sets the file a directory is answered with (`index.html` by
    /// default).
    pub fn index_file(mut self, name: &str) -> Self {
        self.config().options.index = Some(name.into());
        self
    }

    /// Answers directories `404` instead of with an index file.
    pub fn no_index(mut self) -> Self {
        self.config().options.index = None;
        self
    }

    /// Serves symlinks that lead out of the root (`false` by default: they
    /// are answered `403`).
    pub fn follow_symlinks_outside(mut self, follow: bool) -> Self {
        self.config().options.follow_symlinks_outside = follow;
        self
    }

    /// Answers the paths that name no file with `file` (and status `200`),
    /// as a single-page app wants for its client-side routes.
    ///
    /// Refused paths (`400`, `403`) and other methods (`405`) are still
    /// refused.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tramline::fs::{ServeDir, ServeFile};
    /// use tramline::Router;
    ///
    /// let app: Router = Router::new()
    ///     .fallback(ServeDir::new("dist").fallback(ServeFile::new("dist/index.html")));
    /// ```
    pub fn fallback(mut self, file: ServeFile) -> Self {
        self.config().fallback = Some(file);
        self
    }

    /// Answers `req` with the file its URI's path names under the root.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the lookup; a lookup already running on
    /// the blocking pool finishes there and its result is dropped.
    pub fn serve(&self, req: Request) -> impl Future<Output = Response> + Send + 'static + use<> {
        let this = self.clone();
        async move {
            match path::resolve(req.uri().path()) {
                Ok(safe) => this.serve_safe(safe, req).await,
                Err(refused) => plain_text(StatusCode::BAD_REQUEST, refused.to_string()),
            }
        }
    }

    /// Answers `req` with the file at `path` under the root, ignoring the
    /// request's own path.
    ///
    /// `path` is already percent-decoded, as [`Path`](crate::extract::Path)
    /// gives it, and is not decoded again; it is checked as a request path
    /// is. This is how a handler on a catch-all route serves a directory.
    ///
    /// # Examples
    ///
    /// ```
    /// use tramline::extract::Path;
    /// use tramline::fs::ServeDir;
    /// use tramline::routing::get;
    /// use tramline::test::TestClient;
    /// use tramline::{Request, Router};
    ///
    /// let root = std::env::temp_dir().join(format!("tramline-doc-servepath-{}", std::process::id()));
    /// std::fs::create_dir_all(&root).unwrap();
    /// std::fs::write(root.join("app.js"), "ok").unwrap();
    ///
    /// let dir = ServeDir::new(&root);
    /// let app = Router::new().route(
    ///     "/assets/{*path}",
    ///     get(move |Path(path): Path<String>, req: Request| {
    ///         let dir = dir.clone();
    ///         async move { dir.serve_path(&path, req).await }
    ///     }),
    /// );
    /// let client = TestClient::new(app);
    /// client.get("/assets/app.js").send().assert_status(200).assert_text("ok");
    /// client.get("/assets/%2e%2e/x").send().assert_status(400);
    /// # std::fs::remove_dir_all(&root).unwrap();
    /// ```
    ///
    /// # Cancel safety
    ///
    /// As for [`serve`](Self::serve).
    pub fn serve_path(
        &self,
        path: &str,
        req: Request,
    ) -> impl Future<Output = Response> + Send + 'static + use<> {
        let this = self.clone();
        let checked = path::check(path);
        async move {
            match checked {
                Ok(safe) => this.serve_safe(safe, req).await,
                Err(refused) => plain_text(StatusCode::BAD_REQUEST, refused.to_string()),
            }
        }
    }

    async fn serve_safe(self, safe: path::SafePath, req: Request) -> Response {
        if !serve::is_read(req.method()) {
            return serve::method_not_allowed();
        }
        let config = &*self.inner;
        let accepted = serve::accepted(req.headers(), &config.options);
        let lookup =
            serve::lookup_in_dir(config.root.clone(), safe, config.options.clone(), accepted).await;
        let vary = !config.options.precompressed.is_empty();
        match lookup {
            Lookup::Found(opened) => serve::respond(req.method(), req.headers(), opened, vary),
            Lookup::NotFound if config.fallback.is_some() => {
                let fallback = config.fallback.clone().expect("checked above");
                fallback.serve(req).await
            }
            other => serve::refusal(other),
        }
    }
}

impl fmt::Debug for ServeDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServeDir")
            .field("root", &self.inner.root)
            .field("options", &self.inner.options)
            .field("fallback", &self.inner.fallback)
            .finish()
    }
}

/// Serves one file, whatever the request's path.
///
/// # Examples
///
/// ```
/// use tramline::fs::ServeFile;
/// use tramline::test::TestClient;
/// use tramline::Router;
///
/// let file = std::env::temp_dir().join(format!("tramline-doc-servefile-{}.txt", std::process::id()));
/// std::fs::write(&file, "0123456789").unwrap();
///
/// let app = Router::new().route_service("/digits", ServeFile::new(&file));
/// let client = TestClient::new(app);
/// client.get("/digits").header("range", "bytes=2-4").send()
///     .assert_status(206)
///     .assert_header("content-range", "bytes 2-4/10")
///     .assert_text("234");
/// # std::fs::remove_file(&file).unwrap();
/// ```
#[derive(Clone)]
pub struct ServeFile {
    inner: Arc<FileConfig>,
}

#[derive(Clone)]
struct FileConfig {
    path: PathBuf,
    options: Options,
}

impl ServeFile {
    /// Creates a service for the file at `path`.
    ///
    /// The file need not exist yet: every request opens it afresh, and
    /// gets `404` while it is missing.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            inner: Arc::new(FileConfig {
                path: path.into(),
                options: Options::default(),
            }),
        }
    }

    /// Sends `file.br` to clients that accept brotli, when it exists.
    pub fn precompressed_br(mut self) -> Self {
        add_encoding(
            &mut Arc::make_mut(&mut self.inner).options,
            Encoding::Brotli,
        );
        self
    }

    /// Sends `file.gz` to clients that accept gzip, when it exists.
    pub fn precompressed_gzip(mut self) -> Self {
        add_encoding(&mut Arc::make_mut(&mut self.inner).options, Encoding::Gzip);
        self
    }

    /// Answers `req` with the file.
    ///
    /// # Cancel safety
    ///
    /// As for [`ServeDir::serve`].
    pub fn serve(&self, req: Request) -> impl Future<Output = Response> + Send + 'static + use<> {
        let this = self.clone();
        async move {
            if !serve::is_read(req.method()) {
                return serve::method_not_allowed();
            }
            let config = &*this.inner;
            let accepted = serve::accepted(req.headers(), &config.options);
            let vary = !config.options.precompressed.is_empty();
            match serve::lookup_file(config.path.clone(), accepted).await {
                Lookup::Found(opened) => serve::respond(req.method(), req.headers(), opened, vary),
                other => serve::refusal(other),
            }
        }
    }
}

impl fmt::Debug for ServeFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServeFile")
            .field("path", &self.inner.path)
            .field("options", &self.inner.options)
            .finish()
    }
}

fn add_encoding(options: &mut Options, encoding: Encoding) {
    if !options.precompressed.contains(&encoding) {
        options.precompressed.push(encoding);
    }
}

/// A `ServeDir` is a handler: give it to [`Router::nest_service`](crate::Router::nest_service),
/// [`Router::fallback`](crate::Router::fallback) or [`any`](crate::routing::any).
impl<S: Send + Sync + 'static> Handler<(), S> for ServeDir {
    fn call(self, req: Request, _state: S) -> impl Future<Output = Response> + Send + 'static {
        self.serve(req)
    }
}

/// A `ServeFile` is a handler: give it to [`Router::route_service`](crate::Router::route_service)
/// or [`get`](crate::routing::get).
impl<S: Send + Sync + 'static> Handler<(), S> for ServeFile {
    fn call(self, req: Request, _state: S) -> impl Future<Output = Response> + Send + 'static {
        self.serve(req)
    }
}

/// The path check's invariants on arbitrary bytes, for the cargo-fuzz
/// target `serve_dir_path` in `fuzz/`.
#[cfg(feature = "__fuzz")]
#[doc(hidden)]
pub fn __fuzz_path(input: &[u8]) {
    path::assert_invariants(input);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::Body;
    use futures_lite::StreamExt;
    use futures_lite::future::block_on;
    use http::header::CONTENT_LENGTH;

    fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
        let path =
            std::env::temp_dir().join(format!("tramline-fs-unit-{}-{name}", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn get() -> Request {
        Request::get("/").body(Body::empty()).unwrap()
    }

    #[test]
    fn large_files_stream_in_bounded_chunks() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let path = temp_file("large", &data);
        let res = block_on(ServeFile::new(&path).serve(get()));
        assert_eq!(res.headers()[CONTENT_LENGTH], "300000");
        let mut body = res.into_body();
        // A stream framed by the header, not a buffer of the whole file.
        assert_eq!(body.len(), None);
        let mut sizes = Vec::new();
        let mut read = Vec::new();
        while let Some(chunk) = block_on(body.next()) {
            let chunk = chunk.unwrap();
            sizes.push(chunk.len());
            read.extend_from_slice(&chunk);
        }
        std::fs::remove_file(&path).unwrap();
        assert!(sizes.iter().all(|&n| n <= serve::CHUNK), "{sizes:?}");
        assert!(sizes.len() >= data.len() / serve::CHUNK, "{sizes:?}");
        assert!(read == data, "the file came back changed");
    }

    #[test]
    fn a_file_that_shrinks_while_sent_fails_its_body() {
        let path = temp_file("shrinks", &[7; 100_000]);
        let res = block_on(ServeFile::new(&path).serve(get()));
        assert_eq!(res.headers()[CONTENT_LENGTH], "100000");
        std::fs::write(&path, [7; 1000]).unwrap();
        let err = block_on(res.into_body().collect()).unwrap_err();
        std::fs::remove_file(&path).unwrap();
        let source = std::error::Error::source(&err).unwrap().to_string();
        assert_eq!(source, "file shrank while it was sent");
    }

    #[test]
    fn head_declares_the_length_and_reads_nothing() {
        let path = temp_file("head", b"0123456789");
        let req = Request::head("/").body(Body::empty()).unwrap();
        let res = block_on(ServeFile::new(&path).serve(req));
        std::fs::remove_file(&path).unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()[CONTENT_LENGTH], "10");
        assert!(block_on(res.into_body().collect()).unwrap().is_empty());
    }

    #[test]
    fn services_are_handlers_with_any_state() {
        fn assert_handler<T, S, H: Handler<T, S>>(_: &H) {}
        assert_handler::<_, (), _>(&ServeDir::new("."));
        assert_handler::<_, u32, _>(&ServeFile::new("x"));
    }
}
