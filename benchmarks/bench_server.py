"""The real server under protocol clients: `streamlit run app.py` in a subprocess, and small websocket
clients that speak Streamlit's own protocol (BackMsg / ForwardMsg protobufs on /_stcore/stream), as
a browser tab does: a rerun per page visit, fragment reruns on the timers the server asks for, file
uploads through /_stcore/upload_file. A page time is from sending the rerun BackMsg to the
script_finished of that run (fragment runs are counted, not timed).

In one run, for the app measured (and for --vs DIR2, the other one, side by side with ratios):

  1. one tab visits every page while a quick transfer training runs, visits them all again once the
     run is saved (evaluation, embedding map...), then classifies 160x160 photos on the Classify page
     (uploaded through the protocol): warm click-to-answer time, and the RSS of the server, of its
     other processes (a model service) and of the training workers;
  2. one 20-epoch training runs and 4 tabs watch the Training page: time for a new tab to be ready;
  3. two 20-epoch trainings run and 10 students loop over the pages: page time p50/p95/max, errors,
     and the server's full (generation-2) garbage collections per script run, with their cost
     (logged by benchmarks/gclog/sitecustomize.py inside the server only).

Everything runs on 127.0.0.1, in a fresh CATDOG_HOME (CATDOG_WORKERS=2), and every process started
is ended. A page run that gives no script_finished within 300 s counts as an error. Pictures the
page shows are not fetched from /media (a browser would). Progress goes to stderr, the table to stdout.
About 6 minutes per app on 2 cores (--quick: about 4.5).

    python benchmarks/bench_server.py [--app DIR] [--vs DIR2] [--data ZIP_OR_DIR] [--weights H5]
                                      [--minutes 1] [--students 10] [--quick]

To compare with the code before a change:
    git worktree add /tmp/catdog-before <commit>
    python benchmarks/bench_server.py --app . --vs /tmp/catdog-before
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import io
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import free_port, rss_mb  # noqa: E402,F401  (bench_door, bench_quick and bench_class use them from here)

REPO = HERE.parent
GCLOG_DIR = HERE / "gclog"
SHARED = Path(os.environ.get("CATDOG_SHARED", REPO.parent / "shared"))

PAGES = ["home", "dataset", "augmentation", "training", "evaluate", "classify", "classes", "inside"]
RUN_TIMEOUT = 300.0  # seconds a single page run may take before it counts as an error
# run_page's status for a full run whose end never came: a fragment run began after it began and
# before it ended, and one ScriptRunner runs one script at a time. How (from Streamlit 1.67's code): a
# fragment's timed rerun that reaches a ScriptRunner just stopped makes a new one, and AppSession
# ignores every event of the old one still queued (its script_finished too). The browser meets it
# too, and its page does end: the frontend's "running" state follows the session's status, which the
# fragment run's end sets back to not running, and the full run's elements had all arrived; what a
# tab keeps is the run before's stale elements until the next full run. This client therefore ends
# such a page at the fragment run's end, as a tab does, and counts it in Client.lost_ends.
LOST_END = "lost end"
NEW_TAB_TIMEOUT = 300.0

# The job helper: a small process of the measured app's own code (its catdog_core.jobs API), so the
# benchmark imports nothing of the app. One JSON command per line in, one JSON answer per line out.
JOB_HELPER = r"""
import json, sys
from catdog_core import jobs
for line in sys.stdin:
    cmd = json.loads(line)
    try:
        op = cmd["op"]
        if op == "quick":
            out = {"id": jobs.submit(jobs.quick_spec(), owner=cmd["owner"])}
        elif op == "train":
            out = {"id": jobs.submit(jobs.JobSpec(cmd["recipe"], cmd["epochs"]), owner=cmd["owner"])}
        elif op == "state":
            job = jobs.get_queue().get(cmd["id"])
            batch = getattr(job, "batch", None) or job  # JobState.batch since the one progress record
            out = {} if job is None else {"state": job.state, "phase": job.phase,
                                          "epoch": getattr(batch, "epoch", 0), "step": getattr(batch, "step", 0),
                                          "steps": getattr(batch, "steps", 0), "run_id": job.run_id,
                                          "job_error": job.error}
        elif op == "running":
            out = {"n": sum(1 for j in jobs.get_queue().active() if j.state == jobs.RUNNING)}
        elif op == "stop_all":
            jobs.get_queue().stop_all()
            out = {}
        elif op == "shutdown":
            jobs.shutdown_workers(timeout=cmd.get("timeout", 20))
            out = {}
        else:
            out = {"error": "unknown op"}
        out["ok"] = "error" not in out
    except Exception as exc:
        out = {"ok": False, "error": repr(exc)}
    print(json.dumps(out), flush=True)
