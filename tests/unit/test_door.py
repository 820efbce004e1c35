"""The class server's parts, one by one, without a server: addresses, the certificate (and a real
TLS handshake with it), passwords, passes, QR codes, the guess limiter, and the door and login
page driven as the ASGI apps they are."""

from __future__ import annotations

import asyncio
import datetime
import io
import logging
import re
import socket
import ssl
import threading

import numpy as np
import pytest
from PIL import Image

from catdog_core import classroom, door


# ---------------------------------------------------------------- addresses


def test_lan_addresses_are_read_without_the_network(tmp_path, monkeypatch):
    log = tmp_path / "net.log"
    monkeypatch.setenv("CATDOG_NET_LOG", str(log))  # tests/support/netguard writes every attempt beyond loopback here
    found = classroom.lan_addresses()
    assert not log.exists() or log.read_text() == ""
    assert all(not a.startswith("127.") for a in found)
    assert len(set(found)) == len(found)
    names = classroom.host_names()
    assert names[-1] == "localhost" and socket.gethostname() in names[0]


def test_urls_name_every_address_or_the_one_listened_on():
    assert classroom.urls("0.0.0.0", 8501, ["192.168.1.20", "10.0.0.3"]) == [
        "https://192.168.1.20:8501", "https://10.0.0.3:8501"]
    assert classroom.urls("0.0.0.0", 8501, []) == ["https://localhost:8501"]  # no network at all
    assert classroom.urls("127.0.0.1", 9000) == ["https://127.0.0.1:9000"]
    assert classroom.urls("fe80::1", 9000) == ["https://[fe80::1]:9000"]


# ---------------------------------------------------------------- the certificate


def _handshake(cert: classroom.Certificate, server_name: str) -> None:
    """A real TLS connection over a socket pair: the server with the class's certificate and key,
    the client verifying it as a browser that was told to trust it would."""
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert.cert_file, cert.key_file)
    client_context = ssl.create_default_context(cafile=str(cert.cert_file))
    left, right = socket.socketpair()
    errors = []

    def serve():
        try:
            with server_context.wrap_socket(left, server_side=True) as tls:
                tls.sendall(tls.recv(5))
        except (ssl.SSLError, OSError) as exc:
            errors.append(exc)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with client_context.wrap_socket(right, server_hostname=server_name) as tls:
            tls.sendall(b"hello")
            assert tls.recv(5) == b"hello"
    finally:
        thread.join(10)
    assert not errors, errors


def test_the_certificate_is_made_once_private_and_valid_for_every_name(tmp_path):
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    where = classroom.class_folder(tmp_path / "home")
    assert where.stat().st_mode & 0o777 == 0o700
    cert = classroom.ensure_certificate(where, ["vm", "vm.local", "localhost"], ["192.168.1.20"])
    assert cert.key_file.stat().st_mode & 0o777 == 0o600 and cert.cert_file.stat().st_mode & 0o077 == 0
    assert set(cert.addresses) == {"192.168.1.20", "127.0.0.1"} and set(cert.names) == {"vm", "vm.local", "localhost"}
    parsed = x509.load_pem_x509_certificate(cert.cert_file.read_bytes())
    assert parsed.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert ExtendedKeyUsageOID.SERVER_AUTH in parsed.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert (parsed.not_valid_after_utc - parsed.not_valid_before_utc).days <= 398  # what Apple accepts
    for name in ("127.0.0.1", "localhost", "vm.local"):
        _handshake(cert, name)
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(cert, "elsewhere.example")
    again = classroom.ensure_certificate(where, ["vm", "localhost"], ["192.168.1.20"])
    assert again.fingerprint == cert.fingerprint  # kept: students' browsers already accepted it


def test_the_certificate_is_renewed_for_a_new_address_or_before_it_ends(tmp_path):
    where = classroom.class_folder(tmp_path / "home")
    first = classroom.ensure_certificate(where, ["localhost"], ["192.168.1.20"])
    moved = classroom.ensure_certificate(where, ["localhost"], ["10.0.0.7"])  # another room's network
    assert moved.fingerprint != first.fingerprint and "10.0.0.7" in moved.addresses
    near_end = moved.not_after - datetime.timedelta(days=classroom.RENEW_DAYS - 1)
    renewed = classroom.ensure_certificate(where, ["localhost"], ["10.0.0.7"], now=near_end)
    assert renewed.fingerprint != moved.fingerprint and renewed.not_after > moved.not_after
    (where / "cert.pem").write_text("not a certificate")
    assert classroom.ensure_certificate(where, ["localhost"], []).fingerprint != renewed.fingerprint


