//! WebSocket (RFC 6455) on every runtime: the handshake and its refusals
//! from raw sockets, the protocol's failure cases from hand-made frames,
//! the Autobahn categories (framing, fragmentation, UTF-8, close codes,
//! large messages, ping/pong) with Python's `websockets` client, and one
//! round trip from headless Chromium.
#![cfg(feature = "ws")]

#[path = "support/chromium.rs"]
mod chromium;
mod support;
#[path = "support/ws_frames.rs"]
mod ws_frames;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tramline::Router;
use tramline::extract::Query;
use tramline::response::Html;
use tramline::routing::{any, get};
use tramline::rt::Runtime;
use tramline::ws::{Message, WebSocket, WebSocketUpgrade};

use support::{Client, KillOnDrop, TestServer, eventually, on_every_runtime, wait_within};
use ws_frames::*;

/// What the server's handlers saw, for the tests to check.
type Seen = Arc<Mutex<Vec<String>>>;

fn note(seen: &Seen, what: String) {
    seen.lock().unwrap().push(what);
}

fn saw(seen: &Seen, what: &str) -> bool {
    eventually(Duration::from_secs(10), || {
        seen.lock().unwrap().iter().any(|s| s == what)
    })
}

/// Echoes text and binary messages; notes the close frames and errors it
/// gets.
async fn echo(mut socket: WebSocket, seen: Seen) {
    while let Some(message) = socket.recv().await {
        match message {
            Ok(message @ (Message::Text(_) | Message::Binary(_))) => {
                if socket.send(message).await.is_err() {
                    return;
                }
            }
            Ok(Message::Close(frame)) => {
                note(&seen, format!("close {:?}", frame.map(|f| f.code)));
                // The socket has answered already: closing again is a
                // no-op, not an error.
                let closed = socket.close(1000, "").await;
                note(
                    &seen,
                    format!("answered {:?}", closed.map_err(|e| e.to_string())),
                );
            }
            Ok(_) => {}
            Err(e) => {
                note(&seen, format!("error {:?}: {e}", e.close_code()));
                return;
            }
        }
    }
    note(&seen, "ended".to_owned());
}

const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<script>
const report = (result) => fetch('/report?result=' + encodeURIComponent(result));
const ws = new WebSocket(`ws://${location.host}/echo`);
ws.binaryType = 'arraybuffer';
const got = [];
ws.onopen = () => {
  ws.send('hello from chromium ✓');
  ws.send(new Uint8Array([0, 1, 2, 255]));
};
ws.onmessage = (e) => {
  got.push(e.data);
  if (got.length < 2) return;
  const text = got[0] === 'hello from chromium ✓';
  const bytes = got[1] instanceof ArrayBuffer ? Array.from(new Uint8Array(got[1])).join(',') : String(got[1]);
  ws.close(1000, 'done');
  report(text && bytes === '0,1,2,255' ? 'ok' : `text=${text} binary=${bytes}`);
};
ws.onerror = () => report('websocket error');
</script>
"#;

