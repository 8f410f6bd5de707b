"""Progress: a percentage when the total is known, a line that stops when its mapping ends, and
every wait longer than 2 s named with its reason."""

from __future__ import annotations

import io

from rich.console import Console

from migo_sync.adapters.zendesk.client import WindowLimiter
from migo_sync.progress import announce_wait, listening, live_progress, per_minute


def test_waits_over_two_seconds_are_announced_with_their_reason() -> None:
    heard: list[tuple[float, str]] = []
    with listening(lambda s, r: heard.append((s, r))):
        announce_wait(1.5, "short")
        announce_wait(37.0, "long")
    announce_wait(40.0, "after")  # nobody listens any more
    assert heard == [(37.0, "long")]
    assert per_minute(10, 60) == "10 per minute" and per_minute(5, 1) == "5 per second"


def test_the_zendesk_export_window_names_its_wait() -> None:
    now = [1000.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = WindowLimiter(2, 60.0, clock=lambda: now[0], sleep=sleep)
    heard: list[tuple[float, str]] = []
    with listening(lambda s, r: heard.append((s, r))):
        for _ in range(3):
            limiter.acquire()
            limiter.release()
    assert len(slept) == 1 and slept[0] > 59
    assert heard and heard[0][1] == "Zendesk export limit, 2 per minute" and round(heard[0][0]) == 60


def test_live_progress_shows_percent_names_the_wait_and_stops() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=140, color_system=None)
    with live_progress(console) as factory:
        task = factory("sheets_collections_push", None)
        task.set_total(200)
        task(50)
        announce_wait(37.0, "Zendesk export limit, 10 per minute")
        text_mid = out.getvalue()
        task(150)
        task.done()
        other = factory("zendesk_users_pull", None)
        other(7)
        other.done()
    text = out.getvalue()
    assert "sheets_collections_push — waiting 37 s: Zendesk export limit, 10 per minute" in text_mid
    assert "25%" in text_mid.rsplit("waiting 37 s", 1)[-1].splitlines()[0]
    last = text.rsplit("sheets_collections_push", 1)[-1]
    assert "100%" in last.splitlines()[0] and "200 rows" in last.splitlines()[0]
    tail = text.rsplit("zendesk_users_pull", 1)[-1].splitlines()[0]
    assert "7 rows" in tail and "100%" in tail  # an unknown total becomes what was done
