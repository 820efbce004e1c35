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
"""

from __future__ import annotations

import hmac
import html
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import parse_qs, quote

from . import classroom

LOGIN_PATH = "/login"
REFUSED_PATHS = ("/_stcore/metrics",)  # session counts and cache names: for nobody
MAX_FORM_BYTES = 4096
SERVER_RATE, SERVER_BURST = 1.0, 10  # checked guesses per second, server-wide, and the burst allowed
# One address alone can never empty the server's bucket: a student guessing locks nobody else out.
ADDRESS_RATE, ADDRESS_BURST = 0.2, 5  # the same per client address (one every 5 s)
MAX_ADDRESSES = 4096  # addresses remembered; the oldest is forgotten first
LOG_EVERY = 10.0  # seconds between log lines about unchecked (limited) guesses from one address

log = logging.getLogger("catdog.door")


# ---------------------------------------------------------------- how many guesses are checked


@dataclass
class _Bucket:
    tokens: float
    updated: float

    def refill(self, now: float, rate: float, burst: float) -> None:
        self.tokens = min(burst, self.tokens + (now - self.updated) * rate)
        self.updated = now

    def wait(self, rate: float) -> float:
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / rate


class Limiter:
    """Token buckets: one for the whole server, one per client address. A password is checked only
    when both have a token; a right one gives it back. Nothing grows without bound, and nothing
    locks anyone out for long: a bucket refills at its rate whatever was tried before."""

    def __init__(self, rate: float = SERVER_RATE, burst: int = SERVER_BURST, address_rate: float = ADDRESS_RATE,
                 address_burst: int = ADDRESS_BURST, clock: Callable[[], float] = time.monotonic,
                 max_addresses: int = MAX_ADDRESSES):
        self.rate, self.burst, self.address_rate, self.address_burst = rate, burst, address_rate, address_burst
        self.clock, self.max_addresses = clock, max_addresses
        self.server = _Bucket(float(burst), clock())
        self.addresses: OrderedDict[str, _Bucket] = OrderedDict()

    def _address(self, address: str, now: float) -> _Bucket:
        bucket = self.addresses.pop(address, None) or _Bucket(float(self.address_burst), now)
        self.addresses[address] = bucket  # the most recent last
        while len(self.addresses) > self.max_addresses:
            self.addresses.popitem(last=False)
        return bucket

    def take(self, address: str) -> float:
        """0.0 when a guess from `address` may be checked now (its tokens are taken), else the
        seconds until one may."""
        now = self.clock()
        own = self._address(address, now)
        self.server.refill(now, self.rate, self.burst)
        own.refill(now, self.address_rate, self.address_burst)
        wait = max(self.server.wait(self.rate), own.wait(self.address_rate))
        if wait == 0.0:
            self.server.tokens -= 1
            own.tokens -= 1
        return wait

    def give_back(self, address: str) -> None:
        """A right password costs nothing: a class arriving at once is never limited by itself."""
        self.server.tokens = min(self.burst, self.server.tokens + 1)
        own = self.addresses.get(address)
        if own is not None:
            own.tokens = min(self.address_burst, own.tokens + 1)


# ---------------------------------------------------------------- what the door knows


@dataclass
class Guard:
    """The class's secrets and the guess limiter, shared by the door and the login page."""

    secret: bytes = field(repr=False)
    class_password: str = field(repr=False)
    teacher_password: str = field(repr=False)
    limiter: Limiter = field(default_factory=Limiter)
    unchecked: dict[str, tuple[int, float]] = field(default_factory=dict, init=False, repr=False)  # (count, logged)

    def pass_of(self, scope) -> classroom.Pass | None:
        return classroom.read_pass(self.secret, cookie(scope, classroom.PASS_COOKIE))

    def role_for(self, given: str) -> str | None:
        """The role a password opens, compared in constant time against both (no early answer)."""
        data = given.encode("utf-8")
        teacher = hmac.compare_digest(data, self.teacher_password.encode("utf-8"))
        student = hmac.compare_digest(data, self.class_password.encode("utf-8"))
        return classroom.TEACHER if teacher else classroom.STUDENT if student else None

    def note_unchecked(self, address: str) -> None:
        """Count guesses refused unchecked; one log line per address every LOG_EVERY seconds."""
        count, last = self.unchecked.get(address, (0, 0.0))
        now = time.monotonic()
        if now - last >= LOG_EVERY:
            log.warning("refused %d password attempts from %s unchecked (too many wrong ones)", count + 1, address)
            count, last = -1, now
        self.unchecked[address] = (count + 1, last)
        if len(self.unchecked) > MAX_ADDRESSES:
            self.unchecked.pop(next(iter(self.unchecked)))


def cookie(scope, name: str) -> str | None:
    """One cookie's value from a request's headers (the last one of that name), or None."""
    found = None
    for key, value in scope.get("headers", ()):
        if key != b"cookie":
            continue
        for part in value.decode("latin-1").split(";"):
            k, sep, v = part.strip().partition("=")
            if sep and k == name:
                found = v.strip()
    return found


def client_address(scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


# ---------------------------------------------------------------- answers


async def respond(send, status: int, body: bytes = b"", content_type: str = "text/plain; charset=utf-8",
                  headers: list[tuple[bytes, bytes]] | None = None) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode()),
                            (b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff"),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this server only (never //elsewhere or a scheme)."""
    if (not target or not target.startswith("/") or target.startswith("//") or "\\" in target or len(target) > 200
            or not target.isprintable() or target.split("?")[0] == LOGIN_PATH):
        return "/"
    return target


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


# ---------------------------------------------------------------- the login page


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
