//! Answering one request with one file: the lookup on the blocking pool,
//! then validators, conditional requests, ranges and the streamed body.

use std::collections::VecDeque;
use std::hash::{BuildHasher, RandomState};
use std::io::{self, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_lite::{AsyncReadExt, AsyncSeekExt};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode};

use super::encoding::{self, Encoding};
use super::path::SafePath;
use super::range::{self, Ranges};
use crate::vocab::response::plain_text;
use crate::vocab::{Body, Response};

/// Bytes read from a file per body chunk: what a streamed file holds in
/// memory at once (plus as much again read ahead by the blocking pool).
pub(crate) const CHUNK: usize = 64 * 1024;

/// How files are looked up and offered, shared by `ServeDir` and
/// `ServeFile`.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// Precompressed siblings to look for, in the server's preference.
    pub(crate) precompressed: Vec<Encoding>,
    /// The file a directory is answered with.
    pub(crate) index: Option<Box<str>>,
    /// Serve symlinks that point outside the root.
    pub(crate) follow_symlinks_outside: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            precompressed: Vec::new(),
            index: Some("index.html".into()),
            follow_symlinks_outside: false,
        }
    }
}

/// A file opened for one request.
#[derive(Debug)]
pub(crate) struct Opened {
    file: std::fs::File,
    len: u64,
    modified: Option<SystemTime>,
    /// The coding of the precompressed sibling opened instead of the file.
    encoding: Option<Encoding>,
    /// From the name of the file asked for, not of its `.br`/`.gz` sibling.
    content_type: HeaderValue,
}

/// What looking up a request path found.
#[derive(Debug)]
pub(crate) enum Lookup {
    Found(Opened),
    NotFound,
    /// A symlink out of the root, or a file the server may not read.
    Forbidden,
    /// A directory asked for without its trailing slash: its index is
    /// served at `name/`, so that relative links in it resolve.
    AddSlash(String),
}

/// Answers methods other than `GET` and `HEAD`.
pub(crate) fn method_not_allowed() -> Response {
    let mut res = plain_text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
    res.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    res
}

/// Whether `method` is one a file answers.
pub(crate) fn is_read(method: &Method) -> bool {
    method == Method::GET || method == Method::HEAD
}

/// Looks `safe` up under `root`, on the blocking pool.
pub(crate) async fn lookup_in_dir(
    root: PathBuf,
    safe: SafePath,
    options: Options,
    accepted: Vec<Encoding>,
) -> Lookup {
    blocking::unblock(move || find_in_dir(&root, &safe, &options, &accepted)).await
}

/// Opens the one file at `path`, on the blocking pool.
pub(crate) async fn lookup_file(path: PathBuf, accepted: Vec<Encoding>) -> Lookup {
    blocking::unblock(move || match open_with_siblings(&path, &accepted, None) {
        Ok(Some(opened)) => Lookup::Found(opened),
        Ok(None) => Lookup::NotFound,
        Err(e) => miss(&e),
    })
    .await
}

/// A lookup that failed: a missing file (or a path through a file) is not
/// found, anything else the server may not read.
fn miss(e: &io::Error) -> Lookup {
    match e.kind() {
        io::ErrorKind::PermissionDenied => Lookup::Forbidden,
        _ => Lookup::NotFound,
    }
}

