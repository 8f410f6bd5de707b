"""A tiny hostile HTTP server on loopback: it answers each connection with a scripted behaviour
(raw bytes, drips, floods, bombs) so the HTTP layer is tested over real sockets."""

from __future__ import annotations

import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Behaviour = Callable[[socket.socket], None]


@contextmanager
def hostile_server(behaviour: Behaviour) -> Iterator[str]:
    """Serve `behaviour` on 127.0.0.1 (one thread per connection) and yield the base URL."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.1)
    stop = threading.Event()
    workers: list[threading.Thread] = []

    def one(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                _read_request(conn)
                behaviour(conn)
            except OSError:
                pass  # the client hung up: what a bounded client does

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            worker = threading.Thread(target=one, args=(conn,), daemon=True)
            worker.start()
            workers.append(worker)

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        server.join(5)
        listener.close()
        for worker in workers:
            worker.join(10)


def _read_request(conn: socket.socket) -> None:
    """Read one request's head and body (Content-Length only: what our client sends)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return
        body += chunk


def drip(head: bytes, body: bytes, every: float, limit: float = 30.0) -> Behaviour:
    """Send `head` + `body` one byte per `every` seconds (for at most `limit` seconds)."""
    def behaviour(conn: socket.socket) -> None:
        ends = time.monotonic() + limit
        for i in range(len(head + body)):
            if time.monotonic() > ends:
                return
            conn.sendall((head + body)[i:i + 1])
            time.sleep(every)
    return behaviour


def flood(total: int, chunk: int = 1 << 16, *, declare: bool = False) -> Behaviour:
    """`total` bytes of JSON-ish filler, chunked (or with Content-Length when `declare`)."""
    def behaviour(conn: socket.socket) -> None:
        if declare:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n" % total)
        else:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        block = b" " * chunk
        sent = 0
        while sent < total:
            part = block[: min(chunk, total - sent)]
            conn.sendall(part if declare else b"%x\r\n%s\r\n" % (len(part), part))
            sent += len(part)
        if not declare:
            conn.sendall(b"0\r\n\r\n")
    return behaviour


def gzip_bomb(inflated_gib: int) -> Behaviour:
    """A gzip body that inflates to `inflated_gib` GiB of zeros (about 1 MB per GiB on the wire):
    one compressed MiB of zeros, flushed so it stands alone, repeated."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = compressor.compress(bytes(1 << 20)) + compressor.flush(zlib.Z_FULL_FLUSH)
    tail = compressor.flush(zlib.Z_FINISH)
    header = b"\x1f\x8b\x08\x00" + struct.pack("<I", 0) + b"\x00\xff"

    def behaviour(conn: socket.socket) -> None:
        count = inflated_gib * 1024
        size = len(header) + len(block) * count + len(tail) + 8
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
                     b"Content-Length: %d\r\n\r\n" % size + header)
        for _ in range(count):
            conn.sendall(block)
        conn.sendall(tail + struct.pack("<II", 0, (inflated_gib << 30) & 0xFFFFFFFF))
    return behaviour


def raw(answer: bytes) -> Behaviour:
    """Send `answer` as is, then close."""
    def behaviour(conn: socket.socket) -> None:
        conn.sendall(answer)
    return behaviour
