"""GitHub App keys and JWTs for tests, made the way GitHub's documentation describes them.

Upstream contract: docs.github.com "Generating a JSON Web Token (JWT) for a GitHub App": RS256,
``iat`` backdated 60 s against clock drift, ``exp`` at most 10 minutes ahead, ``iss`` the app id
(or client id). The fake checks JWTs independently of this helper, so tests can also hand-craft bad
ones with ``claims`` and ``header``.
"""
from __future__ import annotations

import base64
import json
import time
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def generate_app_key(bits: int = 2048) -> tuple[str, str]:
    """A fresh RSA key pair as (private PKCS#1 PEM, like GitHub's download; public SPKI PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode("ascii")
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")
    return private_pem, public_pem


def sign_app_jwt(
    private_pem: str,
    app_id: int | str,
    *,
    now: float | None = None,
    iat_offset: int = -60,
    lifetime: int = 600,
    claims: dict[str, Any] | None = None,
    header: dict[str, Any] | None = None,
) -> str:
    """An RS256 JWT for ``app_id``; ``claims``/``header`` override fields to build invalid ones."""
    now = int(time.time() if now is None else now)
    payload: dict[str, Any] = {"iat": now + iat_offset, "exp": now + lifetime, "iss": str(app_id)}
    payload.update(claims or {})
    head = {"alg": "RS256", "typ": "JWT"}
    head.update(header or {})
    signing_input = (
        b64url(json.dumps(head, separators=(",", ":")).encode())
        + "."
        + b64url(json.dumps(payload, separators=(",", ":")).encode())
    )
    key = serialization.load_pem_private_key(private_pem.encode("ascii"), password=None)
    signature = key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + b64url(signature)