fn find_in_dir(root: &Path, safe: &SafePath, options: &Options, accepted: &[Encoding]) -> Lookup {
    let full = root.join(&safe.relative);
    // Symlinks are resolved, then the result must still be under the
    // root: `resolve` already made `..` impossible, so only a link can
    // lead out.
    let canonical_root = if options.follow_symlinks_outside {
        None
    } else {
        match std::fs::canonicalize(root) {
            Ok(root) => Some(root),
            Err(e) => return miss(&e),
        }
    };
    let target = match std::fs::canonicalize(&full) {
        Ok(target) => target,
        Err(e) => return miss(&e),
    };
    if canonical_root
        .as_ref()
        .is_some_and(|root| !target.starts_with(root))
    {
        return Lookup::Forbidden;
    }
    let meta = match std::fs::metadata(&target) {
        Ok(meta) => meta,
        Err(e) => return miss(&e),
    };
    let file = if meta.is_dir() {
        let Some(index) = &options.index else {
            return Lookup::NotFound;
        };
        if !safe.trailing_slash {
            if let Some(name) = safe.relative.file_name() {
                let name = name.to_string_lossy();
                let encoded = percent_encoding::utf8_percent_encode(&name, SEGMENT);
                return Lookup::AddSlash(format!("{encoded}/"));
            }
        }
        full.join(&**index)
    } else if safe.trailing_slash {
        // `file.txt/` names a directory that is not there.
        return Lookup::NotFound;
    } else {
        full
    };
    match open_with_siblings(&file, accepted, canonical_root.as_deref()) {
        Ok(Some(opened)) => Lookup::Found(opened),
        Ok(None) => Lookup::NotFound,
        Err(e) => miss(&e),
    }
}

/// What a path segment may not hold unencoded in a `Location`.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// Opens `path`, or the first of its precompressed siblings in `accepted`
/// that is a readable file (under `root`, when given).
fn open_with_siblings(
    path: &Path,
    accepted: &[Encoding],
    root: Option<&Path>,
) -> io::Result<Option<Opened>> {
    let content_type = content_type(path);
    for &encoding in accepted {
        let mut sibling = path.as_os_str().to_owned();
        sibling.push(".");
        sibling.push(encoding.extension());
        // A missing or unreadable sibling only means the file is sent as
        // it is.
        if let Ok(Some(mut opened)) = open_file(Path::new(&sibling), root) {
            opened.encoding = Some(encoding);
            opened.content_type = content_type;
            return Ok(Some(opened));
        }
    }
    let opened = open_file(path, root)?;
    Ok(opened.map(|opened| Opened {
        content_type,
        ..opened
    }))
}

/// Opens `path` if it is a regular file (under `root`, when given).
fn open_file(path: &Path, root: Option<&Path>) -> io::Result<Option<Opened>> {
    if let Some(root) = root {
        if !std::fs::canonicalize(path)?.starts_with(root) {
            return Err(io::ErrorKind::PermissionDenied.into());
        }
    }
    let file = std::fs::File::open(path)?;
    // The metadata of the open file, so size and validators describe the
    // bytes that will be read even if the path is replaced meanwhile.
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Ok(None);
    }
    Ok(Some(Opened {
        file,
        len: meta.len(),
        modified: meta.modified().ok(),
        encoding: None,
        content_type: HeaderValue::from_static("application/octet-stream"),
    }))
}

/// The `Content-Type` for `path`'s extension; text is declared UTF-8,
/// which is what browsers otherwise guess wrong.
fn content_type(path: &Path) -> HeaderValue {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let value = if mime.type_() == mime_guess::mime::TEXT && mime.get_param("charset").is_none() {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    };
    HeaderValue::from_str(&value)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"))
}

/// Answers a lookup that found nothing to send.
pub(crate) fn refusal(lookup: Lookup) -> Response {
    match lookup {
        Lookup::Found(_) | Lookup::NotFound => plain_text(StatusCode::NOT_FOUND, "not found"),
        Lookup::Forbidden => plain_text(StatusCode::FORBIDDEN, "forbidden"),
        Lookup::AddSlash(location) => {
            let mut res = Response::new(Body::empty());
            *res.status_mut() = StatusCode::PERMANENT_REDIRECT;
            if let Ok(location) = HeaderValue::from_str(&location) {
                res.headers_mut().insert(header::LOCATION, location);
            }
            res
        }
    }
}

/// The codings of `options.precompressed` that `headers` accept.
pub(crate) fn accepted(headers: &HeaderMap, options: &Options) -> Vec<Encoding> {
    if options.precompressed.is_empty() {
        return Vec::new();
    }
    encoding::preferred(headers, &options.precompressed)
}

