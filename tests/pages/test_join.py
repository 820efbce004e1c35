"""The pages' side of `catdog classroom`, in AppTest: the Join page for the projector, and a
session without a valid pass under the class server."""

from __future__ import annotations

import os

from catdog_core import classroom
from conftest import open_page, texts


def test_the_join_page_says_how_to_serve_a_class_when_none_is_served():
    at = open_page("join")
    assert [t.value for t in at.title] == ["Join the class"]
    assert any("catdog classroom" in i for i in texts(at.info))
    assert not at.image


def test_the_join_page_shows_the_code_the_address_and_the_class_password_only(isolated_home, monkeypatch):
    monkeypatch.setenv(classroom.ENV_CLASS_PASSWORD, "otter-maple-42")
    monkeypatch.setenv(classroom.ENV_TEACHER_PASSWORD, "cedar-plum-heron-517")
    where = classroom.class_folder(isolated_home)
    classroom.write_server_info(where, classroom.ServerInfo(("https://192.168.1.20:8501", "https://10.0.0.7:8501"),
                                                            os.getpid(), "AB:" * 31 + "AB"))
    at = open_page("join")
    at.text_input(key="class_password_input").input("cedar-plum-heron-517")  # the in-app gate, as the teacher
    at.button[0].click().run()
    assert not at.exception
    body = " ".join(texts(at.markdown) + texts(at.caption))
    assert "https://192.168.1.20:8501" in body and "or https://10.0.0.7:8501" in body
    assert "`otter-maple-42`" in body and "cedar-plum-heron-517" not in body
    assert "not private" in body and "AB:AB:AB" in body
    assert len(at.image) == 1  # the QR code


def test_under_the_class_server_a_session_without_a_pass_sees_one_sentence(monkeypatch):
    monkeypatch.setenv(classroom.ENV_CLASSROOM, "1")
    at = open_page("training")
    assert [m.value for m in at.markdown] == [
        "Your pass for this class is missing or out of date: [sign in again](/login)."]
    assert not at.get("page_link") and not at.title and not at.button
