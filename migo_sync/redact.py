"""Secret redaction: every credential migo-sync loads is registered here and masked everywhere.

Logs, error messages and `--verbose` output pass through `redact()`.
"""

from __future__ import annotations

import logging
import re
import threading

MASK = "***"
_lock = threading.Lock()
_secrets: set[str] = set()
SENSITIVE_HEADERS = frozenset({"authorization", "cookie", "set-cookie", "proxy-authorization", "x-api-key"})
# Each pattern with the words any of its matches holds (as `re` matches them, case-insensitively): a text that
# holds none of them is not searched. Every statement and request is logged, and the third pattern alone took
# ~0.3 ms on a 1.6 KB SQL statement (~10 ms of a push's main thread, 35 records), the check ~5 µs.
_PATTERNS: list[tuple[re.Pattern[str], tuple[str, ...]]] = [
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), ("bearer",)),
    (re.compile(r"(?i)(basic\s+)[A-Za-z0-9+/=]+"), ("basic",)),
    (re.compile(r"(?i)((?:password|passwd|secret|token|sessionid|access_token|assertion|api_key)[\"']?\s*[:=]\s*[\"']?)(?![\[(])[^\s\"'&<,}]+"),
     ("passw", "secret", "token", "sessionid", "assertion", "api_key")),
    (re.compile(r"(?is)(<(?:\w+:)?(?:password|sessionid|Password)[^>]*>)[^<]*"), ("passw", "sessionid")),
]
# The characters `re` takes case-insensitively for a letter of those words and `str.lower()` does not turn into
# it (tests/core/test_redact_words.py checks every code point): folded first, the words are found as `re` would.
_FOLD = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s"})


def register_secret(value: str | None) -> None:
    """Remember a secret so that it is masked wherever it would be shown."""
    if value and len(value) >= 4:
        with _lock:
            _secrets.add(value)


SHORT = 8  # a registered secret shorter than this is masked only as a whole word


def redact(text: str) -> str:
    """Mask registered secrets and anything shaped like a credential, and nothing else: a short
    secret ("pass") is masked where it stands alone, not inside another word ("password")."""
    if not text:
        return text
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            if len(secret) >= SHORT:
                text = text.replace(secret, MASK)
            else:
                text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])", MASK, text)
    folded = text.translate(_FOLD).lower()
    for pattern, words in _PATTERNS:
        if any(word in folded for word in words):
            text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text


def redact_headers(headers: dict[str, str]) -> dict[str, str]:
    return {k: (MASK if k.lower() in SENSITIVE_HEADERS else redact(v)) for k, v in headers.items()}


class RedactingFilter(logging.Filter):
    """Logging filter that masks secrets in every record migo-sync emits."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = ()
        return True