fn app(seen: Seen) -> Router {
    let echo_seen = seen.clone();
    let limited_seen = seen.clone();
    let frames_seen = seen.clone();
    let any_seen = seen.clone();
    let bye_seen = seen.clone();
    let report_seen = seen;
    Router::new()
        .route(
            "/echo",
            get(move |ws: WebSocketUpgrade| {
                let seen = echo_seen.clone();
                async move { ws.on_upgrade(move |socket| echo(socket, seen)) }
            }),
        )
        .route(
            "/limited",
            get(move |ws: WebSocketUpgrade| {
                let seen = limited_seen.clone();
                async move {
                    ws.max_message_size(1 << 20)
                        .on_upgrade(move |socket| echo(socket, seen))
                }
            }),
        )
        .route(
            "/small-frames",
            get(move |ws: WebSocketUpgrade| {
                let seen = frames_seen.clone();
                async move {
                    ws.max_frame_size(1024)
                        .write_buffer_size(0)
                        .read_buffer_size(512)
                        .on_upgrade(move |socket| echo(socket, seen))
                }
            }),
        )
        // Any method reaches the extractor, to see it refuse non-GETs.
        .route(
            "/any",
            any(move |ws: WebSocketUpgrade| {
                let seen = any_seen.clone();
                async move { ws.on_upgrade(move |socket| echo(socket, seen)) }
            }),
        )
        .route(
            "/chat",
            get(|ws: WebSocketUpgrade| async move {
                ws.protocols(["chat", "superchat"])
                    .on_upgrade(|mut socket| async move {
                        let name = socket
                            .protocol()
                            .map_or("none".to_owned(), |p| p.to_str().unwrap().to_owned());
                        let _ = socket
                            .send(Message::text(format!("protocol: {name}")))
                            .await;
                        while let Some(Ok(_)) = socket.recv().await {}
                    })
            }),
        )
        // Closes first, on the first message.
        .route(
            "/bye",
            get(move |ws: WebSocketUpgrade| {
                let seen = bye_seen.clone();
                async move {
                    ws.on_upgrade(move |mut socket| async move {
                        if let Some(Ok(_)) = socket.recv().await {
                            let closed = socket.close(4000, "bye").await;
                            note(
                                &seen,
                                format!("closed {:?}", closed.map_err(|e| e.to_string())),
                            );
                        }
                    })
                }
            }),
        )
        .route("/", get(|| async { Html(PAGE) }))
        .route(
            "/report",
            get(move |Query(query): Query<HashMap<String, String>>| {
                let seen = report_seen.clone();
                async move {
                    let result = query.get("result").map_or("", String::as_str);
                    note(&seen, format!("report {result}"));
                    "thanks"
                }
            }),
        )
}

fn start<R: Runtime>(rt: R) -> (TestServer, Seen) {
    let seen = Seen::default();
    (TestServer::start(rt, app(seen.clone())), seen)
}

// ---- raw sockets: the handshake and hand-made frames ----

/// Opens a WebSocket on `path` from a raw socket.
fn open(server: &TestServer, path: &str) -> Client {
    let mut client = server.connect();
    let r = client.roundtrip(&handshake(path, ""));
    assert_eq!(
        r.status,
        101,
        "{:?} {}",
        r.headers,
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.header("sec-websocket-accept"), Some(ACCEPT));
    client
}

/// Reads the server's close frame and checks its code; then the server
/// must close the connection. The client closes too (the server waits for
/// that before its handler hears of the error).
fn expect_close(mut client: Client, code: u16) {
    let (fin, opcode, payload) = read_frame(&mut client);
    assert_eq!((fin, opcode), (true, CLOSE), "{payload:?}");
    assert!(payload.len() >= 2, "close frame without a code");
    let got = u16::from_be_bytes([payload[0], payload[1]]);
    assert_eq!(
        got,
        code,
        "close reason {:?}",
        String::from_utf8_lossy(&payload[2..])
    );
    assert!(
        client.closed_within(Duration::from_secs(10)),
        "server left the connection open"
    );
}

fn the_handshake_is_accepted_and_the_close_handshake_completes<R: Runtime>(rt: R) {
    let (server, seen) = start(rt);
    let mut client = server.connect();
    let r = client.roundtrip(&handshake(
        "/echo",
        "Sec-WebSocket-Extensions: permessage-deflate\r\n",
    ));
    assert_eq!(r.status, 101);
    assert_eq!(r.header("upgrade"), Some("websocket"));
    assert_eq!(r.header("connection"), Some("upgrade"));
    assert_eq!(r.header("sec-websocket-accept"), Some(ACCEPT));
    // No subprotocol asked for, none chosen; no extension is agreed to.
    assert_eq!(r.header("sec-websocket-protocol"), None);
    assert_eq!(r.header("sec-websocket-extensions"), None);

    client.send(&frame(true, TEXT, b"hello"));
    assert_eq!(read_frame(&mut client), (true, TEXT, b"hello".to_vec()));
    client.send(&frame(true, BINARY, &[0, 255]));
    assert_eq!(read_frame(&mut client), (true, BINARY, vec![0, 255]));

    client.send(&frame(true, CLOSE, &close_payload(1000, "done")));
    let (_, opcode, payload) = read_frame(&mut client);
    assert_eq!((opcode, payload), (CLOSE, close_payload(1000, "done")));
    assert!(client.closed_within(Duration::from_secs(10)));
    assert!(saw(&seen, "close Some(1000)"));
    assert!(saw(&seen, "answered Ok(())"));
    assert!(saw(&seen, "ended"));
}

