//! `ServeDir` and `ServeFile` over loopback, on every runtime: a table of
//! range, conditional-GET, precompression and traversal cases against a
//! directory the test makes, a large file streamed whole and in pieces,
//! and one range request from curl.
#![cfg(feature = "fs")]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use tramline::Router;
use tramline::fs::{ServeDir, ServeFile};
use tramline::rt::Runtime;

use support::{Client, RawResponse, TestServer, on_every_runtime_and_protocol};

/// A directory under the system's temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "tramline-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const DIGITS: &[u8] = b"0123456789";
/// Over three body chunks (64 KiB each).
const BIG_LEN: usize = 200_000;

fn big() -> Vec<u8> {
    (0..BIG_LEN).map(|i| (i % 251) as u8).collect()
}

/// `root/` with the files the cases ask for, and `secret.txt` beside it.
fn make_tree(dir: &Path) -> PathBuf {
    let root = dir.join("root");
    let write = |name: &str, bytes: &[u8]| {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    };
    write("digits.txt", DIGITS);
    write("index.html", b"<h1>root</h1>");
    write("sub/index.html", b"<h1>sub</h1>");
    write("style.css", b"body{}");
    write("style.css.br", b"BR");
    write("style.css.gz", b"GZ");
    write("empty.txt", b"");
    write("big.bin", &big());
    write("caf\u{e9} au lait.txt", b"coffee");
    write("100%.txt", b"percent");
    std::fs::write(dir.join("secret.txt"), b"secret").unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(dir.join("secret.txt"), root.join("escape")).unwrap();
        std::os::unix::fs::symlink(root.join("digits.txt"), root.join("inside")).unwrap();
        std::os::unix::fs::symlink(dir, root.join("up")).unwrap();
    }
    root
}

fn app(root: &Path) -> Router {
    Router::new()
        .nest_service(
            "/static",
            ServeDir::new(root).precompressed_br().precompressed_gzip(),
        )
        .nest_service(
            "/spa",
            ServeDir::new(root).fallback(ServeFile::new(root.join("index.html"))),
        )
        .nest_service("/follow", ServeDir::new(root).follow_symlinks_outside(true))
        .nest_service("/plain", ServeDir::new(root).no_index())
        .route_service("/favicon.ico", ServeFile::new(root.join("digits.txt")))
}

