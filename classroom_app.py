"""catdog for a class: app.py behind the door (catdog_core.door), served over HTTPS.

    python -m catdog_core classroom      # makes the certificate and passwords, then runs this file

Run by `catdog classroom`, never on its own: it reads the passwords that command hands it. Plain
`streamlit run app.py` stays the one-user app on localhost.
"""

import logging
import os
import sys
from contextlib import asynccontextmanager

import streamlit as st
from starlette.middleware import Middleware
from starlette.routing import Route

from catdog_core import classroom, door
from catdog_core.service import shutdown_service


def _guard() -> door.Guard:
    password, teacher = (os.environ.get(classroom.ENV_CLASS_PASSWORD), os.environ.get(classroom.ENV_TEACHER_PASSWORD))
    if not (os.environ.get(classroom.ENV_CLASSROOM) and password and teacher):
        sys.exit("classroom_app.py is started by `catdog classroom` (python -m catdog_core classroom).")
    return door.Guard(classroom.server_secret(classroom.class_folder()), password, teacher)


def _door_log() -> None:
    """The door's lines (wrong passwords, never their text) in the server's log, with the time."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s catdog door: %(message)s"))
    door.log.addHandler(handler)
    door.log.setLevel(logging.INFO)
    door.log.propagate = False


@asynccontextmanager
async def _lifespan(_app):
    yield
    shutdown_service()  # the model service's processes and their socket folders end with the server


_door_log()
GUARD = _guard()
app = st.App("app.py", routes=[Route(door.LOGIN_PATH, door.Login(GUARD), methods=["GET", "POST"])],
             middleware=[Middleware(door.Door, guard=GUARD)], lifespan=_lifespan)
