//! Hand-made WebSocket frames (RFC 6455 §5) for the raw-socket tests: the
//! client side of the handshake, masked client frames, and a reader for the
//! server's.
#![allow(dead_code, unreachable_pub)]

use crate::support::Client;

/// RFC 6455 §1.3's sample key, and the accept key it must get.
pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
pub const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

pub fn handshake(path: &str, extra: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n{extra}\r\n"
    )
    .into_bytes()
}

pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CONTINUATION: u8 = 0x0;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;

/// A client frame: masked, as RFC 6455 §5.3 requires.
pub fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = frame_head(fin, opcode, payload.len() as u64, true);
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// A frame's first bytes, up to (not including) the masking key.
pub fn frame_head(fin: bool, opcode: u8, len: u64, masked: bool) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | opcode];
    let mask_bit = u8::from(masked) << 7;
    match len {
        0..=125 => out.push(mask_bit | len as u8),
        126..=65535 => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
    out
}

pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason.as_bytes());
    payload
}

/// Reads one server frame: (fin, opcode, payload). Server frames are never
/// masked.
pub fn read_frame(client: &mut Client) -> (bool, u8, Vec<u8>) {
    let head = client.read_bytes(2);
    assert_eq!(head[1] & 0x80, 0, "a server frame must not be masked");
    let len = match head[1] & 0x7f {
        126 => u64::from(u16::from_be_bytes(client.read_bytes(2).try_into().unwrap())),
        127 => u64::from_be_bytes(client.read_bytes(8).try_into().unwrap()),
        n => u64::from(n),
    };
    let payload = client.read_bytes(usize::try_from(len).unwrap());
    (head[0] & 0x80 != 0, head[0] & 0x0f, payload)
}
