//! WebSocket: an echo route and a chat room, on any runtime.
//!
//! `/echo` sends every text or binary message back; `/chat` sends every
//! text message to everyone in the room (the sender included), after a
//! welcome that says how many are here.
//!
//! ```text
//! cargo run --example websocket --features ws        # tokio; or `-- smol`, `-- async-std`
//! python -m websockets ws://localhost:3000/chat      # in two terminals
//! ```
#![allow(clippy::print_stdout)]

#[cfg(feature = "ws")]
#[path = "support/serve.rs"]
mod serve;

#[cfg(feature = "ws")]
use std::sync::{Arc, Mutex};

#[cfg(feature = "ws")]
use futures_lite::future;
#[cfg(feature = "ws")]
use smol::channel::{self, Sender};
#[cfg(feature = "ws")]
use tramline::Router;
#[cfg(feature = "ws")]
use tramline::routing::get;
#[cfg(feature = "ws")]
use tramline::rt::Runtime;
#[cfg(feature = "ws")]
use tramline::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};

#[cfg(feature = "ws")]
/// Echoes text and binary messages until the client closes.
pub async fn echo(mut socket: WebSocket) {
    while let Some(Ok(message)) = socket.recv().await {
        if let Message::Text(_) | Message::Binary(_) = message {
            if socket.send(message).await.is_err() {
                break;
            }
        }
    }
}

#[cfg(feature = "ws")]
/// The chat room: one channel per member. (async-channel, which smol
/// re-exports, works on any runtime.)
#[derive(Debug, Clone, Default)]
pub struct Room {
    members: Arc<Mutex<Vec<Sender<Utf8Bytes>>>>,
}

#[cfg(feature = "ws")]
impl Room {
    /// Sends `text` to every member; members who left, or fall 64
    /// messages behind, are dropped from the room.
    fn broadcast(&self, text: &Utf8Bytes) {
        let mut members = self.members.lock().unwrap_or_else(|e| e.into_inner());
        members.retain(|member| member.try_send(text.clone()).is_ok());
    }

    /// Serves one member until it leaves.
    pub async fn join(self, mut socket: WebSocket) {
        let (tx, rx) = channel::bounded(64);
        let here = {
            let mut members = self.members.lock().unwrap_or_else(|e| e.into_inner());
            members.push(tx);
            members.len()
        };
        if socket
            .send(Message::text(format!("welcome; {here} here")))
            .await
            .is_err()
        {
            return;
        }
        enum Event {
            FromClient(Option<Message>),
            ToClient(Option<Utf8Bytes>),
        }
        loop {
            // Whichever comes first: both recvs are cancel safe.
            let event = future::or(
                async { Event::FromClient(socket.recv().await.and_then(Result::ok)) },
                async { Event::ToClient(rx.recv().await.ok()) },
            )
            .await;
            match event {
                Event::FromClient(Some(Message::Text(text))) => self.broadcast(&text),
                Event::FromClient(Some(_)) => {}
                Event::ToClient(Some(text)) => {
                    if socket.send(Message::Text(text)).await.is_err() {
                        break;
                    }
                }
                // The client left, or the room dropped it.
                Event::FromClient(None) | Event::ToClient(None) => break,
            }
        }
    }
}

#[cfg(feature = "ws")]
/// The app: `/echo` and `/chat`.
pub fn app() -> Router {
    let room = Room::default();
    Router::new()
        .route(
            "/echo",
            get(|ws: WebSocketUpgrade| async move { ws.on_upgrade(echo) }),
        )
        .route(
            "/chat",
            get(move |ws: WebSocketUpgrade| {
                let room = room.clone();
                async move { ws.on_upgrade(move |socket| room.join(socket)) }
            }),
        )
}

#[cfg(feature = "ws")]
fn app_on<R: Runtime>(_rt: R) -> Router {
    app()
}

#[cfg(feature = "ws")]
fn main() -> std::io::Result<()> {
    serve::serve_on_runtime_from_args!(app_on)
}

#[cfg(not(feature = "ws"))]
fn main() {
    eprintln!("this example needs the `ws` feature: cargo run --example websocket --features ws");
    std::process::exit(2);
}
