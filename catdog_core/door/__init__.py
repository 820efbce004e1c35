"""The class server's door: nothing but the login page answers a browser without a valid pass.

Pure ASGI, so it wraps Streamlit's own app (st.App's `middleware=`) without knowing its insides:

    guard = door.Guard(secret, class_password, teacher_password)
    middleware=[Middleware(door.Door, guard=guard)], routes=[Route("/login", door.Login(guard))]

- `Door` looks at every request before Streamlit does. Without a pass cookie that
  classroom.read_pass accepts, a page is redirected to /login, a websocket is closed before it
  opens, and anything else (uploads, media, metrics, static files) gets 403 before a byte of its
  body is read. /_stcore/metrics is refused to everyone.
- `Login` takes the class or teacher password and hands out a pass (an HttpOnly, Secure,
  SameSite=Strict cookie). Guesses are checked only while `Limiter` has a token for both the
  whole server and the client's address; a limited request is answered without being checked,
  so the right password is no oracle. Wrong guesses are logged, never their text.

Laid out by job: guard (secrets, passes, the guess limiter), login (the sign-in page),
responses (answering, safe redirects); the middleware, `Door`, is here.
"""

from __future__ import annotations

from urllib.parse import quote

from .guard import (ADDRESS_BURST, ADDRESS_RATE, LOG_EVERY, MAX_ADDRESSES, SERVER_BURST, SERVER_RATE,
                    Guard, Limiter, client_address, cookie, log)
from .login import MAX_FORM_BYTES, Login, login_page
from .responses import LOGIN_PATH, respond, safe_next

__all__ = [
    "Door", "REFUSED_PATHS", "Guard", "Limiter", "client_address", "cookie", "log", "Login", "login_page",
    "LOGIN_PATH", "respond", "safe_next", "MAX_FORM_BYTES", "SERVER_RATE", "SERVER_BURST", "ADDRESS_RATE",
    "ADDRESS_BURST", "MAX_ADDRESSES", "LOG_EVERY",
]

REFUSED_PATHS = ("/_stcore/metrics",)  # session counts and cache names: for nobody


class Door:
    """ASGI middleware: requests without a valid pass reach only the login page."""

    def __init__(self, app, guard: Guard):
        self.app, self.guard = app, guard

    async def __call__(self, scope, receive, send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        if kind == "http" and path == LOGIN_PATH:
            return await self.app(scope, receive, send)
        if path in REFUSED_PATHS:
            return await self._refuse(kind, send, b"Not served to anyone here.\n")
        if self.guard.pass_of(scope) is not None:
            return await self.app(scope, receive, send)
        if kind == "http" and scope.get("method") in ("GET", "HEAD") and not _is_machinery(path):
            query = scope.get("query_string", b"").decode("latin-1")
            target = quote(path + (f"?{query}" if query else ""), safe="")
            return await respond(send, 303, headers=[(b"location", f"{LOGIN_PATH}?next={target}".encode())])
        await self._refuse(kind, send, b"Sign in to this class first (/login).\n")

    @staticmethod
    async def _refuse(kind: str, send, text: bytes) -> None:
        if kind == "websocket":  # closed before it is accepted: the server answers 403, no session starts
            await send({"type": "websocket.close", "code": 1008})
        else:
            await respond(send, 403, text)


def _is_machinery(path: str) -> bool:
    """Streamlit's own endpoints and files, which a sign-in redirect would only confuse."""
    return path.startswith(("/_stcore/", "/media/", "/component/", "/static/", "/app/static/"))
