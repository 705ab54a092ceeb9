"""Secrets kept out of logs and answers (pure functions and a logging filter)."""

from __future__ import annotations

import logging

from eventlens.collector.redact import RedactingFilter, public_error, redact_text, redact_url


def test_redact_url_masks_the_password_and_keeps_everything_else() -> None:
    """user:password@ and password= parameters are masked; a URL without secrets is returned unchanged."""
    assert redact_url("postgresql://bob:s3cret@db:5432/ev?sslmode=require") == \
        "postgresql://bob:***@db:5432/ev?sslmode=require"
    assert redact_url("postgresql://db/ev?password=s3cret&x=1") == "postgresql://db/ev?password=***&x=1"
    assert redact_url("sqlite:////var/lib/eventlens.db") == "sqlite:////var/lib/eventlens.db"


def test_redact_text_masks_urls_and_keyword_passwords_inside_prose() -> None:
    """A password inside a message, as a URL or a libpq keyword, is masked."""
    text = redact_text("cannot open postgresql://bob:s3cret@db/ev (host=db password=zz)")
    assert "s3cret" not in text and "zz)" not in text
    assert "postgresql://bob:***@db/ev" in text


def test_the_log_filter_rewrites_the_message_and_the_traceback(caplog) -> None:
    """A record carrying a secret in its arguments or its exception is masked before any handler formats it."""
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "store=%s", ("postgresql://u:pw1@h/d",), None)
    try:
        raise RuntimeError("failed for postgresql://u:pw2@h/d")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    assert RedactingFilter().filter(record)
    formatted = logging.Formatter().format(record)
    assert "pw1" not in formatted and "pw2" not in formatted and "u:***@h" in formatted


def test_public_error_logs_the_detail_under_an_id_and_answers_only_the_id(caplog) -> None:
    """The client's message names the id; the log line has the id and the real error."""
    with caplog.at_level(logging.ERROR):
        error_id, message = public_error(logging.getLogger("t"), "reading", RuntimeError("host 10.0.0.7 down"))
    assert error_id in message and "10.0.0.7" not in message
    assert f"error id {error_id}" in caplog.text and "10.0.0.7" in caplog.text
