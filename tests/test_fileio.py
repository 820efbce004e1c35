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
