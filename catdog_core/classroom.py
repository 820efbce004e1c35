"""What a class served from this machine is made of: its addresses, its certificate, its two
passwords, the passes that say who a browser is, and the QR code that brings phones in.

    addresses = classroom.lan_addresses()              # no network needed: read from the interfaces
    cert = classroom.ensure_certificate(folder, classroom.host_names(), addresses)
    secret = classroom.server_secret(folder)
    token = classroom.issue_pass(secret, classroom.STUDENT)
    classroom.read_pass(secret, token)                  # Pass(id=..., role='student', issued=...)

Everything here is kept in CATDOG_HOME/classroom/ (0700), each file 0600. `catdog classroom`
(catdog_core.cli) uses it to start the server; catdog_core.door and the pages read passes with it.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import io
import ipaddress
import json
import os
import secrets
import socket
import struct
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from . import config
from .fileio import write_atomic

TEACHER, STUDENT = "teacher", "student"
ROLES = (TEACHER, STUDENT)
PASS_SECONDS = {TEACHER: 12 * 3600, STUDENT: 30 * 24 * 3600}  # a school day; a month of lessons
PASS_COOKIE = "catdog_pass"
CERT_DAYS = 365  # Apple's browsers refuse server certificates valid for more than 825 days
RENEW_DAYS = 30  # a certificate this close to its end is made again at the next start
ENV_CLASSROOM = "CATDOG_CLASSROOM"  # set by `catdog classroom` for its server: passes, not the in-app form
ENV_CLASS_PASSWORD = "CATDOG_CLASS_PASSWORD"
ENV_TEACHER_PASSWORD = "CATDOG_TEACHER_PASSWORD"
# What each browser shows the first time, and how to pass it: the certificate is this computer's own.
CERTIFICATE_STEPS = (("Chrome or Edge", "Advanced, then Proceed"),
                     ("Firefox", "Advanced, then Accept the Risk and Continue"),
                     ("Safari (also on iPhone and iPad)", "Show Details, then visit this website"))
CERTIFICATE_WARNING = (
    "The first time, the browser warns that the connection is not private: this class's certificate was "
    "made by this computer, not by a company browsers know. To go on: "
    + "; ".join(f"in {browser}, {steps}" for browser, steps in CERTIFICATE_STEPS) + ".")

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


class ClassroomError(Exception):
    """Something about the class's own files that the teacher must fix (not a student's doing)."""


# ---------------------------------------------------------------- where it lives


def class_folder(home: Path | None = None) -> Path:
    """CATDOG_HOME/classroom, made private to the teacher (0700) if it was not."""
    path = Path(home if home is not None else config.catdog_home()) / "classroom"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


# ---------------------------------------------------------------- the machine's names and addresses


def host_names() -> list[str]:
    """The names this machine answers to on a class's network: its host name, the same with .local
    (mDNS, which phones and laptops resolve on a LAN), and localhost."""
    name = socket.gethostname().strip().rstrip(".") or "localhost"
    names = [name] if name != "localhost" else []
    if "." not in name and name != "localhost":
        names.append(f"{name}.local")
    return names + ["localhost"]


def _linux_interface_addresses() -> list[str]:
    """Each interface's IPv4 address, asked of the kernel (SIOCGIFADDR): no packet is sent."""
    import fcntl

    found = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for _, name in socket.if_nameindex():
            try:
                answer = fcntl.ioctl(probe.fileno(), 0x8915, struct.pack("256s", name.encode()[:15]))
            except OSError:  # an interface without an IPv4 address
                continue
            found.append(socket.inet_ntoa(answer[20:24]))
    return found


def _resolver_addresses() -> list[str]:
    """The addresses the host name resolves to here (/etc/hosts, mDNS): the only way elsewhere."""
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
    except OSError:
        return []
    return [info[4][0] for info in infos]


def lan_addresses() -> list[str]:
    """This machine's IPv4 addresses that other devices can reach (loopback and link-local left
    out), in a stable order. Read from the interfaces, so it works with no network at all."""
    candidates = _linux_interface_addresses() if sys.platform.startswith("linux") else []
    candidates += _resolver_addresses()
    chosen = []
    for text in candidates:
        address = ipaddress.ip_address(text)
        if address.is_loopback or address.is_link_local or address.is_unspecified or text in chosen:
            continue
        chosen.append(text)
    return sorted(chosen, key=lambda a: (not ipaddress.ip_address(a).is_private, ipaddress.ip_address(a)))


def urls(address: str, port: int, lan: list[str] | None = None) -> list[str]:
    """The https addresses students type or scan, best first. `address` is what the server listens
    on: every interface ("0.0.0.0", ""), or one address."""
    if address in ("0.0.0.0", "", "::"):
        hosts = (lan_addresses() if lan is None else lan) or ["localhost"]
    else:
        hosts = [address]
    return [f"https://{_url_host(host)}:{port}" for host in hosts]


