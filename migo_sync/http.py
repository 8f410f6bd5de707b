"""One HTTP client factory for every adapter: timeouts, retries, rate limits, counting, redaction.

Retries live in a transport (`SystemTransport`) so adapters stay plain: they build requests and
read responses. What is retried:

- a connection that could not be made (nothing was sent): always;
- 429 and 503 (the remote refused before doing anything): always, honouring `Retry-After`;
- 500/502/504/524 and a dropped connection (the outcome is unknown): only for idempotent requests
  (GET/PUT/DELETE, or a request an adapter marks `extensions={"idempotent": True}` because it
  carries an idempotency key the remote enforces). Anything else is raised, never blindly resent.

Adapters may pass `classify(response)`, consulted before the 5xx rule (never for 429/503), to read what a
response really says: an HTTP 200 that is a throttle (Intacct answers GW-0010 inside a 200
envelope), or an HTTP 500 that is a definite refusal (a SOAP fault).
"""

from __future__ import annotations

import email.utils
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn

import httpx
import stamina

from migo_sync.bounded import (
    BadEncoding,
    BodyTooLarge,
    BoundedHTTPTransport,
    DeadlinePassed,
    buffered,
    deadline,
    read_body,
)
from migo_sync.errors import (
    ConfigError,
    FatalRemoteError,
    MigoSyncError,
    OutcomeUnknownError,
    RateLimited,
    RetriableError,
    UnreachableError,
)
from migo_sync.progress import announce_wait, per_minute
from migo_sync.redact import redact

log = logging.getLogger("migo_sync.http")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
REFUSED_STATUSES = frozenset({429, 503})          # nothing was done: safe to resend
UNKNOWN_STATUSES = frozenset({500, 502, 504, 524})  # may have been done: resend only if idempotent
Classifier = Callable[[httpx.Response], Exception | None]
MAX_BODY_MB = 100.0   # default `max_body_mb`: the largest answer (decompressed) held in memory
DEADLINE = 300.0      # default `deadline`: seconds one attempt may take from connect to last byte


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. `MIGO_SYNC_RETRY_ATTEMPTS` / `MIGO_SYNC_RETRY_WAIT_MAX` override it."""

    attempts: int = 8
    wait_initial: float = 0.2
    wait_max: float = 30.0
    wait_jitter: float = 0.5
    timeout: float = 600.0

    @classmethod
    def from_env(cls) -> RetryPolicy:
        policy = cls()
        attempts = os.environ.get("MIGO_SYNC_RETRY_ATTEMPTS")
        wait_max = os.environ.get("MIGO_SYNC_RETRY_WAIT_MAX")
        return cls(
            attempts=int(attempts) if attempts else policy.attempts,
            wait_initial=min(policy.wait_initial, float(wait_max)) if wait_max else policy.wait_initial,
            wait_max=float(wait_max) if wait_max else policy.wait_max,
            wait_jitter=min(policy.wait_jitter, float(wait_max)) if wait_max else policy.wait_jitter,
        )


class Tally:
    """The requests sent within one context (`RequestStats.tallied`), whichever thread sent them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0

    def add(self) -> None:
        with self._lock:
            self._count += 1

    @property
    def count(self) -> int:
        with self._lock:
            return self._count


_TALLY: ContextVar[Tally | None] = ContextVar("migo_sync_request_tally", default=None)


