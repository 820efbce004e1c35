"""A class on the real server: N students for M minutes on one `streamlit run app.py`.

Each student is a websocket client speaking Streamlit's own protocol (bench_server.Client: a rerun
per page visit, fragment reruns on the server's timers, uploads through /_stcore/upload_file). In a
loop, with pauses, each one:

  - visits a page (any of the eight);
  - moves a slider on the Augmentation page (a rerun with the slider's new value);
  - classifies a photo on the Classify page: a real validation photo, or a hostile file (text named
    .jpg, a truncated JPEG, an empty file, a PNG whose header claims 40000x40000 pixels);
  - now and then uploads a small zip of two classes on the Dataset page (its own pictures);

and the first five submit a quick transfer training each at the start. `--browsers N` of the
students (5 by default) are real Chromium tabs instead, one browser with a context each, doing the
same loop with the mouse and keyboard (a sidebar link, a slider's arrow key, a file given to the
uploader, the "Use these classes" button); a tab's page time runs from the action to the end of the
run it started, as the page's own script state shows it. The server is `catdog classroom` on
127.0.0.1 over HTTPS, behind its door (every tab signs in from a loopback address of its own, as a
class's devices each have theirs); `--plain` measures `streamlit run app.py` instead.

Printed, for protocol and Chromium students side by side: errors (a traceback on a page, a page
run with no answer in 300 s, a dropped session or a "Connection error", a server that died: must
be 0; a hostile file's one-sentence refusal is not an error), page time p50/p95/max by action,
peak RSS of the server, of its model service and of the training workers (sampled every 2 s), their
memory before the students came, 30 s after they left and once Streamlit dropped their sessions (130 s),
the jobs finished, and the processes of
the class's home left once `catdog classroom` got Ctrl-C.

    python benchmarks/bench_class.py [--students 30] [--browsers 5] [--minutes 10] [--plain]
                                     [--data ZIP_OR_DIR] [--weights H5]

`tests/system/test_load.py` runs the same scenario for a minute (`python -m pytest -m load`).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import io
import json
import random
import signal
import ssl
import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_door  # noqa: E402  (the class server's sign-in)
import bench_server as bs  # noqa: E402  (the protocol client, the server and its helpers)

from _common import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from catdog_core import classroom  # noqa: E402  (bench_door put the project on the path)

TITLES = {"home": "Home", "dataset": "Dataset", "augmentation": "Augmentation", "training": "Training",
          "evaluate": "Evaluate", "classify": "Classify", "classes": "Your classes", "inside": "Inside the models"}
PROTOCOL, CHROMIUM_TAB = "protocol", "chromium"
SESSION_TTL = 120.0  # Streamlit's server.disconnectedSessionTTL (its default; config.toml leaves it)

HOSTILE = {
    "notes.jpg": b"this is a text file with a photo's name\n" * 20,
    "cut.jpg": None,  # a real photo cut in half: filled in at start
    "empty.jpg": b"",
    "huge.png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + (40000).to_bytes(4, "big") * 2 + b"\x08\x02\x00\x00\x00"
                + b"\x00\x00\x00\x00",
}


class Student(bs.Client):
    """A tab that also remembers the sliders and error alerts of the last full run."""

    def __init__(self, server, name: str):
        super().__init__(server, name)
        self.sliders: list[tuple[str, str, float, float, float]] = []  # (id, label, min, max, value)
        self.buttons: dict[str, str] = {}  # label -> id
        self.alerts = 0

    def _handle(self, msg) -> None:
        kind = msg.WhichOneof("type")
        if kind == "new_session" and not msg.metadata.run.fragment_ids:
            self.sliders, self.buttons, self.alerts = [], {}, 0
        if kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            element = msg.delta.new_element
            what = element.WhichOneof("type")
            if what == "slider" and element.slider.data_type in (0, 1):  # INT or FLOAT sliders
                s = element.slider
                value = s.value[0] if s.value else (s.default[0] if s.default else s.min)
                self.sliders.append((s.id, s.label, s.min, s.max, value))
            elif what == "button":
                self.buttons[element.button.label] = element.button.id
            elif what == "alert" and element.alert.format == 1:  # ERROR
                self.alerts += 1
        super()._handle(msg)


def class_zip(seed: int, photos: list[bytes]) -> bytes:
    """Two classes of six of the dataset's photos each, picked by the seed: a student's own set."""
    rng = random.Random(seed)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for name in ("left", "right"):
            for i in range(6):
                archive.writestr(f"set{seed}/{name}/{i}.jpg", rng.choice(photos))
    return out.getvalue()


async def classify(tab: Student, name: str, data: bytes) -> float:
    from streamlit.proto.WidgetStates_pb2 import WidgetState

    if not any(w.endswith("classify_files") for w in tab.uploader_ids):
        await tab.run_page("classify")
    uploader = next((w for w in tab.uploader_ids if w.endswith("classify_files")), None)
    if uploader is None:  # no model on this student's own classes yet: the page offers to train one
        return None
    info = await tab.upload(name, data, "image/png" if name.endswith(".png") else "image/jpeg")
    widget = WidgetState(id=uploader)
    widget.file_uploader_state_value.uploaded_file_info.append(info)
    return await tab.run_page("classify", widgets=[widget])


async def upload_set(tab: Student, data: bytes, name: str) -> float:
    from streamlit.proto.WidgetStates_pb2 import WidgetState

    await tab.run_page("dataset")
    uploader = next((w for w in tab.uploader_ids if w.endswith("own_classes_zip")), None)
    if uploader is None:
        raise RuntimeError(f"no zip uploader on the Dataset page ({tab.uploader_ids})")
    info = await tab.upload(name, data, "application/zip")
    widget = WidgetState(id=uploader)
    widget.file_uploader_state_value.uploaded_file_info.append(info)
    await tab.run_page("dataset", widgets=[widget])
    button = tab.buttons.get("Use these classes")
    if button is None:
        raise RuntimeError(f"no 'Use these classes' button after the upload ({sorted(tab.buttons)})")
    press = WidgetState(id=button, trigger_value=True)
    return await tab.run_page("dataset", widgets=[widget, press])  # checked, decoded, in use


async def move_slider(tab: Student, rng: random.Random) -> float:
    from streamlit.proto.WidgetStates_pb2 import WidgetState

    await tab.run_page("augmentation")
    if not tab.sliders:
        raise RuntimeError("no slider on the Augmentation page")
    sid, _label, low, high, value = rng.choice(tab.sliders)
    step = (high - low) / 10 or 1.0
    widget = WidgetState(id=sid)
    widget.double_array_value.data.append(min(high, max(low, value + rng.choice((-step, step)))))
    return await tab.run_page("augmentation", widgets=[widget])


# ---------------------------------------------------------------- the class server


class ClassroomServer(bs.Server):
    """`catdog classroom` on 127.0.0.1 over HTTPS behind its door, with bs.Server's data, weights, home
    and workers: what a class meets. Requests the benchmark makes itself carry the teacher's pass."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.tls: ssl.SSLContext | None = None
        self.teacher_pass = ""
        self.left_after_stop: list[int] | None = None

    def start(self) -> None:
        output = self.tmp / "classroom.out"
        self.server_log = open(output, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "catdog_core", "classroom", "--address", "127.0.0.1", "--port", str(self.port),
             "--password", bench_door.PASSWORD, "--teacher-password", bench_door.TEACHER, "--json"],
            cwd=self.app, env=self.env, stdin=subprocess.DEVNULL, stdout=self.server_log, stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = time.time() + 180
        while not any(line.startswith(b"{") for line in output.read_bytes().splitlines()):  # it answers /login
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"catdog classroom did not start; see {output}")
            time.sleep(0.5)
        self.tls = ssl.create_default_context(cafile=str(classroom.class_folder(self.home) / "cert.pem"))
        self.teacher_pass = asyncio.run(self.sign_in(bench_door.TEACHER, "127.0.0.2"))
        status, headers, _ = self.http("GET", "/_stcore/health")
        for key, value in headers:
            if key.lower() == "set-cookie" and value.startswith("_streamlit_xsrf="):
                self.xsrf = value.split(";", 1)[0].split("=", 1)[1]

    async def sign_in(self, password: str, source: str, limit: float = 180) -> str:
        """The pass cookie ("name=value") the password gets from `source`, waiting out the door's limit."""
        deadline = time.time() + limit
        while True:
            token = bench_door.pass_token(*await bench_door.post_login(self.port, self.tls, password, source))
            if token:
                return f"{classroom.PASS_COOKIE}={token}"
            if time.time() > deadline:
                raise RuntimeError(f"the door let {source} in with the right password for {limit:.0f} s")
            await asyncio.sleep(1.0)

    def http(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        headers = dict(headers or {})
        if f"{classroom.PASS_COOKIE}=" not in headers.get("Cookie", ""):
            headers["Cookie"] = "; ".join(c for c in (self.teacher_pass, headers.get("Cookie")) if c)
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=120, context=self.tls)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            conn.close()

    def processes(self) -> dict[str, list[int]]:
        """As bs.Server's, the Streamlit process under the command counted as the server with it."""
        out = super().processes()
        for pid in list(out["other"]):
            if "streamlit" in bs.cmdline(pid):
                out["other"].remove(pid)
                out["server"].append(pid)
        return out

    def stop(self) -> None:
        """Ctrl-C to the command, as the teacher ends the lesson; then what is left of its home is counted
        (the benchmark's own job helper aside) and removed."""
        if not self.stopped and self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(120)
            except subprocess.TimeoutExpired:
                pass
            helper = self.helper.pid if self.helper is not None and self.helper.poll() is None else -1
            self.left_after_stop = [pid for pid in bs.processes_of_home(self.home) if pid != helper]
        super().stop()


