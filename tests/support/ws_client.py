"""Drives tramline's WebSocket test server with Python's `websockets` client.

Usage: ws_client.py BASE_URL CASE...   (BASE_URL like ws://127.0.0.1:PORT)

Each case prints "ok CASE" when it passes; the first failure raises, so the
process exits non-zero with a traceback that names the case. The server's
routes are those of tests/websocket.rs: /echo, /limited (1 MiB messages),
/chat (subprotocols "chat" and "superchat") and /bye (closes with 4000).
"""

import sys

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

TIMEOUT = 10


def open_ws(base, path, **kwargs):
    kwargs.setdefault("max_size", None)
    return connect(
        base + path,
        open_timeout=TIMEOUT,
        close_timeout=TIMEOUT,
        ping_interval=None,
        proxy=None,
        **kwargs,
    )


def expect_echo(ws, message):
    ws.send(message)
    got = ws.recv(timeout=TIMEOUT)
    assert type(got) is type(message), (type(got), type(message))
    assert got == message, (len(got), len(message))


def framing(base):
    # The boundaries of the three payload-length encodings (RFC 6455 §5.2).
    with open_ws(base, "/echo") as ws:
        for size in [0, 1, 125, 126, 127, 65535, 65536, 65537, 200_000]:
            expect_echo(ws, bytes(i % 251 for i in range(size)))
            expect_echo(ws, "".join(chr(97 + i % 26) for i in range(size)))
        ws.close()
    assert ws.close_code == 1000, ws.close_code


def fragmentation(base):
    with open_ws(base, "/echo") as ws:
        ws.send(["frag", "men", "ted"])
        assert ws.recv(timeout=TIMEOUT) == "fragmented"
        ws.send([b"\x00\x01", b"", b"\x02" * 70_000])
        assert ws.recv(timeout=TIMEOUT) == b"\x00\x01" + b"\x02" * 70_000
        # A character split across fragments is valid: UTF-8 is checked on
        # the whole message.
        check = "✓".encode()
        ws.send([b"a" + check[:1], check[1:2], check[2:] + b"z"], text=True)
        assert ws.recv(timeout=TIMEOUT) == "a✓z"
        # Many small fragments.
        ws.send([bytes([i]) for i in range(256)])
        assert ws.recv(timeout=TIMEOUT) == bytes(range(256))


def utf8(base):
    with open_ws(base, "/echo") as ws:
        for text in ["héllo wörld", "✓ κόσμε", "𝄞 music", "\u0000", "\uffff", "日本語" * 1000]:
            expect_echo(ws, text)


def close_codes(base):
    # A normal close round trip: the server answers with the same code.
    with open_ws(base, "/echo") as ws:
        expect_echo(ws, "before close")
        ws.close(1000, "done")
        assert (ws.close_code, ws.close_reason) == (1000, "done"), (ws.close_code, ws.close_reason)
    # An application code, round trip.
    with open_ws(base, "/echo") as ws:
        ws.close(4321, "custom")
        assert ws.close_code == 4321, ws.close_code
    # The server closes first: the client sees its code and reason, and the
    # handshake completes (the client's reply went out after it).
    with open_ws(base, "/bye") as ws:
        ws.send("hi")
        try:
            ws.recv(timeout=TIMEOUT)
            raise AssertionError("expected the server to close")
        except ConnectionClosed as closed:
            assert closed.rcvd.code == 4000 and closed.rcvd.reason == "bye", closed
            assert closed.sent is not None and closed.sent.code == 4000, closed
            assert closed.rcvd_then_sent, closed


def large(base):
    with open_ws(base, "/echo") as ws:
        expect_echo(ws, bytes(i % 256 for i in range(4 << 20)))
        expect_echo(ws, "x" * (4 << 20))
    # At the limit is fine; past it, 1009.
    with open_ws(base, "/limited") as ws:
        expect_echo(ws, b"y" * (1 << 20))
        expect_closed_with(ws, 1009, b"z" * ((1 << 20) + 1))
    # Over the limit in fragments that are each small.
    with open_ws(base, "/limited") as ws:
        expect_closed_with(ws, 1009, [b"f" * 65536] * 17)


def expect_closed_with(ws, code, message):
    """Sends `message` and expects the server to close with `code`; the
    close may come while the client is still sending."""
    try:
        ws.send(message)
        ws.recv(timeout=TIMEOUT)
        raise AssertionError(f"expected close code {code}")
    except ConnectionClosed as closed:
        assert closed.rcvd is not None and closed.rcvd.code == code, closed


def ping_pong(base):
    with open_ws(base, "/echo") as ws:
        for payload in [b"", b"hi", b"p" * 125]:
            assert ws.ping(payload).wait(TIMEOUT), payload
        # A ping between messages does not disturb them.
        ws.send("one")
        assert ws.ping(b"between").wait(TIMEOUT)
        assert ws.recv(timeout=TIMEOUT) == "one"


def subprotocols(base):
    with open_ws(base, "/chat", subprotocols=["other", "superchat", "chat"]) as ws:
        # The server's preference wins among those offered.
        assert ws.subprotocol == "chat", ws.subprotocol
        assert ws.recv(timeout=TIMEOUT) == "protocol: chat"
    with open_ws(base, "/chat", subprotocols=["superchat"]) as ws:
        assert ws.subprotocol == "superchat", ws.subprotocol
        assert ws.recv(timeout=TIMEOUT) == "protocol: superchat"
    with open_ws(base, "/chat") as ws:
        assert ws.subprotocol is None, ws.subprotocol
        assert ws.recv(timeout=TIMEOUT) == "protocol: none"


CASES = {
    "framing": framing,
    "fragmentation": fragmentation,
    "utf8": utf8,
    "close_codes": close_codes,
    "large": large,
    "ping_pong": ping_pong,
    "subprotocols": subprotocols,
}


def main():
    base, names = sys.argv[1], sys.argv[2:]
    for name in names:
        CASES[name](base)
        print("ok", name, flush=True)


if __name__ == "__main__":
    main()
