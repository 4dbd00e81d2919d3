"""A self-signed certificate for 127.0.0.1, made by a test that serves TLS on loopback."""

import subprocess
from pathlib import Path


def self_signed(root: Path) -> tuple[Path, Path]:
    certificate, private_key = root / "cert.pem", root / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(private_key), "-out", str(certificate)),
            *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    return certificate, private_key