/// One request and what its response must hold.
struct Case {
    method: &'static str,
    path: String,
    headers: Vec<(&'static str, String)>,
    status: u16,
    /// Headers that must have these values; `None`: must be absent.
    expect: Vec<(&'static str, Option<String>)>,
    /// The body; `None` for responses whose body the table does not check.
    body: Option<Vec<u8>>,
}

fn case(method: &'static str, path: &str, status: u16) -> Case {
    Case {
        method,
        path: path.to_owned(),
        headers: Vec::new(),
        status,
        expect: Vec::new(),
        body: None,
    }
}

impl Case {
    fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }

    fn expect(mut self, name: &'static str, value: &str) -> Self {
        self.expect.push((name, Some(value.to_owned())));
        self
    }

    fn absent(mut self, name: &'static str) -> Self {
        self.expect.push((name, None));
        self
    }

    fn body(mut self, body: impl AsRef<[u8]>) -> Self {
        self.body = Some(body.as_ref().to_vec());
        self
    }

    fn run(&self, client: &mut Client) -> RawResponse {
        let mut request = format!("{} {} HTTP/1.1\r\nHost: t\r\n", self.method, self.path);
        for (name, value) in &self.headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        client.send(request.as_bytes());
        let res = if self.method == "HEAD" {
            client.head_response()
        } else {
            client.response()
        };
        let what = format!("{} {} {:?}", self.method, self.path, self.headers);
        assert_eq!(
            res.status,
            self.status,
            "{what}: {}",
            String::from_utf8_lossy(&res.body)
        );
        for (name, value) in &self.expect {
            assert_eq!(res.header(name), value.as_deref(), "{what}: header {name}");
        }
        if let Some(body) = &self.body {
            assert_eq!(
                String::from_utf8_lossy(&res.body),
                String::from_utf8_lossy(body),
                "{what}: body"
            );
        }
        res
    }
}

fn cases(etag: &str, last_modified: &str) -> Vec<Case> {
    let digits_len = DIGITS.len().to_string();
    let mut cases = vec![
        // Whole files, types, validators.
        case("GET", "/static/digits.txt", 200)
            .expect("content-type", "text/plain; charset=utf-8")
            .expect("content-length", &digits_len)
            .expect("accept-ranges", "bytes")
            .expect("etag", etag)
            .expect("last-modified", last_modified)
            .expect("vary", "accept-encoding")
            .absent("content-encoding")
            .body(DIGITS),
        case("HEAD", "/static/digits.txt", 200)
            .expect("content-length", &digits_len)
            .expect("etag", etag)
            .body(""),
        case("GET", "/favicon.ico", 200)
            .expect("content-type", "text/plain; charset=utf-8")
            .absent("vary")
            .body(DIGITS),
        case("GET", "/static/empty.txt", 200)
            .expect("content-length", "0")
            .body(""),
        case("GET", "/static/caf%C3%A9%20au%20lait.txt", 200).body("coffee"),
        case("GET", "/static/100%25.txt", 200).body("percent"),
        case("GET", "/static/", 200)
            .expect("content-type", "text/html; charset=utf-8")
            .body("<h1>root</h1>"),
        case("GET", "/static", 200).body("<h1>root</h1>"),
        case("GET", "/static/sub/", 200).body("<h1>sub</h1>"),
        case("GET", "/static/sub", 308).expect("location", "sub/"),
        case("GET", "/static/sub/index.html", 200).body("<h1>sub</h1>"),
        case("GET", "/plain/", 404),
        case("GET", "/plain/sub/", 404),
        case("GET", "/static/missing.txt", 404).body("not found"),
        case("GET", "/static/digits.txt/", 404),
        case("POST", "/static/digits.txt", 405)
            .expect("allow", "GET, HEAD")
            .body("method not allowed"),
        case("DELETE", "/favicon.ico", 405).expect("allow", "GET, HEAD"),
        // Single-page app: unknown paths get the index, refused ones not.
        case("GET", "/spa/some/client/route", 200).body("<h1>root</h1>"),
        case("GET", "/spa/digits.txt", 200).body(DIGITS),
        case("GET", "/spa/%2e%2e/secret.txt", 400),
        // Ranges.
        case("GET", "/static/digits.txt", 206)
            .header("range", "bytes=0-3")
            .expect("content-range", "bytes 0-3/10")
            .expect("content-length", "4")
            .expect("content-type", "text/plain; charset=utf-8")
            .expect("etag", etag)
            .body("0123"),
        case("GET", "/static/digits.txt", 206)
            .header("range", "bytes=-3")
            .expect("content-range", "bytes 7-9/10")
            .body("789"),
        case("GET", "/static/digits.txt", 206)
            .header("range", "bytes=7-")
            .body("789"),
        case("GET", "/static/digits.txt", 206)
            .header("range", "bytes=5-100")
            .expect("content-range", "bytes 5-9/10")
            .body("56789"),
        case("GET", "/static/digits.txt", 206)
            .header("range", "bytes=0-4,2-6")
            .expect("content-range", "bytes 0-6/10")
            .body("0123456"),
        case("GET", "/static/digits.txt", 416)
            .header("range", "bytes=10-")
            .expect("content-range", "bytes */10")
            .body("range not satisfiable"),
        case("GET", "/static/empty.txt", 416)
            .header("range", "bytes=0-")
            .expect("content-range", "bytes */0"),
        case("GET", "/static/digits.txt", 200)
            .header("range", "bytes=3-2")
            .body(DIGITS),
        case("GET", "/static/digits.txt", 200)
            .header("range", "items=0-1")
            .body(DIGITS),
        case("HEAD", "/static/digits.txt", 200)
            .header("range", "bytes=0-3")
            .expect("content-length", &digits_len)
            .absent("content-range"),
        case("GET", "/static/digits.txt", 206)
            .header("range", "bytes=1-2")
            .header("if-range", etag)
            .body("12"),
        case("GET", "/static/digits.txt", 206)
            .header("range", "bytes=1-2")
            .header("if-range", last_modified)
            .body("12"),
        case("GET", "/static/digits.txt", 200)
            .header("range", "bytes=1-2")
            .header("if-range", "\"stale\"")
            .body(DIGITS),
        case("GET", "/static/digits.txt", 200)
            .header("range", "bytes=1-2")
            .header("if-range", &format!("W/{etag}"))
            .body(DIGITS),
        case("GET", "/static/digits.txt", 200)
            .header("range", "bytes=1-2")
            .header("if-range", "Thu, 01 Jan 1970 00:00:00 GMT")
            .body(DIGITS),
        // Conditional GET (RFC 9110 §13.2.2: If-None-Match wins).
        case("GET", "/static/digits.txt", 304)
            .header("if-none-match", etag)
            .expect("etag", etag)
            .expect("last-modified", last_modified)
            .absent("content-length")
            .body(""),
        case("HEAD", "/static/digits.txt", 304).header("if-none-match", etag),
        case("GET", "/static/digits.txt", 304)
            .header("if-none-match", &format!("\"a\", W/{etag}"))
            .body(""),
        case("GET", "/static/digits.txt", 304).header("if-none-match", "*"),
        case("GET", "/static/digits.txt", 200)
            .header("if-none-match", "\"stale\"")
            .header("if-modified-since", last_modified)
            .body(DIGITS),
        case("GET", "/static/digits.txt", 304)
            .header("if-none-match", etag)
            .header("if-modified-since", "Thu, 01 Jan 1970 00:00:00 GMT"),
        case("GET", "/static/digits.txt", 304).header("if-modified-since", last_modified),
        case("GET", "/static/digits.txt", 200)
            .header("if-modified-since", "Thu, 01 Jan 1970 00:00:00 GMT")
            .body(DIGITS),
        case("GET", "/static/digits.txt", 200)
            .header("if-modified-since", "yesterday")
            .body(DIGITS),
        case("GET", "/static/digits.txt", 412).header("if-match", "\"stale\""),
        case("GET", "/static/digits.txt", 200)
            .header("if-match", etag)
            .body(DIGITS),
        case("GET", "/static/digits.txt", 412)
            .header("if-unmodified-since", "Thu, 01 Jan 1970 00:00:00 GMT"),
        // Precompressed siblings, by Accept-Encoding and its q-values.
        case("GET", "/static/style.css", 200)
            .header("accept-encoding", "gzip, br")
            .expect("content-encoding", "br")
            .expect("content-type", "text/css; charset=utf-8")
            .expect("vary", "accept-encoding")
            .body("BR"),
        case("GET", "/static/style.css", 200)
            .header("accept-encoding", "gzip")
            .expect("content-encoding", "gzip")
            .body("GZ"),
        case("GET", "/static/style.css", 200)
            .header("accept-encoding", "br;q=0.5, gzip;q=0.9")
            .expect("content-encoding", "gzip")
            .body("GZ"),
        case("GET", "/static/style.css", 200)
            .header("accept-encoding", "br;q=0, *")
            .expect("content-encoding", "gzip"),
        case("GET", "/static/style.css", 200)
            .header("accept-encoding", "identity")
            .absent("content-encoding")
            .expect("vary", "accept-encoding")
            .body("body{}"),
        case("GET", "/static/style.css", 200)
            .absent("content-encoding")
            .body("body{}"),
        case("GET", "/static/style.css", 206)
            .header("accept-encoding", "br")
            .header("range", "bytes=1-")
            .expect("content-encoding", "br")
            .expect("content-range", "bytes 1-1/2")
            .body("R"),
        case("GET", "/static/digits.txt", 200)
            .header("accept-encoding", "br, gzip")
            .absent("content-encoding")
            .body(DIGITS),
        case("GET", "/plain/style.css", 200)
            .header("accept-encoding", "br")
            .absent("content-encoding")
            .absent("vary")
            .body("body{}"),
        // Traversal and malformed paths.
        case("GET", "/static/../secret.txt", 400).body("path must not contain `..` segments"),
        case("GET", "/static/%2e%2e/secret.txt", 400),
        case("GET", "/static/%2E%2E/%2e%2e/secret.txt", 400),
        case("GET", "/static/sub/..%2f..%2fsecret.txt", 400),
        case("GET", "/static/..%5csecret.txt", 400).body("path must not contain backslashes"),
        case("GET", "/static/a%00.txt", 400).body("path must not contain NUL"),
        case("GET", "/static/C:/Windows/win.ini", 400),
        case("GET", "/static/C%3A%5CWindows", 400),
        case("GET", "/static/%ff", 400).body("path is not valid UTF-8 once percent-decoded"),
        case("GET", "/static/%zz", 400).body("invalid percent-encoding in path"),
        case("GET", "/static/%252e%252e/secret.txt", 404),
        case("GET", "/static//etc/passwd", 404),
        case("GET", "/static/%2Fetc%2Fpasswd", 404),
    ];
    if cfg!(unix) {
        cases.extend([
            case("GET", "/static/escape", 403).body("forbidden"),
            case("GET", "/static/up/secret.txt", 403),
            case("GET", "/spa/escape", 403),
            case("GET", "/static/inside", 200).body(DIGITS),
            case("GET", "/follow/escape", 200).body("secret"),
            case("GET", "/follow/up/secret.txt", 200).body("secret"),
        ]);
    }
    cases
}

fn serves_the_case_table<R: Runtime>(rt: R) {
    let dir = TempDir::new("static-table");
    let root = make_tree(&dir.0);
    let server = TestServer::start(rt, app(&root));
    let mut client = server.connect();
    let first = case("GET", "/static/digits.txt", 200).run(&mut client);
    let etag = first.header("etag").expect("an etag").to_owned();
    let last_modified = first.header("last-modified").expect("a date").to_owned();
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "a strong etag: {etag}"
    );
    for case in cases(&etag, &last_modified) {
        case.run(&mut client);
    }
}

