//! The `sse` example on every runtime, read with curl `-N` as the events
//! come.

mod support;

#[allow(
    dead_code,
    unreachable_pub,
    reason = "examples are binaries: their `main` and `pub` items are not used here"
)]
#[path = "../examples/sse.rs"]
mod sse;

use std::process::Command;
use std::time::Instant;

use support::{TestServer, on_every_runtime};
use tramline::rt::Runtime;

fn countdown_streams_an_event_per_tick<R: Runtime>(rt: R) {
    let server = TestServer::start(rt.clone(), sse::app(rt));
    let start = Instant::now();
    let out = Command::new("curl")
        .args(["-sSN", "--max-time", "10", "-D", "-"])
        .arg(format!("http://{}/countdown?from=3", server.addr()))
        .output()
        .expect("run curl");
    let took = start.elapsed();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.contains("content-type: text/event-stream"), "{head}");
    assert_eq!(
        body,
        "id: 3\ndata: 3\n\nid: 2\ndata: 2\n\nid: 1\ndata: 1\n\nevent: liftoff\ndata: 🚀\n\n"
    );
    // Four events, each a tick after the one before.
    assert!(took >= sse::TICK * 4, "{took:?}");
}

on_every_runtime!(countdown_streams_an_event_per_tick);
