"""How much CPU an idle server burns, with a virtualenv inside the project folder.

Starts `streamlit run app.py` twice on the same machine: with the project's
config (file watcher off) and, as the baseline, with Streamlit's default watcher
(`--server.fileWatcherType auto`). Each time one browser tab opens the home page
and then nothing happens for --seconds; the server process's CPU time over that
window is read from /proc and printed as a share of one core.

    python benchmarks/bench_idle.py [--seconds 30]

Needs Chromium (/usr/bin/chromium) and the playwright package, as the browser test does.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from _common import CHROMIUM, CHROMIUM_ARGS, REPO, free_port, scratch, wait_healthy



def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def idle_share(extra: list[str], seconds: float) -> float:
    port = free_port()
    home = scratch("catdog-idle-")
    env = dict(os.environ, CATDOG_HOME=home, TF_CPP_MIN_LOG_LEVEL="2")
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                               *extra], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, server)
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(url)
            page.get_by_test_id("stApp").wait_for(timeout=60_000)
            time.sleep(10)  # let the first script run and its imports settle
            before, started = cpu_seconds(server.pid), time.monotonic()
            time.sleep(seconds)
            used, wall = cpu_seconds(server.pid) - before, time.monotonic() - started
            browser.close()
        return used / wall
    finally:
        server.terminate()
        server.wait(20)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=30)
    args = p.parse_args()
    venv = [d.name for d in REPO.iterdir() if d.is_dir() and (d / "pyvenv.cfg").is_file()]
    print(f"bench_idle: {args.seconds:.0f} s idle with one tab open; virtualenvs inside the project: "
          f"{', '.join(venv) or 'none'}; {time.strftime('%Y-%m-%d %H:%M')}")
    baseline = idle_share(["--server.fileWatcherType", "auto"], args.seconds)
    ours = idle_share([], args.seconds)
    print(f"file watcher on (Streamlit's default): {baseline:6.1%} of a core")
    print(f"the project's config (watcher off):    {ours:6.1%} of a core")


if __name__ == "__main__":
    main()
