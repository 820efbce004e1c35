"""What the door knows: the class's secrets, who a request's pass says it is, and how many
password guesses it checks (token buckets for the whole server and for each client address)."""

from __future__ import annotations

import hmac
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable

from .. import classroom

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
