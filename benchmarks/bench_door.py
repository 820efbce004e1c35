"""The class server's door, before and now, in one run: `streamlit run app.py` with
CATDOG_CLASS_PASSWORD (the in-app password form, plain HTTP) against `catdog classroom` on
127.0.0.1 (the door in front of Streamlit, HTTPS). Both on the same machine, one after the other.

  1. password guesses per second that get checked, from 100 parallel new sessions (before:
     websocket sessions submitting the form; now: new HTTPS clients posting /login, each from a
     loopback address of its own, so only the server-wide limit holds them);
  2. seconds from the end of that burst until the right password works (now: from one of the
     burst's own addresses, the worst case);
  3. bytes a client that never gave the password can upload (before: a websocket session asks for
     upload URLs and PUTs the files; now: no websocket opens, and the same PUT is refused).

The machine may be loaded by other work: each figure is printed with its ratio to the other, never
alone. About 2 minutes.

    python benchmarks/bench_door.py [--clients 100] [--seconds 20] [--upload-mb 20] [--uploads 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

from _common import REPO, scratch
from bench_server import Client, Server, free_port, processes_of_home

from catdog_core import door  # _common put the project on the path

PASSWORD, TEACHER = "otter-maple-42", "cedar-plum-heron-517"
SHARED = Path(os.environ.get("CATDOG_SHARED", REPO.parent / "shared"))


# ---------------------------------------------------------------- clients


class GateClient(Client):
    """A tab that also keeps the ids of the text fields and buttons it was shown (by label), the
    text fields' first values, and its alerts: enough to fill in a form as a browser does."""

    def __init__(self, server, name: str):
        super().__init__(server, name)
        self.widget_ids: dict[str, str] = {}
        self.defaults: dict[str, str] = {}
        self.alerts: list[str] = []

    def _handle(self, msg) -> None:
        super()._handle(msg)
        if msg.WhichOneof("type") == "delta" and msg.delta.WhichOneof("type") == "new_element":
            element = msg.delta.new_element
            what = element.WhichOneof("type")
            if what in ("text_input", "button"):
                widget = getattr(element, what)
                self.widget_ids[widget.label] = widget.id
                if what == "text_input":
                    self.defaults[widget.label] = widget.default
            elif what == "alert":
                self.alerts.append(element.alert.body)

    async def submit(self, page: str, field: str, text: str, button: str) -> None:
        """Type `text` into the field labelled `field` and press `button`, as the browser sends it."""
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        typed = WidgetState(id=self.widget_ids[field], string_value=text)
        pressed = WidgetState(id=self.widget_ids[button], trigger_value=True)
        await self.run_page(page, widgets=[typed, pressed])

    async def give_password(self, password: str) -> bool:
        """The in-app form's password and Enter, on the light Class board page; True: let in."""
        before = len(self.alerts)
        await self.submit("board", "Class password", password, "Enter")
        return not any("not the class password" in a for a in self.alerts[before:])


class DoorClient(GateClient):
    """The same tab through the door: wss:// with the pass cookie the login page gave."""

    def __init__(self, server: "ClassServer", name: str, token: str | None):
        super().__init__(server, name)
        self.token = token

    async def connect(self) -> None:
        from websockets.asyncio.client import connect
        from websockets.typing import Subprotocol

        headers = {"Cookie": f"catdog_pass={self.token}"} if self.token else {}
        self.ws = await connect(f"wss://127.0.0.1:{self.server.port}/_stcore/stream", ssl=self.server.tls(),
                                subprotocols=[Subprotocol("streamlit")], proxy=None, max_size=None,
                                additional_headers=headers, open_timeout=60, ping_interval=None,
                                compression=None)
        self.reader = asyncio.create_task(self._read())


# ---------------------------------------------------------------- the class server


