"""The login page: the sign-in form, and a password in for a pass cookie out. A guess is checked
only while the guard's limiter allows it; wrong ones are logged, never their text."""

from __future__ import annotations

import html
from urllib.parse import parse_qs

from .. import classroom
from .guard import Guard, client_address, log
from .responses import LOGIN_PATH, respond, safe_next

MAX_FORM_BYTES = 4096


class Login:
    """GET: the sign-in form. POST: a password in, a pass cookie out (or the form again)."""

    def __init__(self, guard: Guard):
        self.guard = guard

    async def __call__(self, scope, receive, send) -> None:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        target = safe_next((query.get("next") or [None])[0])
        if scope.get("method") == "POST":
            return await self._post(scope, receive, send, target)
        if self.guard.pass_of(scope) is not None:
            return await respond(send, 303, headers=[(b"location", target.encode())])
        await self._page(send, 200, target, "")

    async def _post(self, scope, receive, send, target: str) -> None:
        if not _same_origin(scope):
            return await respond(send, 403, b"Sign in from this class's own page.\n")
        body = await _read_form(receive)
        if body is None:
            return await respond(send, 413, b"That form is too large.\n")
        form = parse_qs(body.decode("utf-8", "replace"))
        target = safe_next((form.get("next") or [target])[0])
        address = client_address(scope)
        wait = self.guard.limiter.take(address)
        if wait > 0:  # not checked: a limited guess learns nothing, right or wrong
            self.guard.note_unchecked(address)
            seconds = max(1, int(wait + 0.999))
            return await self._page(send, 429, target, f"Too many wrong passwords were tried here. Wait {seconds} s "
                                    "and try again.", [(b"retry-after", str(seconds).encode())])
        role = self.guard.role_for((form.get("password") or [""])[0])
        if role is None:
            log.warning("wrong class password from %s", address)
            return await self._page(send, 401, target, "That is not the class password.")
        self.guard.limiter.give_back(address)
        token = classroom.issue_pass(self.guard.secret, role)
        cookie_header = (f"{classroom.PASS_COOKIE}={token}; Path=/; Max-Age={classroom.PASS_SECONDS[role]}; "
                         "HttpOnly; Secure; SameSite=Strict")
        await respond(send, 303, headers=[(b"location", target.encode()), (b"set-cookie", cookie_header.encode())])

    async def _page(self, send, status: int, target: str, message: str, headers=None) -> None:
        await respond(send, status, login_page(target, message).encode("utf-8"), "text/html; charset=utf-8",
                      [(b"content-security-policy",
                        b"default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"),
                       (b"x-frame-options", b"DENY"), *(headers or [])])


def _same_origin(scope) -> bool:
    """A POST whose Origin header (browsers send one) names this very host: no sign-in from elsewhere."""
    headers = dict(scope.get("headers", ()))
    origin, host = headers.get(b"origin"), headers.get(b"host")
    if origin is None:
        return True  # not a browser's cross-site form (those carry an Origin)
    return host is not None and origin.split(b"://", 1)[-1] == host


async def _read_form(receive) -> bytes | None:
    """The request body, or None past MAX_FORM_BYTES (read no further) or when the client left."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def login_page(target: str, message: str) -> str:
    """The sign-in form: one field, in the app's colours, with no script and nothing fetched."""
    note = f'<p class="note" role="alert">{html.escape(message)}</p>' if message else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>catdog · sign in</title>
<style>
body {{font-family: sans-serif; background: #FBFAF7; color: #2B2D33; margin: 0; padding: 3rem 1.2rem;}}
main {{max-width: 26rem; margin: auto;}} h1 {{font-size: 1.8rem;}}
label {{display: block; margin: 1.2rem 0 .4rem;}}
input[type=password] {{width: 100%; box-sizing: border-box; font-size: 1.2rem; padding: .6rem;
  border: 1px solid #bbb; border-radius: .4rem;}}
button {{margin-top: 1rem; font-size: 1.1rem; padding: .6rem 1.4rem; border: 0; border-radius: .4rem;
  background: #4C78A8; color: white;}}
.note {{background: #fde8e8; color: #7d1a1a; padding: .7rem; border-radius: .4rem;}}
</style></head>
<body><main>
<h1>catdog · cats vs dogs</h1>
<p>This class's dashboard asks for the password your teacher gave you.</p>
{note}
<form method="post" action="{LOGIN_PATH}">
<input type="hidden" name="next" value="{html.escape(target)}">
<label for="password">Class password</label>
<input id="password" name="password" type="password" autocomplete="current-password" autofocus required>
<button type="submit">Enter</button>
</form>
</main></body></html>
"""
