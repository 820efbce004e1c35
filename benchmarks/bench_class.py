"""A class on the real server: N students for M minutes on one `streamlit run app.py`.

Each student is a websocket client speaking Streamlit's own protocol (bench_server.Client: a rerun
per page visit, fragment reruns on the server's timers, uploads through /_stcore/upload_file). In a
loop, with pauses, each one:

  - visits a page (any of the eight);
  - moves a slider on the Augmentation page (a rerun with the slider's new value);
  - classifies a photo on the Classify page: a real validation photo, or a hostile file (text named
    .jpg, a truncated JPEG, an empty file, a PNG whose header claims 40000x40000 pixels);
  - now and then uploads a small zip of two classes on the Dataset page (its own pictures);

and the first five submit a quick transfer training each at the start. Printed: errors (a
traceback on a page, a page run with no answer in 300 s, a dropped session, a server that died:
must be 0; a hostile file's one-sentence refusal is not an error), page time p50/p95/max, peak RSS
of the server, of its model service and of the training workers (sampled every 2 s), their memory
before the students came and 30 s after they left, and the jobs finished.

    python benchmarks/bench_class.py [--students 30] [--minutes 10] [--data ZIP_OR_DIR] [--weights H5]

`tests/test_load.py` runs the same scenario for a minute (`python -m pytest -m load`).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import random
import statistics
import sys
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_server as bs  # noqa: E402  (the protocol client, the server and its helpers)

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


def memory(server) -> dict:
    procs = server.processes()
    return {kind: sum(bs.rss_mb(p) for p in pids) for kind, pids in procs.items()}


async def teacher(server, out: dict) -> None:
    """Before the class: the teacher opens Home (the dataset decodes), trains the quick model and
    opens every page once (its evaluation, map and model are ready); then memory is read."""
    warm = Student(server, "teacher")
    await warm.connect()
    await warm.run_page("home")
    quick = (await server.ajob(op="quick", owner="teacher"))["id"]
    state = await bs.wait_for_job(server, quick, "done", 900)
    if state.get("state") != "done":
        raise RuntimeError(f"the teacher's quick training did not finish: {state}")
    for page in bs.PAGES:
        await warm.run_page(page)
    await warm.close()
    await asyncio.sleep(5)
    out["before"] = memory(server)


async def run_class(args) -> dict:
    out: dict = {"errors": [], "times": [], "by_action": {}, "refused": 0, "jobs": []}
    server = bs.Server(args.app, args.data, args.weights, workers=args.workers)
    photos = [bs.a_photo(args.data, 160, i) for i in range(24)]
    full_photo = photos[0]
    HOSTILE["cut.jpg"] = full_photo[: len(full_photo) // 2]
    try:
        await asyncio.to_thread(server.start)
        if args.no_teacher:  # the students arrive together right after the server starts
            out["before"] = memory(server)
        else:
            await teacher(server, out)
        bs.log(f"before the class: {out['before']}")

        peaks = {"server": 0.0, "other": 0.0, "workers": 0.0}
        tabs = [Student(server, f"student{i}") for i in range(args.students)]
        until = time.time() + args.minutes * 60

        async def sample() -> None:
            while time.time() < until:
                for kind, mb in memory(server).items():
                    peaks[kind] = max(peaks[kind], mb)
                if server.proc.poll() is not None:
                    out["errors"].append("the server died")
                    return
                await asyncio.sleep(2)

        async def student(i: int, tab: Student) -> None:
            rng = random.Random(1000 + i)
            try:
                await tab.connect()
            except Exception as exc:
                out["errors"].append(f"{tab.name}: connect {exc!r}")
                return
            if i < 5:
                out["jobs"].append((await server.ajob(op="quick", owner=f"student {i}"))["id"])
            uploaded = False
            while time.time() < until:
                roll = rng.random()
                before_exc, before_lost = len(tab.exceptions), tab.lost_ends
                action = "?"
                try:
                    if roll < 0.5:
                        page = rng.choice(bs.PAGES)
                        action = f"page {page}"
                        took = await tab.run_page(page)
                    elif roll < 0.65:
                        action, took = "slider", await move_slider(tab, rng)
                    elif roll < 0.8:
                        action, took = "classify", await classify(tab, f"photo{i}.jpg", rng.choice(photos))
                    elif roll < 0.95:
                        name = rng.choice(sorted(HOSTILE))
                        action, took = "hostile file", await classify(tab, name, HOSTILE[name])
                        out["refused"] += tab.alerts > 0
                    elif not uploaded:
                        action, took = "class set", await upload_set(tab, class_zip(i, photos), f"set{i}.zip")
                        uploaded = True
                    else:
                        continue
                except asyncio.TimeoutError:
                    out["errors"].append(f"{tab.name}: a page gave no answer in {bs.RUN_TIMEOUT:.0f} s ({action})")
                    continue
                except bs.Dropped:
                    out["errors"].append(f"{tab.name}: session dropped")
                    return
                except Exception as exc:
                    out["errors"].append(f"{tab.name}: {exc!r}")
                    continue
                if tab.lost_ends > before_lost:
                    out["errors"].append(f"{tab.name}: the page ran, but its end never came: a fragment rerun "
                                         f"began first ({action}; bench_server.LOST_END)")
                    continue
                if took is None:
                    continue
                out["times"].append(took)
                out["by_action"].setdefault(action, []).append(took)
                if len(tab.exceptions) > before_exc:
                    out["errors"].extend(f"{tab.name} ({action}): {e}" for e in tab.exceptions[before_exc:])
                await asyncio.sleep(args.think * rng.uniform(0.5, 1.5))

        bs.log(f"{args.students} students for {args.minutes:g} min")
        await asyncio.gather(sample(), *(student(i, tab) for i, tab in enumerate(tabs)))
        await asyncio.gather(*(t.close() for t in tabs))
        out["peaks"] = peaks
        finished = 0
        for job in out["jobs"]:
            state = await bs.wait_for_job(server, job, "done", 600)
            finished += state.get("state") == "done"
        out["jobs_finished"] = finished
        await asyncio.sleep(args.settle)
        out["after"] = memory(server)
        out["server_alive"] = server.proc.poll() is None
    except Exception as exc:
        out["errors"].append(f"aborted: {exc!r}")
    finally:
        await asyncio.to_thread(server.stop)
    return out


def report(out: dict, args) -> None:
    times = out["times"]
    print(f"bench_class: {args.students} students for {args.minutes:g} min on one `streamlit run app.py`, "
          f"{args.workers} training worker(s), {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"errors: {len(out['errors'])}")
    for e in out["errors"][:10]:
        print(f"  - {e}")
    if times:
        print(f"page runs: {len(times)}; page time p50 {bs.pct(times, 50):.2f} s, p95 {bs.pct(times, 95):.2f} s, "
              f"max {max(times):.2f} s")
        for action, values in sorted(out["by_action"].items()):
            print(f"  {action:13} n={len(values):5}  p50 {statistics.median(values):.2f} s  "
                  f"p95 {bs.pct(values, 95):.2f} s")
    print(f"hostile files answered with a sentence: {out['refused']}")
    if "peaks" in out:
        p, b, a = out["peaks"], out.get("before", {}), out.get("after", {})
        print(f"peak RSS MB: server {p['server']:.0f}, model service {p['other']:.0f}, workers {p['workers']:.0f}")
        total_before, total_after = sum(b.values()), sum(a.values())
        print(f"memory before {total_before:.0f} MB, {args.settle:g} s after {total_after:.0f} MB "
              f"({total_after - total_before:+.0f} MB; target within 300): {json.dumps(a)}")
    print(f"jobs finished: {out.get('jobs_finished', 0)} of {len(out['jobs'])}; "
          f"server alive at the end: {out.get('server_alive')}")


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
    p.add_argument("--no-teacher", action="store_true",
                   help="no teacher first: the students arrive together right after the server starts")
    p.add_argument("--json", type=Path, default=None, help="also write the raw figures here")
    args = p.parse_args()
    out = asyncio.run(run_class(args))
    report(out, args)
    if args.json:
        args.json.write_text(json.dumps({k: v for k, v in out.items() if k != "times"}, default=str))
    ok = not out["errors"] and out.get("jobs_finished", 0) == len(out["jobs"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
