"""Bounded answers over real loopback sockets: size, decompression, total deadline, encodings."""

from __future__ import annotations

import gzip
import time

import httpx
import pytest
from helpers.hostile import drip, flood, gzip_bomb, hostile_server, raw

from migo_sync.errors import ConfigError, FatalRemoteError, UnreachableError
from migo_sync.http import make_client

OK_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n"


def client(url: str, **settings: object) -> httpx.Client:
    return make_client("testsys", url, settings={"timeout": 5.0, **settings})


@pytest.mark.parametrize("declare", [False, True], ids=["chunked", "content-length"])
def test_an_answer_past_the_body_limit_is_refused_with_the_setting_to_raise(declare: bool) -> None:
    with (hostile_server(flood(20_000_000, declare=declare)) as url, client(url, max_body_mb=1) as http,
          pytest.raises(FatalRemoteError, match=r"testsys: the answer to GET .* is larger than the 1 MB limit .*"
                                               r"raise `max_body_mb` in \[systems.testsys\]")):
        http.get("/export")


def test_an_answer_within_the_limit_is_read_whole() -> None:
    with hostile_server(flood(900_000)) as url, client(url, max_body_mb=1) as http:
        assert len(http.get("/export").content) == 900_000


def test_a_gzip_bomb_is_refused_without_inflating_it() -> None:
    with (hostile_server(gzip_bomb(10)) as url, client(url, max_body_mb=5) as http,
          pytest.raises(FatalRemoteError, match="larger than the 5 MB limit")):
        http.get("/export")


def test_a_gzip_answer_within_the_limit_is_decoded() -> None:
    body = gzip.compress(b'{"ok": true}' * 1000)
    answer = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
              b"Content-Length: %d\r\n\r\n" % len(body)) + body
    with hostile_server(raw(answer)) as url, client(url) as http:
        response = http.get("/x")
    assert response.content == b'{"ok": true}' * 1000
    assert "content-encoding" not in response.headers


@pytest.mark.parametrize(("encoding", "body", "message"), [
    (b"br", b"\x00\x01", "Content-Encoding br was not asked for"),
    (b"gzip", b"this is not gzip", "the gzip body does not inflate"),
])
def test_an_undecodable_answer_is_a_clean_error(encoding: bytes, body: bytes, message: str) -> None:
    answer = (b"HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\nContent-Length: %d\r\n\r\n" % (encoding, len(body))) + body
    with (hostile_server(raw(answer)) as url, client(url) as http,
          pytest.raises(FatalRemoteError, match=message)):
        http.get("/x")


def test_a_body_dripped_a_byte_at_a_time_ends_at_the_deadline() -> None:
    started = time.monotonic()
    with hostile_server(drip(b"", OK_HEAD + b"{" + b" " * 38 + b"}", every=0.0)) as url, client(url) as http:
        assert http.get("/x").status_code == 200  # a quick answer is fine
    with (hostile_server(drip(OK_HEAD, b"{" + b" " * 38 + b"}", every=0.3)) as url, client(url, deadline=1.5) as http,
          pytest.raises(UnreachableError, match=r"testsys: no complete answer to GET .* within the 1.5 s "
                                               r"deadline \(`deadline` in \[systems.testsys\]\)")):
        http.get("/x")
    assert time.monotonic() - started < 5  # the per-read timeout (5 s) never fired: the deadline did


def test_headers_dripped_a_byte_at_a_time_end_at_the_deadline_and_a_write_is_not_resent() -> None:
    started = time.monotonic()
    with (hostile_server(drip(OK_HEAD, b"{}", every=0.2)) as url, client(url, deadline=1.0) as http,
          pytest.raises(UnreachableError, match=r"within the 1 s deadline.*not resent because the remote may")):
        http.post("/write", json={"a": 1})
    assert time.monotonic() - started < 4


@pytest.mark.parametrize("settings", [{"max_body_mb": 0}, {"deadline": -1}, {"deadline": "soon"}])
def test_bad_bounds_are_config_errors(settings: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match=r"\[systems.testsys\] (max_body_mb|deadline): must be a positive number"):
        make_client("testsys", "http://127.0.0.1:9", settings=settings)
