"""What each hostile upload costs the server: `predict latest FILE --json` on every image
attack of issue 11, against an ordinary 12-megapixel photo measured in the same run.

Each command runs in a process of its own; its wall time and peak resident memory
(from wait4) are printed beside the answer it gave.

    python benchmarks/bench_attacks.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from _common import REPO, scratch

sys.path.insert(0, str(REPO / "tests" / "support"))

import hostile  # noqa: E402


WRAP = hostile.PEAK_PROBE + """
import runpy
sys.argv = ["catdog"] + sys.argv[1:]
runpy.run_module("catdog_core", run_name="__main__", alter_sys=True)
"""


def measured(args: list[str], env: dict) -> tuple[float, float, str, str]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", WRAP, *args], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=600)
    seconds = time.monotonic() - started
    peaks = [int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("PEAK_KB ")]
    return seconds, (peaks[-1] / 1024 if peaks else float("nan")), done.stdout, done.stderr


def main() -> None:
    import numpy as np
    from PIL import Image

    home = Path(scratch("catdog-attacks-"))
    env = dict(os.environ, CATDOG_HOME=str(home), TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    os.environ.update(CATDOG_HOME=str(home))
    sys.path.insert(0, str(REPO / "tests" / "support"))
    from conftest import make_dataset  # noqa: E402  (a small drawn dataset to train a model on)

    data = make_dataset(home / "data", n_train=16, n_val=6)
    from catdog_core import jobs

    run = jobs.run_job(jobs.JobSpec("baseline", 1, data=str(data), min_steps=0))
    files = home / "files"
    files.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(hostile.photo_like(3000, 4000, rng)).save(files / "photo-12mp.jpg", quality=90)
    attacks = {
        "photo-12mp.jpg": None,
        "grey16-40mp.png": hostile.grey16_png(),
        "rgba-16mp.webp": hostile.rgba_webp(),
        "scan-bomb.jpg": hostile.scan_bomb_jpeg(),
        "huge-16000.png": hostile.huge_png(),
    }
    for name, content in attacks.items():
        if content is not None:
            (files / name).write_bytes(content)
    special = {"a FIFO": files / "fifo.jpg", "a folder": files / "folder.jpg", "/dev/zero": Path("/dev/zero")}
    os.mkfifo(special["a FIFO"])
    special["a folder"].mkdir()

    print(f"bench_attacks: predict with run {run.run_id} ({run.recipe}), {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"{'file':22}{'bytes':>11}{'seconds':>9}{'peak MB':>9}  answer")
    rows = [(n, files / n) for n in attacks] + list(special.items())
    for name, path in rows:
        seconds, peak, out, err = measured(["predict", "latest", str(path), "--json"], env)
        lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        answer = lines[-1] if lines else {"error": err.strip().splitlines()[-1] if err.strip() else "?"}
        text = answer.get("error") or f"{answer.get('label')} ({max(answer['probabilities'].values()):.0%})"
        size = path.stat().st_size if path.is_file() else 0
        print(f"{name:22}{size:11,}{seconds:9.2f}{peak:9.0f}  {text[:110]}")


if __name__ == "__main__":
    main()
