"""The key-encryption key (KEK) that wraps every inquirer's data key, and where it comes from.

    Kek              the KMS-shaped interface: wrap(key, ref), unwrap(blob, ref), blind(text)
    LocalKek(secret) a 32-byte secret held by the process (development, or a mounted secret)
    kek_from_settings(PiiSettings())
        SHOUWEN_PII_KEK_PROVIDER "module:factory"   a KMS adapter (Vault transit, a cloud KMS)
        SHOUWEN_PII_KEK          base64 of 32 bytes
        SHOUWEN_PII_KEK_PATH     a file holding that
        development only         $SHOUWEN_DATA_DIR/pii/kek, made (0600) on first use
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib
import os
import secrets
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic_settings import BaseSettings, SettingsConfigDict

from events.sealed import KEY_BYTES


class PiiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOUWEN_", env_file=".env", extra="ignore")

    pii_encryption: bool = False
    pii_kek: str | None = None
    pii_kek_path: Path | None = None
    pii_kek_provider: str | None = None
    pii_key_cache_seconds: float = 30.0
    data_dir: Path = Path(".data")
    environment: str = "development"


class PiiConfigError(RuntimeError):
    pass


class Kek(Protocol):
    """The key-encryption key. A KMS adapter (Vault transit, a cloud KMS) implements these
    three with its Encrypt/Decrypt/HMAC calls; the key never needs to leave it."""

    kek_id: str

    def wrap(self, key: bytes, ref: str) -> bytes: ...
    def unwrap(self, blob: bytes, ref: str) -> bytes: ...
    def blind(self, text: str) -> bytes: ...


class LocalKek:
    """A 32-byte secret held by the process: AES-256-GCM wrapping (associated data: the
    ref), and an HMAC-SHA256 blind index, each under its own derived key."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) != KEY_BYTES:
            raise PiiConfigError(f"the PII key-encryption key must be {KEY_BYTES} bytes")
        self.kek_id = hashlib.sha256(b"kek-id:" + secret).hexdigest()[:12]
        self._wrap = AESGCM(hmac.digest(secret, b"shouwen-pii-wrap", "sha256"))
        self._blind = hmac.digest(secret, b"shouwen-pii-blind-index", "sha256")

    def wrap(self, key: bytes, ref: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._wrap.encrypt(nonce, key, ref.encode())

    def unwrap(self, blob: bytes, ref: str) -> bytes:
        return self._wrap.decrypt(blob[:12], blob[12:], ref.encode())

    def blind(self, text: str) -> bytes:
        return hmac.digest(self._blind, text.encode(), "sha256")


def kek_from_settings(s: PiiSettings) -> Kek:
    if s.pii_kek_provider:
        module, _, name = s.pii_kek_provider.partition(":")
        kek: Kek = getattr(importlib.import_module(module), name)()
        return kek
    if s.pii_kek:
        return LocalKek(base64.b64decode(s.pii_kek))
    if s.pii_kek_path:
        return LocalKek(base64.b64decode(s.pii_kek_path.read_text().strip()))
    if s.environment != "development":
        raise PiiConfigError("SHOUWEN_PII_KEK_PROVIDER, SHOUWEN_PII_KEK or "
                             "SHOUWEN_PII_KEK_PATH is required outside development")
    return LocalKek(base64.b64decode(dev_kek_file(s.data_dir).read_text().strip()))


def dev_kek_file(data_dir: Path) -> Path:
    """The development KEK in the data dir, made (mode 0600) on first use."""
    path = data_dir / "pii" / "kek"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode() + "\n")
    return path
