"""The redacting log filter (defence in depth; the primary check is test_security_logs.py)."""

from __future__ import annotations

import io
import logging

import pytest

from privproxy.ops.log_hygiene import REDACTED, RedactingFilter, install

KEY = "sk-AbCdEfGhIjKlMnOpQrStUv"
TOKEN = "local-token-Zz9Yy8Xx7Ww6"


@pytest.fixture
def stream_logger() -> tuple[logging.Logger, io.StringIO]:
    logger = logging.getLogger("privproxy.test_log_filter")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger.handlers = [handler]
    return logger, buffer


@pytest.mark.parametrize(
    "message",
    [
        f"key is {KEY}",
        "Authorization: Bearer sk-anyotherkey123456",
        f"header Bearer {TOKEN}",
        "authorization=bearer opaque-value-without-shape",
        f"configured token {TOKEN} leaked",
    ],
)
def test_secrets_and_credential_shapes_redacted(message: str) -> None:
    redactor = RedactingFilter([KEY, TOKEN])
    clean = redactor.redact(message)
    assert REDACTED in clean
    for secret in (KEY, TOKEN, "sk-anyotherkey123456", "opaque-value-without-shape"):
        assert secret not in clean


def test_metadata_left_alone() -> None:
    redactor = RedactingFilter([KEY])
    text = "POST /v1/chat/completions 200 model=private/llama3-3-70b bytes=1234 task-id=abc"
    assert redactor.redact(text) == text


def test_short_secrets_not_substituted() -> None:
    # A 3-character "secret" would shred ordinary text; such values are refused elsewhere.
    assert RedactingFilter(["abc"]).redact("abcdef") == "abcdef"


def test_filter_covers_args_and_tracebacks(
    stream_logger: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, buffer = stream_logger
    install([KEY, TOKEN], logger)
    logger.debug("calling with %s and %r", KEY, {"auth": f"Bearer {TOKEN}"})
    try:
        raise RuntimeError(f"upstream said {KEY}")
    except RuntimeError:
        logger.exception("failed for token %s", TOKEN)
    output = buffer.getvalue()
    assert KEY not in output
    assert TOKEN not in output
    assert output.count(REDACTED) >= 4
    assert "RuntimeError" in output  # the traceback survives, minus the secret


def test_repr_hides_secrets() -> None:
    assert KEY not in repr(RedactingFilter([KEY]))


def test_configure_logging_redacts_aiohttp_records(capsys: pytest.CaptureFixture[str]) -> None:
    from privproxy.ops.log_setup import configure_logging

    names = ("privproxy", "attestation", "aiohttp")
    saved = {
        name: (logger.handlers[:], logger.level, logger.propagate)
        for name in names
        for logger in [logging.getLogger(name)]
    }
    try:
        configure_logging(debug=False, secrets=[KEY, TOKEN])
        server = logging.getLogger("aiohttp.server")
        try:
            raise RuntimeError(f"bad header Authorization: Bearer {TOKEN}")
        except RuntimeError:
            server.exception("Error handling request from %s", KEY)
        logging.getLogger("aiohttp.client").debug("below WARNING: not shown %s", KEY)
        err = capsys.readouterr().err
    finally:
        for name, (handlers, level, propagate) in saved.items():
            logger = logging.getLogger(name)
            logger.handlers[:] = handlers
            logger.setLevel(level)
            logger.propagate = propagate
    assert "Error handling request from" in err and "RuntimeError" in err
    assert KEY not in err and TOKEN not in err
    assert err.count(REDACTED) >= 2
    assert "not shown" not in err


@pytest.mark.parametrize(
    "hint",
    [
        "each request must carry 'Authorization: Bearer sk-...'. Get a key",
        "send 'Authorization: Bearer <token>' (the token is in PRIVPROXY_TOKEN)",
        'curl -H "Authorization: Bearer $PRIVPROXY_TOKEN" http://127.0.0.1:8787/',
        "Authorization: Bearer ${PRIVPROXY_TOKEN}",
        "Authorization: Bearer sk-…",
    ],
)
def test_our_own_placeholders_stay_readable(hint: str) -> None:
    assert RedactingFilter([KEY, TOKEN]).redact(hint) == hint


@pytest.mark.parametrize(
    ("message", "hidden"),
    [
        ("Bearer sk-...realkeytail", "realkeytail"),  # a placeholder prefix is no free pass
        ("Bearer <token>tail", "tail"),
        ("Bearer abc...", "abc..."),
        ("Bearer $lowercase-secret", "$lowercase-secret"),  # only $UPPER_CASE names are hints
        (f"Bearer {TOKEN}...", TOKEN),
    ],
)
def test_placeholder_lookalikes_are_still_redacted(message: str, hidden: str) -> None:
    clean = RedactingFilter([KEY, TOKEN]).redact(message)
    assert hidden not in clean
    assert REDACTED in clean


def test_the_missing_key_warning_reads_as_written() -> None:
    from privproxy.server.api_key_store import key_setup_hint

    for token_required in (False, True):
        hint = key_setup_hint(token_required)
        assert RedactingFilter([KEY, TOKEN]).redact(hint) == hint
