"""The vcr plumbing every adapter's cassette tests share.

Cassettes live in `cassettes/<system>/`, are recorded from the emulator with MIGO_SYNC_RECORD=1
and replayed with no server otherwise (record mode "none": a request that is not in the cassette
fails the test). Before anything is written, credentials are scrubbed from both directions:
what differs per system (credential-shaped XML, literal secrets, extra headers, how requests are
matched) is a parameter. Each system keeps its own test that greps its cassettes for the secrets,
built on `assert_no_secret()`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import vcr

from migo_sync.redact import MASK, redact
from migo_sync.sandbox.process import SandboxThread

RECORD = os.environ.get("MIGO_SYNC_RECORD") == "1"
CASSETTE_ROOT = Path(__file__).resolve().parents[2] / "cassettes"
SENSITIVE_HEADERS = ("authorization", "cookie", "set-cookie")

Scrub = Callable[[bytes], bytes]


def cassette_dir(system: str) -> Path:
    return CASSETTE_ROOT / system


def scrubber(patterns: Sequence[re.Pattern[bytes]] = (), secrets: Iterable[str] = ()) -> Scrub:
    """Mask what lies between each pattern's groups 1 and 2, then every literal secret, then redact().

    The patterns catch credentials whatever their value (a wrong password a test sends is not
    registered for redaction); the secrets catch them anywhere else, e.g. echoed in an answer.
    """
    mask = MASK.encode()
    literals = [secret.encode() for secret in secrets]

    def scrub(data: bytes) -> bytes:
        for pattern in patterns:
            data = pattern.sub(rb"\1" + mask + rb"\2", data)
        for secret in literals:
            data = data.replace(secret, mask)
        return redact(data.decode("utf-8")).encode("utf-8")

    return scrub


def request_body(request: Any) -> bytes:
    body = request.body or b""
    return body if isinstance(body, bytes) else body.encode()


def recorder(system: str, scrub: Scrub, match_on: Sequence[str], *, filter_headers: Sequence[str] = (),
             drop_response_headers: Sequence[str] = (), matchers: Mapping[str, Callable[[Any, Any], None]] | None = None,
             ) -> vcr.VCR:
    """A VCR for `cassettes/<system>/` that scrubs request and response bodies with `scrub`.

    vcr runs the request scrubber on a live request before matching it too, so a `body` matcher
    compares scrubbed bodies. `filter_headers` and `drop_response_headers` add to the sensitive
    headers (Authorization, cookies) every system drops; `matchers` registers custom matchers by
    the name `match_on` uses.
    """
    dropped = {name.lower() for name in (*SENSITIVE_HEADERS, *drop_response_headers)}

    def scrub_request(request: Any) -> Any:
        if request.body:
            request.body = scrub(request_body(request))
        return request

    def scrub_response(response: dict[str, Any]) -> dict[str, Any]:
        body = response.get("body", {})
        if isinstance(body.get("string"), bytes):
            body["string"] = scrub(body["string"])
        for name in list(response.get("headers", {})):
            if name.lower() in dropped:
                response["headers"].pop(name)
        return response

    made = vcr.VCR(
        cassette_library_dir=str(cassette_dir(system)),
        record_mode="all" if RECORD else "none",
        match_on=list(match_on),
        filter_headers=[*SENSITIVE_HEADERS, *filter_headers],
        before_record_request=scrub_request,
        before_record_response=scrub_response,
        decode_compressed_response=True,
    )
    for name, matcher in (matchers or {}).items():
        made.register_matcher(name, matcher)
    return made


def live_or_replay(request: pytest.FixtureRequest, sandbox: str, replay: Mapping[str, str]) -> dict[str, str]:
    """The live emulator's URLs (fixture `sandbox`) when recording; `replay`, where nothing listens, otherwise."""
    if RECORD:
        handle: SandboxThread = request.getfixturevalue(sandbox)
        return {name: handle.env[name] for name in replay}
    return dict(replay)


def base_url_fixture(sandbox: str, variable: str, replay_url: str) -> Any:
    """A `base_url` fixture: `variable` of the live emulator when recording; `replay_url` when replaying."""

    @pytest.fixture
    def base_url(request: pytest.FixtureRequest) -> str:
        """The live emulator when recording; an address nothing listens on when replaying."""
        return live_or_replay(request, sandbox, {variable: replay_url})[variable]

    return base_url


def assert_no_secret(system: str, expected: set[str], *, secrets: Iterable[str] = (),
                     forbidden: Mapping[re.Pattern[str], str] | None = None,
                     masked: Iterable[str | re.Pattern[str]] = ()) -> dict[str, str]:
    """Grep every cassette of `system` (which must include the `expected` files) for credentials.

    Args:
        secrets: literal values that must appear nowhere.
        forbidden: patterns that must match nowhere, each with what a match would be.
        masked: text (or a pattern) every cassette must hold: proof that credentials were
            recorded, and masked.

    Returns:
        The cassettes' text by file name, for checks of a system's own.
    """
    files = sorted(cassette_dir(system).glob("*.yaml"))
    assert {f.name for f in files} >= expected
    texts = {path.name: path.read_text(encoding="utf-8") for path in files}
    needed = list(masked)
    for name, text in texts.items():
        for secret in secrets:
            assert secret not in text, f"{name} holds a credential"
        for pattern, what in (forbidden or {}).items():
            assert not pattern.search(text), f"{name} holds {what}"
        for proof in needed:
            found = proof.search(text) if isinstance(proof, re.Pattern) else proof in text
            assert found, f"{name} lacks {proof if isinstance(proof, str) else proof.pattern}"
    return texts
