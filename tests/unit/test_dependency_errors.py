"""Which failures a handler waits out (transient) and which it gives up on, with the minio SDK's
own exception objects, and the NIP masking of log lines."""

import io
import json
import logging

import pytest
from minio.error import InvalidResponseError, S3Error, ServerError
from pymongo.errors import AutoReconnect, DuplicateKeyError
from urllib3 import HTTPResponse
from urllib3.exceptions import MaxRetryError, ReadTimeoutError

from services.certificates import storage  # noqa: F401  registers the object store's failure kinds
from shared.contract.nip import mask_nips
from shared.platform import logs
from shared.platform.messaging import dependency_error, is_transient

NIP = "198503122010011004"


def s3_error(status: int, code: str) -> S3Error:
    response = HTTPResponse(body=b"", status=status, headers={"content-type": "application/xml"})
    return S3Error(response, code, "message", "/bucket/key", "request-id", "host-id", "bucket", "key")


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (s3_error(500, "InternalError"), "server"),
        (s3_error(503, "SlowDown"), "server"),
        (s3_error(502, "BadGateway"), "server"),
        (ServerError("server failed with HTTP status code 500", 500), "server"),
        (ServerError("server failed with HTTP status code 429", 429), "server"),
        (InvalidResponseError(502, "text/html", "<html>Bad Gateway</html>"), "server"),
        (s3_error(403, "AccessDenied"), "credentials"),  # a rotated key, or a policy that changed
        (s3_error(403, "InvalidAccessKeyId"), "credentials"),
        (s3_error(403, "SignatureDoesNotMatch"), "credentials"),
        (MaxRetryError(None, "/bucket/key", "connection refused"), "connection"),
        (ReadTimeoutError(None, "/bucket/key", "read timed out"), "connection"),
        (ConnectionRefusedError(), "connection"),
        (TimeoutError(), "connection"),
        (AutoReconnect("primary gone"), "connection"),
    ],
)
def test_dependency_failures_are_transient(exc, kind):
    assert dependency_error(exc) == kind
    assert is_transient(exc)


@pytest.mark.parametrize(
    "exc",
    [
        s3_error(404, "NoSuchKey"),
        s3_error(400, "InvalidArgument"),
        InvalidResponseError(400, "text/html", "bad request"),
        DuplicateKeyError("E11000 duplicate key error", 11000),
        ValueError("bad data"),
    ],
)
def test_other_failures_are_not(exc):
    assert dependency_error(exc) is None and not is_transient(exc)


def test_nips_in_free_text_are_masked_and_other_numbers_are_not():
    text = f'dup key: {{ _id: "humas-level-up-2026:{NIP}" }} at 1759999999999 id 1234567890123456789'
    assert mask_nips(text) == (
        'dup key: { _id: "humas-level-up-2026:19850312******1004" } at 1759999999999 id 1234567890123456789'
    )


def test_log_lines_above_debug_carry_no_nip_but_debug_lines_keep_it():
    logs.configure("test", "debug")
    out = io.StringIO()
    logging.getLogger().handlers[0].setStream(out)
    log = logging.getLogger("somewhere")
    try:
        raise DuplicateKeyError(f'E11000 dup key: {{ holder_key: "p:{NIP}:1" }}', 11000)
    except DuplicateKeyError:
        log.error("handler failed for %s", f"p:{NIP}", exc_info=True)
    log.debug("looked up %s", NIP)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    error, debug = lines
    assert error["level"] == "error" and NIP not in json.dumps(error)
    assert "p:19850312******1004" in error["event"] and "p:19850312******1004:1" in error["exception"]
    assert debug["level"] == "debug" and NIP in debug["event"]


def test_describe_masks_and_shortens():
    described = logs.describe(RuntimeError(f"could not save participant p:{NIP} " + "x" * 1000))
    assert described.startswith("RuntimeError: could not save participant p:19850312******1004")
    assert NIP not in described and len(described) < 350