fn the_first_frame_may_arrive_with_the_handshake<R: Runtime>(rt: R) {
    let (server, _seen) = start(rt);
    let mut client = server.connect();
    let mut bytes = handshake("/echo", "");
    bytes.extend(frame(true, TEXT, b"early"));
    client.send(&bytes);
    assert_eq!(client.response().status, 101);
    assert_eq!(read_frame(&mut client), (true, TEXT, b"early".to_vec()));
}

fn malformed_handshakes_are_refused<R: Runtime>(rt: R) {
    let (server, _seen) = start(rt);
    let good = format!(
        "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n"
    );
    let cases: &[(&str, &str, String, u16, &str)] = &[
        (
            "GET",
            "/echo",
            String::new(),
            426,
            "this resource needs a WebSocket upgrade",
        ),
        (
            "GET",
            "/echo",
            good.replace("Connection: Upgrade\r\n", ""),
            426,
            "this resource needs a WebSocket upgrade",
        ),
        (
            "GET",
            "/echo",
            good.replace("Upgrade: websocket", "Upgrade: h2c"),
            400,
            "`Upgrade` does not offer `websocket`",
        ),
        (
            "GET",
            "/echo",
            good.replace("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8"),
            426,
            "unsupported `Sec-WebSocket-Version`; this server speaks 13",
        ),
        (
            "GET",
            "/echo",
            good.replace("Sec-WebSocket-Version: 13\r\n", ""),
            426,
            "unsupported `Sec-WebSocket-Version`; this server speaks 13",
        ),
        (
            "GET",
            "/echo",
            good.replace(&format!("Sec-WebSocket-Key: {KEY}\r\n"), ""),
            400,
            "missing `Sec-WebSocket-Key`",
        ),
        (
            "GET",
            "/echo",
            good.replace(KEY, "c2hvcnQ="),
            400,
            "`Sec-WebSocket-Key` is not the base64 of 16 bytes",
        ),
        (
            "GET",
            "/echo",
            good.replace(KEY, "not base64 at all!!!!!=="),
            400,
            "`Sec-WebSocket-Key` is not the base64 of 16 bytes",
        ),
        (
            "POST",
            "/any",
            good.clone(),
            400,
            "a WebSocket handshake must be a GET request",
        ),
    ];
    for (method, path, headers, status, text) in cases {
        let mut client = server.connect();
        let request = format!("{method} {path} HTTP/1.1\r\nHost: t\r\n{headers}\r\n");
        let r = client.roundtrip(request.as_bytes());
        assert_eq!((r.status, r.text()), (*status, *text), "{request}");
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        if *status == 426 {
            // RFC 9110 §15.5.22 and RFC 6455 §4.4: say what to switch to.
            assert_eq!(r.header("upgrade"), Some("websocket"), "{request}");
            if text.contains("Version") {
                assert_eq!(r.header("sec-websocket-version"), Some("13"));
            }
        }
        // A refused handshake is a plain response: the connection still
        // serves HTTP.
        let r = client.roundtrip(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(r.status, 200, "{request}");
    }
    // HTTP/1.0 has no upgrades.
    let mut client = server.connect();
    let r = client.roundtrip(
        format!("GET /echo HTTP/1.0\r\nHost: t\r\n{good}Connection: keep-alive\r\n\r\n").as_bytes(),
    );
    assert_eq!(r.status, 400);
}

fn invalid_utf8_closes_with_1007<R: Runtime>(rt: R) {
    let (server, seen) = start(rt);
    // In one frame.
    let mut client = open(&server, "/echo");
    client.send(&frame(true, TEXT, b"bad \xff\xfe"));
    expect_close(client, 1007);
    assert!(saw(
        &seen,
        "error Some(1007): invalid UTF-8 in a text message"
    ));
    // In the second fragment of a message whose first was fine.
    let mut client = open(&server, "/echo");
    client.send(&frame(false, TEXT, "κό".as_bytes()));
    client.send(&frame(true, CONTINUATION, b"\xc0\xaf"));
    expect_close(client, 1007);
    // Fail fast (Autobahn 6.4): a first fragment that can never become
    // valid closes the connection without waiting for the rest.
    let mut client = open(&server, "/echo");
    client.send(&frame(false, TEXT, b"\xce\xba\xf4\x90\x80\x80"));
    expect_close(client, 1007);
    // A surrogate half encoded as UTF-8 (CESU-8) is not UTF-8.
    let mut client = open(&server, "/echo");
    client.send(&frame(true, TEXT, b"\xed\xa0\x80"));
    expect_close(client, 1007);
}

fn protocol_errors_close_with_1002<R: Runtime>(rt: R) {
    let (server, seen) = start(rt);
    let mut unmasked = frame_head(true, TEXT, 2, false);
    unmasked.extend_from_slice(b"hi");
    let mut rsv = frame(true, TEXT, b"hi");
    rsv[0] |= 0x40;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("an unmasked frame", unmasked),
        ("a reserved bit set", rsv),
        ("a reserved data opcode", frame(true, 0x3, b"x")),
        ("a reserved control opcode", frame(true, 0xB, b"x")),
        ("a fragmented ping", frame(false, PING, b"x")),
        ("a ping over 125 bytes", frame(true, PING, &[b'p'; 126])),
        (
            "a continuation with nothing to continue",
            frame(true, CONTINUATION, b"x"),
        ),
        (
            "a new message inside a fragmented one",
            [frame(false, TEXT, b"a"), frame(true, TEXT, b"b")].concat(),
        ),
        ("a close frame of one byte", frame(true, CLOSE, &[3])),
    ];
    for (what, bytes) in cases {
        let mut client = open(&server, "/echo");
        client.send(&bytes);
        let (_, opcode, payload) = read_frame(&mut client);
        assert_eq!(opcode, CLOSE, "{what}");
        assert_eq!(
            &payload[..2],
            &1002u16.to_be_bytes(),
            "{what}: {:?}",
            String::from_utf8_lossy(&payload)
        );
        assert!(client.closed_within(Duration::from_secs(10)), "{what}");
    }
    assert!(saw(&seen, "error Some(1002): protocol error"));
    // Close codes a peer may not send (RFC 6455 §7.4): answered with 1002
    // as the close handshake's reply.
    for code in [0, 999, 1004, 1005, 1006, 1015, 2999, 5000] {
        let mut client = open(&server, "/echo");
        client.send(&frame(true, CLOSE, &close_payload(code, "")));
        expect_close(client, 1002);
    }
    // Codes that are allowed come back as they are.
    for code in [1000, 1001, 1003, 1007, 1011, 3000, 4999] {
        let mut client = open(&server, "/echo");
        client.send(&frame(true, CLOSE, &close_payload(code, "fine")));
        let (_, opcode, payload) = read_frame(&mut client);
        assert_eq!((opcode, payload), (CLOSE, close_payload(code, "fine")));
    }
}

