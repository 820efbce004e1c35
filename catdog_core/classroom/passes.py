"""Who may come in, and who a browser is: the two passwords (readable words and digits), the
server's secret, and the signed passes (a random id and a role) it hands to browsers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import struct
import time
from dataclasses import dataclass
from pathlib import Path

from .files import ClassroomError

TEACHER, STUDENT = "teacher", "student"
ROLES = (TEACHER, STUDENT)
PASS_SECONDS = {TEACHER: 12 * 3600, STUDENT: 30 * 24 * 3600}  # a school day; a month of lessons
PASS_COOKIE = "catdog_pass"

# Short, common words that are hard to mishear or mistype on a phone: 128 of them, 7 bits each.
WORDS = (
    "acorn amber apple aspen badge bagel basil beach berry birch blaze bloom brave brick brook "
    "cabin cactus camel candy canoe cedar chalk cherry cider cliff clover cobra comet coral cotton "
    "crane creek daisy delta denim dingo dolphin dune eagle ember falcon fern fjord flint forest fox "
    "frost gecko ginger glade globe grape gravel harbor hazel heron honey igloo indigo iris island "
    "ivory jade jasmine jelly kayak kettle kiwi koala lagoon lemon lilac lily lotus lynx mango maple "
    "marble meadow melon mint moose mossy nectar nutmeg oasis ocean olive orbit otter panda paper "
    "peach pebble pepper piano pilot pine planet plum polar prism puffin quartz quail radish raven "
    "reef river robin rocket saffron salmon sandy sierra sparrow spruce tango tiger tulip tundra "
    "velvet violet walnut willow yak zebra zinnia").split()


# ---------------------------------------------------------------- passwords


def make_password(words: int = 2, digits: int = 2) -> str:
    """Readable words and a number, e.g. "otter-maple-42": said aloud once, typed on a phone."""
    chosen = [secrets.choice(WORDS) for _ in range(words)]
    return "-".join(chosen + [f"{secrets.randbelow(10 ** digits):0{digits}d}"])


def class_password() -> str:
    """2 words and 2 digits: about 20 bits, a week of guessing at the door's one guess a second."""
    return make_password(2, 2)


def teacher_password() -> str:
    """3 words and 3 digits: about 31 bits, decades at one guess a second."""
    return make_password(3, 3)


# ---------------------------------------------------------------- the server's secret and passes


@dataclass(frozen=True)
class Pass:
    """Who a browser is: a random id (its owner name in the queue), its role, when it was issued."""

    id: str  # 32 hex digits (128 random bits)
    role: str
    issued: float

    @property
    def owner(self) -> str:
        return f"session {self.id}"


def server_secret(where: Path) -> bytes:
    """The key passes are signed with: 32 random bytes in where/secret (0600), made once, so a
    student's pass (and with it their identity) outlives a restart of the server. Delete the file
    to sign everyone out."""
    path = where / "secret"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        data = path.read_bytes()
        if len(data) != 32:
            raise ClassroomError(f"{path} is not a class secret (32 bytes); delete it and start again.")
        return data
    with os.fdopen(fd, "wb") as out:
        out.write(secrets.token_bytes(32))
        out.flush()
        os.fsync(out.fileno())
    return path.read_bytes()


_PASS_FORMAT = ">BBd16s"  # version, role, issued (seconds since the epoch), id
_PASS_VERSION = 1


def _pass_key(secret: bytes) -> bytes:
    return hmac.new(secret, b"catdog pass v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_pass(secret: bytes, role: str, now: float | None = None) -> str:
    """A new pass for a browser that gave a password: a fresh 128-bit id, signed (HMAC-SHA256)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {role!r}")
    payload = struct.pack(_PASS_FORMAT, _PASS_VERSION, ROLES.index(role), time.time() if now is None else now,
                          secrets.token_bytes(16))
    return f"{_b64(payload)}.{_b64(hmac.new(_pass_key(secret), payload, hashlib.sha256).digest())}"


def read_pass(secret: bytes, token: str | None, now: float | None = None) -> Pass | None:
    """The pass `token` stands for, or None when it is missing, forged, damaged or out of date."""
    if not token or len(token) > 200 or token.count(".") != 1:
        return None
    body, mac = token.split(".")
    try:
        payload, given = _unb64(body), _unb64(mac)
    except ValueError:
        return None
    if not hmac.compare_digest(given, hmac.new(_pass_key(secret), payload, hashlib.sha256).digest()):
        return None
    if len(payload) != struct.calcsize(_PASS_FORMAT):
        return None
    version, role, issued, ident = struct.unpack(_PASS_FORMAT, payload)
    now = time.time() if now is None else now
    if version != _PASS_VERSION or role >= len(ROLES) or not issued - 300 <= now <= issued + PASS_SECONDS[ROLES[role]]:
        return None
    return Pass(ident.hex(), ROLES[role], issued)