class DoorStudent(Student):
    """A protocol student of the class server: wss:// with the pass its sign-in got."""

    async def connect(self) -> None:
        from websockets.asyncio.client import connect
        from websockets.typing import Subprotocol

        self.ws = await connect(f"wss://127.0.0.1:{self.server.port}/_stcore/stream", ssl=self.server.tls,
                                subprotocols=[Subprotocol("streamlit")], proxy=None, max_size=None,
                                additional_headers={"Cookie": self.cookie}, open_timeout=120, ping_interval=None,
                                compression=None)
        self.reader = asyncio.create_task(self._read())


def a_tab(server, name: str) -> Student:
    return DoorStudent(server, name) if isinstance(server, ClassroomServer) else Student(server, name)


async def let_in(server, tab, source: str) -> None:
    if isinstance(server, ClassroomServer):
        tab.cookie = await server.sign_in(bench_door.PASSWORD, source)


# ---------------------------------------------------------------- Chromium students

# Every change of the app's script state, with the page's clock: a run's end is read from here, not
# polled for, so a quick run is never missed between two looks.
WATCH_RUNS = """
window.__catdogRuns = [];
new MutationObserver((changes) => {
  for (const c of changes) window.__catdogRuns.push([performance.now(), c.target.getAttribute(c.attributeName)]);
}).observe(document, {attributes: true, subtree: true, attributeFilter: ["data-test-script-state"]});
"""
# The end of the first run that started after t0: its time, or -1 when none started in 15 s and the app
# sits idle (an action that asked for no run).
RUN_ENDED = """(t0) => {
  let ran = false;
  for (const [t, state] of window.__catdogRuns || []) {
    if (t < t0) continue;
    if (state === "running") ran = true;
    else if (ran && state === "notRunning") return t;
  }
  const app = document.querySelector('[data-testid="stApp"]');
  if (!ran && performance.now() - t0 > 15000 && app && app.getAttribute("data-test-script-state") === "notRunning")
    return -1;
  return false;
}"""


