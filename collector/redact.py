"""Keep secrets and internals out of logs and answers: redacted URLs, and error ids instead of raw errors.

A store URL's password never reaches a log line (`RedactingFilter` on the log handlers, `redact_url` where a
URL is printed), and a store error never reaches a client: it is logged here with an id, and the client gets
a generic message carrying that id (`public_error`).
"""

from __future__ import annotations

import logging
import re
import uuid
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit

MASK = "***"
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s'\"]*:)(?P<secret>[^@\s'\"]+)(?P<at>@)")
_KEYWORD_PASSWORD = re.compile(r"(?P<head>\b(?:password|passwd|pwd|sslpassword)\s*=\s*)(?P<secret>'[^']*'|[^\s&'\"]+)",
                               re.IGNORECASE)


def redact_url(url: str) -> str:
    """The URL with its password (userinfo or a `password=` query parameter) replaced by `***`."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    netloc, query = parts.netloc, parts.query
    if parts.password is not None:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}:{MASK}@{host}"
    pairs = parse_qsl(query, keep_blank_values=True) if query else []
    if any(_is_secret(k) for k, _ in pairs):
        query = urlencode([(k, MASK if _is_secret(k) else v) for k, v in pairs], safe="*")
    if (netloc, query) == (parts.netloc, parts.query):
        return url  # nothing secret: unchanged (also keeps sqlite:////abs/path intact)
    return SplitResult(parts.scheme, netloc, parts.path, query, parts.fragment).geturl()


def redact_text(text: str, *urls: str) -> str:
    """Text with every URL password, `password=` keyword and the given URLs' secrets masked."""
    for url in urls:
        if url and url in text:
            text = text.replace(url, redact_url(url))
    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}{MASK}{m['at']}", text)
    return _KEYWORD_PASSWORD.sub(lambda m: f"{m['head']}{MASK}", text)


def _is_secret(key: str) -> bool:
    return key.lower() in ("password", "passwd", "pwd", "sslpassword")


class RedactingFilter(logging.Filter):
    """A handler filter that masks passwords in the formatted message and the exception text of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message (never drops it)."""
        message = record.getMessage()
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and record.exc_info[1] is not None:
            formatted = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact_text(formatted)
        return True


def install_redaction(logger: logging.Logger | None = None) -> None:
    """Put a `RedactingFilter` on every handler of `logger` (the root logger by default)."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


def new_error_id() -> str:
    """A short random id that ties a client's error answer to the server-side log line."""
    return uuid.uuid4().hex[:12]


def public_error(log: logging.Logger, what: str, exc: BaseException) -> tuple[str, str]:
    """Log `exc` with a fresh error id and return (error id, a message safe to send to any client)."""
    error_id = new_error_id()
    log.error("%s failed [error id %s]: %s", what, error_id, redact_text(str(exc)), exc_info=exc)
    return error_id, f"{what} failed; the collector's log has the details under error id {error_id}"