/// Builds the response for `opened`: validators, conditional requests
/// (RFC 9110 §13.2.2), ranges (§14) and the body.
pub(crate) fn respond(
    method: &Method,
    headers: &HeaderMap,
    opened: Opened,
    vary: bool,
) -> Response {
    let len = opened.len;
    let etag = opened
        .modified
        .map(|modified| etag(len, modified, opened.encoding));
    // HTTP dates have whole seconds: compare in those.
    let modified_secs = opened
        .modified
        .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs());

    let mut validators = HeaderMap::new();
    if let Some(etag) = &etag {
        validators.insert(
            header::ETAG,
            HeaderValue::from_str(etag).expect("hex and quotes"),
        );
    }
    if let Some(modified) = opened.modified {
        let date = httpdate::fmt_http_date(modified);
        validators.insert(
            header::LAST_MODIFIED,
            HeaderValue::from_str(&date).expect("an HTTP date"),
        );
    }
    if vary {
        validators.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }

    match preconditions(headers, etag.as_deref(), modified_secs) {
        Precondition::Failed => {
            let mut res = plain_text(StatusCode::PRECONDITION_FAILED, "precondition failed");
            res.headers_mut().extend(validators);
            return res;
        }
        Precondition::NotModified => {
            let mut res = Response::new(Body::empty());
            *res.status_mut() = StatusCode::NOT_MODIFIED;
            *res.headers_mut() = validators;
            return res;
        }
        Precondition::Pass => {}
    }

    let mut res_headers = validators;
    res_headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some(encoding) = opened.encoding {
        res_headers.insert(
            header::CONTENT_ENCODING,
            HeaderValue::from_static(encoding.name()),
        );
    }

    // §14.2: Range means something for GET only; If-Range that does not
    // match asks for the whole file.
    let ranges = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(range)
            if method == Method::GET && if_range_holds(headers, etag.as_deref(), modified_secs) =>
        {
            range::parse(range, len)
        }
        _ => Ranges::Ignore,
    };
    let is_head = method == Method::HEAD;
    match ranges {
        Ranges::Ignore => {
            res_headers.insert(header::CONTENT_TYPE, opened.content_type);
            let segments = vec![Segment::File(0..len)];
            file_response(StatusCode::OK, res_headers, opened.file, segments, is_head)
        }
        Ranges::Unsatisfiable => {
            let mut res = plain_text(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable");
            res.headers_mut().extend(res_headers);
            res.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{len}")).expect("digits"),
            );
            res
        }
        Ranges::Satisfiable(ranges) if ranges.len() == 1 => {
            let range = ranges[0].clone();
            res_headers.insert(header::CONTENT_TYPE, opened.content_type);
            res_headers.insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&content_range(&range, len)).expect("digits"),
            );
            file_response(
                StatusCode::PARTIAL_CONTENT,
                res_headers,
                opened.file,
                vec![Segment::File(range)],
                is_head,
            )
        }
        Ranges::Satisfiable(ranges) => {
            let (segments, boundary) = multipart(&ranges, len, &opened.content_type);
            res_headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_str(&format!("multipart/byteranges; boundary={boundary}"))
                    .expect("an ASCII boundary"),
            );
            file_response(
                StatusCode::PARTIAL_CONTENT,
                res_headers,
                opened.file,
                segments,
                is_head,
            )
        }
    }
}

/// A strong validator from the file's size and modification time (and
/// coding: a `.br` sibling is another representation).
fn etag(len: u64, modified: SystemTime, encoding: Option<Encoding>) -> String {
    let nanos = match modified.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos(),
        Err(e) => e.duration().as_nanos(),
    };
    match encoding {
        Some(encoding) => format!("\"{len:x}-{nanos:x}-{}\"", encoding.extension()),
        None => format!("\"{len:x}-{nanos:x}\""),
    }
}

fn content_range(range: &Range<u64>, len: u64) -> String {
    format!("bytes {}-{}/{len}", range.start, range.end - 1)
}

#[derive(Debug, PartialEq, Eq)]
enum Precondition {
    Pass,
    Failed,
    NotModified,
}

