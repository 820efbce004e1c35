"""The class's HTTPS certificate: self-signed by this machine, kept in the class folder, made
again when it nears its end or no longer covers the machine's names and addresses; and what
each browser shows the first time, with how to go past it."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from ..fileio import write_atomic
from .files import ClassroomError

CERT_DAYS = 365  # Apple's browsers refuse server certificates valid for more than 825 days
RENEW_DAYS = 30  # a certificate this close to its end is made again at the next start
# What each browser shows the first time, and how to pass it: the certificate is this computer's own.
CERTIFICATE_STEPS = (("Chrome or Edge", "Advanced, then Proceed"),
                     ("Firefox", "Advanced, then Accept the Risk and Continue"),
                     ("Safari (also on iPhone and iPad)", "Show Details, then visit this website"))
CERTIFICATE_WARNING = (
    "The first time, the browser warns that the connection is not private: this class's certificate was "
    "made by this computer, not by a company browsers know. To go on: "
    + "; ".join(f"in {browser}, {steps}" for browser, steps in CERTIFICATE_STEPS) + ".")


@dataclass(frozen=True)
class Certificate:
    cert_file: Path
    key_file: Path
    names: tuple[str, ...]
    addresses: tuple[str, ...]
    not_after: datetime.datetime
    fingerprint: str  # SHA-256 of the certificate, "AB:CD:...", what a browser's details show

    @property
    def short_fingerprint(self) -> str:
        return self.fingerprint[:23]  # the first 8 bytes: enough to compare by eye


def ensure_certificate(where: Path, names: list[str], addresses: list[str],
                       now: datetime.datetime | None = None) -> Certificate:
    """The class's certificate in `where`, made once and kept: made again when it ends within
    RENEW_DAYS, or when it does not cover one of `names` and `addresses` (a new network)."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    wanted_names = tuple(dict.fromkeys(names))
    wanted_addresses = tuple(dict.fromkeys([*addresses, "127.0.0.1"]))
    current = load_certificate(where)
    if (current is not None and current.not_after - now > datetime.timedelta(days=RENEW_DAYS)
            and set(wanted_names) <= set(current.names) and set(wanted_addresses) <= set(current.addresses)):
        return current
    _make_certificate(where, wanted_names, wanted_addresses, now)
    made = load_certificate(where)
    if made is None:  # pragma: no cover - what was just written is read back
        raise ClassroomError(f"The certificate in {where} could not be read back.")
    return made


def load_certificate(where: Path) -> Certificate | None:
    """The certificate kept in `where`, or None when there is none or it cannot be read."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    cert_file, key_file = where / "cert.pem", where / "key.pem"
    try:
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
        if not key_file.is_file():
            return None
        alternative = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return None
    names = tuple(alternative.get_values_for_type(x509.DNSName))
    addresses = tuple(str(a) for a in alternative.get_values_for_type(x509.IPAddress))
    fingerprint = ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA256()))
    return Certificate(cert_file, key_file, names, addresses, cert.not_valid_after_utc, fingerprint)


def _make_certificate(where: Path, names: tuple[str, ...], addresses: tuple[str, ...],
                      now: datetime.datetime) -> None:
    """A self-signed server certificate (ECDSA P-256) for these names and addresses, with the
    extensions browsers insist on (subject alternative names, server authentication, not a CA)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names else "catdog classroom"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "catdog classroom")])
    alternative = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))  # a student's clock a little behind
            .not_valid_after(now + datetime.timedelta(days=CERT_DAYS))
            .add_extension(x509.SubjectAlternativeName(alternative), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False, content_commitment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(key, hashes.SHA256()))
    # The key first (mkstemp makes it 0600): a certificate is never beside a key that is not its own.
    write_atomic(where / "key.pem", key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()))
    write_atomic(where / "cert.pem", cert.public_bytes(serialization.Encoding.PEM))
