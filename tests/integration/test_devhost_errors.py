"""Every error the dev host answers itself is ``{code, message}`` JSON, like the functions', and
no log line it writes holds the function key."""

from __future__ import annotations

import io
import logging
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from local.services import ReadyLineProcess
from shared.telemetry import mask_process_logs, unmask_process_logs

pytestmark = pytest.mark.integration

SAMPLE_APP = Path(__file__).resolve().parent.parent / "fixtures" / "sample_app"
FUNCTION_KEY = "fk-3c1e9b7d5a"
MASTER_KEY = "mk-8f2a6d4c0e"


@pytest.fixture(scope="module")
def devhost(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReadyLineProcess]:
    env = {
        **os.environ,
        "DEVHOST_FUNCTION_KEYS": FUNCTION_KEY,
        "DEVHOST_MASTER_KEY": MASTER_KEY,
        "TICK_SCHEDULE": "0 0 0 1 1 *",
        "SAMPLE_QUEUE": "samples",
        "LOG_LEVEL": "INFO",
    }
    settings = tmp_path_factory.mktemp("errors") / "absent.json"
    proc = ReadyLineProcess(
        [sys.executable, "-m", "local.devhost", "--port", "0", "--app-root", str(SAMPLE_APP),
         "--settings", str(settings), "--only", "http"],
        env=env,
    )  # fmt: skip
    proc.start()
    yield proc
    assert proc.stop() == 0, proc.log_text[-2000:]


def url(proc: ReadyLineProcess) -> str:
    return str(proc.ready["functions"])


def raw_exchange(proc: ReadyLineProcess, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes (which no HTTP client would) and read the host's whole answer."""
    target = urlsplit(url(proc))
    with socket.create_connection((target.hostname, target.port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    return int(status_line.split()[1]), headers, body


def assert_error(status: int, headers: dict[str, str], body: bytes, expected: int, code: str):
    import json

    assert status == expected, body
    assert headers["content-type"].startswith("application/json")
    document = json.loads(body)
    assert document["code"] == code
    assert isinstance(document["message"], str)
    assert document["message"]
    return document


def check(response: httpx.Response, expected: int, code: str) -> dict[str, str]:
    headers = {k.lower(): v for k, v in response.headers.items()}
    return assert_error(response.status_code, headers, response.content, expected, code)


def test_devhost_with_missing_or_wrong_key_answers_401_unauthorized_key(
    devhost: ReadyLineProcess,
) -> None:
    check(httpx.post(f"{url(devhost)}/api/secure", content=b"x"), 401, "unauthorized_key")
    wrong = httpx.post(f"{url(devhost)}/api/secure?code=wrong", content=b"x")
    check(wrong, 401, "unauthorized_key")
    check(httpx.get(f"{url(devhost)}/admin/host/status"), 401, "unauthorized_key")


def test_devhost_with_unknown_route_answers_404_route_not_found(
    devhost: ReadyLineProcess,
) -> None:
    check(httpx.get(f"{url(devhost)}/api/nowhere"), 404, "route_not_found")
    check(httpx.get(f"{url(devhost)}/api/items/seven"), 404, "route_not_found")


def test_devhost_with_wrong_method_answers_405_method_not_allowed(
    devhost: ReadyLineProcess,
) -> None:
    response = httpx.get(f"{url(devhost)}/api/secure?code={FUNCTION_KEY}")
    check(response, 405, "method_not_allowed")
    assert response.headers["Allow"] == "POST"


def test_devhost_with_body_over_limit_answers_413_payload_too_large(
    devhost: ReadyLineProcess,
) -> None:
    body = b"x" * (4 * 1024 * 1024 + 1)
    response = httpx.post(f"{url(devhost)}/api/secure?code={FUNCTION_KEY}", content=body)
    check(response, 413, "payload_too_large")


def test_devhost_with_malformed_http_answers_400_malformed_request(
    devhost: ReadyLineProcess,
) -> None:
    bad_length = b"POST /api/secure HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"
    assert_error(*raw_exchange(devhost, bad_length), 400, "malformed_request")
    assert_error(*raw_exchange(devhost, b"NOT HTTP AT ALL\r\n\r\n"), 400, "malformed_request")


def test_devhost_with_request_line_over_limit_answers_414_and_logs_no_function_key(
    devhost: ReadyLineProcess,
) -> None:
    line = f"GET /api/secure?code={FUNCTION_KEY}&pad={'a' * 9000} HTTP/1.1\r\n"
    status, headers, body = raw_exchange(devhost, line.encode() + b"Host: x\r\n\r\n")
    assert_error(status, headers, body, 414, "request_line_too_long")
    assert FUNCTION_KEY.encode() not in body  # the answer never echoes the request line
    log = devhost.log_text
    assert "Error handling request" in log  # aiohttp did log the refused line…
    assert "code=***" in log  # …with the key masked
    assert FUNCTION_KEY not in log
    assert MASTER_KEY not in log


def test_devhost_with_header_over_limit_answers_431_request_header_too_large(
    devhost: ReadyLineProcess,
) -> None:
    request = f"GET /api/items/1 HTTP/1.1\r\nHost: x\r\nX-Big: {'b' * 9000}\r\n\r\n".encode()
    assert_error(*raw_exchange(devhost, request), 431, "request_header_too_large")


def test_devhost_with_function_raising_answers_500_function_failed(
    devhost: ReadyLineProcess,
) -> None:
    check(httpx.get(f"{url(devhost)}/api/boom"), 500, "function_failed")


def test_devhost_admin_with_unknown_function_answers_404_function_not_found(
    devhost: ReadyLineProcess,
) -> None:
    headers = {"x-functions-key": MASTER_KEY}
    response = httpx.post(f"{url(devhost)}/admin/functions/missing", headers=headers)
    check(response, 404, "function_not_found")
    response = httpx.post(f"{url(devhost)}/admin/functions/echo", headers=headers)
    check(response, 400, "http_function_not_runnable")


def test_devhost_with_function_answers_keeps_the_function_s_own_body(
    devhost: ReadyLineProcess,
) -> None:
    response = httpx.post(f"{url(devhost)}/api/secure?code={FUNCTION_KEY}", content=b"payload")
    assert (response.status_code, response.content) == (201, b"payload")
    assert FUNCTION_KEY not in devhost.log_text


def test_log_masking_with_function_key_in_query_or_header_masks_every_form() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("tests.devhost.masking")
    logger.propagate = False
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    library = logging.getLogger("tests.devhost.masking.library")
    pinned = mask_process_logs(["plain-key-value"], [library.name], logger=logger)
    try:
        logger.warning("GET /api/x?code=%s&a=1", "k-query-1")
        logger.warning("headers %s", {"x-functions-key": "k-header-2"})
        logger.warning("X-Functions-Key: k-header-3")
        logger.warning("value %s", "plain-key-value")
        library.error("line", exc_info=ValueError("bytearray(b'/api?code=k-exc-4')"))
    finally:
        unmask_process_logs(pinned, [library.name], logger=logger)
        logger.removeHandler(handler)
    text = stream.getvalue()
    for key in ("k-query-1", "k-header-2", "k-header-3", "plain-key-value", "k-exc-4"):
        assert key not in text, text
    assert text.count("***") >= 5
