"""The one HTTP front end of the /api routes: its error shape, its 400/401/503 answers and its parameter parsing."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from eventlens.collector import http_front
from eventlens.collector.auth import authorised, bearer_matches
from eventlens.collector.http_front import BadQuery
from eventlens.collector.storage.protocol import StoreError


def _request(query: str = "", authorization: str | None = None) -> Request:
    headers = [(b"authorization", authorization.encode())] if authorization is not None else []
    return Request({"type": "http", "method": "GET", "path": "/api/x", "query_string": query.encode(),
                    "headers": headers})


def _call(handler: http_front.Handler, request: Request) -> tuple[int, dict[str, str], Response]:
    response = asyncio.run(handler(request))
    return response.status_code, json.loads(bytes(response.body)), response


async def _ok(request: Request) -> Response:
    """Answers 200."""
    return JSONResponse({"ok": True})


async def _bad(request: Request) -> Response:
    raise BadQuery("limit must be between 1 and 10")


async def _store_down(request: Request) -> Response:
    raise StoreError("database is locked at /secret/path")


def test_a_bad_query_is_a_400_with_the_reason_as_error() -> None:
    """`{"error": reason}` with 400, and nothing else in the body."""
    status, body, _ = _call(http_front.endpoint(_bad), _request())
    assert (status, body) == (400, {"error": "limit must be between 1 and 10"})


def test_a_store_error_is_a_503_with_an_error_id_and_no_details(caplog: pytest.LogCaptureFixture) -> None:
    """The client gets an error id to quote; the store's message stays in the log."""
    with caplog.at_level(logging.ERROR):
        status, body, _ = _call(http_front.endpoint(_store_down), _request())
    assert status == 503 and body["error_id"] in body["error"]
    assert "/secret/path" not in body["error"] and body["error_id"] in caplog.text


def test_a_missing_or_wrong_token_is_a_401_with_the_bearer_challenge() -> None:
    """Without the token, or with another, 401 and `WWW-Authenticate: Bearer`; with it, the handler answers."""
    guarded = http_front.require_token(_ok, "s3cret")
    for header in (None, "Bearer nope", "Basic s3cret", "s3cret"):
        status, body, response = _call(guarded, _request(authorization=header))
        assert (status, body, response.headers["www-authenticate"]) == (
            401, {"error": "missing or wrong bearer token"}, "Bearer"), header
    assert _call(guarded, _request(authorization="bearer  s3cret "))[0] == 200


def test_no_configured_token_leaves_the_handler_open() -> None:
    """`require_token(h, None)` is `h` itself."""
    assert http_front.require_token(_ok, None) is _ok


def test_the_wrappers_keep_the_handlers_name_and_docstring() -> None:
    """OpenAPI summaries and route names come from the handler, not the wrapper."""
    wrapped = http_front.require_token(http_front.endpoint(_ok), "t")
    assert (wrapped.__name__, wrapped.__doc__) == ("_ok", "Answers 200.")


@pytest.mark.parametrize(("header", "token", "expected"), [
    ("Bearer abc", "abc", True), ("BEARER abc", "abc", True), ("Bearer abcd", "abc", False),
    ("Bearer", "abc", False), ("", "abc", False), ("Token abc", "abc", False),
])
def test_the_bearer_rule(header: str, token: str, expected: bool) -> None:
    """Scheme `Bearer` in any case, then exactly the token (surrounding spaces ignored)."""
    assert bearer_matches(header, token) is expected
    assert authorised(header, token) is expected


def test_no_token_authorises_every_request_and_a_missing_header_none() -> None:
    """Without a configured token anything passes; with one, an absent header fails."""
    assert authorised(None, None) and not authorised(None, "abc")


def test_parameters_parse_in_the_shared_grammar() -> None:
    """Integers fit int64, empty text is absent, durations and ranges use collector.timerange."""
    request = _request("partition=3&key=&window=2h&since=90")
    assert http_front.int_param(request, "partition") == 3
    assert http_front.text_param(request, "key") is None
    assert http_front.duration_ns(request, "since", "1h") == 90 * 10**9
    assert http_front.duration_ns(request, "absent", "1h") == 3600 * 10**9
    assert http_front.time_range(request, 10**13).start_ns == 10**13 - 7200 * 10**9


def test_a_malformed_parameter_is_a_bad_query_naming_it() -> None:
    """`partition=x` and `window=soon` raise BadQuery with the parameter's name."""
    with pytest.raises(BadQuery, match="partition"):
        http_front.int_param(_request("partition=x"), "partition")
    with pytest.raises(BadQuery, match="window"):
        http_front.time_range(_request("window=soon"), 10**13)
