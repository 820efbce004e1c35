"""The model service: TensorFlow's work in processes of its own, bounded, and restarted
after a crash, while the process that asks (the web server) never loads TensorFlow."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from catdog_core import dataset, runs
from catdog_core.errors import CatdogError, InvalidImage
from catdog_core.service import ModelService, ServiceBusy, ServiceUnavailable, client
from conftest import REPO, jpeg_bytes, make_dataset, subprocess_env


@pytest.fixture
def service():
    """A service of the test's own (not the process's shared one), closed afterwards."""
    own = ModelService()
    yield own
    own.close()


@pytest.fixture
def saved_run(trained_transfer):
    data, result = trained_transfer
    return runs.save_run(result, data.describe())


def test_the_caller_never_loads_tensorflow(synthetic_data, tmp_path):
    """A plain process uses the service for a photo, a dataset and a preview, then still has no
    TensorFlow or Keras: what the Streamlit server does on every page."""
    code = (
        "import json, sys\n"
        "from catdog_core.service import get_service\n"
        "service = get_service()\n"
        f"data = service.load_dataset({str(synthetic_data)!r})\n"
        "shown, model_input = service.picture(open('photo.jpg', 'rb').read())\n"
        "copies = service.preview(model_input, {'flip': 'horizontal', 'rotation': 0.2, 'seed': 3}, 9)\n"
        "print(json.dumps({'train': len(data.train), 'classes': list(data.class_names),\n"
        "                  'shapes': [list(shown.shape), list(model_input.shape), list(copies.shape)],\n"
        "                  'loaded': sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')),\n"
        "                  'service': service.pids()['quick'] is not None}))\n"
    )
    (tmp_path / "photo.jpg").write_bytes(jpeg_bytes(0, 1, size=120))
    env = subprocess_env()
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert found["loaded"] == []
    assert found["train"] == 48 and found["classes"] == ["cats", "dogs"]
    assert found["shapes"] == [[120, 120, 3], [160, 160, 3], [9, 160, 160, 3]]
    assert found["service"]


def test_refusals_come_back_as_the_same_sentences(service):
    with pytest.raises(InvalidImage, match="not an image this app can read"):
        service.picture(b"%PDF-1.4 not a photo")
    with pytest.raises(CatdogError, match="No saved run"):
        service.classify("no-such-run", jpeg_bytes(), heatmap=False)
    shown, model_input = service.picture(jpeg_bytes(1, 2, size=200))  # the same process answers again
    assert shown.shape == (200, 200, 3) and model_input.dtype == np.uint8


def test_the_service_answers_in_the_callers_settings(service, saved_run, tmp_path, monkeypatch):
    """CATDOG_HOME travels with each request: another home, another set of runs."""
    assert service.open_model(saved_run.run_id).class_names == ("cats", "dogs")
    monkeypatch.setenv("CATDOG_HOME", str(tmp_path / "another_home"))
    with pytest.raises(CatdogError, match="No saved run"):
        service.open_model(saved_run.run_id)


def test_a_model_is_opened_by_the_service_once_per_model_file(service, saved_run):
    """Under a class every Classify run asked the quick lane to open its model, one at a time behind
    the class's photos (bench_class's classify p95); the answer is kept per model file."""
    first = service.open_model(saved_run.run_id)
    asked = []
    real = service.quick.request
    service.quick.request = lambda name, *rest: asked.append(name) or real(name, *rest)
    assert service.open_model(saved_run.run_id) == first
    assert asked == []  # answered here: the lane was not asked
    later = saved_run.model_path.stat().st_mtime_ns + 10**9
    os.utime(saved_run.model_path, ns=(later, later))  # the model file written again
    assert service.open_model(saved_run.run_id).class_names == ("cats", "dogs")
    assert asked == ["open_model"]


def killed_during(service, ask, settle: float) -> tuple[dict, int]:
    """Run ask() in a thread, kill -9 the quick lane's process `settle` s into the request; returns
    ({"answer": ...} or {"error": CatdogError}, the killed pid)."""
    outcome = {}

    def run():
        try:
            outcome["answer"] = ask()
        except CatdogError as exc:
            outcome["error"] = exc

    asking = threading.Thread(target=run)
    asking.start()
    deadline = time.time() + 60
    while service.pids()["quick"] is None or not service.quick.lock.locked():
        assert time.time() < deadline, "the request never started"
        time.sleep(0.01)
    time.sleep(settle)
    first = service.pids()["quick"]
    os.kill(first, signal.SIGKILL)
    asking.join(120)
    return outcome, first


def test_a_killed_service_says_so_and_the_next_request_works(service, saved_run):
    """kill -9 in the middle of a classify: one sentence for that request, a fresh process for the next."""
    photo = jpeg_bytes(0, 5, size=200)
    service.picture(photo)  # the lane's process is up (TensorFlow imported): the kill lands in the answer
    # 0.5 s: the cold model is loading and tracing, well inside the request.
    outcome, first = killed_during(service, lambda: service.classify(saved_run.run_id, photo, heatmap=True), 0.5)
    assert isinstance(outcome.get("error"), ServiceUnavailable), outcome
    assert "stopped while answering" in str(outcome["error"]) and "next request" in str(outcome["error"])

    answer = service.classify(saved_run.run_id, photo, heatmap=True)
    assert answer.prediction.label in ("cats", "dogs") and answer.looked.shape == (200, 200, 3)
    assert service.pids()["quick"] not in (None, first)


def test_a_request_without_a_users_bytes_is_asked_again_of_a_fresh_service(service, saved_run):
    """open_model carries no photo: a service killed under it is started again and asked once more
    (the browser flow met the sentence right after the kill), where a classify gets the sentence."""
    service.picture(jpeg_bytes(0, 5, size=200))
    outcome, first = killed_during(service, lambda: service.open_model(saved_run.run_id), 0.3)
    assert "answer" in outcome and outcome["answer"].run_id == saved_run.run_id, outcome
    assert service.pids()["quick"] not in (None, first)


def test_a_request_past_its_time_is_stopped_and_the_next_works(service, saved_run):
    with pytest.raises(CatdogError, match="took more than 0 s and was stopped"):
        service._call(service.quick, "open_model", saved_run.run_id, seconds=0.3)  # a cold model takes seconds
    assert service.pids()["quick"] is None
    assert service.open_model(saved_run.run_id).explains


def test_requests_are_bounded_by_bytes_and_by_session(service, monkeypatch):
    with pytest.raises(CatdogError, match="limit is 256 MB"):
        service.pictures([b"x" * (64 * 1024**2)] * 5)
    assert service.pids() == {"quick": None, "batch": None}  # refused before anything was sent

    # A session with two requests in flight gets a sentence for a third; others are served.
    monkeypatch.setattr(client, "MAX_PER_OWNER", 2)
    release = threading.Event()
    service.quick.lock.acquire()  # the lane is busy: requests queue behind it
    waiting = [threading.Thread(target=lambda: service.picture(jpeg_bytes(), owner="ana")) for _ in range(2)]
    for thread in waiting:
        thread.start()
    deadline = time.time() + 10
    while service._owners.get("ana", 0) < 2:
        assert time.time() < deadline
        time.sleep(0.01)
    with pytest.raises(ServiceBusy, match="still being answered"):
        service.picture(jpeg_bytes(), owner="ana")
    service.quick.lock.release()
    release.set()
    for thread in waiting:
        thread.join(120)
    assert service.picture(jpeg_bytes(), owner="ana")[1].shape == (160, 160, 3)
    assert "ana" not in service._owners


def test_the_batch_lane_reports_progress_and_leaves_the_quick_lane_free(service, tmp_path, fresh_cache):
    root = make_dataset(tmp_path / "fresh", n_train=12, n_val=6, seed=11)
    reports = []
    loaded = service.load_dataset(str(root), progress=lambda *r: reports.append(r))
    assert len(loaded.train) == 24 and loaded.train.images.shape == (24, 160, 160, 3)
    assert service.pids()["batch"] is not None and service.pids()["quick"] is None
    assert {message for _, _, message in reports} >= {"Checking the files", "Decoding the images"}
    assert reports[-1][0] == reports[-1][1]  # the last report says it is complete
    # Decoded by the service into the cache, read here from disk as a memory map.
    assert isinstance(loaded.train.images, np.memmap)
    assert dataset.cached_dataset(str(root)) is loaded


def test_a_server_killed_outright_leaves_no_service_folder_behind(tmp_path):
    """The service's socket lives in a private catdog-service-* folder of the temp folder: when the
    process that started it is killed (SIGKILL, no clean-up of its own), the service ends and takes
    the folder with it."""
    from support.servers import ended

    temp = tmp_path / "tmp"
    temp.mkdir()
    code = ("import os, sys\nfrom catdog_core.service import get_service\nservice = get_service()\n"
            "service.ping()\nprint(service.pids()['quick'], flush=True)\nsys.stdin.read()\n")
    caller = subprocess.Popen([sys.executable, "-c", code], env=subprocess_env(TMPDIR=str(temp)),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        lane = int(caller.stdout.readline())
        assert [p.name.startswith("catdog-service-") for p in temp.iterdir()] == [True]
        caller.kill()
        caller.wait(10)
        deadline = time.time() + 60
        while time.time() < deadline and (list(temp.iterdir()) or not ended(lane)):
            time.sleep(0.1)
        assert list(temp.iterdir()) == [] and ended(lane)
    finally:
        if caller.poll() is None:
            caller.kill()


def test_the_lanes_lock_goes_to_its_waiters_in_the_order_they_came():
    """threading.Lock let newcomers take a lane ahead of requests that had waited seconds (a classify
    waited 40 s under a class); the lane's lock is first come, first served, and a waiter that gives
    up leaves the line."""
    from catdog_core.service.client import FairLock

    lock, order = FairLock(), []
    assert lock.acquire()
    assert not lock.acquire(timeout=0.05)  # gave up: not in the line any more

    def wait(n: int) -> None:
        with lock:
            order.append(n)

    threads = []
    for n in range(6):
        threads.append(threading.Thread(target=wait, args=(n,)))
        threads[-1].start()
        deadline = time.time() + 5
        while len(lock._waiting) < n + 1 and time.time() < deadline:  # in line before the next comes
            time.sleep(0.001)
    lock.release()
    for t in threads:
        t.join(5)
    assert order == list(range(6)) and not lock.locked()
    with pytest.raises(RuntimeError):
        lock.release()


def test_the_requests_are_registered_once_and_the_client_asks_each_of_them():
    """A task is a request because @request registers it; the client has a method asking each by name
    (no other list of names), the process refuses any other name, and a session's requests are the
    client's methods that take an owner."""
    import ast
    import inspect

    from catdog_core.service import ModelService, client, process, tasks
    from ui import model

    asked = {node.args[1].value for node in ast.walk(ast.parse(inspect.getsource(client)))
             if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "_call"
             and isinstance(node.args[1], ast.Constant)} | {"ping"}
    assert asked == set(tasks.REQUESTS) and all(tasks.REQUESTS[name].__name__ == name for name in asked)
    assert process._answer("shutil.rmtree", ("/",), {})[0] == "error"  # a module's name is no request
    assert process._answer("_model", ("x",), {})[0] == "error"  # nor a task's helper
    assert "classify" in model._OWNED and "classify_frame" not in model._OWNED and "ping" not in model._OWNED
    assert all("owner" in inspect.signature(getattr(ModelService, name)).parameters for name in model._OWNED)