/// RFC 9110 §13.2.2, in its order: If-Match, else If-Unmodified-Since;
/// then If-None-Match, else If-Modified-Since. A request with
/// If-None-Match never looks at If-Modified-Since.
fn preconditions(headers: &HeaderMap, etag: Option<&str>, modified: Option<u64>) -> Precondition {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if let Some(if_match) = text(header::IF_MATCH) {
        if !etag_list_matches(if_match, etag, true) {
            return Precondition::Failed;
        }
    } else if let Some(since) = text(header::IF_UNMODIFIED_SINCE).and_then(http_date_secs) {
        if modified.is_none_or(|m| m > since) {
            return Precondition::Failed;
        }
    }
    if let Some(if_none_match) = text(header::IF_NONE_MATCH) {
        if etag_list_matches(if_none_match, etag, false) {
            return Precondition::NotModified;
        }
    } else if let Some(since) = text(header::IF_MODIFIED_SINCE).and_then(http_date_secs) {
        if modified.is_some_and(|m| m <= since) {
            return Precondition::NotModified;
        }
    }
    Precondition::Pass
}

/// §13.1.5: If-Range holds when its entity tag matches ours strongly, or
/// its date is exactly our Last-Modified.
fn if_range_holds(headers: &HeaderMap, etag: Option<&str>, modified: Option<u64>) -> bool {
    let Some(value) = headers.get(header::IF_RANGE) else {
        return true;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let value = value.trim();
    if value.starts_with('"') || value.starts_with("W/") {
        // A weak tag never matches strongly.
        return etag.is_some_and(|etag| value == etag);
    }
    http_date_secs(value).is_some_and(|date| modified == Some(date))
}

/// Whether a list of entity tags (or `*`) matches `etag`: strongly, or
/// weakly (ignoring `W/`) for If-None-Match (§8.8.3.2).
fn etag_list_matches(list: &str, etag: Option<&str>, strong: bool) -> bool {
    let Some(etag) = etag else {
        // No validator: only `*` ("any current representation") matches.
        return list.trim() == "*";
    };
    if list.trim() == "*" {
        return true;
    }
    let mut rest = list;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            return false;
        }
        let weak = rest.starts_with("W/");
        if weak {
            rest = &rest[2..];
        }
        // `entity-tag = [ weak ] DQUOTE *etagc DQUOTE`; etagc has no `"`.
        let Some(body) = rest.strip_prefix('"') else {
            return false;
        };
        let Some(end) = body.find('"') else {
            return false;
        };
        let tag = &rest[..end + 2];
        if tag == etag && !(strong && weak) {
            return true;
        }
        rest = &rest[end + 2..];
    }
}

fn http_date_secs(text: &str) -> Option<u64> {
    let date = httpdate::parse_http_date(text.trim()).ok()?;
    date.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs())
}

/// A piece of a response body: bytes made here, or a range of the file.
#[derive(Debug)]
enum Segment {
    Bytes(Bytes),
    File(Range<u64>),
}

impl Segment {
    fn len(&self) -> u64 {
        match self {
            Self::Bytes(bytes) => bytes.len() as u64,
            Self::File(range) => range.end - range.start,
        }
    }
}

/// The segments of a `multipart/byteranges` body (RFC 9110 §14.6) and its
/// boundary.
fn multipart(
    ranges: &[Range<u64>],
    len: u64,
    content_type: &HeaderValue,
) -> (Vec<Segment>, String) {
    // Random per response, so no file can be made to contain it.
    let boundary = format!("{:016x}", RandomState::new().hash_one(ranges.len()));
    let content_type = content_type.to_str().unwrap_or("application/octet-stream");
    let mut segments = Vec::with_capacity(ranges.len() * 2 + 1);
    for (i, range) in ranges.iter().enumerate() {
        // The first boundary's CRLF is not needed but keeps every part alike.
        let head = format!(
            "{}--{boundary}\r\ncontent-type: {content_type}\r\ncontent-range: {}\r\n\r\n",
            if i == 0 { "" } else { "\r\n" },
            content_range(range, len),
        );
        segments.push(Segment::Bytes(head.into()));
        segments.push(Segment::File(range.clone()));
    }
    let tail = format!("\r\n--{boundary}--\r\n");
    segments.push(Segment::Bytes(tail.into()));
    (segments, boundary)
}

