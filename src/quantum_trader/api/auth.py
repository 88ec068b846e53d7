"""Who may call the mutating endpoints (force-entry, kill-switch).

With `QT_API_TOKEN` set, a caller must send `Authorization: Bearer <token>`; the comparison is
constant-time so the token cannot be guessed byte by byte from response times. Without a token, only
loopback callers are accepted: a bot bound to 0.0.0.0 by mistake must not let the network open or
flatten positions. The refusal never echoes what was sent.
"""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request, status

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1"})


class MutationGuard:
    """A FastAPI dependency; one instance per app, holding the token it was created with."""

    def __init__(self, api_token: str | None) -> None:
        self._token = api_token.encode() if api_token else None

    def __call__(self, request: Request) -> None:
        if self._token is None:
            host = request.client.host if request.client else ""
            if host not in LOOPBACK_HOSTS:
                raise HTTPException(status.HTTP_403_FORBIDDEN,
                                    "mutating endpoints accept only loopback callers unless QT_API_TOKEN is set")
            return
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(credentials.strip().encode(), self._token):
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or wrong bearer token",
                                headers={"WWW-Authenticate": "Bearer"})