class _Silent:
    """A connection on which no request comes: what poll was asked to wait, in order."""

    def __init__(self, answers=()):
        self.waits, self.answers = [], list(answers)

    def poll(self, timeout=None):
        self.waits.append(timeout)
        return self.answers.pop(0) if self.answers else False


def test_a_quiet_lane_trims_its_heap_then_lets_go_of_what_it_can_remake(monkeypatch):
    from catdog_core.service import process

    done = []
    monkeypatch.setattr(process, "trim_heap", lambda: done.append("trim"))
    monkeypatch.setattr(process, "release_memory", lambda: done.append("release"))
    conn = _Silent()
    assert not process._next_request_within(conn, 300.0)  # the batch lane: quiet for its idle time, it exits
    assert done == ["trim", "release"]
    assert conn.waits == [process.QUIET_S, process.RELEASE_S - process.QUIET_S, 300.0 - process.RELEASE_S]
    done.clear()
    assert process._next_request_within(_Silent([False, True]), None)  # a request within RELEASE_S: kept
    assert done == ["trim"]


def test_releasing_a_lanes_memory_keeps_it_answering(saved_run):
    """After release_memory (a quiet lane's) the same model still answers, the same way."""
    from catdog_core import predict
    from catdog_core.service import process

    model = runs.load_model(saved_run)
    photo = np.zeros((160, 160, 3), np.uint8)
    before = predict.classify(model, photo, saved_run.class_names)
    process.release_memory()
    after = predict.classify(model, photo, saved_run.class_names)
    assert after.label == before.label and abs(after.confidence - before.confidence) < 1e-6
