"""The HTTP layer: what is retried, what is never blindly resent, and what is counted."""

from __future__ import annotations

import logging

import httpx
import pytest

from migo_sync.errors import MigoSyncError, UnreachableError
from migo_sync.http import REQUEST_STATS, make_client, parse_retry_after
from migo_sync.redact import redact, register_secret


def scripted(*answers: object) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    """A transport that answers with the given statuses / exceptions in turn."""
    seen: list[httpx.Request] = []
    queue = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(int(answer))  # type: ignore[call-overload]

    return httpx.MockTransport(handler), seen


def client(transport: httpx.MockTransport, system: str = "testsys") -> httpx.Client:
    return make_client(system, "http://remote.test", transport=transport)


def test_429_is_retried_honouring_retry_after() -> None:
    transport, seen = scripted(httpx.Response(429, headers={"Retry-After": "0"}), 200)
    response = client(transport).post("/write", json={"a": 1})
    assert response.status_code == 200
    assert len(seen) == 2


def test_503_is_retried_even_for_a_plain_post() -> None:
    transport, seen = scripted(503, 503, 200)
    assert client(transport).post("/write").status_code == 200
    assert len(seen) == 3


def test_500_on_a_non_idempotent_post_is_not_resent() -> None:
    transport, seen = scripted(500, 200)
    response = client(transport).post("/write")
    assert response.status_code == 500
    assert len(seen) == 1


def test_500_on_an_idempotent_post_is_resent() -> None:
    transport, seen = scripted(500, 524, 200)
    response = client(transport).post("/write", extensions={"idempotent": True})
    assert response.status_code == 200
    assert len(seen) == 3


def test_lost_connection_on_a_non_idempotent_write_is_not_resent() -> None:
    transport, seen = scripted(httpx.RemoteProtocolError("peer closed"), 200)
    with pytest.raises(MigoSyncError, match="not resent"):
        client(transport).post("/write")
    assert len(seen) == 1


def test_lost_connection_on_a_get_is_resent() -> None:
    transport, seen = scripted(httpx.ReadError("reset"), 200)
    assert client(transport).get("/read").status_code == 200
    assert len(seen) == 2


def test_unreachable_after_all_attempts_is_exit_code_3() -> None:
    transport, seen = scripted(httpx.ConnectError("refused"))
    with pytest.raises(UnreachableError) as info:
        client(transport).get("/read")
    assert info.value.exit_code == 3
    assert len(seen) == 10  # stamina's test mode: 10 attempts, no sleeping


def test_requests_are_counted_per_system_retries_included() -> None:
    before = REQUEST_STATS.get("counted")
    transport, _ = scripted(429, 200)
    client(transport, "counted").get("/x")
    assert REQUEST_STATS.get("counted") - before == 2


def test_classify_turns_a_200_into_a_retry() -> None:
    from migo_sync.errors import RateLimited

    transport, seen = scripted(httpx.Response(200, text="GW-0010"), httpx.Response(200, text="ok"))

    def classify(response: httpx.Response) -> Exception | None:
        return RateLimited("testsys", "throttled", retry_after=0) if "GW-0010" in response.text else None

    c = make_client("testsys", "http://remote.test", transport=transport, classify=classify)
    assert c.post("/x", extensions={"idempotent": True}).text == "ok"
    assert len(seen) == 2


@pytest.mark.parametrize(("value", "expected"), [("0", 0.0), ("2", 2.0), ("1.5", 1.5), (None, None), ("soon", None)])
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date_in_the_past_is_zero() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_verbose_log_never_shows_a_secret(caplog: pytest.LogCaptureFixture) -> None:
    register_secret("s3cr3t-token-value")
    transport, _ = scripted(200)
    with caplog.at_level(logging.DEBUG, logger="migo_sync.http"):
        client(transport).get("/read?token=s3cr3t-token-value", headers={"Authorization": "Bearer s3cr3t-token-value"})
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "/read" in text
    assert "s3cr3t-token-value" not in text


