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

#[path = "support/serve.rs"]
mod serve;

use std::sync::{Arc, Mutex};

use futures_lite::future;
use smol::channel::{self, Sender};
use tramline::Router;
use tramline::routing::get;
use tramline::rt::Runtime;
use tramline::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};

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

/// The chat room: one channel per member. (async-channel, which smol
/// re-exports, works on any runtime.)
#[derive(Debug, Clone, Default)]
pub struct Room {
    members: Arc<Mutex<Vec<Sender<Utf8Bytes>>>>,
}

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

fn app_on<R: Runtime>(_rt: R) -> Router {
    app()
}

fn main() -> std::io::Result<()> {
    serve::serve_on_runtime_from_args!(app_on)
}