"""


# ---------------------------------------------------------------- small helpers


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def processes_of_home(home: Path) -> list[int]:
    """Every process whose environment names this CATDOG_HOME (ours alone: the folder is fresh)."""
    marker = f"CATDOG_HOME={home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def a_photo(data: Path, size: int = 160, index: int = 0) -> bytes:
    """A validation photo of the dataset (zip or folder), as a size x size JPEG."""
    from PIL import Image

    if data.is_dir():
        files = sorted(data.rglob("validation/*/*.jpg"))
        raw = files[index % len(files)].read_bytes()
    else:
        with zipfile.ZipFile(data) as z:
            names = sorted(n for n in z.namelist() if "/validation/" in n and n.endswith(".jpg"))
            raw = z.read(names[index % len(names)])
    picture = Image.open(io.BytesIO(raw)).convert("RGB").resize((size, size))
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=90)
    return out.getvalue()


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- the protocol client


class Dropped(Exception):
    pass


class Client:
    """One browser tab, as far as the server can tell: a websocket session speaking BackMsg/ForwardMsg."""

    def __init__(self, server: "Server", name: str):
        self.server, self.name = server, name
        self.ws = None
        self.session_id = ""
        self.pages: dict[str, str] = {}  # url path ("" for the default page) -> page_script_hash
        self.current_hash = ""
        self.timers: dict[str, tuple[float, asyncio.Task]] = {}  # fragment id -> (interval, task)
        self.pending: dict | None = None  # the full run we wait for
        self.url_waiters: dict[str, asyncio.Future] = {}
        self.uploader_ids: list[str] = []
        self.markdown: list[str] = []
        self.exceptions: list[str] = []
        self.full_runs = 0
        self.fragment_runs = 0
        self.lost_ends = 0  # full runs whose script_finished Streamlit dropped (see LOST_END)
        self.cookie = ""  # "name=value" this tab sends beside the XSRF cookie (a class server's pass)
        self.dropped = False
        self.closing = False
        self.reader: asyncio.Task | None = None

    # -- connection

    async def connect(self) -> None:
        from websockets.asyncio.client import connect
        from websockets.typing import Subprotocol

        # No client pings (a browser sends none), no proxy: straight to 127.0.0.1.
        self.ws = await connect(f"ws://127.0.0.1:{self.server.port}/_stcore/stream",
                                subprotocols=[Subprotocol("streamlit")], proxy=None, max_size=None,
                                open_timeout=120, ping_interval=None, compression=None)
        self.reader = asyncio.create_task(self._read())

    async def close(self) -> None:
        self.closing = True
        self._cancel_timers()
        if self.ws is not None:
            try:
                await asyncio.wait_for(self.ws.close(), 10)
            except Exception:
                pass
        if self.reader is not None:
            self.reader.cancel()
            try:
                await self.reader
            except BaseException:
                pass

    async def _read(self) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        try:
            async for raw in self.ws:
                if isinstance(raw, str):
                    continue
                msg = ForwardMsg()
                msg.ParseFromString(raw)
                self._handle(msg)
        except asyncio.CancelledError:
            raise
        except Exception:
            pass
        finally:
            if not self.closing:
                self.dropped = True
            self._cancel_timers()
            if self.pending is not None and not self.pending["fut"].done():
                self.pending["fut"].set_exception(Dropped(self.name))
            for fut in self.url_waiters.values():
                if not fut.done():
                    fut.set_exception(Dropped(self.name))

    # -- what the server says

    def _learn_pages(self, app_pages) -> None:
        for page in app_pages:
            self.pages[page.url_pathname] = page.page_script_hash
            if page.is_default:
                self.pages[""] = page.page_script_hash

    def _handle(self, msg) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        kind = msg.WhichOneof("type")
        if kind == "delta":
            if msg.delta.WhichOneof("type") != "new_element":
                return
            element = msg.delta.new_element
            what = element.WhichOneof("type")
            if what == "exception":
                self.exceptions.append(f"{element.exception.type}: {element.exception.message}"[:200])
            elif what == "file_uploader":
                self.uploader_ids.append(element.file_uploader.id)
            elif what == "chat_input" and element.chat_input.accept_file:  # a box that takes files too
                self.uploader_ids.append(element.chat_input.id)
            elif what == "markdown":
                self.markdown.append(element.markdown.body)
        elif kind == "new_session":
            session = msg.new_session
            if session.initialize.session_id:
                self.session_id = session.initialize.session_id
            self._learn_pages(session.app_pages)
            if not msg.metadata.run.fragment_ids:  # a full run: the browser drops its fragment timers
                self._cancel_timers()
                self.current_hash = session.page_script_hash
                self.uploader_ids, self.markdown = [], []
                if self.pending is not None:
                    self.pending["runs"].add(msg.metadata.run.script_run_id)
                    self.pending["open"] = msg.metadata.run.script_run_id
            elif self.pending is not None and self.pending.get("open"):
                # A fragment run began while the full run we wait for had begun and not ended: one
                # ScriptRunner runs one script at a time, so Streamlit dropped that run's end
                # (LOST_END). The page ends with this fragment run, as a browser tab's does.
                self.pending["open"], self.pending["lost"] = None, True
                self.lost_ends += 1
        elif kind == "navigation":
            self._learn_pages(msg.navigation.app_pages)
            if msg.navigation.page_script_hash:
                self.current_hash = msg.navigation.page_script_hash
        elif kind == "auto_rerun":
            self._start_timer(msg.auto_rerun.fragment_id, msg.auto_rerun.interval)
        elif kind == "stop_auto_rerun":
            for fragment_id in msg.stop_auto_rerun.fragment_ids:
                self._cancel_timer(fragment_id)
        elif kind == "script_finished":
            status, run = msg.script_finished, msg.metadata.run
            if self.pending is not None and run.script_run_id == self.pending.get("open"):
                self.pending["open"] = None  # ended (perhaps early, for a rerun that follows)
            if run.fragment_ids or status == ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY:
                self.fragment_runs += 1
                pending = self.pending
                if pending is not None and pending.get("lost"):
                    self.pending = None
                    if not pending["fut"].done():
                        pending["fut"].set_result((time.perf_counter(), LOST_END))
            elif status in (ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_WITH_COMPILE_ERROR):
                self.full_runs += 1
                self.server.note_run()
                pending = self.pending
                if pending is not None and (run.script_run_id in pending["runs"] or not run.script_run_id):
                    self.pending = None
                    if not pending["fut"].done():
                        pending["fut"].set_result((time.perf_counter(), status))
            if run.fragment_ids or status == ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY:
                self.server.note_run()
        elif kind == "file_urls_response":
            fut = self.url_waiters.pop(msg.file_urls_response.response_id, None)
            if fut is not None and not fut.done():
                fut.set_result(msg.file_urls_response)
        elif kind == "page_not_found":
            self.exceptions.append(f"page not found: {msg.page_not_found.page_name}")

    # -- fragment timers, as the frontend keeps them (setInterval per fragment id)

    def _start_timer(self, fragment_id: str, interval: float) -> None:
        if not fragment_id or interval <= 0:
            return
        old = self.timers.get(fragment_id)
        if old is not None and old[0] == interval:
            return
        self._cancel_timer(fragment_id)
        self.timers[fragment_id] = (interval, asyncio.create_task(self._auto_rerun(fragment_id, interval)))

    def _cancel_timer(self, fragment_id: str) -> None:
        old = self.timers.pop(fragment_id, None)
        if old is not None:
            old[1].cancel()

    def _cancel_timers(self) -> None:
        for fragment_id in list(self.timers):
            self._cancel_timer(fragment_id)

    async def _auto_rerun(self, fragment_id: str, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self._send_rerun(self.current_hash, "", fragment_id=fragment_id)
            except Exception:
                return

    # -- what the tab sends

    async def _send_rerun(self, page_hash: str, page_name: str, fragment_id: str = "", widgets=()) -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg

        back = BackMsg()
        state = back.rerun_script
        state.query_string = ""
        state.page_script_hash = page_hash
        state.page_name = page_name
        if fragment_id:
            state.fragment_id = fragment_id
            state.is_auto_rerun = True
        state.widget_states.SetInParent()
        state.widget_states.widgets.extend(widgets)
        await self.ws.send(back.SerializeToString())

    async def run_page(self, page: str, widgets=(), timeout: float = RUN_TIMEOUT) -> float:
        """Ask for a full run of a page and wait for its script_finished; returns seconds.
        Raises TimeoutError or Dropped."""
        if self.dropped:
            raise Dropped(self.name)
        name = "" if page == "home" else page
        page_hash = self.pages.get(name, "")
        fut = asyncio.get_running_loop().create_future()
        self._cancel_timers()  # a page change drops the timers, as the frontend does
        started = time.perf_counter()
        self.pending = {"fut": fut, "runs": set()}
        await self._send_rerun(page_hash, name, widgets=widgets)
        try:
            finished, _status = await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            self.pending = None
            raise
        return finished - started

    async def upload(self, name: str, data: bytes, content_type: str = "image/jpeg"):
        """The browser's upload: ask for URLs over the websocket, PUT the file, return its widget info."""
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.Common_pb2 import UploadedFileInfo

        request_id = uuid.uuid4().hex
        fut = asyncio.get_running_loop().create_future()
        self.url_waiters[request_id] = fut
        back = BackMsg()
        back.file_urls_request.request_id = request_id
        back.file_urls_request.session_id = self.session_id
        back.file_urls_request.file_names.append(name)
        await self.ws.send(back.SerializeToString())
        response = await asyncio.wait_for(fut, 60)
        if response.error_msg or not response.file_urls:
            raise RuntimeError(f"no upload URL: {response.error_msg}")
        urls = response.file_urls[0]
        await asyncio.to_thread(self.server.put_file, urls.upload_url, name, data, content_type, self.cookie)
        info = UploadedFileInfo(file_id=urls.file_id, name=name, size=len(data))
        info.file_urls.CopyFrom(urls)
        return info