# ---------------------------------------------------------------- passwords and passes


def test_passwords_are_words_and_digits_and_differ():
    made = {classroom.class_password() for _ in range(200)}
    assert len(made) > 190
    for password in made:
        first, second, digits = password.split("-")
        assert first in classroom.WORDS and second in classroom.WORDS and re.fullmatch(r"\d\d", digits)
    assert re.fullmatch(r"[a-z]+-[a-z]+-[a-z]+-\d{3}", classroom.teacher_password())
    assert len(set(classroom.WORDS)) == len(classroom.WORDS) == 128  # 7 bits a word


def test_a_pass_says_who_and_what_and_cannot_be_forged(tmp_path):
    secret = classroom.server_secret(classroom.class_folder(tmp_path / "home"))
    assert classroom.server_secret(tmp_path / "home" / "classroom") == secret  # made once
    assert (tmp_path / "home" / "classroom" / "secret").stat().st_mode & 0o777 == 0o600
    token = classroom.issue_pass(secret, classroom.STUDENT, now=1_000_000.0)
    found = classroom.read_pass(secret, token, now=1_000_100.0)
    assert found.role == classroom.STUDENT and re.fullmatch(r"[0-9a-f]{32}", found.id) and found.issued == 1_000_000
    assert found.owner == f"session {found.id}"
    assert classroom.read_pass(secret, classroom.issue_pass(secret, classroom.STUDENT, now=1e6), now=1e6).id != found.id
    teacher = classroom.read_pass(secret, classroom.issue_pass(secret, classroom.TEACHER, now=1e6), now=1e6 + 60)
    assert teacher.role == classroom.TEACHER
    body, mac = token.split(".")
    forged_role = token.replace(body, body[:1] + ("B" if body[1] != "B" else "C") + body[2:])
    for bad in (forged_role, body + "." + mac[::-1], "", None, "x" * 500, "a.b", "...", token + "x"):
        assert classroom.read_pass(secret, bad, now=1_000_100.0) is None, bad
    assert classroom.read_pass(b"another secret of 32 bytes......", token, now=1_000_100.0) is None
    assert classroom.read_pass(secret, token, now=1_000_000.0 + classroom.PASS_SECONDS[classroom.STUDENT] + 1) is None
    assert classroom.read_pass(secret, token, now=1_000_000.0 - 3600) is None  # issued in the future
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "secret").write_bytes(b"short")
    with pytest.raises(classroom.ClassroomError):
        classroom.server_secret(tmp_path / "bad")


# ---------------------------------------------------------------- QR codes


def _terminal_to_image(text: str) -> Image.Image:
    """segno's compact terminal text back to pixels: each character is two modules, top and bottom
    (a full block: both light, a space: both dark)."""
    halves = {"█": (255, 255), " ": (0, 0), "▀": (255, 0), "▄": (0, 255)}
    rows = [line for line in text.splitlines() if line]
    pixels = np.array([[halves[ch][half] for ch in row] for row in rows for half in (0, 1)], np.uint8)
    return Image.fromarray(pixels).resize((pixels.shape[1] * 8, pixels.shape[0] * 8), Image.NEAREST)


def test_the_qr_codes_decode_to_the_address():
    zxingcpp = pytest.importorskip("zxingcpp")
    url = "https://192.168.1.20:8501"
    png = Image.open(io.BytesIO(classroom.qr_png(url)))
    assert [r.text for r in zxingcpp.read_barcodes(png)] == [url]
    text = classroom.qr_terminal(url)
    assert "\x1b" not in text  # block characters only: the command line shows no escape codes
    assert [r.text for r in zxingcpp.read_barcodes(_terminal_to_image(text))] == [url]


def test_server_info_is_read_only_while_its_process_lives(tmp_path):
    import os

    where = classroom.class_folder(tmp_path / "home")
    classroom.write_server_info(where, classroom.ServerInfo(("https://10.0.0.7:8501", "http://evil"), os.getpid()))
    assert classroom.server_info(tmp_path / "home").urls == ("https://10.0.0.7:8501",)  # only https addresses
    classroom.clear_server_info(where, os.getpid() + 1)  # another server's: kept
    assert classroom.server_info(tmp_path / "home") is not None
    classroom.write_server_info(where, classroom.ServerInfo(("https://10.0.0.7:8501",), 2**22 + 12345))
    assert classroom.server_info(tmp_path / "home") is None  # no such process
    classroom.clear_server_info(where, 2**22 + 12345)
    assert not (where / "server.json").exists()


