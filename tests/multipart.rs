//! The `Multipart` extractor over real sockets on every runtime: curl `-F`
//! uploads of text and file fields, and each limit and malformed body from
//! a raw client with the status and text it gets.
#![cfg(feature = "multipart")]

mod support;

use std::process::Command;

use support::{TestServer, on_every_runtime_and_protocol};
use tramline::Router;
use tramline::extract::{Multipart, MultipartError};
use tramline::routing::post;
use tramline::rt::Runtime;

/// Limits the `/upload` route sets.
const MAX_FIELDS: usize = 3;
const MAX_FIELD: u64 = 1000;
const MAX_ALL: u64 = 1500;

/// One line per field: name, file name, content type, length and the data
/// (as text, when it is).
async fn upload(mut multipart: Multipart) -> Result<String, MultipartError> {
    multipart
        .max_fields(MAX_FIELDS)
        .max_field_size(MAX_FIELD)
        .max_size(MAX_ALL);
    let mut out = String::new();
    while let Some(field) = multipart.next_field().await? {
        let name = field.name().unwrap_or("-").to_owned();
        let file = field.file_name().unwrap_or("-").to_owned();
        let ty = field.content_type().unwrap_or("-").to_owned();
        let data = field.bytes().await?;
        let text = std::str::from_utf8(&data).unwrap_or("<binary>");
        out.push_str(&format!("{name}|{file}|{ty}|{}|{text}\n", data.len()));
    }
    Ok(out)
}

/// Reads one field chunk by chunk, and answers the chunk count and bytes.
async fn chunks(mut multipart: Multipart) -> Result<String, MultipartError> {
    let mut field = multipart.next_field().await?.expect("one field");
    let (mut n, mut len) = (0, 0);
    while let Some(chunk) = field.chunk().await? {
        n += 1;
        len += chunk.len();
    }
    Ok(format!("{} {n} {len}", field.name().unwrap_or("-")))
}

fn app() -> Router {
    Router::new()
        .route("/upload", post(upload))
        .route("/chunks", post(chunks))
}

fn start<R: Runtime>(rt: R) -> TestServer {
    // The body limit sits above the route's own limits, so that each of
    // those is what a test meets; `too_large_for_the_server` passes it.
    TestServer::start_with(rt, app(), |s| {
        s.max_body_size(4096);
    })
}

fn curl_uploads_text_and_file_fields<R: Runtime>(rt: R) {
    let server = start(rt);
    let file = std::env::temp_dir().join(
        format!(
            "tramline-multipart-{}-{:?}.txt",
            std::process::id(),
            std::thread::current().id()
        )
        .replace(['(', ')'], ""),
    );
    std::fs::write(&file, "line one\nline two\n").unwrap();
    let out = Command::new("curl")
        .arg(support::curl_protocol_flag())
        .args(["-sS", "--max-time", "10", "-w", "\n%{http_code}"])
        .args(["-F", "title=hello world"])
        .arg("-F")
        .arg(format!(
            "doc=@{};type=text/plain;filename=notes.txt",
            file.display()
        ))
        .arg(format!("http://{}/upload", server.addr()))
        .output()
        .expect("run curl");
    let _ = std::fs::remove_file(&file);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "title|-|-|11|hello world\n\
         doc|notes.txt|text/plain|18|line one\nline two\n\n\n\
         200"
    );
}

fn curl_streams_a_larger_file_in_chunks<R: Runtime>(rt: R) {
    let server = start(rt);
    let out = Command::new("curl")
        .arg(support::curl_protocol_flag())
        .args(["-sS", "--max-time", "10", "-w", " %{http_code}"])
        .args(["-F", &format!("big={}", "x".repeat(900))])
        .arg(format!("http://{}/chunks", server.addr()))
        .output()
        .expect("run curl");
    let text = String::from_utf8(out.stdout).unwrap();
    let mut words = text.split(' ');
    assert_eq!(words.next(), Some("big"), "{text}");
    assert!(words.next().unwrap().parse::<u32>().unwrap() >= 1, "{text}");
    assert_eq!(words.next(), Some("900"), "{text}");
    assert_eq!(words.next(), Some("200"), "{text}");
}

/// A form body with boundary `B` and these (name, data) fields.
fn form(fields: &[(&str, &str)]) -> String {
    let mut body = String::new();
    for (name, data) in fields {
        body.push_str(&format!(
            "--B\r\ncontent-disposition: form-data; name=\"{name}\"\r\n\r\n{data}\r\n"
        ));
    }
    body + "--B--\r\n"
}

/// Posts `body` to `/upload` with `content_type` and returns (status, text).
fn post_raw(server: &TestServer, content_type: Option<&str>, body: &str) -> (u16, String) {
    let ct = content_type.map_or(String::new(), |ct| format!("Content-Type: {ct}\r\n"));
    let request = format!(
        "POST /upload HTTP/1.1\r\nHost: t\r\n{ct}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let res = server.connect().roundtrip(request.as_bytes());
    (res.status, res.text().to_owned())
}

const FORM: &str = "multipart/form-data; boundary=B";

fn raw_client_meets_each_violation_with_its_status<R: Runtime>(rt: R) {
    let server = start(rt);
    let ok = form(&[("a", "1"), ("b", "2")]);
    assert_eq!(
        post_raw(&server, Some(FORM), &ok),
        (200, "a|-|-|1|1\nb|-|-|1|2\n".into())
    );
    let big = "y".repeat(1001);
    let over_all = "z".repeat(800);
    let cases: Vec<(Option<&str>, String, u16, &str)> = vec![
        (
            Some("application/json"),
            ok.clone(),
            415,
            "expected a multipart/form-data request",
        ),
        (
            None,
            ok.clone(),
            415,
            "expected a multipart/form-data request",
        ),
        (
            Some("multipart/form-data"),
            ok.clone(),
            400,
            "multipart/form-data request without a boundary",
        ),
        (
            Some(FORM),
            form(&[("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")]),
            413,
            "more than 3 multipart fields",
        ),
        (
            Some(FORM),
            form(&[("a", "1"), ("big", &big)]),
            413,
            "multipart field 'big' is larger than 1000 bytes",
        ),
        (
            Some(FORM),
            form(&[("a", &over_all), ("b", &over_all)]),
            413,
            "multipart fields larger than 1500 bytes",
        ),
        (
            Some(FORM),
            "--B\r\ncontent-disposition: form-data; name=\"a\"\r\n\r\nno end".into(),
            400,
            "invalid multipart body: field \"a\" received with incomplete data",
        ),
        (
            Some(FORM),
            "not multipart at all".into(),
            400,
            "invalid multipart body: incomplete multipart stream",
        ),
    ];
    for (ct, body, status, text) in cases {
        assert_eq!(
            post_raw(&server, ct, &body),
            (status, text.to_owned()),
            "{ct:?} {body:?}"
        );
    }
}

fn too_large_for_the_server<R: Runtime>(rt: R) {
    let server = start(rt);
    // Each field is within the route's limits; the body is over the
    // server's 4096 bytes, which the Content-Length shows at once.
    let body = form(&[("a", &"q".repeat(2100)), ("b", &"q".repeat(2100))]);
    assert_eq!(
        post_raw(&server, Some(FORM), &body),
        (413, "request body too large".into())
    );
}

on_every_runtime_and_protocol!(
    curl_uploads_text_and_file_fields,
    curl_streams_a_larger_file_in_chunks,
    raw_client_meets_each_violation_with_its_status,
    too_large_for_the_server,
);
