"""`catdog classroom`: the teacher's one command. Makes (or keeps) the certificate, chooses the
passwords, starts the app over HTTPS behind the door, says how to join, and on Ctrl-C or SIGTERM
stops the server, the model service and every training worker it started."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from pathlib import Path
from typing import Callable

from .. import classroom, config
from ..errors import CatdogError

ENTRY = "classroom_app.py"  # beside app.py: pages/ and ui/ resolve as for `streamlit run app.py`
START_SECONDS = 90.0
STOP_SECONDS = 20.0  # for the server to end on SIGTERM before it is killed
HELP = "\n".join([
    "Serves the app to a class over HTTPS on this machine's network, behind a sign-in page.",
    "",
    "What students see:",
    "  1. the https address printed here, or its QR code (the app's Join page shows both",
    "     for the projector);",
    "  2. the first time, a warning that the connection is not private: the certificate",
    "     was made by this computer, not by a company browsers know. To go on:",
    *[f"       {browser + ':':34} {steps}" for browser, steps in classroom.CERTIFICATE_STEPS],
    "  3. a page that asks for the class password, then the app. Cameras work over HTTPS.",
    "",
    "Whoever gives the teacher password is the teacher (may stop, rename and delete",
    "everyone's work). Ctrl-C or SIGTERM stops the server, the model service and every",
    "training worker it started. The certificate, the sign-in key and the server's log",
    "are kept in $CATDOG_HOME/classroom/ (private to you).",
])


class ClassroomStartFailed(CatdogError):
    """The server did not start; the sentence says why and where its log is."""


def add_parser(add) -> None:
    import argparse

    c = add("classroom", "serve the app to a class over HTTPS, with a class password and a join QR code")
    c.formatter_class, c.description = argparse.RawDescriptionHelpFormatter, HELP
    c.add_argument("--port", type=int, default=8501, help="the port to serve on (default: 8501, Streamlit's)")
    c.add_argument("--address", default="0.0.0.0",
                   help="the address to listen on (default: every interface; 127.0.0.1 for this machine only)")
    c.add_argument("--password", default=None,
                   help=f"the class password (default: ${classroom.ENV_CLASS_PASSWORD}, else made up and printed)")
    c.add_argument("--teacher-password", default=None, help="the teacher's password (default: made up and printed)")


def _passwords(args) -> tuple[str, str]:
    password = args.password or config.settings().class_password or classroom.class_password()
    teacher = args.teacher_password or classroom.teacher_password()
    for name, value in (("class", password), ("teacher", teacher)):
        if not value.isprintable() or not 1 <= len(value) <= 200:
            raise CatdogError(f"The {name} password must be 1 to 200 printable characters.")
    if password == teacher:
        raise CatdogError("The teacher password must differ from the class password.")
    return password, teacher


def _entry() -> Path:
    entry = Path(__file__).resolve().parents[2] / ENTRY
    if not entry.is_file():
        raise CatdogError(f"`catdog classroom` serves the app beside catdog_core ({entry} is missing): run it "
                          "from the project's folder.")
    return entry


def _private_home() -> Path:
    """CATDOG_HOME for a class: 0700, and everything the server and its helpers write in it
    0600/0700 (they inherit this process's umask)."""
    os.umask(0o077)
    home = config.catdog_home()
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(home, 0o700)
    return home


def cmd_classroom(args) -> int:
    if not 1 <= args.port <= 65535:
        raise CatdogError(f"The port must be a number from 1 to 65535, not {args.port}.")
    password, teacher = _passwords(args)
    entry, home = _entry(), _private_home()
    where = classroom.class_folder(home)
    lan = classroom.lan_addresses()
    cert = _certificate(where, args.address, lan)
    classroom.server_secret(where)
    urls = classroom.urls(args.address, args.port, lan)
    env = _server_environment(args, home, password, teacher)
    log_path = where / "server.log"
    with _Stopper() as stopper, open(log_path, "ab") as log:
        output = None if args.verbose else log
        server = subprocess.Popen(_server_command(entry, args, cert), cwd=entry.parent, env=env,
                                  stdin=subprocess.DEVNULL, stdout=output, stderr=output, start_new_session=True)
        stopper.watch(server)
        try:
            _wait_ready(server, stopper, _probe_url(args.address, args.port), cert.cert_file, log_path)
            if not stopper.is_set():
                classroom.write_server_info(where, classroom.ServerInfo(tuple(urls), os.getpid(), cert.fingerprint))
                _announce(args, urls, password, teacher, cert, log_path)
            stopper.wait_for_server()
        finally:
            _stop_everything(server, home, stopper)
            classroom.clear_server_info(where, os.getpid())
    if not stopper.is_set():  # nobody asked: the server ended by itself
        raise CatdogError(f"The class server stopped by itself (exit code {server.returncode}); see {log_path}.")
    print("The class server stopped; nothing of it runs any more.", flush=True)
    return 0


def _certificate(where: Path, address: str, lan: list[str]) -> classroom.Certificate:
    """The class's certificate, covering this machine's names and addresses and the --address given."""
    names, addresses = classroom.host_names(), list(lan)
    if address not in ("0.0.0.0", ""):
        (addresses if _is_ip(address) else names).append(address)
    return classroom.ensure_certificate(where, names, addresses)


def _server_environment(args, home: Path, password: str, teacher: str) -> dict[str, str]:
    """The server's environment: the class's passwords, its home, and the dataset if one was given."""
    env = config.child_environment(**{classroom.ENV_CLASSROOM: "1", classroom.ENV_CLASS_PASSWORD: password,
                                      classroom.ENV_TEACHER_PASSWORD: teacher, config.ENV_HOME: str(home)})
    if args.data:
        env[config.ENV_DATA_DIR] = args.data
    return env


def _server_command(entry: Path, args, cert: classroom.Certificate) -> list[str]:
    return [sys.executable, "-m", "streamlit", "run", str(entry), "--server.port", str(args.port),
            "--server.address", args.address, "--server.sslCertFile", str(cert.cert_file),
            "--server.sslKeyFile", str(cert.key_file), "--server.headless", "true",
            "--browser.gatherUsageStats", "false"]


def _is_ip(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _probe_url(address: str, port: int) -> str:
    host = "127.0.0.1" if address in ("0.0.0.0", "") else address
    return f"https://{host}:{port}/login"


def _wait_ready(server: subprocess.Popen, stopper: "_Stopper", url: str, cert_file: Path, log_path: Path) -> None:
    """Until the login page answers over HTTPS with this certificate, the server exits, or Ctrl-C."""
    context = ssl.create_default_context(cafile=str(cert_file))
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))
    deadline = time.monotonic() + START_SECONDS
    while not stopper.is_set():
        if server.poll() is not None:
            raise ClassroomStartFailed(f"The server stopped as it started (is the port taken?); see {log_path}.")
        try:
            with opener.open(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise ClassroomStartFailed(f"The server did not answer within {START_SECONDS:.0f} s; see {log_path}.")
        stopper.wait(0.3)


def _announce(args, urls: list[str], password: str, teacher: str, cert, log_path: Path) -> None:
    if args.json:
        print(json.dumps({"urls": urls, "class_password": password, "teacher_password": teacher,
                          "fingerprint": cert.fingerprint, "log": str(log_path)}), flush=True)
        return
    lines = ["", "catdog is serving the class. Students open:", ""]
    lines += [f"    {url}" for url in urls]
    lines += ["", classroom.qr_terminal(urls[0]),
              f"Class password:   {password}",
              f"Teacher password: {teacher}   (yours alone: it can stop and delete everyone's work)",
              "", textwrap.fill(classroom.CERTIFICATE_WARNING, 100),
              f"The certificate's fingerprint starts with {cert.short_fingerprint}.",
              "The Join page of the app shows the QR code, the address and the class password for the projector.",
              f"The server's log: {log_path}", "Ctrl-C stops everything.", ""]
    print("\n".join(lines), flush=True)


class _Stopper:
    """SIGINT and SIGTERM, caught for the time the server runs: the first asks for a clean stop,
    a second one kills the server at once."""

    def __init__(self):
        self._event, self._count, self._server = threading.Event(), 0, None

    def __enter__(self):
        self._previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _on_signal(self, signum, frame) -> None:
        self._count += 1
        self._event.set()
        if self._count > 1 and self._server is not None and self._server.poll() is None:
            self._server.kill()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> None:
        self._event.wait(seconds)

    def watch(self, server: subprocess.Popen) -> None:
        self._server = server

    def wait_for_server(self) -> None:
        """Until a signal comes or the server ends by itself."""
        while not self._event.is_set() and self._server.poll() is None:
            self._event.wait(0.5)


def _stop_everything(server: subprocess.Popen, home: Path, stopper: _Stopper) -> None:
    """The server (SIGTERM: it closes the model service), the home's training workers, then any
    process this server started that is still there (all of them carry CATDOG_CLASSROOM)."""
    from ..jobs import worker

    if server.poll() is None:
        server.terminate()
        try:
            server.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
    worker.shutdown_workers(home, timeout=30)
    end_all(lambda: started_processes(home))


def end_all(find: Callable[[], list[int]], seconds: float = 10) -> None:
    """SIGTERM to every process `find` lists, then SIGKILL to those still running `seconds` later."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        left = find()
        for pid in left:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        deadline = time.monotonic() + seconds
        while left and time.monotonic() < deadline:
            time.sleep(0.1)
            left = [pid for pid in left if _running(pid)]
        if not left:
            return


def started_processes(home: Path) -> list[int]:
    """Processes of this user that a class server of `home` started (Linux; elsewhere none found)."""
    marks = (f"{config.ENV_HOME}={home}".encode(), f"{classroom.ENV_CLASSROOM}=1".encode())
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            entries = set(environ.read_bytes().split(b"\0"))
        except OSError:
            continue
        pid = int(environ.parent.name)
        if all(mark in entries for mark in marks) and pid != os.getpid() and _running(pid):
            found.append(pid)
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")
