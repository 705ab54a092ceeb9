"""The collector's one bearer-token rule, shared by the OTLP/HTTP and OTLP/gRPC receivers and the `/api` routes."""

from __future__ import annotations

import hmac

UNAUTHORIZED_MESSAGE = "missing or wrong bearer token"
"""What every front end answers (401 / UNAUTHENTICATED) when the token is missing or wrong."""


def bearer_matches(authorization: str, token: str) -> bool:
    """Whether an `Authorization` header value is `Bearer <token>` (scheme case-insensitive, constant-time compare)."""
    scheme, _, value = authorization.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())


def authorised(authorization: str | None, token: str | None) -> bool:
    """True when no token is configured, else whether the header carries it."""
    return token is None or (authorization is not None and bearer_matches(authorization, token))