@pytest.mark.parametrize("text", [
    "Authorization: Bearer abc.def.ghi", "password=hunter22", "<password>hunter22</password>",
    "<ns0:password>hunter22</ns0:password>", '{"access_token": "ya29.abcdef"}', "sessionid=XyZ123",
])
def test_redact_masks_credential_shapes(text: str) -> None:
    masked = redact(text)
    assert "***" in masked
    for secret in ("abc.def.ghi", "hunter22", "ya29.abcdef", "XyZ123"):
        assert secret not in masked


def test_classify_reads_a_definite_500_before_it_could_be_resent() -> None:
    from migo_sync.errors import FatalRemoteError

    transport, seen = scripted(httpx.Response(500, text="<Fault>Validation_Fault</Fault>"), 200)

    def classify(response: httpx.Response) -> Exception | None:
        return FatalRemoteError("testsys", "refused") if "Validation_Fault" in response.text else None

    c = make_client("testsys", "http://remote.test", transport=transport, classify=classify)
    with pytest.raises(FatalRemoteError):
        c.post("/x", extensions={"idempotent": True})
    assert len(seen) == 1


class Meeting:
    """A handler that holds each call until `size` calls are inside at once, or every call left is
    (at most 5 s: a gate that lets fewer through makes them give up, which the test sees), and
    records the most calls inside at once."""

    def __init__(self, size: int, total: int) -> None:
        import threading

        self.size, self.total, self.inside, self.done, self.peak, self.gave_up = size, total, 0, 0, 0, 0
        self.lock = threading.Condition()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.inside += 1
            self.peak = max(self.peak, self.inside)
            self.lock.notify_all()
            if not self.lock.wait_for(lambda: self.inside >= min(self.size, self.total - self.done), timeout=5.0):
                self.gave_up += 1
        with self.lock:
            self.inside -= 1
            self.done += 1
            self.lock.notify_all()
        return httpx.Response(200)


@pytest.mark.timeout(60)
def test_a_client_built_with_in_flight_never_has_more_calls_out_whoever_sends_them() -> None:
    from concurrent.futures import ThreadPoolExecutor

    meeting = Meeting(2, 6)
    gated = make_client("testsys", "http://remote.test", transport=httpx.MockTransport(meeting), in_flight=2)
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda i: gated.get(f"/r/{i}").status_code, range(6)))
    assert answers == [200] * 6
    assert meeting.peak == 2 and meeting.gave_up == 0  # two at a time, exactly: the cap, and no less

    free = Meeting(6, 6)
    ungated = make_client("testsys", "http://remote.test", transport=httpx.MockTransport(free))
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda i: ungated.get(f"/r/{i}").status_code, range(6)))
    assert free.peak == 6  # without a cap the same six go out together


@pytest.mark.timeout(60)
def test_each_context_counts_its_own_requests_with_the_threads_it_starts() -> None:
    import threading

    from migo_sync.ahead import in_order

    transport, _ = scripted(200)
    counts: dict[str, int] = {}

    def pull(name: str, pages: int) -> None:
        http = client(transport, "tallysys")
        with REQUEST_STATS.tallied() as tally:
            for _ in in_order(lambda i: http.get(f"/{name}/{i}"), range(pages), in_flight=3, name=name):
                pass
            counts[name] = tally.count

    before = REQUEST_STATS.get("tallysys")
    threads = [threading.Thread(target=pull, args=(name, pages)) for name, pages in (("a", 5), ("b", 7))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert counts == {"a": 5, "b": 7}
    assert REQUEST_STATS.get("tallysys") - before == 12


def test_a_read_response_is_freed_without_the_cyclic_collector() -> None:
    """A push freezes the heap while its jobs are in flight (engine/gcpause.py): a response (with its
    request body) that needed the cyclic collector was kept until the run ended."""
    import gc
    import weakref

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"echo": len(request.content)})

    http = make_client("testsys", "http://remote.test", transport=httpx.MockTransport(answer))
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        response = http.post("/write", content=b"x" * 100_000)
        assert response.json() == {"echo": 100_000}
        assert response.read() == b'{"echo":100000}'
        gone = weakref.ref(response.request)
        alive = weakref.ref(response)
        del response
        assert alive() is None and gone() is None  # freed by reference counting alone
    finally:
        if was_enabled:
            gc.enable()
