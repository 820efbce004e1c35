"""A class of thirty on one server for a few minutes: every student browses the pages, moves
the augmentation sliders, classifies good photos and hostile files, and two of them train.

The students are AppTest sessions of the real app in this process (the server's process),
each in its own thread; AppTest cannot overlap two script runs, so they interleave run by
run while the trainings run in their worker process. Printed: script runs, exceptions
(must be 0), page run times, and the process's memory before, at its peak, and once the
class has left (goal: back within ~300 MB of the start).

    python benchmarks/bench_load.py --data PATH/cats_and_dogs_filtered [--students 30] [--minutes 3]
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import REPO, peak_rss_mb, rss_mb

sys.path.insert(0, str(REPO / "tests"))

import hostile  # noqa: E402

RUN_LOCK = threading.Lock()


def student(i: int, until: float, photos: list[bytes], bad: list[tuple[str, bytes]], out: dict) -> None:
    from streamlit.testing.v1 import AppTest

    rng = random.Random(i)
    times, problems = out.setdefault("times", []), out.setdefault("problems", [])

    def step(at, change=None):
        with RUN_LOCK:
            if change is not None:
                change()
            started = time.perf_counter()
            at.run()
            times.append(time.perf_counter() - started)
        problems.extend(e.value for e in at.exception)
        return at

    at = step(AppTest.from_file(str(REPO / "app.py"), default_timeout=300))
    trained = False
    while time.time() < until:
        page = rng.choice(["dataset", "augmentation", "classify", "training", "evaluate", "home"])
        step(at, lambda: at.switch_page(f"pages/{page}.py"))
        if page == "augmentation" and at.slider:
            step(at, lambda: at.slider(key="aug_rotation").set_value(round(rng.uniform(0, 0.5), 2)))
        elif page == "classify" and at.file_uploader:
            files = [(f"p{k}.jpg", rng.choice(photos), "image/jpeg") for k in range(2)] + [rng.choice(bad)]
            step(at, lambda: at.file_uploader(key="classify_files").set_value(files))
        elif page == "training" and i in (3, 17) and not trained:
            trained = True
            step(at, lambda: [b for b in at.button if b.label == "Quick transfer"][0].click())
        time.sleep(rng.uniform(0.5, 2.0))  # reading the page


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--students", type=int, default=30)
    p.add_argument("--minutes", type=float, default=3.0)
    args = p.parse_args()
    folder = Path(args.data)
    if (folder / "cats_and_dogs_filtered").is_dir():
        folder = folder / "cats_and_dogs_filtered"
    os.environ.update(CATDOG_DATA_DIR=str(folder), CATDOG_HOME=tempfile.mkdtemp(prefix="catdog-load-"),
                      TF_CPP_MIN_LOG_LEVEL="2")
    from catdog_core import jobs
    from catdog_core.jobs import worker

    first = jobs.submit(jobs.quick_spec(), owner="teacher")  # the class starts with one model trained
    jobs.get_queue().wait(first, timeout=1800)
    photos = [p.read_bytes() for p in sorted((folder / "validation" / "cats").glob("*.jpg"))[:10]]
    bad = [("bomb.png", hostile.huge_png()), ("grey16.png", hostile.grey16_png()),
           ("scans.jpg", hostile.scan_bomb_jpeg()), ("notes.jpg", b"just text")]

    warm: dict = {}
    student(0, time.time() + 20, photos, bad, warm)  # one walk fills the caches first
    gc.collect()
    before = rss_mb()
    until = time.time() + args.minutes * 60
    outcome: dict = {}
    threads = [threading.Thread(target=student, args=(i, until, photos, bad, outcome)) for i in range(args.students)]
    started = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    queue = jobs.get_queue()
    for job in queue.jobs():
        queue.wait(job.job_id, timeout=600)
    worker.shutdown_workers()
    gc.collect()
    after = rss_mb()
    times = outcome.get("times", [])
    print(f"bench_load: {args.students} students for {args.minutes:g} min, {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"script runs {len(times)} in {time.time() - started:.0f} s; exceptions {len(outcome.get('problems', []))}")
    print(f"page run p50 {statistics.median(times):.2f} s, p95 {sorted(times)[int(0.95 * (len(times) - 1))]:.2f} s, "
          f"max {max(times):.2f} s")
    print(f"memory: {before:.0f} MB before, peak {peak_rss_mb():.0f} MB, {after:.0f} MB after "
          f"({after - before:+.0f} MB)")
    trainings = [j for j in queue.jobs() if j.owner != "teacher"]
    print(f"trainings: {[j.state for j in trainings]}")
    for problem in outcome.get("problems", [])[:5]:
        print("  problem:", str(problem)[:300])


if __name__ == "__main__":
    main()