# ---------------------------------------------------------------- the server and its jobs


LIVE: list["Server"] = []  # stopped again at exit, whatever happened


class Server:
    def __init__(self, app: Path, data: Path, weights: Path, workers: int):
        self.app = app
        self.tmp = Path(tempfile.mkdtemp(prefix="catdog-bench-"))
        self.home = self.tmp / "home"
        self.home.mkdir()
        (self.tmp / "keras").mkdir()
        self.gclog = self.tmp / "gc.log"
        self.port = free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CATDOG_")}
        self.env.update(CATDOG_DATA_DIR=str(data), CATDOG_BASE_WEIGHTS=str(weights), CATDOG_HOME=str(self.home),
                        KERAS_HOME=str(self.tmp / "keras"), CATDOG_WORKERS=str(workers),
                        TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
        for proxy in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
            self.env.pop(proxy, None)
        self.env["NO_PROXY"] = self.env["no_proxy"] = "127.0.0.1,localhost"
        self.proc: subprocess.Popen | None = None
        self.helper: subprocess.Popen | None = None
        self.helper_lock = threading.Lock()
        self.xsrf = ""
        self.runs_done = 0
        self.stopped = False
        LIVE.append(self)

    def note_run(self) -> None:
        self.runs_done += 1

    # -- lifecycle

    def start(self) -> None:
        env = dict(self.env, CATDOG_GCLOG=str(self.gclog))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(GCLOG_DIR), env.get("PYTHONPATH", "")) if p)
        self.server_log = open(self.tmp / "server.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(self.port),
             "--server.headless", "true", "--server.address", "127.0.0.1",
             "--browser.gatherUsageStats", "false"],
            cwd=self.app, env=env, stdin=subprocess.DEVNULL, stdout=self.server_log, stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited ({self.proc.returncode}); see {self.tmp / 'server.log'}")
            try:
                status, headers, _ = self.http("GET", "/_stcore/health")
                if status == 200:
                    for key, value in headers:
                        if key.lower() == "set-cookie" and value.startswith("_streamlit_xsrf="):
                            self.xsrf = value.split(";", 1)[0].split("=", 1)[1]
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError("the server did not answer /_stcore/health within 120 s")

    def http(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            conn.close()

    def put_file(self, url: str, name: str, data: bytes, content_type: str, cookie: str = "") -> None:
        path = url if url.startswith("/") else "/" + url.split("://", 1)[-1].split("/", 1)[-1]
        boundary = "catdogbench" + uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
                f"Content-Type: {content_type}\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        cookies = [cookie] if cookie else []
        if self.xsrf:
            headers["X-Xsrftoken"] = self.xsrf
            cookies.append(f"_streamlit_xsrf={self.xsrf}")
        if cookies:
            headers["Cookie"] = "; ".join(cookies)
        status, _, text = self.http("PUT", path, body, headers)
        if status not in (200, 204):
            raise RuntimeError(f"upload refused: {status} {text[:200]!r}")

    def job(self, **cmd) -> dict:
        with self.helper_lock:  # one command and its answer at a time: callers run in threads
            return self._job(**cmd)

    def _job(self, **cmd) -> dict:
        if self.helper is None:
            env = dict(self.env)
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(self.app), env.get("PYTHONPATH", "")) if p)
            self.helper = subprocess.Popen([sys.executable, "-u", "-c", JOB_HELPER], cwd=self.app, env=env,
                                           stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                           stderr=open(self.tmp / "helper.log", "wb"), text=True)
        self.helper.stdin.write(json.dumps(cmd) + "\n")
        self.helper.stdin.flush()
        line = self.helper.stdout.readline()
        if not line:
            raise RuntimeError(f"the job helper exited; see {self.tmp / 'helper.log'}")
        out = json.loads(line)
        if not out.get("ok"):
            raise RuntimeError(f"job helper: {out.get('error')}")
        return out

    async def ajob(self, **cmd) -> dict:
        return await asyncio.to_thread(self.job, **cmd)

    def processes(self) -> dict[str, list[int]]:
        """The server, its other processes (a model service...), and the training workers."""
        helper = self.helper.pid if self.helper is not None else -1
        server = self.proc.pid if self.proc is not None else -1
        out = {"server": [], "other": [], "workers": []}
        for pid in processes_of_home(self.home):
            if pid == helper:
                continue
            if pid == server:
                out["server"].append(pid)
            elif "catdog_core worker" in cmdline(pid) or "catdog_core.jobs" in cmdline(pid):
                out["workers"].append(pid)
            else:
                out["other"].append(pid)
        return out

    def gc_events(self, since: float, until: float) -> list[float]:
        if not self.gclog.exists() or self.proc is None:
            return []
        out = []
        for line in self.gclog.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and int(parts[0]) == self.proc.pid and since <= float(parts[1]) <= until:
                out.append(float(parts[2]))
        return out

    def stop(self) -> None:
        """End everything this benchmark started for this app: workers, the server's group, the helper,
        and any process left with this CATDOG_HOME in its environment."""
        if self.stopped:
            return
        self.stopped = True
        if self.helper is not None and self.helper.poll() is None:
            try:
                self.helper.stdin.write(json.dumps({"op": "shutdown", "timeout": 15}) + "\n")
                self.helper.stdin.flush()
                self.helper.stdout.readline()
            except Exception:
                pass
            try:
                self.helper.stdin.close()
                self.helper.wait(5)
            except Exception:
                self.helper.kill()
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(15)
            except (OSError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except OSError:
                    pass
                self.proc.wait(5)
        from catdog_core.cli.classroom import end_all

        end_all(lambda: processes_of_home(self.home))  # then whatever of this home still runs
        shutil.rmtree(self.tmp, ignore_errors=True)


async def wait_for_job(server: Server, job_id: int, until: str, limit: float) -> dict:
    """Poll a job until it is done (until="done") or training batches (until="training"); bounded."""
    deadline = time.time() + limit
    state: dict = {}
    while time.time() < deadline:
        state = await server.ajob(op="state", id=job_id)
        if state.get("state") in ("done", "failed", "stopped"):
            return state
        if until == "training" and state.get("state") == "running" and (state.get("step") or state.get("epoch")):
            return state
        await asyncio.sleep(1.0)
    state["timed_out"] = True
    return state


# ---------------------------------------------------------------- the scenarios


async def visit_every_page(tab, which: str, out: dict) -> dict:
    """Seconds for each page's run, NaN (and a note) for one that timed out or dropped."""
    seconds = {}
    for page in PAGES:
        try:
            seconds[page] = await tab.run_page(page)
        except (asyncio.TimeoutError, Dropped) as exc:
            seconds[page] = float("nan")
            out.setdefault("notes", []).append(f"{which} visit of {page}: {type(exc).__name__}")
    return seconds


async def visit_and_classify(server: Server, data: Path, reps: int, out: dict) -> None:
    """One tab visits every page while a quick training runs, then classifies photos."""
    quick = (await server.ajob(op="quick", owner="bench-quick"))["id"]
    tab = Client(server, "visitor")
    await tab.connect()
    out["first_visits"] = await visit_every_page(tab, "first", out)
    state = await wait_for_job(server, quick, "done", 300)
    out["quick_state"] = state.get("state")
    if state.get("state") != "done":
        out.setdefault("notes", []).append(f"quick transfer job: {state}")
    # With a trained run, pages draw more (evaluation, the embedding map...): once, idle.
    out["second_visits"] = await visit_every_page(tab, "second", out)
    try:
        out["classify_page_s"] = await tab.run_page("classify")  # the model loads here
        uploader = next((w for w in tab.uploader_ids if w.endswith("classify_files")), None)
        if uploader is None:
            raise RuntimeError(f"no classify_files uploader on the Classify page ({tab.uploader_ids})")
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        times, answered, uploads = [], 0, []
        for i in range(reps + 1):  # the first one is cold
            photo = a_photo(data, 160, i)
            started = time.perf_counter()
            info = await tab.upload(f"photo{i}.jpg", photo)
            uploads.append(time.perf_counter() - started)
            widget = WidgetState(id=uploader)
            widget.file_uploader_state_value.uploaded_file_info.append(info)
            before = len(tab.exceptions)
            took = await tab.run_page("classify", widgets=[widget])
            ok = len(tab.exceptions) == before and any("sure" in body for body in tab.markdown)
            answered += ok
            if i == 0:
                out["classify_cold_s"] = took
            else:
                times.append(took)
        out["classify_warm_s"] = times
        out["upload_s"] = uploads
        out["classify_answered"] = (answered, reps + 1)
    except Exception as exc:  # the figure says "not measured" and why
        out.setdefault("notes", []).append(f"classify: {exc!r}")
    out["exceptions_visit"] = list(tab.exceptions)
    procs = server.processes()
    out["rss_server"] = sum(rss_mb(p) for p in procs["server"])
    out["rss_other"] = [(cmdline(p)[:60], rss_mb(p)) for p in procs["other"]]
    out["rss_workers"] = [rss_mb(p) for p in procs["workers"]]
    await tab.close()


async def new_tab_while_watching(server: Server, samples: int, out: dict) -> None:
    """1 job trains, 4 tabs watch the Training page; a 5th tab opens it."""
    job = (await server.ajob(op="train", recipe="transfer", epochs=20, owner="bench-train-1"))["id"]
    out["train_job_1"] = job
    state = await wait_for_job(server, job, "training", 300)
    if state.get("state") != "running":
        out.setdefault("notes", []).append(f"20-epoch job 1 not training: {state}")
    watchers = [Client(server, f"watcher{i}") for i in range(4)]
    await asyncio.gather(*(w.connect() for w in watchers))
    firsts = await asyncio.gather(*(w.run_page("training") for w in watchers), return_exceptions=True)
    out["watchers_first_s"] = [f if isinstance(f, float) else float("nan") for f in firsts]
    await asyncio.sleep(6)  # their fragments now rerun on the server's timers
    fragments_before = sum(w.fragment_runs for w in watchers)
    t_watch = time.perf_counter()
    times = []
    for i in range(samples):
        tab = Client(server, f"newtab{i}")
        started = time.perf_counter()
        try:
            await asyncio.wait_for(tab.connect(), NEW_TAB_TIMEOUT)
            await tab.run_page("training", timeout=max(1.0, NEW_TAB_TIMEOUT - (time.perf_counter() - started)))
            times.append(time.perf_counter() - started)
        except (asyncio.TimeoutError, Dropped) as exc:
            times.append(float("inf"))
            out.setdefault("notes", []).append(f"new tab {i}: {type(exc).__name__} (gave up at 300 s)")
        await tab.close()
        await asyncio.sleep(3)
    watched = time.perf_counter() - t_watch
    out["new_tab_s"] = times
    out["watcher_fragment_runs_per_s"] = (sum(w.fragment_runs for w in watchers) - fragments_before) / watched
    out["watchers_dropped"] = sum(w.dropped for w in watchers)
    out["exceptions_watch"] = [e for w in watchers for e in w.exceptions]
    await asyncio.gather(*(w.close() for w in watchers))


async def students(server: Server, count: int, seconds: float, think: float, out: dict) -> None:
    """Two trainings run; `count` students loop over the pages for `seconds`."""
    job2 = (await server.ajob(op="train", recipe="transfer", epochs=20, owner="bench-train-2"))["id"]
    await wait_for_job(server, job2, "training", 300)
    running = [(await server.ajob(op="running"))["n"]]

    times: list[float] = []
    by_page: dict[str, list[float]] = {}
    errors: list[str] = []
    attributed = [0]  # exceptions seen during a timed page run (the rest came in fragment runs)
    tabs = [Client(server, f"student{i}") for i in range(count)]

    async def student(i: int, tab: Client, until: float) -> None:
        rng = random.Random(i)
        try:
            await tab.connect()
        except Exception as exc:
            errors.append(f"{tab.name}: connect {exc!r}")
            return
        k = i
        while time.time() < until:
            page = PAGES[k % len(PAGES)]
            k += 1
            before = len(tab.exceptions)
            try:
                took = await tab.run_page(page)
            except asyncio.TimeoutError:
                errors.append(f"{tab.name}: {page} gave no script_finished in {RUN_TIMEOUT:.0f} s")
                continue
            except Dropped:
                errors.append(f"{tab.name}: session dropped")
                return
            times.append(took)
            by_page.setdefault(page, []).append(took)
            if len(tab.exceptions) > before:
                attributed[0] += len(tab.exceptions) - before
                errors.extend(f"{tab.name} on {page}: {e}" for e in tab.exceptions[before:])
            await asyncio.sleep(think * rng.uniform(0.5, 1.5))

    async def count_trainings(until: float) -> None:
        while time.time() < until:
            await asyncio.sleep(10)
            running.append((await server.ajob(op="running"))["n"])

    runs_before = server.runs_done
    t0 = time.time()
    until = t0 + seconds
    await asyncio.gather(count_trainings(until), *(student(i, tab, until) for i, tab in enumerate(tabs)))
    t1 = time.time()
    runs = server.runs_done - runs_before
    # a page run that ended after the window but that a student had started in it still counts; close first
    await asyncio.gather(*(t.close() for t in tabs))
    fragment_exceptions = sum(len(t.exceptions) for t in tabs) - attributed[0]
    out["page_times"] = times
    out["by_page"] = by_page
    out["errors"] = errors
    out["fragment_exceptions"] = max(0, fragment_exceptions)
    out["students_window"] = (t0, t1)
    out["script_runs"] = runs
    out["gc_ms"] = server.gc_events(t0, t1)
    out["trainings_running"] = running


async def measure_app(app: Path, args) -> dict:
    out: dict = {"app": str(app)}
    try:
        rev = subprocess.run(["git", "-C", str(app), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(app), "status", "--porcelain"], capture_output=True, text=True,
                               timeout=20).stdout.strip()
        out["rev"] = rev + ("+changes" if dirty else "")
    except Exception:
        out["rev"] = "?"
    server = Server(app, args.data, args.weights, workers=2)
    log(f"{app}: serving on 127.0.0.1:{server.port}, home {server.home}")
    try:
        started = time.perf_counter()
        await asyncio.to_thread(server.start)
        out["server_start_s"] = time.perf_counter() - started
        log(f"{app}: server up in {out['server_start_s']:.1f} s; visiting pages while a quick training runs")
        await visit_and_classify(server, args.data, args.classify_reps, out)
        log(f"{app}: 1 training + 4 watchers, new tabs")
        await new_tab_while_watching(server, args.new_tabs, out)
        log(f"{app}: {args.students} students for {args.seconds:.0f} s while 2 trainings run")
        await students(server, args.students, args.seconds, args.think, out)
        out["server_alive"] = server.proc.poll() is None
    except Exception as exc:
        out.setdefault("notes", []).append(f"aborted: {exc!r}")
        log(f"{app}: aborted: {exc!r}")
    finally:
        log(f"{app}: stopping the server and the workers")
        await asyncio.to_thread(server.stop)
    return out


# ---------------------------------------------------------------- the table


def figures(r: dict) -> list[tuple[str, str, float | None]]:
    """(figure, text, number for the ratio) for one app's results."""
    rows = []
    nan = float("nan")

    gc_ms, runs = r.get("gc_ms"), r.get("script_runs")
    if gc_ms is not None and runs:
        rows.append(("gen-2 collections per script run (10 students)", f"{len(gc_ms) / runs:.2f} ({len(gc_ms)} in {runs} runs)",
                     len(gc_ms) / runs))
        rows.append(("gen-2 collection ms, median", f"{statistics.median(gc_ms):.1f}" if gc_ms else "-",
                     statistics.median(gc_ms) if gc_ms else None))
        rows.append(("gen-2 collection ms, max", f"{max(gc_ms):.1f}" if gc_ms else "-", max(gc_ms) if gc_ms else None))
        seconds = r["students_window"][1] - r["students_window"][0]
        rows.append(("gen-2 ms per second of serving", f"{sum(gc_ms) / seconds:.0f}", sum(gc_ms) / seconds))
    else:
        rows += [("gen-2 collections per script run (10 students)", "not measured", None)]

    tabs = r.get("new_tab_s")
    if tabs:
        rows.append(("new tab ready, Training page, 1 job + 4 watchers: median s",
                     f"{statistics.median(tabs):.2f} (n={len(tabs)})", statistics.median(tabs)))
        rows.append(("new tab ready: max s", f"{max(tabs):.2f}", max(tabs)))
    else:
        rows.append(("new tab ready, Training page, 1 job + 4 watchers: median s", "not measured", None))

    if "rss_server" in r:
        other = sum(m for _, m in r["rss_other"])
        rows.append(("server RSS MB (all pages, model loaded, photos classified)", f"{r['rss_server']:.0f}", r["rss_server"]))
        rows.append(("server's other processes RSS MB (model service...)",
                     f"{other:.0f} ({len(r['rss_other'])} proc)", other or None))
        rows.append(("training workers RSS MB", f"{sum(r['rss_workers']):.0f} ({len(r['rss_workers'])} proc)",
                     sum(r["rss_workers"]) or None))

    times = r.get("page_times")
    if times:
        rows.append(("page time p50 s (10 students, 2 trainings)", f"{pct(times, 50):.2f}", pct(times, 50)))
        rows.append(("page time p95 s", f"{pct(times, 95):.2f}", pct(times, 95)))
        rows.append(("page time max s", f"{max(times):.2f}", max(times)))
        rows.append(("page runs / errors", f"{len(times)} / {len(r['errors']) + r.get('fragment_exceptions', 0)}", None))
        running = r.get("trainings_running") or []
        rows.append(("trainings running during it (min-max of samples)",
                     f"{min(running)}-{max(running)}" if running else "?", None))
    else:
        rows.append(("page time p95 s (10 students, 2 trainings)", "not measured", None))

    warm = r.get("classify_warm_s")
    if warm:
        answered = r.get("classify_answered", (0, 0))
        rows.append(("classify one 160x160 photo, rerun to answer, warm: median ms",
                     f"{1000 * statistics.median(warm):.0f} (n={len(warm)}, answered {answered[0]}/{answered[1]})",
                     statistics.median(warm)))
        rows.append(("classify, cold (first photo) ms", f"{1000 * r['classify_cold_s']:.0f}", r["classify_cold_s"]))
        rows.append(("upload of the photo before it (URL request + PUT), median ms",
                     f"{1000 * statistics.median(r['upload_s']):.0f}", statistics.median(r["upload_s"])))
    else:
        rows.append(("classify one 160x160 photo, rerun to answer, warm: median ms", "not measured", None))

    rows.append(("server start to /_stcore/health s", f"{r.get('server_start_s', nan):.1f}", r.get("server_start_s")))
    first = r.get("first_visits") or {}
    if first:
        rows.append(("first visit of all 8 pages, s (quick training running)", f"{sum(first.values()):.1f}",
                     sum(first.values())))
    second = r.get("second_visits") or {}
    if second:
        rows.append(("second visit of all 8 pages, s (a run exists, nothing trains)", f"{sum(second.values()):.1f}",
                     sum(second.values())))
    return rows


def print_table(results: list[dict], labels: list[str]) -> None:
    tables = [figures(r) for r in results]
    names = [name for name, _, _ in tables[0]]
    for t in tables[1:]:
        names += [name for name, _, _ in t if name not in names]
    cells = [{name: (text, value) for name, text, value in t} for t in tables]
    header = ["figure"] + labels + (["ratio (1st ÷ 2nd)"] if len(results) == 2 else [])
    print("| " + " | ".join(header) + " |")
    print("| " + " | ".join("---" for _ in header) + " |")
    for name in names:
        row = [name] + [c.get(name, ("-", None))[0] for c in cells]
        if len(results) == 2:
            a, b = cells[0].get(name, ("", None))[1], cells[1].get(name, ("", None))[1]
            row.append(f"{a / b:.2f}" if a is not None and b and a == a and b == b else "")
        print("| " + " | ".join(row) + " |")
    for label, r in zip(labels, results):
        notes = list(r.get("notes", []))
        first = r.get("first_visits") or {}
        if first:
            notes.append("first visits (s): " + ", ".join(f"{p} {t:.1f}" for p, t in first.items()))
        if r.get("second_visits"):
            notes.append("second visits (s): " + ", ".join(f"{p} {t:.1f}" for p, t in r["second_visits"].items()))
        if r.get("by_page"):
            notes.append("student page time p50 by page (s): " + ", ".join(
                f"{p} {pct(v, 50):.2f}" for p, v in sorted(r["by_page"].items())))
        if "watcher_fragment_runs_per_s" in r:
            notes.append(f"watchers: {r['watcher_fragment_runs_per_s']:.1f} fragment runs/s served, "
                         f"{r.get('watchers_dropped', 0)} dropped")
        for other in r.get("rss_other", []):
            notes.append(f"other process: {other[0]!r} {other[1]:.0f} MB")
        errors = r.get("errors", []) + r.get("exceptions_visit", []) + r.get("exceptions_watch", [])
        for e in errors[:5]:
            notes.append(f"error: {e}")
        if len(errors) > 5:
            notes.append(f"... and {len(errors) - 5} more errors")
        if notes:
            print(f"\n{label} ({r['app']}):")
            for n in notes:
                print(f"  - {n}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--app", type=Path, default=REPO, help="a checkout of the app to serve (default: this repo)")
    parser.add_argument("--vs", type=Path, default=None, help="a second checkout, measured in the same run")
    parser.add_argument("--data", type=Path, default=SHARED / "data" / "cats_and_dogs.zip")
    parser.add_argument("--weights", type=Path, default=SHARED / "weights" / "mobilenet_v2_1.0_224_no_top_imagenet.h5")
    parser.add_argument("--minutes", type=float, default=None, help="how long the students browse (default 1; 0.5 quick)")
    parser.add_argument("--students", type=int, default=10)
    parser.add_argument("--think", type=float, default=1.0, help="a student's mean pause between pages, s")
    parser.add_argument("--quick", action="store_true", help="fewer samples, 30 s of students")
    args = parser.parse_args()
    minutes = args.minutes if args.minutes is not None else (0.5 if args.quick else 1.0)
    args.seconds = 60 * minutes
    args.new_tabs = 2 if args.quick else 3
    args.classify_reps = 3 if args.quick else 5
    args.data, args.weights = args.data.resolve(), args.weights.resolve()
    apps = [args.app.resolve()] + ([args.vs.resolve()] if args.vs else [])
    for app in apps:
        if not (app / "app.py").exists():
            parser.error(f"{app} has no app.py")
    for path in (args.data, args.weights):
        if not path.exists():
            parser.error(f"{path} does not exist")

    def stop_on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop_on_signal)
    results = []
    try:
        for app in apps:
            results.append(asyncio.run(measure_app(app, args)))
    finally:
        for server in LIVE:
            server.stop()
    labels = [f"{Path(r['app']).name}@{r['rev']}" for r in results]
    print(f"\nbench_server: {os.cpu_count()} CPUs, {'quick' if args.quick else 'full'}, "
          f"{args.students} students x {args.seconds:.0f} s, think {args.think:.1f} s, data {args.data.name}\n")
    print_table(results, labels)
    return 0


if __name__ == "__main__":
    sys.exit(main())