fn serves_multiple_ranges_as_multipart<R: Runtime>(rt: R) {
    let dir = TempDir::new("static-multipart");
    let root = make_tree(&dir.0);
    let server = TestServer::start(rt, app(&root));
    let mut client = server.connect();
    let res = case("GET", "/static/digits.txt", 206)
        .header("range", "bytes=0-1, 5-7,-1")
        .run(&mut client);
    let content_type = res.header("content-type").unwrap();
    let boundary = content_type
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap_or_else(|| panic!("{content_type}"));
    let part = |range: &str, body: &str| {
        format!(
            "--{boundary}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-range: bytes {range}/10\r\n\r\n{body}"
        )
    };
    let want = format!(
        "{}\r\n{}\r\n{}\r\n--{boundary}--\r\n",
        part("0-1", "01"),
        part("5-7", "567"),
        part("9-9", "9")
    );
    assert_eq!(res.text(), want);
    assert_eq!(res.header("content-length"), Some(&*want.len().to_string()));
}

fn streams_a_large_file_whole_and_in_ranges<R: Runtime>(rt: R) {
    let dir = TempDir::new("static-big");
    let root = make_tree(&dir.0);
    let server = TestServer::start(rt, app(&root));
    let mut client = server.connect();
    let data = big();
    let res = case("GET", "/static/big.bin", 200)
        .expect("content-type", "application/octet-stream")
        .expect("content-length", &BIG_LEN.to_string())
        .absent("transfer-encoding")
        .run(&mut client);
    assert!(res.body == data, "the large file came back changed");
    // Across a chunk boundary, and the tail.
    let res = case("GET", "/static/big.bin", 206)
        .header("range", "bytes=65530-65545")
        .run(&mut client);
    assert_eq!(res.body, data[65530..65546]);
    let res = case("GET", "/static/big.bin", 206)
        .header("range", "bytes=-70000")
        .expect("content-range", &format!("bytes 130000-199999/{BIG_LEN}"))
        .run(&mut client);
    assert!(res.body == data[130_000..], "the tail came back changed");
    // The connection is still in step after the streamed bodies.
    case("GET", "/static/digits.txt", 200)
        .body(DIGITS)
        .run(&mut client);
}