fn oversize_messages_close_with_1009<R: Runtime>(rt: R) {
    let (server, seen) = start(rt);
    // A frame over the frame limit is refused from its header, before its
    // payload arrives.
    let mut client = open(&server, "/small-frames");
    let mut head = frame_head(true, BINARY, 1025, true);
    head.extend_from_slice(&[0; 4]);
    client.send(&head);
    expect_close(client, 1009);
    assert!(saw(&seen, "error Some(1009): message too big"));
    // At the limit is fine.
    let mut client = open(&server, "/small-frames");
    client.send(&frame(true, BINARY, &[7; 1024]));
    assert_eq!(read_frame(&mut client), (true, BINARY, vec![7; 1024]));
    // A frame header claiming 2^63 - 1 bytes, on the default limits.
    let mut client = open(&server, "/echo");
    let mut head = frame_head(true, BINARY, u64::MAX >> 1, true);
    head.extend_from_slice(&[0; 4]);
    client.send(&head);
    expect_close(client, 1009);
}

fn pings_are_answered_even_inside_a_fragmented_message<R: Runtime>(rt: R) {
    let (server, _seen) = start(rt);
    let mut client = open(&server, "/echo");
    client.send(&frame(true, PING, b"x"));
    assert_eq!(read_frame(&mut client), (true, PONG, b"x".to_vec()));
    client.send(&frame(false, TEXT, b"ab"));
    client.send(&frame(true, PING, b"y"));
    client.send(&frame(false, CONTINUATION, b"c"));
    client.send(&frame(true, CONTINUATION, b"d"));
    assert_eq!(read_frame(&mut client), (true, PONG, b"y".to_vec()));
    assert_eq!(read_frame(&mut client), (true, TEXT, b"abcd".to_vec()));
    // An unsolicited pong is no error.
    client.send(&frame(true, PONG, b"z"));
    client.send(&frame(true, TEXT, b"still here"));
    assert_eq!(
        read_frame(&mut client),
        (true, TEXT, b"still here".to_vec())
    );
}