class RequestStats:
    """Counts requests sent per system (retries included): a number we watch. Within `tallied()`,
    also the requests of that context alone: two pulls of one system reading at once each count
    their own (threads an adapter starts for them run in their context: `contextvars.copy_context`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sent: Counter[str] = Counter()
        self._listening: set[threading.Event] = set()

    def add(self, system: str) -> None:
        with self._lock:
            self.sent[system] += 1
            for event in self._listening:
                event.set()
        tally = _TALLY.get()
        if tally is not None:
            tally.add()

    def get(self, system: str) -> int:
        with self._lock:
            return self.sent[system]

    def listen(self, event: threading.Event) -> None:
        """Set `event` when the next request is sent (the runner's later preparations wait for one)."""
        with self._lock:
            self._listening.add(event)

    def unlisten(self, event: threading.Event) -> None:
        with self._lock:
            self._listening.discard(event)

    @staticmethod
    @contextmanager
    def tallied() -> Iterator[Tally]:
        """Count the requests sent in this context until the block ends."""
        tally = Tally()
        token = _TALLY.set(tally)
        try:
            yield tally
        finally:
            _TALLY.reset(token)


REQUEST_STATS = RequestStats()


def _log_retry(details: stamina.instrumentation.RetryDetails) -> None:
    """stamina's own hooks log every retry as a warning; ours logs at debug level, redacted."""
    log.debug("retry %d in %.2f s after: %s", details.retry_num, details.wait_for, redact(str(details.caused_by)))
    announce_wait(details.wait_for, f"retry {details.retry_num} after {redact(str(details.caused_by))}")


stamina.instrumentation.set_on_retry_hooks([_log_retry])


class RateLimiter:
    """A token bucket: at most `rate` requests per second on average, bursts of `burst`."""

    def __init__(self, rate: float | None, burst: int = 1) -> None:
        self.rate = rate
        self.capacity = float(max(burst, 1))
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        if not self.rate:
            return
        with self._lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens < 1:
                wait = (1 - self.tokens) / self.rate
                announce_wait(wait, f"request rate limit, {per_minute(round(self.rate * 60), 60)}")
                time.sleep(wait)
                self.tokens = 0.0
                self.updated = time.monotonic()
            else:
                self.tokens -= 1

    def slow_down(self, seconds: float) -> None:
        """Hold the bucket empty for a while (used when a remote says its budget is nearly spent)."""
        with self._lock:
            self.tokens = min(self.tokens, -seconds * (self.rate or 1.0))


def parse_retry_after(value: str | None) -> float | None:
    """`Retry-After` is seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class SystemTransport(httpx.BaseTransport):
    """Wraps a real transport with rate limiting, counting, logging and safe retries."""

    def __init__(
        self,
        system: str,
        inner: httpx.BaseTransport,
        *,
        policy: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        stats: RequestStats = REQUEST_STATS,
        classify: Classifier | None = None,
        max_body: int = int(MAX_BODY_MB * 1_000_000),
        deadline: float = DEADLINE,
        in_flight: int | None = None,
    ) -> None:
        self.system = system
        # At most this many calls out at once through this client, whoever sends them (several
        # pulls of one system reading together stay within the API's cap); None: no gate.
        self.gate = threading.BoundedSemaphore(in_flight) if in_flight else None
        self.max_body = max_body
        self.deadline = deadline
        self.inner = inner
        self.policy = policy or RetryPolicy.from_env()
        self.limiter = limiter or RateLimiter(None)
        self.stats = stats
        self.classify = classify

    def _backoff(self, exc: BaseException) -> bool | float:
        if isinstance(exc, RetriableError):
            if exc.retry_after is not None:
                return min(exc.retry_after, self.policy.wait_max)
            return True
        return False

    def close(self) -> None:
        """Close the wrapped transport too (its pooled sockets), when the client is closed."""
        self.inner.close()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        idempotent = request.method in IDEMPOTENT_METHODS or bool(request.extensions.get("idempotent"))
        last: Exception | None = None
        try:
            for attempt in stamina.retry_context(
                on=self._backoff,
                attempts=self.policy.attempts,
                timeout=self.policy.timeout,
                wait_initial=self.policy.wait_initial,
                wait_max=self.policy.wait_max,
                wait_jitter=self.policy.wait_jitter,
            ):
                with attempt:
                    try:
                        with self.gate or nullcontext():  # waiting for a free place: no part of the call
                            return self._send_once(request, idempotent, attempt.num)
                    except RetriableError as exc:
                        last = exc
                        raise
        except RetriableError as exc:
            if isinstance(exc, OutcomeUnknownError) and not idempotent:
                raise
            raise UnreachableError(
                f"{self.system}: gave up after {self.policy.attempts} attempts: {redact(str(exc))}"
            ) from exc
        raise UnreachableError(f"{self.system}: no attempt was made ({last})")  # pragma: no cover

    def _event(self, request: httpx.Request, attempt: int, started: float, status: int | None,
               outcome: str | None = None, size: int | None = None) -> None:
        """One `request` event (the run log keeps each; -v shows it as one short line)."""
        ms = (time.perf_counter() - started) * 1000
        path = redact(request.url.path)
        shown = str(status) if status is not None else outcome
        extra = "" if attempt == 1 else f", attempt {attempt}"
        log.debug("%s %s %s → %s (%.0f ms%s)", self.system, request.method, path, shown, ms, extra,
                  extra={"event": "request", "system": self.system, "method": request.method, "path": path,
                         "status": status, "outcome": outcome, "duration_ms": round(ms, 1), "attempt": attempt,
                         "bytes": size})

    def _send_once(self, request: httpx.Request, idempotent: bool, attempt: int = 1) -> httpx.Response:
        self.limiter.acquire()
        self.stats.add(self.system)
        started = time.perf_counter()
        url = redact(str(request.url))
        deadline_at = time.monotonic() + self.deadline
        try:
            with deadline(deadline_at):
                response = self._bounded(request, self.inner.handle_request(request), deadline_at)
        except (httpx.TimeoutException, DeadlinePassed) as exc:
            self._event(request, attempt, started, None, f"timed out: {type(exc).__name__}")
            if not isinstance(exc, DeadlinePassed) and time.monotonic() < deadline_at:
                if isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout)):
                    raise RetriableError(self.system, f"could not connect to {url}: {exc}") from exc
                self._lost(request, url, idempotent, exc)
            # Not retried: a remote this slow would be as slow again, and the run has a clock too.
            raise UnreachableError(
                f"{self.system}: no complete answer to {request.method} {url} within the {self.deadline:g} s "
                f"deadline (`deadline` in [systems.{self.system}])"
                + ("" if idempotent else "; not resent because the remote may have applied it")) from None
        except BodyTooLarge as exc:
            raise FatalRemoteError(
                self.system, f"the answer to {request.method} {url} is larger than the {self.max_body / 1e6:g} MB "
                f"limit ({exc}); raise `max_body_mb` in [systems.{self.system}] if it is legitimate") from None
        except BadEncoding as exc:
            raise FatalRemoteError(self.system, f"the answer to {request.method} {url} is unreadable: {exc}") from None
        except (httpx.ConnectError, httpx.PoolTimeout) as exc:
            self._event(request, attempt, started, None, f"connection failed: {exc}")
            raise RetriableError(self.system, f"could not connect to {url}: {exc}") from exc
        except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError) as exc:
            self._event(request, attempt, started, None, f"connection lost: {exc}")
            self._lost(request, url, idempotent, exc)
        self._event(request, attempt, started, response.status_code, size=len(response.content))
        status = response.status_code
        if self.classify is not None and status not in REFUSED_STATUSES:
            # Before the 5xx rule, so that a definite answer carried by an error status (a SOAP
            # fault is an HTTP 500) is read as the answer it is, not resent as an unknown outcome.
            # 429 and 503 never reach it: those are always the core's to retry.
            problem = self.classify(response)
            if problem is not None:
                if isinstance(problem, OutcomeUnknownError) and not idempotent:
                    raise MigoSyncError(str(problem)) from problem
                raise problem
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if status == 429:
            raise RateLimited(self.system, f"HTTP 429 from {url}", retry_after=retry_after)
        if status in REFUSED_STATUSES:
            refused = RetriableError(self.system, f"HTTP {status} from {url}", status=status)
            refused.retry_after = retry_after
            raise refused
        if status in UNKNOWN_STATUSES and idempotent:
            raise OutcomeUnknownError(self.system, f"HTTP {status} from {url}", status=status)
        return response

    def _lost(self, request: httpx.Request, url: str, idempotent: bool, exc: Exception) -> NoReturn:
        """The connection broke after the request may have reached the remote."""
        error = OutcomeUnknownError(self.system, f"connection lost during {request.method} {url}: {exc}")
        if not idempotent:
            raise MigoSyncError(f"{self.system}: connection lost during a non-idempotent {request.method}; "
                                "not resent because the remote may have applied it") from error
        raise error from exc

    def _bounded(self, request: httpx.Request, response: httpx.Response, deadline_at: float) -> httpx.Response:
        """The answer with its body read within the limits, decoded; the stream is always closed."""
        try:
            content = read_body(response, self.max_body, deadline_at)
        finally:
            response.close()
        response.request = request
        return buffered(response, content)


class Client(httpx.Client):
    """httpx.Client whose buffered responses hold no reference cycle, so reference counting frees them.

    httpx binds each response's stream to the response (`BoundSyncStream`, which sets `elapsed` on
    close): a cycle only the cyclic collector frees. A push freezes the heap while its jobs are in
    flight (engine/gcpause.py), and a response alive at that moment was then kept, with its request
    body, until the run ended: ~300 of 1,080 (20-30 MB) in a 100,000-user Zendesk push, growing with
    the rows changed. Once a response is read and closed, its stream is replaced by its content.
    """

    def send(self, request: httpx.Request, *, stream: bool = False, **kwargs: Any) -> httpx.Response:
        response = super().send(request, stream=stream, **kwargs)
        if not stream and response.is_closed:  # read whole and closed: `elapsed` is set, the stream done
            response.stream = httpx.ByteStream(response.content)
        return response


def make_client(
    system: str,
    base_url: str,
    *,
    settings: dict[str, Any] | None = None,
    classify: Classifier | None = None,
    headers: dict[str, str] | None = None,
    auth: httpx.Auth | None = None,
    transport: httpx.BaseTransport | None = None,
    limiter: RateLimiter | None = None,
    in_flight: int | None = None,
) -> httpx.Client:
    """Build the httpx.Client an adapter uses. `transport` is the seam tests replace; `in_flight`
    caps the calls out at once through it (an adapter whose pulls may read together passes its API's cap)."""
    settings = settings or {}
    timeout = float(settings.get("timeout", 120.0))
    max_body_mb, total = settings.get("max_body_mb", MAX_BODY_MB), settings.get("deadline", DEADLINE)
    for key, value in (("max_body_mb", max_body_mb), ("deadline", total)):
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ConfigError(f"[systems.{system}] {key}: must be a positive number, not {value!r}")
    if limiter is None:
        rate = settings.get("rate_limit")
        limiter = RateLimiter(float(rate) if rate else None, burst=int(settings.get("rate_burst", 1)))
    wrapped = SystemTransport(
        system,
        transport or BoundedHTTPTransport(),
        limiter=limiter,
        classify=classify,
        max_body=int(max_body_mb * 1_000_000),
        deadline=float(total),
        in_flight=in_flight,
    )
    return Client(
        base_url=base_url,
        transport=wrapped,
        timeout=httpx.Timeout(timeout, connect=10.0),
        # Only the encodings whose inflation we bound (migo_sync.bounded), never br/zstd.
        headers={"User-Agent": "migo-sync/0.1", "Accept-Encoding": "gzip, deflate", **(headers or {})},
        auth=auth,
        follow_redirects=False,
    )
