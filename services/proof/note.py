"""Signed checkpoints: a tree head in the C2SP signed-note / tlog-checkpoint text format.

    <origin>                              e.g. shouwen.example/city
    <tree size>                           leaves = events in commit order (commit_log seq)
    <base64 root hash>
    time <RFC 3339 UTC>                   an extension line: when it was taken
    <blank line>
    — <key name> <base64(key id (4 bytes) || Ed25519 signature (64 bytes))>

The signature covers every byte above the blank line (the body, newline-terminated). The
key id is the first 4 bytes of SHA-256(key name || 0x0A || 0x01 || raw public key), as in
signed notes, so a note names the key that signed it. A checkpoint travels as JSON too:
the note is what counts; the other fields are read from it and must agree.

Pure: cryptography and the standard library; keys are handed in, not read from disk.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

_ORIGIN = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces
_SIGNATURE = re.compile(r"\u2014 (\S+) ([A-Za-z0-9+/=]+)\n")


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not verify; the message says why."""


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(name: str, key: Ed25519PublicKey) -> bytes:
    return hashlib.sha256(name.encode() + b"\n\x01" + raw_public(key)).digest()[:4]


def fingerprint(key: Ed25519PublicKey) -> str:
    """SHA-256 of the raw public key, hex: what a person compares by eye."""
    return hashlib.sha256(raw_public(key)).hexdigest()


def public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_public_pem(data: bytes) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise CheckpointError(f"not a PEM public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise CheckpointError("the public key is not an Ed25519 key")
    return key


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    tree_size: int
    root_hash: bytes
    time: datetime
    key_name: str = ""
    key_id: bytes = b""
    signature: bytes = b""

    def body(self) -> str:
        stamp = self.time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        root = base64.b64encode(self.root_hash).decode()
        return f"{self.origin}\n{self.tree_size}\n{root}\ntime {stamp}\n"

    def note(self) -> str:
        blob = base64.b64encode(self.key_id + self.signature).decode()
        return f"{self.body()}\n\u2014 {self.key_name} {blob}\n"

    def to_json(self) -> dict[str, Any]:
        return {
            "origin": self.origin, "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(), "time": self.body().split("\n")[3][5:],
            "key_name": self.key_name, "key_id": self.key_id.hex(), "note": self.note(),
        }

    def verify(self, key: Ed25519PublicKey) -> None:
        """Raise CheckpointError unless ``key`` signed this checkpoint."""
        if self.key_id != key_id(self.key_name, key):
            raise CheckpointError(
                f"the checkpoint was signed by key {self.key_id.hex()} ({self.key_name}),"
                f" not by the key given ({key_id(self.key_name, key).hex()})"
            )
        try:
            key.verify(self.signature, self.body().encode())
        except InvalidSignature:
            raise CheckpointError("the checkpoint's signature does not verify") from None


def sign(origin: str, tree_size: int, root_hash: bytes, time: datetime,
         key: Ed25519PrivateKey) -> Checkpoint:
    if not _ORIGIN.fullmatch(origin):
        raise CheckpointError(f"origin {origin!r}: printable ASCII without spaces")
    unsigned = Checkpoint(origin, tree_size, root_hash, time)
    signature = key.sign(unsigned.body().encode())
    return Checkpoint(origin, tree_size, root_hash, time, origin,
                      key_id(origin, key.public_key()), signature)


def parse_note(text: str) -> Checkpoint:
    body, sep, sigs = text.partition("\n\n")
    lines = body.split("\n")
    if not sep or len(lines) < 4 or not lines[3].startswith("time "):
        raise CheckpointError("not a checkpoint note (origin, size, root, time, signature)")
    try:
        size = int(lines[1])
        root = base64.b64decode(lines[2], validate=True)
        when = datetime.strptime(lines[3][5:], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError as exc:
        raise CheckpointError(f"checkpoint note: {exc}") from None
    found = _SIGNATURE.match(sigs)
    if found is None or len(root) != 32 or size < 0 or not _ORIGIN.fullmatch(lines[0]):
        raise CheckpointError("checkpoint note: bad origin, size, root or signature line")
    blob = base64.b64decode(found.group(2))
    if len(blob) != 68:
        raise CheckpointError("checkpoint note: the signature is not 4 + 64 bytes")
    cp = Checkpoint(lines[0], size, root, when, found.group(1), blob[:4], blob[4:])
    if cp.body() != body + "\n":
        raise CheckpointError("checkpoint note: not in canonical form")
    return cp


def from_json(doc: Any) -> Checkpoint:
    """A checkpoint from its JSON form; the note decides, the other fields must agree."""
    if not isinstance(doc, dict) or not isinstance(doc.get("note"), str):
        raise CheckpointError("a checkpoint needs its signed 'note'")
    cp = parse_note(doc["note"])
    for name, value in cp.to_json().items():
        if name in doc and doc[name] != value:
            raise CheckpointError(f"checkpoint field {name!r} disagrees with its signed note")
    return cp
