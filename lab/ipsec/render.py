"""A charon instance's files: rendered from templates/ipsec/ and laid out in one directory per instance.

<root>/run/          bound over /run inside charon's own mount namespace (ipsec.md §1):
    strongswan.conf, updown.sh, charon.vici, charon.log, charon.pid, updown.log
<root>/swanctl/      read by swanctl on the host, sent to charon over vici:
    swanctl.conf, secrets.conf (0600), x509/, x509ca/, private/ (0600)
<root>/pid           the pid gwlab started (charon's own pid file is only removed before a start)
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import jinja2

from lab.ipsec.psk import write_private
from lab.ipsec.spec import FROM_TUNNEL, TO_TUNNEL, TUN, Instance
from lab.render import environment

INSIDE_RUN = "/run"  # what charon sees of <root>/run
MAX_LOG_LEVEL = 2  # strongSwan logs keys and secrets from level 4 ("private") on
# Order matters (see the template's comment); no 'resolve'. pkcs8: private keys as written by lab.ipsec.pki.
PLUGINS = (
    *("random", "nonce", "openssl", "aesni", "aes", "sha1", "sha2", "hmac", "gcm", "pem", "pkcs1", "pkcs8"),
    *("x509", "pubkey", "gmp", "kdf", "kernel-libipsec", "kernel-netlink", "socket-default", "vici", "updown"),
)

# What swanctl itself loads (its own strongswan.conf, `Layout.swanctl_strongswan_conf`): the plugins that
# parse the instance's keys and certificates, not every plugin installed (16 instead of 5 ms of CPU per
# call: `up` runs one per tunnel end). What it sends charon is the same.
SWANCTL_PLUGINS = ("random", "nonce", "openssl", "pem", "pkcs1", "pkcs8", "x509", "pubkey")


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def swanctl(self) -> Path:
        return self.root / "swanctl"

    @property
    def swanctl_conf(self) -> Path:
        return self.swanctl / "swanctl.conf"

    @property
    def swanctl_strongswan_conf(self) -> Path:
        """swanctl's own strongswan.conf (STRONGSWAN_CONF of every swanctl call)."""
        return self.swanctl / "strongswan.conf"

    @property
    def vici(self) -> Path:
        return self.run / "charon.vici"

    @property
    def log(self) -> Path:
        return self.run / "charon.log"

    @property
    def updown_log(self) -> Path:
        return self.run / "updown.log"

    @property
    def updown_count(self) -> Path:
        """The updown hook's count of installed CHILD_SAs (the VTI is up while it is above 0)."""
        return self.run / "updown.count"

    @property
    def charon_pidfile(self) -> Path:
        return self.run / "charon.pid"

    @property
    def pidfile(self) -> Path:
        return self.root / "pid"

    @property
    def stdout(self) -> Path:
        return self.root / "stdout.log"


@cache
def _environment() -> jinja2.Environment:
    """lab.render's environment with the key filter, made once: an overlay compiles its templates anew."""
    env = environment().overlay()
    env.filters["b64"] = lambda s: base64.b64encode(s.encode()).decode()
    return env


def render(inst: Instance, ip_binary: str | None = None) -> dict[str, tuple[bytes, int]]:
    """Relative path -> (content, mode). Deterministic, so golden tests can diff it."""
    if inst.log_level > MAX_LOG_LEVEL:
        raise ValueError(f"log level {inst.log_level} would put keys into charon's log (use at most {MAX_LOG_LEVEL})")
    env = _environment()
    # `ip` from the script's own PATH (the updown hook sets it): the same file on every host.
    ctx = {
        "inst": inst,
        "run": INSIDE_RUN,
        "plugins": PLUGINS,
        "ip": ip_binary or "ip",
        "tables": {"tun": TUN, "to_tunnel": TO_TUNNEL, "from_tunnel": FROM_TUNNEL},
    }

    def text(name: str) -> bytes:
        return env.get_template(f"ipsec/{name}.j2").render(**ctx).encode()

    files: dict[str, tuple[bytes, int]] = {
        "run/strongswan.conf": (text("strongswan.conf"), 0o644),
        "swanctl/swanctl.conf": (text("swanctl.conf"), 0o644),
        "swanctl/secrets.conf": (text("secrets.conf"), 0o600),
        "swanctl/strongswan.conf": (f"swanctl {{\n  load = {' '.join(SWANCTL_PLUGINS)}\n}}\n".encode(), 0o644),
    }
    if any(ch.updown for c in inst.connections for ch in c.children):
        files["run/updown.sh"] = (text("updown.sh"), 0o755)
    creds = inst.credentials
    files.update({f"swanctl/x509/{n}": (pem, 0o644) for n, pem in creds.certs.items()})
    files.update({f"swanctl/x509ca/{n}": (pem, 0o644) for n, pem in creds.cacerts.items()})
    files.update({f"swanctl/private/{n}": (pem, 0o600) for n, pem in creds.keys.items()})
    return files


def write(layout: Layout, files: dict[str, tuple[bytes, int]]) -> None:
    """Write an instance's files; the instance directory is 0700, so nothing in it is world-readable."""
    layout.root.mkdir(parents=True, exist_ok=True, mode=0o700)
    layout.root.chmod(0o700)
    for rel, (data, mode) in files.items():
        path = layout.root / rel
        if mode & 0o077 == 0:
            write_private(path, data)
            continue
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_bytes(data)
        path.chmod(mode)