fn the_server_can_close_first<R: Runtime>(rt: R) {
    let (server, seen) = start(rt);
    let mut client = open(&server, "/bye");
    client.send(&frame(true, TEXT, b"hi"));
    let (_, opcode, payload) = read_frame(&mut client);
    assert_eq!((opcode, payload), (CLOSE, close_payload(4000, "bye")));
    // Until the client answers, the server waits (and drops data frames).
    client.send(&frame(true, TEXT, b"late"));
    client.send(&frame(true, CLOSE, &close_payload(4000, "")));
    assert!(client.closed_within(Duration::from_secs(10)));
    assert!(saw(&seen, "closed Ok(())"));
}

fn subprotocols_are_negotiated<R: Runtime>(rt: R) {
    let (server, _seen) = start(rt);
    let mut client = server.connect();
    let r = client.roundtrip(&handshake(
        "/chat",
        "Sec-WebSocket-Protocol: x, superchat\r\nSec-WebSocket-Protocol: chat\r\n",
    ));
    assert_eq!(r.status, 101);
    assert_eq!(r.header("sec-websocket-protocol"), Some("chat"));
    assert_eq!(
        read_frame(&mut client),
        (true, TEXT, b"protocol: chat".to_vec())
    );
    let mut client = server.connect();
    let r = client.roundtrip(&handshake("/chat", "Sec-WebSocket-Protocol: other\r\n"));
    assert_eq!(r.status, 101);
    assert_eq!(r.header("sec-websocket-protocol"), None);
    assert_eq!(
        read_frame(&mut client),
        (true, TEXT, b"protocol: none".to_vec())
    );
}

// ---- Python's `websockets` client ----

/// The interpreter with `websockets` installed: `TRAMLINE_PYTHON`, or the
/// venv `.ci/run` makes at `target/py`.
fn python() -> PathBuf {
    let path = std::env::var_os("TRAMLINE_PYTHON").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/py/bin/python"),
        PathBuf::from,
    );
    assert!(
        path.exists(),
        "no Python for the WebSocket tests at {}: run .ci/run (it makes the venv at target/py \
         with `websockets`), or set TRAMLINE_PYTHON to an interpreter that has it",
        path.display()
    );
    path
}

/// Runs the client script's `case` against the server at `addr`.
fn python_case(addr: SocketAddr, case: &str) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/ws_client.py");
    let out = std::env::temp_dir().join(format!(
        "tramline-ws-{}-{case}-{}.log",
        std::process::id(),
        addr.port()
    ));
    let log = std::fs::File::create(&out).unwrap();
    let mut child = KillOnDrop(
        Command::new(python())
            .arg(&script)
            .arg(format!("ws://{addr}"))
            .arg(case)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start the Python client"),
    );
    let status = wait_within(&mut child, Duration::from_secs(120));
    let output = std::fs::read_to_string(&out).unwrap_or_default();
    let _ = std::fs::remove_file(&out);
    assert!(
        status.success(),
        "Python client failed ({status}) in {case}:\n{output}"
    );
    assert!(
        output.lines().any(|l| l == format!("ok {case}")),
        "{output}"
    );
}

fn python_framing<R: Runtime>(rt: R) {
    let (server, _seen) = start(rt);
    python_case(server.addr(), "framing");
}

fn python_fragmentation<R: Runtime>(rt: R) {
    let (server, _seen) = start(rt);
    python_case(server.addr(), "fragmentation");
}