class BrowserStudent:
    """A real tab: one Chromium context of its own, past the door with its own pass."""

    kind = CHROMIUM_TAB

    def __init__(self, server, name: str):
        self.server, self.name = server, name
        self.page = None
        self.where = ""
        self.crashed = False
        self.unseen = 0  # actions after which no run started (none is timed)

    async def open(self, browser, cookie: str) -> None:
        secure = isinstance(self.server, ClassroomServer)
        base = f"{'https' if secure else 'http'}://127.0.0.1:{self.server.port}"
        context = await browser.new_context(viewport={"width": 1280, "height": 900}, ignore_https_errors=True)
        if cookie:
            name, value = cookie.split("=", 1)
            await context.add_cookies([{"name": name, "value": value, "url": base, "secure": True,
                                        "httpOnly": True, "sameSite": "Strict"}])
        await context.add_init_script(WATCH_RUNS)
        self.page = await context.new_page()
        self.page.set_default_timeout(bs.RUN_TIMEOUT * 1000)
        self.page.on("crash", lambda _page: setattr(self, "crashed", True))
        t0 = 0.0
        await self.page.goto(base + "/", wait_until="domcontentloaded")
        await self._ended(t0)
        self.where = "home"

    async def _ended(self, t0: float) -> float | None:
        handle = await self.page.wait_for_function(RUN_ENDED, arg=t0, timeout=bs.RUN_TIMEOUT * 1000, polling=50)
        ended = await handle.json_value()
        if ended < 0:
            self.unseen += 1
            return None
        return (ended - t0) / 1000

    async def timed(self, act) -> float | None:
        """Seconds from `act` (a click, a key, a file) to the end of the run it started."""
        t0 = await self.page.evaluate("performance.now()")
        await act()
        return await self._ended(t0)

    async def visit(self, page: str) -> float | None:
        link = self.page.get_by_test_id("stSidebar").get_by_role("link", name=TITLES[page], exact=True)
        took = await self.timed(link.click)
        self.where = page
        return took

    async def problems(self) -> list[str]:
        """Tracebacks on the page and a lost connection: what a student would report."""
        found = []
        if self.crashed:
            found.append("the tab crashed")
        shown = self.page.get_by_test_id("stException")
        if await shown.count():
            found.append(f"traceback: {(await shown.first.inner_text())[:200]!r}")
        if await self.page.get_by_text("Connection error", exact=True).count():
            found.append("Connection error")
        return found

    async def refused(self) -> bool:
        return await self.page.get_by_test_id("stAlertContentError").count() > 0

    async def slider(self, rng: random.Random) -> float | None:
        if self.where != "augmentation":
            await self.visit("augmentation")
        sliders = self.page.get_by_role("slider")
        try:
            await sliders.first.wait_for(timeout=30_000)
        except Exception:
            pass  # counted below
        count = await sliders.count()
        if not count:
            raise RuntimeError("no slider on the Augmentation page")
        await sliders.nth(rng.randrange(count)).focus()
        return await self.timed(lambda: self.page.keyboard.press(rng.choice(("ArrowRight", "ArrowLeft"))))

    async def give_file(self, page: str, uploader, name: str, data: bytes, kind: str,
                        required: bool = False) -> float | None:
        if self.where != page:
            await self.visit(page)
        chips = self.page.get_by_test_id("stFileChipDeleteBtn")
        while await chips.count():  # the last file goes first, as a student clears the box (not timed)
            await self.timed(chips.first.click)
        box = uploader(self.page)
        if required:  # drawn by now on a quick machine; on a busy one the expander's content comes later
            try:
                await box.first.wait_for(state="attached", timeout=30_000)
            except Exception:
                pass
        if not await box.count():
            if required:
                raise RuntimeError(f"no uploader on the {TITLES[page]} page for {name}")
            return None  # no model on this student's own classes yet: the page offers to train one
        return await self.timed(lambda: box.first.set_input_files(files=[{"name": name, "mimeType": kind,
                                                                          "buffer": data}]))

    async def classify(self, name: str, data: bytes) -> float | None:
        kind = "image/png" if name.endswith(".png") else "image/jpeg"
        return await self.give_file("classify", lambda page: page.get_by_test_id("stFileUploaderDropzoneInput"),
                                    name, data, kind)

    async def open_expander(self, label: str) -> None:
        expander = self.page.get_by_test_id("stExpander").filter(has_text=label)
        await expander.first.wait_for(timeout=60_000)
        if await expander.first.locator("details").get_attribute("open") is None:
            await expander.first.get_by_text(label, exact=True).click()

    async def upload_set(self, data: bytes, name: str) -> float | None:
        zips = lambda page: page.get_by_test_id("stFileUploader").filter(  # noqa: E731
            has_text="Zip of class folders").get_by_test_id("stFileUploaderDropzoneInput")
        if self.where != "dataset":
            await self.visit("dataset")
        await self.open_expander("Use your own classes")
        await self.give_file("dataset", zips, name, data, "application/zip", required=True)
        button = self.page.get_by_role("button", name="Use these classes")
        await self.open_expander("Use your own classes")  # as a student would, were it drawn closed again
        await button.wait_for(timeout=60_000)
        return await self.timed(button.click)


