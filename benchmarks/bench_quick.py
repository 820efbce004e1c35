"""The quick preset's path from nothing to a saved model, for this code and (with --vs) another
checkout measured in the same run on the same machine, side by side with ratios.

Each row is a whole command or a whole browser session, timed from outside:

  cold     `catdog train --recipe transfer --quick`, new process, empty CATDOG_HOME and cache
  again    the same command again, same home (whatever the code left running stays running)
  idle     the resident memory of every training worker of that home 20 s after `again`
           (0 MB: none is left)
  app      a fresh `streamlit run app.py` (empty home and cache, the post's data on disk), Home
           open in headless Chromium for --home-seconds, then Training -> "Quick transfer":
           seconds from the click to "Finished"; also the seconds Home took to show the dataset

    python benchmarks/bench_quick.py --data DIR --weights H5 [--vs /tmp/catdog-before] [--no-app]

`--vs` takes another checkout of this repository (e.g. `git worktree add /tmp/catdog-before
COMMIT`). The app row needs Chromium at /usr/bin/chromium and the playwright package.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

import bench_server as bs  # noqa: E402  (the helpers the server benchmarks share)
from _common import CHROMIUM, CHROMIUM_ARGS, scratch, stop_process, wait_healthy  # noqa: E402



def environment(home: Path, data: str, weights: str) -> dict:
    return dict(os.environ, CATDOG_HOME=str(home), CATDOG_CACHE=str(home / "cache"),
                KERAS_HOME=str(home / "keras"), CATDOG_DATA_DIR=data, CATDOG_BASE_WEIGHTS=weights,
                TF_CPP_MIN_LOG_LEVEL="2", CATDOG_WARM="1", PYTHONPATH="")


def worker_pids(home: Path) -> list[int]:
    return [pid for pid in bs.processes_of_home(home) if "catdog_core.jobs" in bs.cmdline(pid) or "catdog_core worker" in bs.cmdline(pid)]


def stop_workers(app: Path, env: dict) -> None:
    subprocess.run([sys.executable, "-m", "catdog_core", "worker", "--stop"], cwd=app, env=env,
                   capture_output=True, timeout=120)
    for pid in worker_pids(Path(env["CATDOG_HOME"])):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def quick_command(app: Path, env: dict) -> tuple[float, float]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "catdog_core", "train", "--recipe", "transfer", "--quick",
                           "--json"], cwd=app, env=env, capture_output=True, text=True, timeout=900)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{app}: train failed:\n{done.stderr[-2000:]}")
    return seconds, json.loads(done.stdout.strip().splitlines()[-1])["val_accuracy"]


def command_rows(app: Path, data: str, weights: str) -> dict:
    home = Path(scratch("bench-quick-"))
    env = environment(home, data, weights)
    try:
        cold, cold_val = quick_command(app, env)
        bs.log(f"{app}: cold {cold:.1f} s (val {cold_val:.3f})")
        again, again_val = quick_command(app, env)
        bs.log(f"{app}: again {again:.1f} s (val {again_val:.3f})")
        time.sleep(20)
        idle = sum(bs.rss_mb(pid) for pid in worker_pids(home))
        bs.log(f"{app}: idle workers {idle:.0f} MB")
        return {"cold": cold, "cold_val": cold_val, "again": again, "idle": idle}
    finally:
        stop_workers(app, env)


def job_timeline(home: Path, clicked_at: float, seen_at: float) -> str:
    """Where the click's seconds went, from the queue's own timestamps of the newest job."""
    import sqlite3

    try:
        db = sqlite3.connect(next(home.rglob("queue.sqlite3")))
        submitted, started, finished = db.execute(
            "SELECT submitted, started, finished FROM jobs ORDER BY id DESC LIMIT 1").fetchone()
        db.close()
        return (f"click->submitted {submitted - clicked_at:.2f} s, ->started {started - submitted:.2f} s, "
                f"->finished {finished - started:.2f} s, ->shown {seen_at - finished:.2f} s")
    except (StopIteration, sqlite3.Error, TypeError) as exc:
        return f"no job timeline: {type(exc).__name__}"


def app_row(app: Path, data: str, weights: str, home_seconds: float) -> dict:
    from playwright.sync_api import sync_playwright

    home = Path(scratch("bench-quick-app-"))
    env = environment(home, data, weights)
    port = bs.free_port()
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                               "--server.headless", "true"], cwd=app, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, server)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            opened = time.perf_counter()
            page.goto(url)
            page.get_by_text("Source:").first.wait_for(timeout=300_000)
            home_ready = time.perf_counter() - opened
            bs.log(f"{app}: Home showed the dataset after {home_ready:.1f} s")
            time.sleep(max(0.0, home_seconds - (time.perf_counter() - opened)))
            page.goto(f"{url}/training")
            button = page.get_by_role("button", name="Quick transfer")
            button.wait_for(timeout=120_000)
            clicked, clicked_at = time.perf_counter(), time.time()
            button.click()
            # The job panel's own sentence ("Finished 10 epochs: ..."), not any "finished" on the page.
            page.get_by_text(re.compile(r"^Finished \d+ epochs")).first.wait_for(timeout=600_000)
            quick, seen_at = time.perf_counter() - clicked, time.time()
            bs.log(f"{app}: Quick transfer -> Finished in {quick:.1f} s ({job_timeline(home, clicked_at, seen_at)})")
            browser.close()
        return {"home": home_ready, "app": quick}
    finally:
        stop_process(server, 15)
        stop_workers(app, env)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="the cats_and_dogs_filtered folder")
    p.add_argument("--weights", required=True, help="the MobileNetV2 no-top .h5 file")
    p.add_argument("--app", default=str(REPO), help="the checkout measured (default: this one)")
    p.add_argument("--vs", default=None, help="another checkout, measured in the same run")
    p.add_argument("--home-seconds", type=float, default=30.0)
    p.add_argument("--no-app", action="store_true", help="skip the browser rows")
    p.add_argument("--only-app", action="store_true", help="only the browser rows")
    args = p.parse_args()
    apps = [Path(args.app).resolve()] + ([Path(args.vs).resolve()] if args.vs else [])
    results = {}
    for app in apps:
        results[app] = {} if args.only_app else command_rows(app, args.data, args.weights)
        if not args.no_app:
            results[app].update(app_row(app, args.data, args.weights, args.home_seconds))
    print(f"bench_quick: {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M')}")
    names = [str(a) for a in apps]
    print(f"{'figure':44} " + " ".join(f"{n[-22:]:>22}" for n in names) + ("   ratio" if len(apps) > 1 else ""))
    rows = [] if args.only_app else [
        ("cold quick, new process, empty home (s)", "cold"), ("  its validation accuracy", "cold_val"),
        ("second quick, same home, new process (s)", "again"), ("idle training workers after it (MB)", "idle")]
    if not args.no_app:
        rows += [("app: Home shows the dataset (s)", "home"), ("app: Quick transfer click -> Finished (s)", "app")]
    for title, key in rows:
        values = [results[a][key] for a in apps]
        ratio = ""
        if len(values) > 1 and values[0] and key != "cold_val":
            ratio = f"   {values[1] / values[0]:5.2f}x"
        cells = " ".join(f"{v:22.3f}" if key == "cold_val" else f"{v:22.1f}" for v in values)
        print(f"{title:44} {cells}{ratio}")


if __name__ == "__main__":
    main()
