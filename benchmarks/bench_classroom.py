"""A class submits at once: 30 quick trainings, and pages keep answering.

Runs the same scenario with one worker (the baseline) and with N workers (and,
with --ray ADDRESS, on a Ray cluster), in the same run on the same machine:

  - 30 quick-preset jobs from 30 owners are submitted at once to the shared queue;
  - meanwhile a student's Training page (AppTest, the real page script) is run
    every half second, and its run time is recorded;
  - printed: time until all 30 are done, each job's wait in the queue and its
    training time, and the page's response times (p50, p95, max).

The dataset is decoded and its features cached once before the clock starts
(what any class has after its first quick training). Each scenario runs twice:
with its workers started by the first submit (cold: each imports TensorFlow
and builds MobileNetV2 during its first job), and with its workers started and
warmed before the class clicks, as the app starts them with its server
(`ensure_workers(warm=True)`); the warm-up is timed apart.

    python benchmarks/bench_classroom.py --data PATH/cats_and_dogs_filtered [--jobs 30] [--workers 2] [--ray 127.0.0.1:6379]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

from _common import REPO, scratch


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def page_probe(stop: threading.Event, samples: list[float]) -> None:
    """A student keeps the Training page open: its script runs every half second."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    at.switch_page("pages/training.py")
    while not stop.is_set():
        started = time.perf_counter()
        at.run()
        samples.append(time.perf_counter() - started)
        stop.wait(0.5)


def warmed(home: Path, slots: list[str], timeout: float = 600.0) -> float:
    """Wait until every slot's worker has ended its warm-up; returns the seconds it took."""
    from catdog_core.jobs import worker

    started = time.time()
    while time.time() - started < timeout:
        if all(worker.warm_state(home, slot) in ("done", "skipped") for slot in slots):
            return time.time() - started
        time.sleep(0.2)
    raise SystemExit(f"the workers' warm-up did not end in {timeout:.0f} s")


def scenario(name: str, home: Path, jobs_count: int, env: dict[str, str], warm: bool = False) -> dict:
    from catdog_core import jobs
    from catdog_core.jobs import worker

    for key, value in env.items():
        os.environ[key] = value
    os.environ["CATDOG_HOME"] = str(home)
    queue = jobs.get_queue()
    worker.shutdown_workers(home)
    warm_seconds = float("nan")
    if warm:
        for stale in (home / "status").glob("warm*.json"):
            stale.unlink()
        worker.ensure_workers(home, warm=True)
        warm_seconds = warmed(home, worker.slots())
    samples: list[float] = []
    stop = threading.Event()
    probe = threading.Thread(target=page_probe, args=(stop, samples), daemon=True)
    started = time.time()
    ids = [jobs.submit(jobs.quick_spec(), owner=f"student {i:02d}") for i in range(jobs_count)]
    probe.start()
    states = [queue.wait(i, timeout=3600) for i in ids]
    total = time.time() - started
    stop.set()
    probe.join(60)
    worker.shutdown_workers(home)
    for key in env:
        os.environ.pop(key, None)
    failed = [s for s in states if s.state != jobs.DONE]
    waits = [s.started - s.submitted for s in states if s.started]
    trains = [s.finished - s.started for s in states if s.started and s.finished]
    return {"name": name, "warm": warm_seconds, "total": total, "failed": len(failed), "wait_p50": statistics.median(waits),
            "wait_max": max(waits), "train_p50": statistics.median(trains), "page_p50": percentile(samples, 50),
            "page_p95": percentile(samples, 95), "page_max": max(samples, default=float("nan")),
            "pages": len(samples), "val": statistics.mean(s.history[-1]["val_accuracy"] for s in states if s.history)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="folder with train/ and validation/")
    p.add_argument("--jobs", type=int, default=30)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    p.add_argument("--cold-only", action="store_true", help="only the scenarios whose workers start cold")
    p.add_argument("--ray", default=None, help="a Ray head's address, to run the scenario there too")
    args = p.parse_args()
    folder = Path(args.data)
    if (folder / "cats_and_dogs_filtered").is_dir():
        folder = folder / "cats_and_dogs_filtered"
    os.environ["CATDOG_DATA_DIR"] = str(folder)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    home = Path(scratch("catdog-classroom-"))
    os.environ["CATDOG_HOME"] = str(home)

    from catdog_core import jobs

    print(f"bench_classroom: {args.jobs} quick trainings at once, data {folder}, {os.cpu_count()} CPUs, "
          f"{time.strftime('%Y-%m-%d %H:%M')}")
    warm_started = time.time()
    first = jobs.submit(jobs.quick_spec(), owner="teacher")  # decode, convert, cache the features once
    done = jobs.get_queue().wait(first, timeout=1800)
    print(f"warm-up (the class's first quick training, cold): {time.time() - warm_started:.1f} s, {done.state}")

    one, many = {"CATDOG_WORKERS": "1"}, {"CATDOG_WORKERS": str(args.workers)}
    rows = [scenario("1 worker (baseline)", home, args.jobs, one),
            scenario(f"{args.workers} workers", home, args.jobs, many)]
    if not args.cold_only:
        rows += [scenario("1 worker, warmed", home, args.jobs, one, warm=True),
                 scenario(f"{args.workers} workers, warmed", home, args.jobs, many, warm=True)]
    if args.ray:
        rows.append(scenario("Ray cluster", home, args.jobs, {"CATDOG_BACKEND": "ray", "RAY_ADDRESS": args.ray}))

    print(f"{'':24}{'warm-up s':>10}{'all done s':>11}{'failed':>7}{'wait p50':>9}{'wait max':>9}{'train p50':>10}"
          f"{'page p50':>9}{'page p95':>9}{'page max':>9}{'pages':>6}{'val':>7}")
    for r in rows:
        print(f"{r['name']:24}{r['warm']:10.1f}{r['total']:11.1f}{r['failed']:7d}{r['wait_p50']:9.1f}"
              f"{r['wait_max']:9.1f}{r['train_p50']:10.1f}{r['page_p50']:9.2f}{r['page_p95']:9.2f}"
              f"{r['page_max']:9.2f}{r['pages']:6d}{r['val']:7.3f}")
    base = rows[0]["total"]
    for r in rows[1:]:
        if "warmed" not in r["name"]:
            print(f"ratio (1 worker / {r['name']}): {base / r['total']:.2f}x")
    if not args.cold_only:
        print(f"ratio (1 worker, warmed / {rows[3]['name']}): {rows[2]['total'] / rows[3]['total']:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