def memory(server, say: str = "") -> dict:
    procs = server.processes()
    if say:
        bs.log(f"memory {say}, by process: " + "; ".join(f"{kind} {bs.cmdline(p)[-40:]!r} {bs.rss_mb(p):.0f} MB"
                                                         for kind, pids in procs.items() for p in pids))
    return {kind: sum(bs.rss_mb(p) for p in pids) for kind, pids in procs.items()}


async def teacher(server, out: dict, settle: float) -> None:
    """Before the class: the teacher opens Home (the dataset decodes), trains the quick model and
    opens every page once (its evaluation, map and model are ready); then memory is read after the
    same quiet as after the class (`settle` s: the model service's lanes let go of what they remake
    quickly after 20 s without a request, so a shorter wait would count that as the class's)."""
    warm = a_tab(server, "teacher")
    warm.cookie = getattr(server, "teacher_pass", "")
    await warm.connect()
    await warm.run_page("home")
    quick = (await server.ajob(op="quick", owner="teacher"))["id"]
    state = await bs.wait_for_job(server, quick, "done", 900)
    if state.get("state") != "done":
        raise RuntimeError(f"the teacher's quick training did not finish: {state}")
    for page in bs.PAGES:
        await warm.run_page(page)
    await warm.close()
    await asyncio.sleep(settle)
    out["before"] = memory(server, "before the class")


