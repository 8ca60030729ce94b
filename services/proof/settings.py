"""Settings of the checkpointer and the bundles (environment, prefix SHOUWEN_), and the key.

    SHOUWEN_CHECKPOINT_KEY_PATH     the Ed25519 private key (PEM). Unset in development:
                                    $SHOUWEN_DATA_DIR/proof/checkpoint-ed25519.pem, made on
                                    first use; unset in production: refused.
    SHOUWEN_CHECKPOINT_ORIGIN       the log's name in every checkpoint note
    SHOUWEN_CHECKPOINT_DIR          where signed notes are published (default data dir/proof)
    SHOUWEN_CHECKPOINT_EVERY_SECONDS
    SHOUWEN_CHECKPOINTS_TOPIC       also publish each note there (when a broker is configured)
    SHOUWEN_CHECKPOINT_METRICS_PORT Prometheus metrics of `checkpoint --every` (9105; 0: none)
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.settings import Settings


class ProofSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOUWEN_", env_file=".env", extra="ignore")

    checkpoint_key_path: Path | None = None
    checkpoint_origin: str = "shouwen.local/events"
    checkpoint_dir: Path | None = None
    checkpoint_every_seconds: float = 60.0
    checkpoints_topic: str = "shouwen.checkpoints"
    checkpoint_metrics_port: int = Field(default=9105, ge=0, le=65535)  # 0: not served


class SigningKeyError(RuntimeError):
    """No usable signing key; the message says what to configure."""


def checkpoint_dir(settings: Settings, proof: ProofSettings) -> Path:
    return proof.checkpoint_dir or settings.data_dir / "proof"


def key_path(settings: Settings, proof: ProofSettings) -> Path:
    if proof.checkpoint_key_path is not None:
        return proof.checkpoint_key_path
    if settings.environment != "development":
        raise SigningKeyError("SHOUWEN_CHECKPOINT_KEY_PATH must name the checkpoint signing key"
                        f" outside development (environment is {settings.environment!r})")
    return settings.data_dir / "proof" / "checkpoint-ed25519.pem"


def signing_key(settings: Settings, proof: ProofSettings, create: bool = True) -> Ed25519PrivateKey:
    """The configured key; in development one is made in the data dir on first use."""
    path = key_path(settings, proof)
    if not path.exists():
        if not create or proof.checkpoint_key_path is not None:
            raise SigningKeyError(f"no checkpoint signing key at {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # Written aside and renamed: two first uses at once both end with one whole key.
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path} is not an Ed25519 private key")
    return key