/// A response whose body is `segments`, read from `file` as the
/// connection sends it.
fn file_response(
    status: StatusCode,
    mut headers: HeaderMap,
    file: std::fs::File,
    segments: Vec<Segment>,
    is_head: bool,
) -> Response {
    let len: u64 = segments.iter().map(Segment::len).sum();
    // The engine frames a streamed body by this header; for HEAD it
    // sends the header and never polls the body.
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    let body = if is_head {
        Body::from_stream(futures_lite::stream::empty::<io::Result<Bytes>>())
    } else if len == 0 {
        Body::empty()
    } else {
        let reader = Reader {
            file: blocking::Unblock::with_capacity(CHUNK, file),
            segments: segments.into(),
            position: None,
        };
        Body::from_stream(futures_lite::stream::unfold(
            reader,
            |mut reader| async move {
                let chunk = reader.next().await?;
                Some((chunk, reader))
            },
        ))
    };
    let mut res = Response::new(body);
    *res.status_mut() = status;
    *res.headers_mut() = headers;
    res
}

/// Reads the segments of a body in chunks of at most [`CHUNK`] bytes.
struct Reader {
    file: blocking::Unblock<std::fs::File>,
    segments: VecDeque<Segment>,
    /// Where the next read starts; `None` until the first seek.
    position: Option<u64>,
}

impl Reader {
    async fn next(&mut self) -> Option<io::Result<Bytes>> {
        loop {
            match self.segments.front_mut()? {
                Segment::Bytes(bytes) => {
                    let bytes = std::mem::take(bytes);
                    self.segments.pop_front();
                    return Some(Ok(bytes));
                }
                Segment::File(range) if range.is_empty() => {
                    self.segments.pop_front();
                }
                Segment::File(range) => {
                    let range = range.clone();
                    let chunk = self.read(range.clone()).await;
                    match &chunk {
                        Ok(bytes) => {
                            if let Some(Segment::File(r)) = self.segments.front_mut() {
                                r.start += bytes.len() as u64;
                            }
                        }
                        // Nothing after an error: the engine aborts the
                        // connection on it.
                        Err(_) => self.segments.clear(),
                    }
                    return Some(chunk);
                }
            }
        }
    }