class Tally:
    """What every student saw, by kind of student (protocol or chromium) and action."""

    def __init__(self):
        self.errors: list[str] = []
        self.times: dict[str, dict[str, list[float]]] = {PROTOCOL: {}, CHROMIUM_TAB: {}}
        self.refused = {PROTOCOL: 0, CHROMIUM_TAB: 0}
        self.lost_ends = 0  # protocol pages whose full run's end Streamlit dropped (bench_server.LOST_END)
        self.timeline: list[tuple[float, str, str, float]] = []  # (seconds into the class, kind, action, took)
        self.started = time.time()

    def took(self, kind: str, action: str, seconds: float) -> None:
        self.times[kind].setdefault(action, []).append(seconds)
        self.timeline.append((round(time.time() - self.started, 1), kind, action, round(seconds, 3)))


def pick(rng: random.Random, uploaded: bool) -> tuple[str, str | None]:
    """The next action of a student's loop (both kinds draw from the same mix)."""
    roll = rng.random()
    if roll < 0.5:
        page = rng.choice(bs.PAGES)
        return f"page {page}", page
    if roll < 0.65:
        return "slider", None
    if roll < 0.8:
        return "classify", None
    if roll < 0.95:
        return "hostile file", rng.choice(sorted(HOSTILE))
    return ("class set", None) if not uploaded else ("", None)


class Lesson:
    """One student's own seeded actions (pick) until the class ends; a class set once uploaded is used."""

    def __init__(self, i: int, until: float):
        self.rng, self.until, self.uploaded = random.Random(1000 + i), until, False

    def __iter__(self):
        while time.time() < self.until:
            action, what = pick(self.rng, self.uploaded)
            if action:
                yield action, what


async def protocol_student(i: int, tab: Student, until: float, photos: list[bytes], tally: Tally, args) -> None:
    lesson = Lesson(i, until)
    rng = lesson.rng
    for action, what in lesson:
        before_exc, before_lost = len(tab.exceptions), tab.lost_ends
        try:
            if what is not None and action.startswith("page"):
                took = await tab.run_page(what)
            elif action == "slider":
                took = await move_slider(tab, rng)
            elif action == "classify":
                took = await classify(tab, f"photo{i}.jpg", rng.choice(photos))
            elif action == "hostile file":
                took = await classify(tab, what, HOSTILE[what])
                tally.refused[PROTOCOL] += tab.alerts > 0
            else:
                took = await upload_set(tab, class_zip(i, photos), f"set{i}.zip")
                lesson.uploaded = True
        except asyncio.TimeoutError:
            tally.errors.append(f"{tab.name}: a page gave no answer in {bs.RUN_TIMEOUT:.0f} s ({action})")
            continue
        except bs.Dropped:
            tally.errors.append(f"{tab.name}: session dropped")
            return
        except Exception as exc:
            tally.errors.append(f"{tab.name}: {exc!r}")
            continue
        tally.lost_ends += tab.lost_ends - before_lost  # ended with the fragment run after it (bench_server.LOST_END)
        if took is not None:
            tally.took(PROTOCOL, action, took)
        if len(tab.exceptions) > before_exc:
            tally.errors.extend(f"{tab.name} ({action}): {e}" for e in tab.exceptions[before_exc:])
        await asyncio.sleep(args.think * rng.uniform(0.5, 1.5))


