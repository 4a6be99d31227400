"""Pre-shared keys: checked when given, derived when absent, and written only to private files.

Derived keys come from one random lab secret (32 bytes, a 0600 file in the lab's run directory) by
HMAC-SHA256 over the connection's name. Chosen over one random key per connection because both ends
of a connection, a standby instance taking over, a charon restarted after a crash and the key-mismatch
failure all need the same key (or a known-wrong one) again, and one secret file is all there is to keep
private. A key is 32 alphanumeric characters (~190 bits): printable everywhere, no quoting traps.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
import string
from pathlib import Path

from lab.errors import GwlabError, Problem

PSK_MIN, PSK_MAX = 8, 128  # Azure accepts shared keys of up to 128 characters
DERIVED_LENGTH = 32
LAB_SECRET_BYTES = 32
_ALPHABET = string.digits + string.ascii_letters
_PSK_FIX = f"use {PSK_MIN}-{PSK_MAX} printable ASCII characters without spaces, or leave it out to derive one"


def check_psk(value: str, path: str) -> Problem | None:
    """One problem naming the field and the fix, or None. The key itself is never repeated."""
    if len(value) < PSK_MIN:
        return Problem(path, f"the pre-shared key has {len(value)} characters, too short ({_PSK_FIX})")
    if len(value) > PSK_MAX:
        return Problem(path, f"the pre-shared key has {len(value)} characters, too long ({_PSK_FIX})")
    bad = sorted({c for c in value if not ("!" <= c <= "~")})
    if bad:
        where = value.index(bad[0]) + 1
        return Problem(
            path, f"the pre-shared key has a character that is not printable ASCII at position {where} ({_PSK_FIX})"
        )
    return None


def derive_psk(lab_secret: bytes, connection: str, variant: str = "") -> str:
    """The key of `connection`; another `variant` (e.g. "mismatch") gives a different, equally strong key."""
    digest = hmac.new(lab_secret, f"gwlab-psk\0{connection}\0{variant}".encode(), hashlib.sha256).digest()
    number = int.from_bytes(digest, "big")
    chars = []
    for _ in range(DERIVED_LENGTH):
        number, digit = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[digit])
    return "".join(chars)


def write_private(path: Path, data: bytes) -> None:
    """Create or replace a file readable by its owner only (the caller: root), parents 0700; never
    world-readable, not even for an instant, and never through a symlink."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT
        os.write(fd, data)
    finally:
        os.close(fd)


def check_private(path: Path) -> None:
    """A key file must be a regular file of ours, mode 0600 (or stricter)."""
    st = os.lstat(path)
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
        raise GwlabError(
            f"{path}: must be a regular file owned by uid {os.geteuid()} with mode 0600 (chmod 600 {path})"
        )


def lab_secret(path: Path) -> bytes:
    """The lab's secret, created on first use."""
    if not path.exists():
        write_private(path, secrets.token_bytes(LAB_SECRET_BYTES))
    check_private(path)
    data = path.read_bytes()
    if len(data) != LAB_SECRET_BYTES:
        raise GwlabError(f"{path}: not a gwlab lab secret ({len(data)} bytes; remove it to make a new one)")
    return data
