"""Logs every generation-2 garbage collection of this process, for benchmarks/bench_server.py.

Active only when CATDOG_GCLOG names a file, and only in processes started with this folder on
PYTHONPATH (the benchmark adds it for the server it starts; its children inherit it). One line per
collection: pid, wall-clock end time, duration in ms, objects collected. The benchmark keeps the
server's pid only.
"""

import os

_PATH = os.environ.get("CATDOG_GCLOG")

if _PATH:
    import gc
    import time

    _started = [0.0]

    def _log_full_collection(phase, info):
        if info.get("generation") != 2:
            return
        if phase == "start":
            _started[0] = time.perf_counter()
            return
        took_ms = (time.perf_counter() - _started[0]) * 1000
        try:  # one short append per collection: lines from several processes do not interleave
            with open(_PATH, "a") as log:
                log.write(f"{os.getpid()} {time.time():.3f} {took_ms:.3f} {info.get('collected', 0)}\n")
        except OSError:
            pass

    gc.callbacks.append(_log_full_collection)
