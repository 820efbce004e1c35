"""How the door answers a browser: a whole HTTP response in two ASGI messages, the login page's
path, and where a redirect after signing in may go (this server only)."""

from __future__ import annotations

LOGIN_PATH = "/login"


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