async def browser_student(i: int, tab: BrowserStudent, until: float, photos: list[bytes], tally: Tally,
                          args) -> None:
    from playwright.async_api import Error as PlaywrightError

    lesson = Lesson(i, until)
    rng = lesson.rng
    for action, what in lesson:
        try:
            if what is not None and action.startswith("page"):
                took = await tab.visit(what)
            elif action == "slider":
                took = await tab.slider(rng)
            elif action == "classify":
                took = await tab.classify(f"photo{i}.jpg", rng.choice(photos))
            elif action == "hostile file":
                took = await tab.classify(what, HOSTILE[what])
                tally.refused[CHROMIUM_TAB] += await tab.refused()
            else:
                took = await tab.upload_set(class_zip(i, photos), f"set{i}.zip")
                lesson.uploaded = True
            problems = await tab.problems()
        except PlaywrightError as exc:  # its TimeoutError included: a run that never ended
            gave_up = "Timeout" in type(exc).__name__ or "Timeout" in str(exc)[:80]
            tally.errors.append(f"{tab.name}: a page gave no answer in {bs.RUN_TIMEOUT:.0f} s ({action})" if gave_up
                                else f"{tab.name} ({action}): {str(exc).splitlines()[0][:200]}")
            if tab.crashed:
                return
            continue
        except Exception as exc:
            tally.errors.append(f"{tab.name} ({action}): {exc!r}")
            continue
        if took is not None:
            tally.took(CHROMIUM_TAB, action, took)
        tally.errors.extend(f"{tab.name} ({action}): {p}" for p in problems)
        await asyncio.sleep(args.think * rng.uniform(0.5, 1.5))


