"""Zendesk answers recorded by zenpy's test suite (betamax), read by migo-sync's real client: the
time-based ticket export lands as sent, and the JSON paths a real ticket carries pass the open catalog."""

from __future__ import annotations

import base64
import json

import httpx
from helpers.recordings import recording

from migo_sync.adapters.zendesk.adapter import has_path
from migo_sync.adapters.zendesk.client import ZendeskClient
from migo_sync.http import make_client

URL = "https://d3v-zenpydev.zendesk.com"


def replay(name: str) -> ZendeskClient:
    """A client whose GETs are answered by the recorded interaction with the same path and query."""
    interactions = json.loads(recording("zendesk", name).read_text())["http_interactions"]
    answers = {}
    for item in interactions:
        url = httpx.URL(item["request"]["uri"])
        answers[(url.path, url.query)] = item["response"]

    def handler(request: httpx.Request) -> httpx.Response:
        found = answers.get((request.url.path, request.url.query))
        assert found is not None, f"no recorded answer for {request.url}"
        body = found["body"]
        content = base64.b64decode(body["base64_string"]) if body.get("base64_string") else body["string"].encode()
        headers = {k: (v[0] if isinstance(v, list) else v) for k, v in found["headers"].items()
                   if k.lower() in ("content-type", "content-encoding")}
        return httpx.Response(found["status"]["code"], content=content, headers=headers)

    return ZendeskClient(make_client("zendesk", URL, transport=httpx.MockTransport(handler)))


def test_the_recorded_ticket_export_lands_and_its_paths_pass_the_open_catalog() -> None:
    client = replay("TicketsIncrementalTest.test_get_values.json")
    page = client.time_export("tickets", start_time=0)
    tickets = page["tickets"]
    assert tickets and all(isinstance(t["id"], int) for t in tickets)
    assert all(has_path(t, "via.source.from.address") for t in tickets)  # what the open catalog accepts
    assert all(has_path(t, "via.channel") for t in tickets)
    assert not any(has_path(t, "via.sourse.from") for t in tickets if t["via"]["source"])
