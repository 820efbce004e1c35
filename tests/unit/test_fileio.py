"""Tests for catdog_core.fileio: a file is replaced whole or not at all."""

from __future__ import annotations

import errno

import pytest

from catdog_core.fileio import write_atomic


def test_bytes_and_writer_functions_replace_the_file(tmp_path):
    target = tmp_path / "model.tflite"
    write_atomic(target, b"first")
    write_atomic(target, lambda f: f.write(b"second"))
    assert target.read_bytes() == b"second"
    assert [p.name for p in tmp_path.iterdir()] == ["model.tflite"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "labels.txt"
    write_atomic(target, b"cats\ndogs\n")

    def disk_full(f):
        f.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        write_atomic(target, disk_full)
    assert target.read_bytes() == b"cats\ndogs\n"
    assert [p.name for p in tmp_path.iterdir()] == ["labels.txt"]


def test_recent_keeps_the_most_recently_used_and_drops_the_oldest():
    from catdog_core.fileio import Recent

    kept = Recent(2)
    assert kept.put("a", 1) == 1 and kept.put("b", 2) == 2
    assert kept.get("a") == 1  # used: now the newest
    kept.put("c", 3)  # over its size: the least recently used ("b") goes
    assert (kept.get("a"), kept.get("b"), kept.get("c")) == (1, None, 3)
    kept.clear()
    assert kept.get("a") is None


def test_the_freed_heap_goes_back_once_per_quiet_spell_after_work():
    from catdog_core.fileio import QuietTrim

    quiet = QuietTrim(2.0, trim=lambda: None, again=60.0)
    quiet._last = quiet._trimmed = 90.0  # (busy() without its thread, and a trim, at t=90)
    assert not quiet.due(100.0)  # no work since: nothing to give back yet
    quiet._last, quiet._pending = 100.0, True  # a page run at t=100
    assert not quiet.due(101.5)  # still within the quiet time
    assert quiet.due(102.0)
    assert not quiet.due(110.0)  # once per quiet spell, not every look
    assert quiet.due(162.0)  # ...and again a minute on while it lasts (sessions dropped meanwhile)
    quiet._last, quiet._pending = 170.0, True
    assert not quiet.due(171.0) and quiet.due(172.5)


def test_a_busy_process_is_trimmed_by_its_watcher_thread():
    import threading

    from catdog_core.fileio import QuietTrim

    trimmed = threading.Event()
    quiet = QuietTrim(0.1, trim=trimmed.set)
    quiet.busy()
    assert trimmed.wait(5)