# ---------------------------------------------------------------- the limiter


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_the_limiter_checks_at_most_its_rate_server_wide_and_per_address():
    clock = Clock()
    limiter = door.Limiter(clock=clock)
    checked = 0
    for step in range(600):  # 60 s of a guess every 0.1 s from 100 addresses in turn
        clock.now += 0.1
        checked += limiter.take(f"10.0.{step % 100}.1") == 0.0
    assert checked <= door.SERVER_BURST + 60 * door.SERVER_RATE
    assert checked >= 60 * door.SERVER_RATE - 1  # and the server does not stop answering
    one, from_one = door.Limiter(clock=clock), 0
    for _ in range(1000):  # 50 s of twenty guesses a second from one address
        clock.now += 0.05
        from_one += one.take("10.0.0.1") == 0.0
    assert from_one <= door.ADDRESS_BURST + 50 * door.ADDRESS_RATE


def test_after_any_burst_a_guess_is_checked_again_within_30_seconds():
    rng = np.random.default_rng(0)
    for _ in range(50):
        clock = Clock()
        limiter = door.Limiter(clock=clock)
        for _ in range(int(rng.integers(1, 2000))):  # a burst of any length, from a few addresses
            clock.now += float(rng.exponential(0.01))
            limiter.take(f"10.0.0.{int(rng.integers(0, 4))}")
        assert limiter.take(f"10.0.0.{int(rng.integers(0, 4))}") <= 30  # what the page tells them to wait
        clock.now += 30
        assert limiter.take("10.0.0.1") == 0.0


def test_a_right_password_costs_no_token_and_the_address_table_stays_bounded():
    clock = Clock()
    limiter = door.Limiter(clock=clock, max_addresses=50)
    for _ in range(100):  # a class arriving at once, all with the right password
        assert limiter.take("10.0.0.9") == 0.0
        limiter.give_back("10.0.0.9")
    for i in range(1000):
        limiter.take(f"10.1.{i // 250}.{i % 250}")
    assert len(limiter.addresses) == 50


# ---------------------------------------------------------------- the door and the login page, as ASGI


SECRET = b"s" * 32


def guard() -> door.Guard:
    return door.Guard(SECRET, "otter-maple-42", "cedar-plum-heron-517", door.Limiter())


class Downstream:
    """Streamlit's place: records what reached it."""

    def __init__(self):
        self.calls = []

    async def __call__(self, scope, receive, send):
        self.calls.append(scope["path"])
        if scope["type"] == "http":
            await door.respond(send, 200, b"app")


def call(app, path: str, method: str = "GET", kind: str = "http", body: bytes = b"", headers=(),
         client=("10.0.0.5", 5000)):
    """One request through an ASGI app: (status or close code, headers, body, bytes of body read)."""
    sent, read = [], [0]
    chunks = [body[i:i + 1024] for i in range(0, len(body), 1024)] or [b""]

    async def receive():
        if kind == "websocket":
            return {"type": "websocket.connect"}
        chunk = chunks.pop(0) if chunks else b""
        read[0] += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message):
        sent.append(message)

    path, _, query = path.partition("?")
    scope = {"type": kind, "path": path, "method": method, "query_string": query.encode(), "client": client,
             "headers": [(k.encode(), v.encode()) for k, v in headers]}
    asyncio.run(app(scope, receive, send))
    start = next((m for m in sent if m["type"] in ("http.response.start", "websocket.close", "websocket.accept")), {})
    status = start.get("status", start.get("code"))
    body_out = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, {k.decode(): v.decode() for k, v in start.get("headers", [])}, body_out, read[0]


def with_pass(role=classroom.STUDENT):
    return [("cookie", f"other=1; {classroom.PASS_COOKIE}={classroom.issue_pass(SECRET, role)}")]


