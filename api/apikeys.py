"""The format of Postgres API keys: `tsk_<id>_<secret>`.

The id (16 characters of a-z and 0-9) is public: it is logged, listed and used to revoke.
The secret is 32 random bytes (256 bits), URL-safe base64; only its SHA-256 is stored.
"""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass
from typing import Final

PREFIX: Final = "tsk_"
ID_LENGTH: Final = 16
SECRET_BYTES: Final = 32
_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
KEY_ID_PATTERN: Final = rf"^[a-z0-9]{{{ID_LENGTH}}}$"
_KEY = re.compile(rf"^{PREFIX}([a-z0-9]{{{ID_LENGTH}}})_([A-Za-z0-9_-]{{43}})$")


@dataclass(frozen=True, slots=True)
class ParsedKey:
    """A presented key split into its public id and its secret."""

    key_id: str
    secret: str


def parse_key(key: str) -> ParsedKey | None:
    """The id and secret of a key in the Postgres format, or None for any other string."""
    match = _KEY.fullmatch(key)
    return ParsedKey(match.group(1), match.group(2)) if match else None


def format_key(key_id: str, secret: str) -> str:
    """The key a client presents."""
    return f"{PREFIX}{key_id}_{secret}"


def encode_secret(raw: bytes) -> str:
    """`SECRET_BYTES` random bytes as the 43-character secret."""
    if len(raw) != SECRET_BYTES:
        raise ValueError(f"a secret is {SECRET_BYTES} bytes, not {len(raw)}")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def new_key() -> ParsedKey:
    """A fresh id and secret from the OS's CSPRNG."""
    key_id = "".join(secrets.choice(_ID_ALPHABET) for _ in range(ID_LENGTH))
    return ParsedKey(key_id, encode_secret(secrets.token_bytes(SECRET_BYTES)))
