//! The `websocket` example's app on every runtime, over real loopback
//! sockets: its echo route, and its chat room with two members.
#![cfg(feature = "ws")]
#![allow(
    clippy::duplicate_mod,
    reason = "the example includes the examples' shared `serve` module"
)]

mod support;
#[path = "support/ws_frames.rs"]
mod ws_frames;

#[allow(
    dead_code,
    unreachable_pub,
    reason = "examples are binaries: their `main` and `pub` items are not used here"
)]
#[path = "../examples/websocket.rs"]
mod websocket;

use tramline::rt::Runtime;

use support::{Client, TestServer, on_every_runtime};
use ws_frames::*;

fn join(server: &TestServer, path: &str) -> Client {
    let mut client = server.connect();
    let r = client.roundtrip(&handshake(path, ""));
    assert_eq!(r.status, 101);
    assert_eq!(r.header("sec-websocket-accept"), Some(ACCEPT));
    client
}

fn text(client: &mut Client) -> String {
    let (fin, opcode, payload) = read_frame(client);
    assert_eq!((fin, opcode), (true, TEXT));
    String::from_utf8(payload).unwrap()
}

fn websocket_example_echoes<R: Runtime>(rt: R) {
    let server = TestServer::start(rt, websocket::app());
    let mut client = join(&server, "/echo");
    client.send(&frame(true, TEXT, "héllo".as_bytes()));
    assert_eq!(text(&mut client), "héllo");
    client.send(&frame(true, BINARY, &[0, 1, 255]));
    assert_eq!(read_frame(&mut client), (true, BINARY, vec![0, 1, 255]));
    client.send(&frame(true, CLOSE, &close_payload(1000, "")));
    assert_eq!(read_frame(&mut client).1, CLOSE);
    client.assert_closed();
}

fn websocket_example_chat_reaches_everyone_in_the_room<R: Runtime>(rt: R) {
    let server = TestServer::start(rt, websocket::app());
    let mut ann = join(&server, "/chat");
    assert_eq!(text(&mut ann), "welcome; 1 here");
    let mut bob = join(&server, "/chat");
    assert_eq!(text(&mut bob), "welcome; 2 here");
    ann.send(&frame(true, TEXT, b"hi, bob"));
    assert_eq!(text(&mut ann), "hi, bob");
    assert_eq!(text(&mut bob), "hi, bob");
    bob.send(&frame(true, TEXT, b"hi, ann"));
    assert_eq!(text(&mut bob), "hi, ann");
    assert_eq!(text(&mut ann), "hi, ann");
    // Bob leaves; Ann's messages still reach Ann, and a newcomer is
    // counted without Bob.
    bob.send(&frame(true, CLOSE, &close_payload(1000, "")));
    assert_eq!(read_frame(&mut bob).1, CLOSE);
    bob.assert_closed();
    ann.send(&frame(true, TEXT, b"anyone?"));
    assert_eq!(text(&mut ann), "anyone?");
    let mut cy = join(&server, "/chat");
    assert_eq!(text(&mut cy), "welcome; 2 here");
}

on_every_runtime!(
    websocket_example_echoes,
    websocket_example_chat_reaches_everyone_in_the_room,
);