fn curl_gets_a_range<R: Runtime>(rt: R) {
    let dir = TempDir::new("static-curl");
    let root = make_tree(&dir.0);
    let server = TestServer::start(rt, app(&root));
    let url = format!("http://{}/static/digits.txt", server.addr());
    let out = Command::new("curl")
        .arg(support::curl_protocol_flag())
        .args(["--silent", "--show-error", "--max-time", "10"])
        .args(["--range", "2-5", "--dump-header", "-", &url])
        .output()
        .expect("run curl");
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    let status_line = format!("{} 206 ", support::curl_version_label());
    assert!(head.starts_with(&status_line), "{head}");
    let head = head.to_ascii_lowercase();
    assert!(head.contains("\r\ncontent-range: bytes 2-5/10"), "{head}");
    assert!(head.contains("\r\ncontent-length: 4"), "{head}");
    assert_eq!(body, "2345");
}

/// ServeDir with precompressed variants says `vary: accept-encoding`
/// itself; under `Compression`, which compresses what has no variant, the
/// response still says it once.
// Regression: issue 21, bug 2.
#[cfg(feature = "compression")]
mod under_compression {
    use super::*;

    fn says_vary_once<R: Runtime>(rt: R) {
        let dir = TempDir::new("static-vary");
        let root = make_tree(&dir.0);
        std::fs::write(root.join("long.txt"), "all work and no play ".repeat(200)).unwrap();
        let app = app(&root).layer(tramline::middleware::Compression::new());
        let server = TestServer::start(rt, app);
        let mut client = server.connect();
        for accept in ["gzip", "identity"] {
            let res = case("GET", "/static/long.txt", 200)
                .header("accept-encoding", accept)
                .run(&mut client);
            let vary: Vec<&str> = res
                .headers
                .iter()
                .filter(|(name, _)| name.eq_ignore_ascii_case("vary"))
                .map(|(_, value)| value.as_str())
                .collect();
            assert_eq!(vary, ["accept-encoding"], "{accept}");
        }
        // A precompressed variant goes out as it is, saying it once too.
        let res = case("GET", "/static/style.css", 200)
            .header("accept-encoding", "gzip")
            .expect("content-encoding", "gzip")
            .body("GZ")
            .run(&mut client);
        let varies = res
            .headers
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case("vary"));
        assert_eq!(varies.count(), 1);
    }

    on_every_runtime_and_protocol!(says_vary_once);
}

on_every_runtime_and_protocol!(
    serves_the_case_table,
    serves_multiple_ranges_as_multipart,
    streams_a_large_file_whole_and_in_ranges,
    curl_gets_a_range,
);
