"""redact() searches a text with a credential pattern only when it holds one of the words every match
of that pattern holds: what it masks is exactly what running every pattern masks."""

from __future__ import annotations

import re
import sys

import pytest

from migo_sync import redact as module
from migo_sync.redact import MASK, redact, register_secret

pytestmark = pytest.mark.timeout(60)


def every_pattern(text: str) -> str:
    """redact() as it was: the registered secrets, then every pattern, whatever the text holds."""
    with module._lock:
        secrets = sorted(module._secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            if len(secret) >= module.SHORT:
                text = text.replace(secret, MASK)
            else:
                text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])", MASK, text)
    for pattern, _words in module._PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text


def test_every_character_re_takes_for_a_letter_of_the_words_folds_to_it() -> None:
    """Over every code point: a character the patterns' case-insensitive matching takes for a letter of
    their words becomes that very letter once folded and lowered, so the words are found where `re`
    would find them."""
    letters = sorted({c for _pattern, words in module._PATTERNS for word in words for c in word})
    any_letter = re.compile("(?i)[" + re.escape("".join(letters)) + "]")
    taken = [chr(c) for c in range(sys.maxunicode + 1) if any_letter.fullmatch(chr(c))]
    assert len(taken) > len(letters)  # the upper cases at least
    for char in taken:
        folded = char.translate(module._FOLD).lower()
        assert folded in letters, (hex(ord(char)), folded)
        assert re.fullmatch("(?i)" + re.escape(folded), char)


CASES = [
    "sql: SELECT COUNT(*) FROM migo_send_x WHERE migo_change <> 'deleted'",
    "Authorization: Bearer abc.def-123",
    "authorization: BEARER abc",
    "Basic dXNlcjpwYXNz and more",
    "password=hunter2 passwd: x secret='s3' token = t0k access_token=\"a\" assertion=eyJ api_key: k",
    "PASSWORD=X PassWd=Y SeCrEt=Z",
    "pa\u017f\u017fword=long-s sess\u0131onid=dotless sess\u0130onid=dotted \u212aelvin api_\u212aey=kelvin",
    "to\u212aen=kelvin-k ba\u017fic Zm9v bearer\u00a0nbsp",
    "<password>pw</password><ns:sessionid attr='1'>sid</ns:sessionid><Password>P</Password>",
    '{"message": "sessionid: abc", "token": "xyz", "list": [1, 2]}',
    "no credential here, only words like pass, word, sec ret, to ken",
    "token=(not masked) token=[kept] secret=<kept>",
    "",
]


@pytest.mark.parametrize("text", CASES)
def test_redact_masks_exactly_what_every_pattern_masks(text: str) -> None:
    register_secret("registered-secret-value")
    register_secret("pw12")
    assert redact(text) == every_pattern(text)
    assert redact(text + " registered-secret-value pw12") == every_pattern(text + " registered-secret-value pw12")


def test_a_text_without_the_words_is_left_as_it_is() -> None:
    text = "sql: INSERT INTO migo_sync.sent (mapping, row_key) SELECT mapping, row_key FROM stage"
    assert redact(text) == text
    assert redact("Token: abc") == "Token: ***"
