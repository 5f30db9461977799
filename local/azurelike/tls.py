"""Make a throwaway certificate authority and a loopback server certificate for it.

Azure's data services speak only TLS, so the Azure-like stack serves Azurite over HTTPS with
a certificate from a CA created for this run (valid for ``127.0.0.1``, ``::1`` and
``localhost``; its key never leaves the run's folder). The apps trust it the way they would
trust any CA: ``SSL_CERT_FILE`` names a bundle holding the system's roots plus this CA.
Python's ``ssl.create_default_context()`` (what aiohttp, and so azure-core's async
transport, uses) loads that file through OpenSSL's default verify paths, and ``requests``
(azure-core's sync transport) reads ``REQUESTS_CA_BUNDLE``; ``trust_environment`` sets both.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_LIFETIME = dt.timedelta(days=2)
_LOOPBACK_NAMES = ("localhost",)
_LOOPBACK_IPS = ("127.0.0.1", "::1")
_CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=True, content_commitment=False, key_encipherment=False,
    data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
    encipher_only=False, decipher_only=False,
)  # fmt: skip


@dataclass(frozen=True)
class TlsFiles:
    """Where the run's CA, server certificate, server key and trust bundle were written."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    bundle: Path

    def trust_environment(self) -> dict[str, str]:
        """Return the variables that make Python HTTP clients trust the local CA."""
        return {"SSL_CERT_FILE": str(self.bundle), "REQUESTS_CA_BUNDLE": str(self.bundle)}

    def client_context(self) -> ssl.SSLContext:
        """Return an SSL context that trusts only the local CA (for the harness's own checks)."""
        return ssl.create_default_context(cafile=str(self.ca_cert))


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tradebridge local stack"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _system_roots() -> str:
    """Return the PEM text of the roots the machine trusts, so the bundle only adds to them."""
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile):
        if candidate and Path(candidate).is_file():
            return Path(candidate).read_text(encoding="ascii", errors="replace")
    try:
        import certifi
    except ImportError:
        return ""
    return Path(certifi.where()).read_text(encoding="ascii", errors="replace")


def make_tls_files(folder: Path) -> TlsFiles:
    """Create a CA and a loopback server certificate signed by it, in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)  # tolerate a little clock skew
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("Tradebridge local CA")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + _LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_CA_KEY_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in _LOOPBACK_NAMES]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in _LOOPBACK_IPS]
    server = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + _LIFETIME)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(
        ca_cert=folder / "local-ca.pem",
        server_cert=folder / "server.pem",
        server_key=folder / "server-key.pem",
        bundle=folder / "ca-bundle.pem",
    )
    ca_pem = ca.public_bytes(serialization.Encoding.PEM).decode("ascii")
    files.ca_cert.write_text(ca_pem, encoding="ascii")
    files.server_cert.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    files.server_key.touch(mode=0o600)
    files.server_key.write_bytes(_pem_key(server_key))
    roots = _system_roots()
    files.bundle.write_text(roots.rstrip("\n") + "\n" + ca_pem if roots else ca_pem, "ascii")
    return files
