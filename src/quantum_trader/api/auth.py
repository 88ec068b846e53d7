"""Who may call the bot's API: the token, the dashboard's session cookie, and loopback without a token.

With `QT_API_TOKEN` set, every endpoint but `/health` (and the dashboard's `/login`) needs it, unless
`QT_API_PUBLIC_READS=true` opens the reads on purpose. A script sends `Authorization: Bearer <token>`.
A browser cannot add that header to the page it opens, so the dashboard asks for the token once
(`POST /login`) and gets an HttpOnly, SameSite=Strict session cookie: page scripts cannot read it and
other sites cannot make the browser send it. The cookie holds an HMAC of the token, not the token.

Mutations (force-entry, resume, kill-switch) accept the bearer token, or the session cookie together
with the `X-QT-Dashboard` header: a cross-site form cannot set a custom header, so a page elsewhere
cannot flatten positions through a logged-in browser. Without a token, mutations accept only
loopback callers, so a bot bound to 0.0.0.0 by mistake cannot be traded by the network. Comparisons
are constant-time, and no refusal echoes what was sent.
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import HTTPException, Request, status

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1"})
SESSION_COOKIE = "qt_session"
DASHBOARD_HEADER = "x-qt-dashboard"
#: Always open: liveness for orchestrators, and the form that turns the token into a session cookie.
OPEN_PATHS = frozenset({"/health", "/login"})
_SESSION_CONTEXT = b"quantum-trader dashboard session v1"


class ApiAccess:
    """The access rules of one app, holding the token it was created with (never shown anywhere)."""

    def __init__(self, api_token: str | None, *, public_reads: bool = False) -> None:
        self._token = api_token.encode() if api_token else None
        self.public_reads = public_reads

    @property
    def has_token(self) -> bool:
        return self._token is not None

    @property
    def reads_need_token(self) -> bool:
        return self._token is not None and not self.public_reads

    def session_value(self) -> str:
        """The cookie value: derived from the token, so a leaked cookie does not reveal it."""
        assert self._token is not None
        return hmac.new(self._token, _SESSION_CONTEXT, hashlib.sha256).hexdigest()

    def token_matches(self, candidate: str) -> bool:
        return self._token is not None and hmac.compare_digest(candidate.strip().encode(), self._token)

    def has_bearer(self, request: Request) -> bool:
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and self.token_matches(credentials)

    def has_session(self, request: Request) -> bool:
        cookie = request.cookies.get(SESSION_COOKIE)
        return self._token is not None and cookie is not None and hmac.compare_digest(
            cookie.encode(), self.session_value().encode())

    def may_read(self, request: Request) -> bool:
        """Any request but a mutation: the middleware asks this before routing."""
        if not self.reads_need_token or request.url.path in OPEN_PATHS:
            return True
        return self.has_bearer(request) or self.has_session(request)


class MutationGuard:
    """A FastAPI dependency on the mutating endpoints."""

    def __init__(self, access: ApiAccess) -> None:
        self._access = access

    def __call__(self, request: Request) -> None:
        access = self._access
        if not access.has_token:
            host = request.client.host if request.client else ""
            if host not in LOOPBACK_HOSTS:
                raise HTTPException(status.HTTP_403_FORBIDDEN,
                                    "mutating endpoints accept only loopback callers unless QT_API_TOKEN is set")
            return
        if access.has_bearer(request):
            return
        if access.has_session(request) and request.headers.get(DASHBOARD_HEADER):
            return
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or wrong bearer token",
                            headers={"WWW-Authenticate": "Bearer"})