    async fn read(&mut self, range: Range<u64>) -> io::Result<Bytes> {
        if self.position != Some(range.start) {
            self.file.seek(SeekFrom::Start(range.start)).await?;
            self.position = Some(range.start);
        }
        let want = usize::try_from(range.end - range.start).map_or(CHUNK, |n| n.min(CHUNK));
        let mut buf = vec![0; want];
        let n = self.file.read(&mut buf).await?;
        if n == 0 {
            // The length is already promised in Content-Length.
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shrank while it was sent",
            ));
        }
        buf.truncate(n);
        self.position = Some(range.start + n as u64);
        Ok(Bytes::from(buf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_tag_lists_match_strongly_or_weakly() {
        let ours = Some("\"a-1\"");
        let cases = [
            ("\"a-1\"", true, true),
            ("W/\"a-1\"", false, true),
            ("\"b\", \"a-1\"", true, true),
            ("\"b\",W/\"a-1\"", false, true),
            ("*", true, true),
            ("\"a-2\"", false, false),
            ("a-1", false, false),
            ("\"a-1", false, false),
            ("", false, false),
            ("\"x,\"a-1\"\"", false, false),
        ];
        for (list, strong, weak) in cases {
            assert_eq!(
                etag_list_matches(list, ours, true),
                strong,
                "strong {list:?}"
            );
            assert_eq!(etag_list_matches(list, ours, false), weak, "weak {list:?}");
        }
        assert!(etag_list_matches("*", None, false));
        assert!(!etag_list_matches("\"a-1\"", None, false));
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| {
                (
                    http::header::HeaderName::from_static(name),
                    HeaderValue::from_str(value).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn preconditions_follow_rfc_9110_order() {
        let etag = Some("\"e\"");
        // 1994-11-06 08:49:37 GMT
        let modified = Some(784_111_777);
        let at = "Sun, 06 Nov 1994 08:49:37 GMT";
        let before = "Sun, 06 Nov 1994 08:49:36 GMT";
        use Precondition::*;
        let cases: [(&[(&'static str, &str)], Precondition); 12] = [
            (&[], Pass),
            (&[("if-none-match", "\"e\"")], NotModified),
            (&[("if-none-match", "W/\"e\"")], NotModified),
            (&[("if-none-match", "\"other\"")], Pass),
            (&[("if-modified-since", at)], NotModified),
            (&[("if-modified-since", before)], Pass),
            (&[("if-modified-since", "not a date")], Pass),
            // If-None-Match wins: a stale tag sends the file even though
            // the date says it is unchanged.
            (
                &[("if-none-match", "\"other\""), ("if-modified-since", at)],
                Pass,
            ),
            (
                &[("if-none-match", "\"e\""), ("if-modified-since", before)],
                NotModified,
            ),
            (&[("if-match", "\"other\"")], Failed),
            (&[("if-match", "W/\"e\"")], Failed),
            (&[("if-unmodified-since", before)], Failed),
        ];
        for (pairs, want) in cases {
            assert_eq!(
                preconditions(&headers(pairs), etag, modified),
                want,
                "{pairs:?}"
            );
        }
        assert_eq!(
            preconditions(
                &headers(&[("if-match", "\"e\""), ("if-unmodified-since", before)]),
                etag,
                modified
            ),
            Pass
        );
    }

    #[test]
    fn if_range_needs_a_strong_tag_or_the_exact_date() {
        let etag = Some("\"e\"");
        let modified = Some(784_111_777);
        for (value, holds) in [
            ("\"e\"", true),
            ("W/\"e\"", false),
            ("\"f\"", false),
            ("Sun, 06 Nov 1994 08:49:37 GMT", true),
            ("Sun, 06 Nov 1994 08:49:38 GMT", false),
            ("garbage", false),
        ] {
            assert_eq!(
                if_range_holds(&headers(&[("if-range", value)]), etag, modified),
                holds,
                "{value:?}"
            );
        }
        assert!(if_range_holds(&HeaderMap::new(), etag, modified));
    }

    #[test]
    fn multipart_length_is_the_body_length() {
        let ranges = [0..2, 5..9];
        let (segments, boundary) = multipart(&ranges, 10, &HeaderValue::from_static("text/plain"));
        let total: u64 = segments.iter().map(Segment::len).sum();
        let mut body = Vec::new();
        for segment in &segments {
            match segment {
                Segment::Bytes(b) => body.extend_from_slice(b),
                Segment::File(r) => {
                    body.extend(std::iter::repeat_n(b'x', (r.end - r.start) as usize))
                }
            }
        }
        assert_eq!(body.len() as u64, total);
        let text = String::from_utf8(body).unwrap();
        assert_eq!(
            text,
            format!(
                "--{boundary}\r\ncontent-type: text/plain\r\ncontent-range: bytes 0-1/10\r\n\r\nxx\
                 \r\n--{boundary}\r\ncontent-type: text/plain\r\ncontent-range: bytes 5-8/10\r\n\r\nxxxx\
                 \r\n--{boundary}--\r\n"
            )
        );
    }

    #[test]
    fn text_is_declared_utf8() {
        for (name, want) in [
            ("a.html", "text/html; charset=utf-8"),
            ("a.css", "text/css; charset=utf-8"),
            ("a.png", "image/png"),
            ("a.json", "application/json"),
            ("noext", "application/octet-stream"),
        ] {
            assert_eq!(content_type(Path::new(name)), want, "{name}");
        }
    }
}
