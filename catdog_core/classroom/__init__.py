"""What a class served from this machine is made of: its addresses, its certificate, its two
passwords, the passes that say who a browser is, and the QR code that brings phones in.

    addresses = classroom.lan_addresses()              # no network needed: read from the interfaces
    cert = classroom.ensure_certificate(folder, classroom.host_names(), addresses)
    secret = classroom.server_secret(folder)
    token = classroom.issue_pass(secret, classroom.STUDENT)
    classroom.read_pass(secret, token)                  # Pass(id=..., role='student', issued=...)

Everything here is kept in CATDOG_HOME/classroom/ (0700), each file 0600. `catdog classroom`
(catdog_core.cli) uses it to start the server; catdog_core.door and the pages read passes with it.

Laid out by job: addresses (names, addresses, https URLs, QR codes), certificate (HTTPS),
passes (passwords, the server's secret, signed passes), files (the class folder, server.json);
the environment `catdog classroom` hands its server is named here.
"""

from __future__ import annotations

from .addresses import host_names, lan_addresses, qr_png, qr_terminal, urls
from .certificate import (CERT_DAYS, CERTIFICATE_STEPS, CERTIFICATE_WARNING, RENEW_DAYS, Certificate,
                          ensure_certificate, load_certificate)
from .files import (ClassroomError, ServerInfo, class_folder, clear_server_info, server_info,
                    write_server_info)
from .passes import (PASS_COOKIE, PASS_SECONDS, ROLES, STUDENT, TEACHER, WORDS, Pass, class_password,
                     issue_pass, make_password, read_pass, server_secret, teacher_password)

__all__ = [
    "host_names", "lan_addresses", "qr_png", "qr_terminal", "urls",
    "CERT_DAYS", "CERTIFICATE_STEPS", "CERTIFICATE_WARNING", "RENEW_DAYS", "Certificate", "ensure_certificate",
    "load_certificate",
    "ClassroomError", "ServerInfo", "class_folder", "clear_server_info", "server_info", "write_server_info",
    "PASS_COOKIE", "PASS_SECONDS", "ROLES", "STUDENT", "TEACHER", "WORDS", "Pass", "class_password", "issue_pass",
    "make_password", "read_pass", "server_secret", "teacher_password",
    "ENV_CLASSROOM", "ENV_CLASS_PASSWORD", "ENV_TEACHER_PASSWORD",
]

from ..config import ENV_CLASS_PASSWORD, ENV_CLASSROOM, ENV_TEACHER_PASSWORD  # noqa: E402  (settings live in config)
