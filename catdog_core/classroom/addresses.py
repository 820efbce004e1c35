"""How students reach the class: the names and IPv4 addresses this machine answers to, the https
addresses they make, and the QR codes that bring phones to them. No packet is sent to find them."""

from __future__ import annotations

import io
import ipaddress
import socket
import struct
import sys


def host_names() -> list[str]:
    """The names this machine answers to on a class's network: its host name, the same with .local
    (mDNS, which phones and laptops resolve on a LAN), and localhost."""
    name = socket.gethostname().strip().rstrip(".") or "localhost"
    names = [name] if name != "localhost" else []
    if "." not in name and name != "localhost":
        names.append(f"{name}.local")
    return names + ["localhost"]


def _linux_interface_addresses() -> list[str]:
    """Each interface's IPv4 address, asked of the kernel (SIOCGIFADDR): no packet is sent."""
    import fcntl

    found = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for _, name in socket.if_nameindex():
            try:
                answer = fcntl.ioctl(probe.fileno(), 0x8915, struct.pack("256s", name.encode()[:15]))
            except OSError:  # an interface without an IPv4 address
                continue
            found.append(socket.inet_ntoa(answer[20:24]))
    return found


def _resolver_addresses() -> list[str]:
    """The addresses the host name resolves to here (/etc/hosts, mDNS): the only way elsewhere."""
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
    except OSError:
        return []
    return [info[4][0] for info in infos]


def lan_addresses() -> list[str]:
    """This machine's IPv4 addresses that other devices can reach (loopback and link-local left
    out), in a stable order. Read from the interfaces, so it works with no network at all."""
    candidates = _linux_interface_addresses() if sys.platform.startswith("linux") else []
    candidates += _resolver_addresses()
    chosen = []
    for text in candidates:
        address = ipaddress.ip_address(text)
        if address.is_loopback or address.is_link_local or address.is_unspecified or text in chosen:
            continue
        chosen.append(text)
    return sorted(chosen, key=lambda a: (not ipaddress.ip_address(a).is_private, ipaddress.ip_address(a)))


def urls(address: str, port: int, lan: list[str] | None = None) -> list[str]:
    """The https addresses students type or scan, best first. `address` is what the server listens
    on: every interface ("0.0.0.0", ""), or one address."""
    if address in ("0.0.0.0", "", "::"):
        hosts = (lan_addresses() if lan is None else lan) or ["localhost"]
    else:
        hosts = [address]
    return [f"https://{_url_host(host)}:{port}" for host in hosts]


def _url_host(host: str) -> str:
    try:
        return f"[{host}]" if ipaddress.ip_address(host).version == 6 else host
    except ValueError:
        return host


def qr_terminal(url: str) -> str:
    """The QR code of `url` as text for a terminal (block characters, no escape codes)."""
    import segno

    out = io.StringIO()
    segno.make(url, error="m").terminal(out=out, compact=True)
    return out.getvalue()


def qr_png(url: str, scale: int = 10) -> bytes:
    """The QR code of `url` as a PNG, dark on white with the standard quiet zone, for the page."""
    import segno

    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="png", scale=scale, border=4)
    return out.getvalue()
