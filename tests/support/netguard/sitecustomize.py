"""Loaded by every Python process the tests start (conftest puts this folder on PYTHONPATH):
no test process, worker, command line or Streamlit server may reach past this machine.

With CATDOG_TESTS_OFFLINE=1, a connection or a name lookup beyond loopback fails at
once with OSError, and, when CATDOG_NET_LOG names a file, is written there, so a
test can prove that nothing even tried.
"""

import os
import socket

_LOCAL = ("localhost", "127.0.0.1", "::1", "0.0.0.0", "")


def _local(host) -> bool:
    host = str(host)
    return host.startswith("127.") or host in _LOCAL or host == socket.gethostname()


def _note(what: str) -> None:
    log = os.environ.get("CATDOG_NET_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"{os.getpid()} {what}\n")


if os.environ.get("CATDOG_TESTS_OFFLINE") == "1" and not getattr(socket, "_catdog_guarded", False):
    _real_connect, _real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    _real_getaddrinfo = socket.getaddrinfo

    def _check(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _local(address[0]):
            _note(f"connect {address[0]}:{address[1]}")
            raise OSError(f"tests may not reach the network (tried {address[0]})")

    def connect(self, address):
        _check(self, address)
        return _real_connect(self, address)

    def connect_ex(self, address):
        _check(self, address)
        return _real_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if host is not None and not _local(host.decode() if isinstance(host, bytes) else host):
            _note(f"lookup {host}")
            raise socket.gaierror(socket.EAI_NONAME, f"tests may not reach the network (looked up {host})")
        return _real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = connect, connect_ex, getaddrinfo
    socket._catdog_guarded = True
