"""Protocol-error cases against an HTTP/2 server, with Python's `h2`
package (its outbound checks turned off, so it sends what a broken client
would). Prints one line per case: what the server answered.

Usage: h2_client.py PORT
"""

import socket
import sys

import hpack
import h2.config
import h2.connection
import h2.events
import h2.exceptions
from h2.errors import ErrorCodes

PORT = int(sys.argv[1])
TIMEOUT = 10


def connect():
    sock = socket.create_connection(("127.0.0.1", PORT), timeout=TIMEOUT)
    config = h2.config.H2Configuration(
        client_side=True,
        validate_outbound_headers=False,
        normalize_outbound_headers=False,
        validate_inbound_headers=False,
    )
    conn = h2.connection.H2Connection(config=config)
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    return sock, conn


def send(sock, conn):
    """Sends what the client has queued; a server that has closed is seen
    by the next read."""
    try:
        sock.sendall(conn.data_to_send())
    except (BrokenPipeError, ConnectionResetError):
        pass


def answer(sock, conn, stream_id):
    """Reads until the stream ends, is reset, or the connection goes away."""
    status = None
    while True:
        try:
            data = sock.recv(65535)
        except ConnectionResetError:
            return "reset by the server"
        if not data:
            return "closed"
        try:
            events = conn.receive_data(data)
        except h2.exceptions.ProtocolError as e:
            return f"client protocol error {e}"
        send(sock, conn)
        for event in events:
            if isinstance(event, h2.events.ResponseReceived) and event.stream_id == stream_id:
                status = dict(event.headers).get(b":status", b"?").decode()
            elif isinstance(event, h2.events.DataReceived):
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                send(sock, conn)
            elif isinstance(event, h2.events.StreamEnded) and event.stream_id == stream_id:
                return status
            elif isinstance(event, h2.events.StreamReset) and event.stream_id == stream_id:
                return f"reset {ErrorCodes(event.error_code).name}"
            elif isinstance(event, h2.events.ConnectionTerminated):
                return f"goaway {ErrorCodes(event.error_code).name}"


def base(path=b"/"):
    return [
        (b":method", b"GET"),
        (b":scheme", b"http"),
        (b":authority", b"localhost"),
        (b":path", path),
    ]


def stream_case(headers, body=None):
    """Sends one request on a fresh connection."""
    sock, conn = connect()
    stream_id = conn.get_next_available_stream_id()
    conn.send_headers(stream_id, headers, end_stream=body is None)
    if body is not None:
        conn.send_data(stream_id, body, end_stream=True)
    sock.sendall(conn.data_to_send())
    result = answer(sock, conn, stream_id)
    sock.close()
    return result


def raw_case(frames):
    """Sends raw frame bytes on a fresh connection, then a valid request."""
    sock, conn = connect()
    sock.sendall(frames)
    stream_id = conn.get_next_available_stream_id()
    conn.send_headers(stream_id, base(), end_stream=True)
    sock.sendall(conn.data_to_send())
    result = answer(sock, conn, stream_id)
    sock.close()
    return result


def frame(kind, flags, stream_id, payload):
    n = len(payload)
    return bytes([n >> 16, (n >> 8) & 0xFF, n & 0xFF, kind, flags]) + stream_id.to_bytes(4, "big") + payload


def main():
    print("valid request:", stream_case(base()))
    print("uppercase header name:", stream_case(base() + [(b"X-Upper", b"1")]))
    print("connection-specific header:", stream_case(base() + [(b"connection", b"keep-alive")]))
    print("missing :path:", stream_case(base()[:3]))
    print("te other than trailers:", stream_case(base() + [(b"te", b"gzip")]))
    post = [(b":method", b"POST")] + base(b"/echo")[1:] + [(b"content-length", b"10")]
    print("content-length mismatch:", stream_case(post, body=b"short"))
    print("data on stream 0:", raw_case(frame(0, 1, 0, b"hello")))
    # A client's streams are odd (RFC 9113 §5.1.1).
    block = hpack.Encoder().encode(base())
    print("headers on an even stream:", raw_case(frame(1, 5, 2, block)))
    print("after the errors:", stream_case(base()))


main()