async def post_login(port: int, tls: ssl.SSLContext, password: str,
                     source: str = "127.0.0.1") -> tuple[int, dict[str, str]]:
    """One new client posting a class server's sign-in form from `source` (any 127.x address is this
    machine): the status and the headers (lower-case names) of its answer."""
    body = urlencode({"password": password, "next": "/"}).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=tls, local_addr=(source, 0))
    try:
        writer.write((f"POST /login HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                      "Content-Type: application/x-www-form-urlencoded\r\n"
                      f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body)
        await writer.drain()
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (OSError, ssl.SSLError):
            pass
    status = int(head[0].split()[1])
    headers = dict(line.split(": ", 1) for line in head[1:] if ": " in line)
    return status, {k.lower(): v for k, v in headers.items()}


def pass_token(status: int, headers: dict[str, str]) -> str | None:
    """The pass a sign-in answer hands out (None: refused or not checked)."""
    cookie = headers.get("set-cookie", "")
    return cookie.split(";")[0].split("=", 1)[1] if status == 303 and cookie else None


class ClassServer:
    """`python -m catdog_core classroom` on 127.0.0.1 and a free port, in a home of its own."""

    def __init__(self, home: Path, **settings: str):
        self.home, self.port = Path(home), free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CATDOG_") or k in (
            "CATDOG_TESTS_OFFLINE", "CATDOG_NET_LOG", "CATDOG_CACHE", "CATDOG_BASE_WEIGHTS")}
        self.env.update(CATDOG_HOME=str(self.home), CATDOG_WARM="0", PYTHONUNBUFFERED="1", **settings)
        self.env["NO_PROXY"] = self.env["no_proxy"] = "127.0.0.1,localhost"
        self.proc: subprocess.Popen | None = None
        self.info: dict = {}
        self.runs_done = 0

    def note_run(self) -> None:
        self.runs_done += 1

    @property
    def log(self) -> Path:
        return self.home / "classroom" / "server.log"

    def start(self, timeout: float = 120) -> dict:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "catdog_core", "classroom", "--address", "127.0.0.1", "--port", str(self.port),
             "--password", PASSWORD, "--teacher-password", TEACHER, "--json"],
            cwd=REPO, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        deadline = time.time() + timeout
        for line in self.proc.stdout:  # the command's JSON line comes once the login page answers
            if line.startswith("{"):
                self.info = json.loads(line)
                return self.info
            if time.time() > deadline:
                break
        raise RuntimeError(f"catdog classroom did not start: {self.proc.stderr.read()[-2000:]}")

    def stop(self, sig: int = signal.SIGINT, timeout: float = 90) -> int:
        """Ctrl-C (or another signal) to the command; its exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)

    def tls(self) -> ssl.SSLContext:
        """A client that trusts the class's own certificate, and checks it (127.0.0.1 is in it)."""
        return ssl.create_default_context(cafile=str(self.home / "classroom" / "cert.pem"))

    async def post_login(self, password: str, source: str = "127.0.0.1") -> tuple[int, dict[str, str]]:
        """One new client posting the sign-in form, from `source` (any 127.x address is this machine)."""
        return await post_login(self.port, self.tls(), password, source)

    def login(self, password: str) -> str | None:
        """The pass token the right password gets (None: refused)."""
        return pass_token(*asyncio.run(self.post_login(password)))

    def put_unauthenticated(self, megabytes: int) -> tuple[int, int]:
        """A PUT of `megabytes` to an upload URL without a pass: (status, bytes sent before the answer)."""
        total = megabytes * 2**20
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        with self.tls().wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            tls.sendall((f"PUT /_stcore/upload_file/made-up-session/made-up-file HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         f"Content-Type: application/octet-stream\r\nContent-Length: {total}\r\n\r\n").encode())
            tls.setblocking(False)
            sent, chunk, answer = 0, b"\0" * 65536, b""
            while sent < total and not answer:
                try:
                    answer = tls.recv(4096)
                except (ssl.SSLWantReadError, BlockingIOError):
                    pass
                try:
                    sent += tls.send(chunk[: total - sent])
                except (ssl.SSLWantWriteError, BlockingIOError):
                    time.sleep(0.001)
                except OSError:
                    break
            tls.setblocking(True)
            tls.settimeout(30)
            while b"\r\n" not in answer:
                more = tls.recv(4096)
                if not more:
                    break
                answer += more
        return int(answer.split()[1]) if answer else 0, sent


# ---------------------------------------------------------------- measurements


async def door_burst(server: ClassServer, clients: int, seconds: float) -> dict:
    """`clients` new clients in parallel, each from its own address, posting wrong passwords for
    `seconds`; then the right password from the first client's address until it is let in."""
    counts = {"checked": 0, "limited": 0, "other": 0}

    async def guesser(i: int, until: float) -> None:
        n = 0
        while time.perf_counter() < until:
            status, _ = await server.post_login(f"wrong-{i}-{n}", source=f"127.0.{1 + i // 250}.{1 + i % 250}")
            n += 1
            counts["checked" if status == 401 else "limited" if status == 429 else "other"] += 1

    started = time.perf_counter()
    await asyncio.gather(*(guesser(i, started + seconds) for i in range(clients)))
    ended = time.perf_counter()
    while True:
        status, _ = await server.post_login(PASSWORD, source="127.0.1.1")
        if status == 303 or time.perf_counter() - ended > 120:
            break
        await asyncio.sleep(0.5)
    seconds = ended - started
    return dict(counts, seconds=seconds, rate=counts["checked"] / seconds, right_status=status,
                sustained=max(0, counts["checked"] - door.SERVER_BURST) / seconds,
                right_after=time.perf_counter() - ended)


async def gate_burst(server: Server, clients: int, guesses: int) -> dict:
    """The in-app form: `clients` websocket sessions in parallel, `guesses` wrong passwords each;
    then a new session with the right one."""
    tabs = [GateClient(server, f"guesser{i}") for i in range(clients)]
    await asyncio.gather(*(t.connect() for t in tabs))
    await asyncio.gather(*(t.run_page("board") for t in tabs))  # the form, as a browser first sees it

    async def guesser(tab: GateClient) -> int:
        return sum([not await tab.give_password(f"wrong-{tab.name}-{n}") for n in range(guesses)])

    started = time.perf_counter()
    checked = sum(await asyncio.gather(*(guesser(t) for t in tabs)))
    ended = time.perf_counter()
    late = GateClient(server, "late")
    await late.connect()
    await late.run_page("board")
    let_in = await late.give_password(PASSWORD)
    right_after = time.perf_counter() - ended
    for tab in [*tabs, late]:
        await tab.close()
    seconds = ended - started
    return {"checked": checked, "seconds": seconds, "rate": checked / seconds, "sustained": checked / seconds,
            "right_after": right_after, "right_status": 303 if let_in else 401}


async def gate_upload(server: Server, uploads: int, megabytes: int) -> int:
    """Bytes a session that never gave the password had accepted: upload URLs from the websocket,
    then PUTs (what issue 32 measured)."""
    tab = Client(server, "stranger")
    await tab.connect()
    await tab.run_page("board")
    accepted = 0
    for i in range(uploads):
        try:
            await tab.upload(f"big{i}.jpg", b"\0" * (megabytes * 2**20), "image/jpeg")
            accepted += megabytes * 2**20
        except RuntimeError:
            pass
    await tab.close()
    return accepted


def measure_before(args, tmp: Path) -> dict:
    server = Server(REPO, Path(args.data), Path(args.weights), workers=1)
    server.env.update(CATDOG_CLASS_PASSWORD=PASSWORD, CATDOG_WARM="0")
    try:
        server.start()
        out = asyncio.run(gate_burst(server, args.clients, args.guesses))
        out["uploaded"] = asyncio.run(gate_upload(server, args.uploads, args.upload_mb))
        return out
    finally:
        server.stop()


def measure_now(args, tmp: Path) -> dict:
    server = ClassServer(tmp / "class-home", CATDOG_DATA_DIR=args.data, CATDOG_BASE_WEIGHTS=args.weights)
    try:
        server.start()
        out = asyncio.run(door_burst(server, args.clients, args.seconds))
        try:
            asyncio.run(DoorClient(server, "stranger", None).connect())
            out["websocket"] = "opened"
        except Exception as exc:  # the door closes it before it opens: the handshake is answered 403
            out["websocket"] = f"refused ({type(exc).__name__})"
        statuses = [server.put_unauthenticated(args.upload_mb) for _ in range(args.uploads)]
        out["upload_statuses"] = sorted({s for s, _ in statuses})
        out["uploaded"] = sum(args.upload_mb * 2**20 for s, _ in statuses if s in (200, 204))
        out["sent_before_refusal"] = max(sent for _, sent in statuses)
        return out
    finally:
        code = server.stop()
        out_left = processes_of_home(server.home)
        print(f"catdog classroom exited {code}; processes of its home left: {len(out_left)}", file=sys.stderr)


def ratio(a: float, b: float) -> str:
    return f"{a / b:,.1f}x" if b else "∞" if a else "1x"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=100)
    p.add_argument("--seconds", type=float, default=20.0, help="how long the door's burst lasts")
    p.add_argument("--guesses", type=int, default=3, help="wrong passwords per session against the in-app form")
    p.add_argument("--uploads", type=int, default=5)
    p.add_argument("--upload-mb", type=int, default=20)
    p.add_argument("--data", default=str(SHARED / "data" / "cats_and_dogs.zip"))
    p.add_argument("--weights", default=str(SHARED / "weights" / "mobilenet_v2_1.0_224_no_top_imagenet.h5"))
    args = p.parse_args()
    tmp = Path(scratch("catdog-door-"))
    before, now = measure_before(args, tmp), measure_now(args, tmp)
    mb = 2**20
    print(f"\n{'figure':58} {'before':>14} {'now':>14} {'before/now':>11}")
    print(f"{'password guesses checked per second, ' + str(args.clients) + ' new sessions':58} "
          f"{before['rate']:>14.1f} {now['rate']:>14.2f} {ratio(before['rate'], now['rate']):>11}")
    print(f"{'  the same without the first burst the door allows':58} {before['sustained']:>14.1f} "
          f"{now['sustained']:>14.2f} {ratio(before['sustained'], now['sustained']):>11}")
    print(f"{'  checked / refused unchecked / seconds':58} {before['checked']:>6} / 0 / {before['seconds']:>3.0f} "
          f"{now['checked']:>5} / {now['limited']} / {now['seconds']:.0f}")
    print(f"{'seconds until the right password works after the burst':58} {before['right_after']:>14.1f} "
          f"{now['right_after']:>14.1f} {'(bound: 30 s)':>11}")
    print(f"{'MB an unauthenticated client had accepted':58} {before['uploaded'] / mb:>14.0f} "
          f"{now['uploaded'] / mb:>14.0f} {'':>11}")
    print(f"(now: the websocket {now['websocket']}; each PUT answered {now['upload_statuses']}, at most "
          f"{now['sent_before_refusal'] / mb:.1f} MB sent before the answer, none of it read)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