fn python_utf8<R: Runtime>(rt: R) {
    let (server, _seen) = start(rt);
    python_case(server.addr(), "utf8");
}

fn python_close_codes<R: Runtime>(rt: R) {
    let (server, seen) = start(rt);
    python_case(server.addr(), "close_codes");
    assert!(saw(&seen, "close Some(1000)"));
    assert!(saw(&seen, "close Some(4321)"));
    assert!(saw(&seen, "closed Ok(())"));
}

fn python_large_messages<R: Runtime>(rt: R) {
    let (server, seen) = start(rt);
    python_case(server.addr(), "large");
    assert!(saw(&seen, "error Some(1009): message too big"));
}

fn python_ping_pong<R: Runtime>(rt: R) {
    let (server, _seen) = start(rt);
    python_case(server.addr(), "ping_pong");
}

fn python_subprotocols<R: Runtime>(rt: R) {
    let (server, _seen) = start(rt);
    python_case(server.addr(), "subprotocols");
}

/// Echoes until the server shuts down, then closes with 1001.
async fn echo_until_shutdown(mut socket: WebSocket) {
    let mut shutdown = Box::pin(socket.on_shutdown());
    loop {
        let next = futures_lite::future::or(async { Some(socket.recv().await) }, async {
            (&mut shutdown).await;
            None
        });
        match next.await {
            Some(Some(Ok(message @ (Message::Text(_) | Message::Binary(_))))) => {
                if socket.send(message).await.is_err() {
                    return;
                }
            }
            Some(Some(Ok(_))) => {}
            Some(None | Some(Err(_))) => return,
            None => {
                let _ = socket
                    .close(tramline::ws::close_code::AWAY, "server shutting down")
                    .await;
                return;
            }
        }
    }
}

fn a_shutdown_closes_the_socket_with_1001<R: Runtime>(rt: R) {
    let app = Router::new().route(
        "/ws",
        get(|ws: WebSocketUpgrade| async move { ws.on_upgrade(echo_until_shutdown) }),
    );
    let server = TestServer::start(rt, app);
    let mut client = server.connect();
    client.send(&handshake("/ws", ""));
    assert_eq!(client.response().status, 101);
    client.send(&frame(true, TEXT, b"before"));
    assert_eq!(read_frame(&mut client), (true, TEXT, b"before".to_vec()));
    server.begin_shutdown();
    assert_eq!(
        read_frame(&mut client),
        (true, CLOSE, close_payload(1001, "server shutting down"))
    );
    // The client answers the close; the server then closes the connection
    // and the shutdown completes well within its grace.
    client.send(&frame(true, CLOSE, &close_payload(1001, "")));
    client.assert_closed();
}

// ---- headless Chromium ----

fn chromium_echoes_text_and_binary<R: Runtime>(rt: R) {
    let (server, seen) = start(rt);
    let browser = chromium::Chromium::open(&format!("http://{}/", server.addr()));
    let reported = eventually(Duration::from_secs(60), || {
        seen.lock()
            .unwrap()
            .iter()
            .any(|s| s.starts_with("report "))
    });
    assert!(
        reported,
        "no report from Chromium within 60 s; the server saw {:?}",
        seen.lock().unwrap()
    );
    assert!(saw(&seen, "report ok"), "{:?}", seen.lock().unwrap());
    // The page closed with 1000 after the echoes.
    assert!(saw(&seen, "close Some(1000)"), "{:?}", seen.lock().unwrap());
    drop(browser);
}

on_every_runtime!(
    the_handshake_is_accepted_and_the_close_handshake_completes,
    the_first_frame_may_arrive_with_the_handshake,
    malformed_handshakes_are_refused,
    invalid_utf8_closes_with_1007,
    protocol_errors_close_with_1002,
    oversize_messages_close_with_1009,
    pings_are_answered_even_inside_a_fragmented_message,
    the_server_can_close_first,
    subprotocols_are_negotiated,
    python_framing,
    python_fragmentation,
    python_utf8,
    python_close_codes,
    python_large_messages,
    python_ping_pong,
    python_subprotocols,
    chromium_echoes_text_and_binary,
    a_shutdown_closes_the_socket_with_1001,
);
