"""Bounds on what one remote answer may cost: time (a total deadline per request) and memory
(a maximum body size, decompressed bytes counted).

httpx's timeouts are per socket operation: a server dripping one byte a second never trips a
60-second read timeout. So every socket operation of our transport is given at most the time
left before the request's deadline (`DeadlineBackend`, a thin wrapper of httpcore's own network
backend), and the body is read in chunks, inflated with a bounded `zlib` window, and refused as
soon as it passes the limit (`read_body`): no answer is held whole past the limit, however large
it claims to be or inflates to.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import io
import ssl
import threading
import time
import typing
import zlib
from collections.abc import Iterable, Iterator

import httpcore
import httpx

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("migo_sync_deadline", default=None)
DECODABLE = frozenset({"gzip", "x-gzip", "deflate"})  # what we ask for (Accept-Encoding) and can bound


class DeadlinePassed(Exception):
    """The request's total deadline passed before its answer was complete."""


class BodyTooLarge(Exception):
    """The answer (decompressed) is larger than the system's maximum body size."""


class BadEncoding(Exception):
    """The answer's Content-Encoding is not one we asked for, or does not decode."""


@contextlib.contextmanager
def deadline(when: float) -> Iterator[None]:
    """Every socket operation inside this block ends by `when` (a `time.monotonic()` instant)."""
    token = _deadline.set(when)
    try:
        yield
    finally:
        _deadline.reset(token)


def _left(timeout: float | None) -> float | None:
    """The timeout to give one socket operation: its own, or the time left, whichever is shorter."""
    when = _deadline.get()
    if when is None:
        return timeout
    left = when - time.monotonic()
    if left <= 0:
        raise httpcore.ReadTimeout("the request's deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self.inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.inner.read(max_bytes, _left(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.inner.write(buffer, _left(timeout))

    def close(self) -> None:
        self.inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self.inner.start_tls(ssl_context, server_hostname, _left(timeout)))

    def get_extra_info(self, info: str) -> typing.Any:
        return self.inner.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's sync backend, with every connect, read and write cut short at the deadline."""

    def __init__(self) -> None:
        self.inner = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[typing.Any] | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self.inner.connect_tcp(host, port, _left(timeout), local_address, socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[typing.Any] | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self.inner.connect_unix_socket(path, _left(timeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


_ssl_building = threading.Lock()


def shared_ssl_context() -> ssl.SSLContext:
    """httpx's default verifying context, built once per process: loading the CA bundle costs
    ~0.1-0.3 s, which a watch cycle (new clients every cycle) would otherwise pay each time. A
    caller that asks while another thread builds it (the run's start begins it) waits for that one."""
    with _ssl_building:
        return _ssl_context()


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()


class BoundedHTTPTransport(httpx.HTTPTransport):
    """httpx's own transport over a `DeadlineBackend` (no proxy; retries are the core's)."""

    def __init__(self) -> None:
        super().__init__(retries=0, verify=shared_ssl_context())
        # httpx builds its pool without a backend argument: rebuild it, same defaults, with ours.
        self._pool = httpcore.ConnectionPool(
            ssl_context=shared_ssl_context(), max_connections=100, max_keepalive_connections=20,
            keepalive_expiry=5.0, retries=0, network_backend=DeadlineBackend())


def buffered(response: httpx.Response, content: bytes) -> httpx.Response:
    """`response` again, holding its decoded `content` (read by `read_body`): the encoding headers
    of the raw stream no longer apply."""
    headers = httpx.Headers([(k, v) for k, v in response.headers.multi_items()
                             if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")])
    return httpx.Response(response.status_code, headers=headers, content=content, request=response.request,
                          extensions=response.extensions)


def read_body(response: httpx.Response, limit: int, deadline_at: float) -> bytes:
    """The whole (decoded) body, read chunk by chunk; refused past `limit` bytes or `deadline_at`.

    Raises:
        BodyTooLarge: the declared or decoded size passes `limit` (nothing more is read).
        DeadlinePassed: the deadline passed between two chunks.
        BadEncoding: a Content-Encoding we did not ask for, or a body that does not inflate.
    """
    if response.is_stream_consumed:  # a response built in memory (a test's MockTransport)
        content = response.content
        if len(content) > limit:
            raise BodyTooLarge(f"{len(content)} bytes")
        return content
    declared = response.headers.get("Content-Length", "")
    encodings = [e.strip().lower() for e in response.headers.get("Content-Encoding", "").split(",") if e.strip()]
    encodings = [e for e in encodings if e != "identity"]
    if declared.isdigit() and not encodings and int(declared) > limit:
        raise BodyTooLarge(f"Content-Length {declared}")
    if len(encodings) > 1 or (encodings and encodings[0] not in DECODABLE):
        raise BadEncoding(f"Content-Encoding {', '.join(encodings)} was not asked for")
    chunks: Iterable[bytes] = response.iter_raw()
    if encodings:
        chunks = _inflate(chunks, encodings[0], limit)
    out = io.BytesIO()
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"more than {limit} bytes")
        out.write(chunk)
        if time.monotonic() > deadline_at:
            raise DeadlinePassed()
    return out.getvalue()


def _inflate(chunks: Iterable[bytes], encoding: str, limit: int) -> Iterator[bytes]:
    """Inflate gzip/deflate with at most `limit + 1` bytes produced per step (no bomb fits in memory)."""
    # gzip: the gzip header; deflate: a zlib stream, or (some servers) a raw one — tried in that order.
    wbits = zlib.MAX_WBITS | 16 if encoding in ("gzip", "x-gzip") else zlib.MAX_WBITS
    inflater = zlib.decompressobj(wbits)
    first = True
    step = min(limit + 1, 1 << 20)
    try:
        for chunk in chunks:
            data = chunk
            while data:
                try:
                    out = inflater.decompress(data, step)
                except zlib.error:
                    if not (first and encoding == "deflate"):
                        raise
                    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
                    out = inflater.decompress(data, step)
                first = False
                data = inflater.unconsumed_tail
                if out:
                    yield out
        tail = inflater.flush()
        if tail:
            yield tail
    except zlib.error as exc:
        raise BadEncoding(f"the {encoding} body does not inflate: {exc}") from None