async def run_class(args) -> dict:
    tally = Tally()
    out: dict = {"tally": tally, "jobs": []}
    kind = bs.Server if args.plain else ClassroomServer
    server = kind(args.app, args.data, args.weights, workers=args.workers)
    photos = [bs.a_photo(args.data, 160, i) for i in range(24)]
    full_photo = photos[0]
    HOSTILE["cut.jpg"] = full_photo[: len(full_photo) // 2]
    playwright = browser = None
    try:
        await asyncio.to_thread(server.start)
        if args.no_teacher:  # the students arrive together right after the server starts
            out["before"] = memory(server, "before the class")
        else:
            await teacher(server, out, args.settle)
        bs.log(f"before the class: {out['before']}")

        browsers = min(args.browsers, args.students)
        tabs = [a_tab(server, f"student{i}") for i in range(args.students - browsers)]
        chromium = [BrowserStudent(server, f"chromium{i}") for i in range(browsers)]
        for n, tab in enumerate(tabs):  # sign-ins: each from an address of its own, within the door's limit
            await let_in(server, tab, f"127.0.1.{n + 1}")
        cookies = []
        for n in range(browsers):
            holder = a_tab(server, "sign-in")
            await let_in(server, holder, f"127.0.2.{n + 1}")
            cookies.append(holder.cookie)
        if chromium:
            from playwright.async_api import async_playwright

            playwright = await async_playwright().start()
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            out["chromium_niced"] = yield_the_cpu(args.browser_nice)

        peaks = {"server": 0.0, "other": 0.0, "workers": 0.0}
        until = time.time() + args.minutes * 60
        tally.started = time.time()

        async def sample() -> None:
            while time.time() < until:
                for what, mb in memory(server).items():
                    peaks[what] = max(peaks[what], mb)
                if server.proc.poll() is not None:
                    tally.errors.append("the server died")
                    return
                await asyncio.sleep(2)

        async def protocol(i: int, tab: Student) -> None:
            try:
                await tab.connect()
            except Exception as exc:
                tally.errors.append(f"{tab.name}: connect {exc!r}")
                return
            if i < 5:
                out["jobs"].append((await server.ajob(op="quick", owner=f"student {i}"))["id"])
            await protocol_student(i, tab, until, photos, tally, args)

        async def real(i: int, tab: BrowserStudent) -> None:
            try:
                await tab.open(browser, cookies[i])
            except Exception as exc:
                tally.errors.append(f"{tab.name}: open {exc!r}")
                return
            await browser_student(len(tabs) + i, tab, until, photos, tally, args)

        bs.log(f"{len(tabs)} protocol and {len(chromium)} Chromium students for {args.minutes:g} min")
        await asyncio.gather(sample(), *(protocol(i, tab) for i, tab in enumerate(tabs)),
                             *(real(i, tab) for i, tab in enumerate(chromium)))
        await asyncio.gather(*(t.close() for t in tabs))
        out["unseen"] = sum(t.unseen for t in chromium)
        if browser is not None:
            await browser.close()
            await playwright.stop()
            browser = playwright = None
        out["peaks"] = peaks
        finished = 0
        for job in out["jobs"]:
            state = await bs.wait_for_job(server, job, "done", 600)
            finished += state.get("state") == "done"
        out["jobs_finished"] = finished
        await asyncio.sleep(args.settle)
        out["after"] = memory(server, f"{args.settle:g} s after")
        # Streamlit keeps a disconnected session (its state, its files) for server.disconnectedSessionTTL,
        # 120 s by default, so that a tab whose Wi-Fi dropped finds its work again: read once more after it.
        await asyncio.sleep(max(0.0, SESSION_TTL + 10 - args.settle))
        out["after_sessions"] = memory(server, "once the sessions are dropped")
        out["server_alive"] = server.proc.poll() is None
    except Exception as exc:
        tally.errors.append(f"aborted: {exc!r}")
    finally:
        if browser is not None:
            await browser.close()
        if playwright is not None:
            await playwright.stop()
        await asyncio.to_thread(server.stop)
        out["left_after_stop"] = getattr(server, "left_after_stop", None)
    return out


def yield_the_cpu(nice: int) -> int:
    """Chromium's processes (its renderers are forked from them later) at `nice`: the tabs stand for
    students' own devices, so on this one machine they take what CPU the server leaves. How many."""
    import os

    mine, found = os.getpid(), 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            pid = int(stat.parent.name)
            if b"chromium" not in (stat.parent / "cmdline").read_bytes().split(b"\0")[0]:
                continue
            parent = pid
            while parent > 1 and parent != mine:  # started by this benchmark (through Playwright's driver)
                parent = int((Path("/proc") / str(parent) / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if parent == mine:
                os.setpriority(os.PRIO_PROCESS, pid, nice)
                found += 1
        except (OSError, ValueError, IndexError):
            continue
    return found


def summary(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.2f} / {bs.pct(values, 95):.2f} / {max(values):.2f}"


def report(out: dict, args) -> None:
    tally: Tally = out["tally"]
    every = {kind: [t for values in actions.values() for t in values] for kind, actions in tally.times.items()}
    server = "`streamlit run app.py`" if args.plain else "`catdog classroom` (HTTPS, behind its door)"
    print(f"bench_class: {args.students} students ({min(args.browsers, args.students)} in Chromium) for "
          f"{args.minutes:g} min on {server}, {args.workers} training worker(s), {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"errors: {len(tally.errors)}")
    for e in tally.errors[:12]:
        print(f"  - {e}")
    print(f"{'seconds: p50 / p95 / max':28} {'protocol':>22} {'chromium':>22}")
    print(f"{'every page and action':28} {summary(every[PROTOCOL]):>22} {summary(every[CHROMIUM_TAB]):>22}")
    actions = sorted(set(tally.times[PROTOCOL]) | set(tally.times[CHROMIUM_TAB]))
    for action in actions:
        cells = [f"{summary(tally.times[k].get(action, [])):>16} n={len(tally.times[k].get(action, [])):<4}"
                 for k in (PROTOCOL, CHROMIUM_TAB)]
        print(f"  {action:26} {cells[0]} {cells[1]}")
    later = {kind: [t for at, k, _a, t in tally.timeline if k == kind and at >= args.arrival]
             for kind in (PROTOCOL, CHROMIUM_TAB)}
    print(f"{'after the first ' + format(args.arrival, 'g') + ' s':28} {summary(later[PROTOCOL]):>22} "
          f"{summary(later[CHROMIUM_TAB]):>22}   (the class has arrived, its first trainings are done)")
    for action in ("page evaluate", "class set", "classify"):
        cells = [summary([t for at, k, a, t in tally.timeline if k == kind and a == action and at >= args.arrival])
                 for kind in (PROTOCOL, CHROMIUM_TAB)]
        print(f"  {action:26} {cells[0]:>22} {cells[1]:>22}")
    print(f"page runs: {len(every[PROTOCOL])} protocol, {len(every[CHROMIUM_TAB])} chromium; Chromium actions "
          f"after which no run started: {out.get('unseen', 0)}; Chromium processes at nice {args.browser_nice}: "
          f"{out.get('chromium_niced', 0)}")
    print(f"protocol pages whose full run's end Streamlit dropped, ended by the fragment run after it as a "
          f"tab's are (bench_server.LOST_END): {tally.lost_ends}")
    print(f"hostile files answered with a sentence: {tally.refused[PROTOCOL]} protocol, "
          f"{tally.refused[CHROMIUM_TAB]} chromium")
    if "peaks" in out:
        p, b, a = out["peaks"], out.get("before", {}), out.get("after", {})
        print(f"peak RSS MB: server {p['server']:.0f}, model service {p['other']:.0f}, workers {p['workers']:.0f}")
        late = out.get("after_sessions", {})
        # The workers exit when idle: server and model service are what the class leaves behind.
        held = lambda m: m.get("server", 0) + m.get("other", 0)  # noqa: E731
        print(f"memory of the server and the model service: before {held(b):.0f} MB, {args.settle:g} s after "
              f"{held(a):.0f} MB ({held(a) - held(b):+.0f} MB; target within 300: server "
              f"{a.get('server', 0) - b.get('server', 0):+.0f}, model service {a.get('other', 0) - b.get('other', 0):+.0f}); "
              f"{SESSION_TTL + 10:.0f} s after, once Streamlit has dropped the disconnected sessions: "
              f"{held(late):.0f} MB ({held(late) - held(b):+.0f} MB). Workers: {b.get('workers', 0):.0f} MB before, "
              f"{a.get('workers', 0):.0f} MB after")
    print(f"jobs finished: {out.get('jobs_finished', 0)} of {len(out['jobs'])}; "
          f"server alive at the end: {out.get('server_alive')}")
    if out.get("left_after_stop") is not None:
        print(f"processes of the class's home left after Ctrl-C of catdog classroom: {len(out['left_after_stop'])}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--app", type=Path, default=bs.REPO)
    p.add_argument("--data", type=Path, default=bs.SHARED / "data" / "cats_and_dogs.zip")
    p.add_argument("--weights", type=Path, default=bs.SHARED / "weights" / "mobilenet_v2_1.0_224_no_top_imagenet.h5")
    p.add_argument("--students", type=int, default=30)
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--think", type=float, default=2.0, help="a student's mean pause between actions, s")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--settle", type=float, default=30.0, help="seconds after the class before memory is read")
    p.add_argument("--arrival", type=float, default=120.0,
                   help="seconds after which the figures are also given apart (the class arrived together)")
    p.add_argument("--browsers", type=int, default=5, help="how many of the students are Chromium tabs")
    p.add_argument("--browser-nice", type=int, default=19,
                   help="the Chromium students' CPU priority (they stand for devices of their own)")
    p.add_argument("--plain", action="store_true",
                   help="plain `streamlit run app.py` over HTTP instead of `catdog classroom`")
    p.add_argument("--no-teacher", action="store_true",
                   help="no teacher first: the students arrive together right after the server starts")
    p.add_argument("--json", type=Path, default=None, help="also write the raw figures here")
    args = p.parse_args()
    out = asyncio.run(run_class(args))
    report(out, args)
    tally = out.pop("tally")
    if args.json:
        args.json.write_text(json.dumps(dict(out, errors=tally.errors, times=tally.times, refused=tally.refused,
                                             timeline=tally.timeline), default=str))
    ok = not tally.errors and out.get("jobs_finished", 0) == len(out["jobs"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
