"""The class board (issue 22, point 4): runs of every session on the class's data, best first,
names as text, hidden on demand, and a CSV a spreadsheet cannot run."""

from __future__ import annotations

import csv
import io
from dataclasses import replace

import pytest

from catdog_core import board, runs
from catdog_core.jobs import JobSpec
from support.pages import data  # noqa: F401  (the synthetic dataset, configured)
from conftest import button, open_page, texts


def trained_by(trained_transfer, owner: str, val: float, **spec):
    data, result = trained_transfer
    history = [replace(h, val_accuracy=val) for h in result.history]
    job = JobSpec("transfer", result.epochs_requested, result.settings, learning_rate=spec.get("learning_rate"))
    return runs.save_run(replace(result, history=history), data.describe(), {"owner": owner}, spec=job.to_dict())


def test_names_are_cleaned_refused_with_a_sentence_and_kept_per_session(isolated_home):
    assert board.set_name("session aa11", "  Ann   <b>Lee</b> ") == "Ann <b>Lee</b>"
    for bad in ("", "   ", "x" * (board.MAX_NAME + 1), "evil\u202eman", "bell\x07"):
        with pytest.raises(board.InvalidName):
            board.set_name("session bb22", bad)
    board.set_name("session bb22", "=HYPERLINK(\"http://x\")")
    assert board.names() == {"session aa11": "Ann <b>Lee</b>", "session bb22": "=HYPERLINK(\"http://x\")"}
    (board.names_dir() / "junk.txt").write_bytes(b"\xff\xfe not text")  # a damaged file is left out
    assert len(board.names()) == 2


def test_rows_are_best_first_with_intervals_and_what_changed(isolated_home, trained_transfer):
    first = trained_by(trained_transfer, "session aa11", 0.80)
    better = trained_by(trained_transfer, "session bb22", 0.90, learning_rate=0.01)
    tie = trained_by(trained_transfer, "session aa11", 0.90)  # later: second on the tie
    rows = board.rows(runs.list_runs().runs, me="session aa11", known={"session bb22": "Bo"})
    assert [r.run_id for r in rows] == [better.run_id, tie.run_id, first.run_id]
    assert [r.place for r in rows] == [1, 2, 3]
    assert rows[0].who == "Bo" and not rows[0].mine and rows[1].mine and rows[1].who == "session aa11"
    assert rows[0].low < 0.90 < rows[0].high
    assert "learning rate 0.01" in rows[0].changes and "10 epochs" in rows[0].changes
    table = list(csv.DictReader(io.StringIO(board.to_csv(rows, hide_names=True).decode())))
    assert [t["who"] for t in table] == ["", "session aa11", "session aa11"]  # only the others are hidden
    shown = list(csv.DictReader(io.StringIO(board.to_csv(
        board.rows(runs.list_runs().runs, "x", {"session bb22": "=cmd|' /C calc'!A0"})).decode())))
    assert shown[0]["who"] == "'=cmd|' /C calc'!A0"  # a formula stays text in a spreadsheet


def test_the_board_page_shows_two_sessions_names_as_text_and_hides_them(data, trained_transfer):
    at = open_page("board")
    assert not at.exception and any("No run on this data yet" in i for i in texts(at.info))
    trained_by(trained_transfer, "session bb22", 0.95)
    at.session_state["owner"] = "session aa11"
    trained_by(trained_transfer, "session aa11", 0.85)
    board.set_name("session bb22", "[click](http://evil.example) **Bo**")
    at.run()
    at.text_input[0].input("<img src=x onerror=alert(1)>Ann")
    button(at, "Save the name").click().run()
    assert not at.exception
    table = at.dataframe[0].value
    assert table["who"].tolist() == ["[click](http://evil.example) **Bo**", "<img src=x onerror=alert(1)>Ann (you)"]
    assert table["place"].tolist() == [1, 2] and table["val acc (95% interval)"][0].startswith("95.0% (")
    assert any("Your best run is **number 2 of 2**" in m for m in texts(at.markdown))
    at.toggle(key="board_hide_names").set_value(True).run()
    assert at.dataframe[0].value["who"].tolist() == ["", "<img src=x onerror=alert(1)>Ann (you)"]
