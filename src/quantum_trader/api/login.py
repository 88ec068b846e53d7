"""The dashboard's login: a token typed once into a form becomes an HttpOnly session cookie.

Why a form and not `/?token=...`: a token in a URL stays in the browser's history, in proxy logs and
in the Referer of anything the page loads. The form posts it in the body; the answer is a redirect to
the dashboard with the cookie set (auth.py says what the cookie is and why it is safe).
"""

from __future__ import annotations

import html
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from .auth import SESSION_COOKIE, ApiAccess

#: A token is short; anything longer than this is not a login form.
MAX_BODY_BYTES = 4096

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Quantum Trader: sign in</title>
<style>body {{ font: 14px/1.4 system-ui, sans-serif; margin: 2rem; background: #0f1419; color: #d8dee9; }}
input, button {{ font: inherit; padding: .3rem .5rem; }} .bad {{ color: #bf616a; }}</style></head>
<body><h1>Quantum Trader</h1>
<p>This bot's API needs its token (<code>QT_API_TOKEN</code>).</p>
<p class="bad">{message}</p>
<form method="post" action="/login">
<label>Token <input type="password" name="token" autocomplete="current-password" autofocus required></label>
<button type="submit">Open the dashboard</button></form></body></html>
"""


def login_page(message: str = "", status_code: int = 401) -> HTMLResponse:
    """The sign-in form; 401 because the page that was asked for needs the token."""
    return HTMLResponse(_PAGE.format(message=html.escape(message)), status_code=status_code,
                        headers={"Cache-Control": "no-store"})


def add_login(app: FastAPI, access: ApiAccess) -> None:
    """`GET /login`: the form; `POST /login` (field `token`): a session cookie and a redirect to `/`."""

    @app.get("/login", include_in_schema=False)
    async def form() -> Response:
        if not access.has_token:  # nothing to sign in for (with public reads: the mutations still need it)
            return RedirectResponse("/", status_code=303)
        return login_page(status_code=200)

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        if not access.has_token:  # nothing to sign in for (with public reads: the mutations still need it)
            return RedirectResponse("/", status_code=303)
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return login_page("That is not a token.", status_code=413)
        token = (parse_qs(body.decode("utf-8", "replace")).get("token") or [""])[0]
        if not access.token_matches(token):
            return login_page("Wrong token.")
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(SESSION_COOKIE, access.session_value(), httponly=True, samesite="strict",
                            secure=request.url.scheme == "https", path="/")
        return response