def test_without_a_pass_only_the_login_page_answers():
    app = Downstream()
    front = door.Door(app, guard())
    status, headers, _, _ = call(front, "/classify?x=1")
    assert status == 303 and headers["location"] == "/login?next=%2Fclassify%3Fx%3D1"
    assert call(front, "/login")[0] == 200 and app.calls == ["/login"]
    for path in ("/_stcore/health", "/_stcore/host-config", "/media/abc.png", "/static/js/main.js",
                 "/_stcore/metrics"):
        assert call(front, path)[0] == 403, path
    # An upload of 5 MB: refused before a byte of it is read.
    status, _, _, read = call(front, "/_stcore/upload_file/s/f", "PUT", body=b"x" * 5_000_000)
    assert status == 403 and read == 0
    assert call(front, "/_stcore/stream", kind="websocket")[0] == 1008  # closed before it opens
    forged = [("cookie", f"{classroom.PASS_COOKIE}={classroom.issue_pass(b'x' * 32, classroom.TEACHER)}")]
    assert call(front, "/_stcore/stream", kind="websocket", headers=forged)[0] == 1008
    assert app.calls == ["/login"]


def test_with_a_pass_everything_but_metrics_reaches_streamlit():
    app = Downstream()
    front = door.Door(app, guard())
    for role in classroom.ROLES:
        assert call(front, "/classify", headers=with_pass(role))[0] == 200
        assert call(front, "/_stcore/upload_file/s/f", "PUT", body=b"x", headers=with_pass(role))[0] == 200
        assert call(front, "/_stcore/metrics", headers=with_pass(role))[0] == 403
    assert app.calls == ["/classify", "/_stcore/upload_file/s/f"] * 2


def form(password: str, target: str = "/classify") -> bytes:
    from urllib.parse import urlencode

    return urlencode({"password": password, "next": target}).encode()


def test_the_login_page_hands_out_passes_in_safe_cookies(caplog):
    g = guard()
    login = door.Login(g)
    status, headers, page, _ = call(login, "/login?next=/evaluate")
    assert status == 200 and 'name="next" value="/evaluate"' in page.decode()
    assert "script-src" not in headers["content-security-policy"] and "default-src 'none'" in headers[
        "content-security-policy"]
    for password, role in (("otter-maple-42", classroom.STUDENT), ("cedar-plum-heron-517", classroom.TEACHER)):
        status, headers, _, _ = call(login, "/login", "POST", body=form(password))
        assert status == 303 and headers["location"] == "/classify"
        cookie = headers["set-cookie"]
        assert {"HttpOnly", "Secure", "SameSite=Strict", "Path=/"} <= {p.strip() for p in cookie.split(";")}
        token = cookie.split(";")[0].split("=", 1)[1]
        assert classroom.read_pass(SECRET, token).role == role
    with caplog.at_level(logging.WARNING, logger="catdog.door"):
        status, headers, page, _ = call(login, "/login", "POST", body=form("otter-maple-43"))
    assert status == 401 and "set-cookie" not in headers and "not the class password" in page.decode()
    assert "wrong class password from 10.0.0.5" in caplog.text and "otter-maple-43" not in caplog.text
    # Elsewhere to go after signing in: never another site.
    for target in ("//evil.example/", "https://evil.example/", "/\\evil", "/login"):
        assert call(login, "/login", "POST", body=form("otter-maple-42", target))[1]["location"] == "/"


def test_a_limited_guess_is_not_checked_so_the_right_password_is_no_oracle(caplog):
    g = guard()
    login = door.Login(g)
    wrong = [call(login, "/login", "POST", body=form(f"guess-{i}"))[0] for i in range(door.ADDRESS_BURST)]
    assert wrong == [401] * door.ADDRESS_BURST
    with caplog.at_level(logging.WARNING, logger="catdog.door"):
        status, headers, page, _ = call(login, "/login", "POST", body=form("otter-maple-42"))
    assert status == 429 and "set-cookie" not in headers and int(headers["retry-after"]) >= 1
    assert "Too many wrong passwords" in page.decode()
    assert "refused 1 password attempts from 10.0.0.5 unchecked" in caplog.text
    # Another address still gets in.
    assert call(login, "/login", "POST", body=form("otter-maple-42"), client=("10.0.0.6", 1))[0] == 303


def test_the_login_page_refuses_other_sites_and_large_forms():
    login = door.Login(guard())
    elsewhere = [("origin", "https://evil.example"), ("host", "classroom.test:8501")]
    assert call(login, "/login", "POST", body=form("otter-maple-42"), headers=elsewhere)[0] == 403
    same = [("origin", "https://classroom.test:8501"), ("host", "classroom.test:8501")]
    assert call(login, "/login", "POST", body=form("otter-maple-42"), headers=same)[0] == 303
    status, _, _, read = call(login, "/login", "POST", body=b"password=" + b"x" * 100_000)
    assert status == 413 and read <= door.MAX_FORM_BYTES + 1024