def _url_host(host: str) -> str:
    try:
        return f"[{host}]" if ipaddress.ip_address(host).version == 6 else host
    except ValueError:
        return host


# ---------------------------------------------------------------- the certificate


@dataclass(frozen=True)
class Certificate:
    cert_file: Path
    key_file: Path
    names: tuple[str, ...]
    addresses: tuple[str, ...]
    not_after: datetime.datetime
    fingerprint: str  # SHA-256 of the certificate, "AB:CD:...", what a browser's details show

    @property
    def short_fingerprint(self) -> str:
        return self.fingerprint[:23]  # the first 8 bytes: enough to compare by eye


def ensure_certificate(where: Path, names: list[str], addresses: list[str],
                       now: datetime.datetime | None = None) -> Certificate:
    """The class's certificate in `where`, made once and kept: made again when it ends within
    RENEW_DAYS, or when it does not cover one of `names` and `addresses` (a new network)."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    wanted_names = tuple(dict.fromkeys(names))
    wanted_addresses = tuple(dict.fromkeys([*addresses, "127.0.0.1"]))
    current = load_certificate(where)
    if (current is not None and current.not_after - now > datetime.timedelta(days=RENEW_DAYS)
            and set(wanted_names) <= set(current.names) and set(wanted_addresses) <= set(current.addresses)):
        return current
    _make_certificate(where, wanted_names, wanted_addresses, now)
    made = load_certificate(where)
    if made is None:  # pragma: no cover - what was just written is read back
        raise ClassroomError(f"The certificate in {where} could not be read back.")
    return made


def load_certificate(where: Path) -> Certificate | None:
    """The certificate kept in `where`, or None when there is none or it cannot be read."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    cert_file, key_file = where / "cert.pem", where / "key.pem"
    try:
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
        if not key_file.is_file():
            return None
        alternative = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return None
    names = tuple(alternative.get_values_for_type(x509.DNSName))
    addresses = tuple(str(a) for a in alternative.get_values_for_type(x509.IPAddress))
    fingerprint = ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA256()))
    return Certificate(cert_file, key_file, names, addresses, cert.not_valid_after_utc, fingerprint)


def _make_certificate(where: Path, names: tuple[str, ...], addresses: tuple[str, ...],
                      now: datetime.datetime) -> None:
    """A self-signed server certificate (ECDSA P-256) for these names and addresses, with the
    extensions browsers insist on (subject alternative names, server authentication, not a CA)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names else "catdog classroom"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "catdog classroom")])
    alternative = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))  # a student's clock a little behind
            .not_valid_after(now + datetime.timedelta(days=CERT_DAYS))
            .add_extension(x509.SubjectAlternativeName(alternative), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False, content_commitment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(key, hashes.SHA256()))
    # The key first (mkstemp makes it 0600): a certificate is never beside a key that is not its own.
    write_atomic(where / "key.pem", key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()))
    write_atomic(where / "cert.pem", cert.public_bytes(serialization.Encoding.PEM))


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


# ---------------------------------------------------------------- what the server says about itself


@dataclass(frozen=True)
class ServerInfo:
    """A running `catdog classroom`: its https addresses (best first) and its process."""

    urls: tuple[str, ...]
    pid: int
    fingerprint: str = ""


def write_server_info(where: Path, info: ServerInfo) -> None:
    write_atomic(where / "server.json", json.dumps({"urls": list(info.urls), "pid": info.pid,
                                                    "fingerprint": info.fingerprint}).encode())


def clear_server_info(where: Path, pid: int) -> None:
    """Remove server.json if it is this process's (a second server may have started since)."""
    info = _read_server_info(where / "server.json")
    if info is not None and info.pid == pid:
        (where / "server.json").unlink(missing_ok=True)


def server_info(home: Path | None = None) -> ServerInfo | None:
    """The class server of this home while it runs, else None."""
    info = _read_server_info(Path(home if home is not None else config.catdog_home()) / "classroom" / "server.json")
    return info if info is not None and _alive(info.pid) else None


def _read_server_info(path: Path) -> ServerInfo | None:
    try:
        if not path.is_file() or path.stat().st_size > 64 * 1024:
            return None
        raw = json.loads(path.read_text(encoding="utf-8"))
        info = ServerInfo(tuple(str(u) for u in raw["urls"] if str(u).startswith("https://")), int(raw["pid"]),
                          str(raw.get("fingerprint", "")))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return info


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ---------------------------------------------------------------- QR codes


def qr_terminal(url: str) -> str:
    """The QR code of `url` as text for a terminal (block characters, no escape codes)."""
    import segno

    out = io.StringIO()
    segno.make(url, error="m").terminal(out=out, compact=True)
    return out.getvalue()


def qr_png(url: str, scale: int = 10) -> bytes:
    """The QR code of `url` as a PNG, dark on white with the standard quiet zone, for the page."""
    import segno

    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="png", scale=scale, border=4)
    return out.getvalue()
