"""Reading FRR's state with vtysh in a node's pathspace (JSON output, stdout only)."""

from __future__ import annotations

import json
import socket
import subprocess
from typing import Any

from lab.errors import GwlabError
from lab.runtime.state import FRR_RUN_ROOT


def vtysh(ns: str, command: str, timeout: float = 5.0) -> str:
    proc = subprocess.run(
        ["vtysh", "-N", ns, "-c", command], capture_output=True, text=True, timeout=timeout, check=False
    )
    # vtysh prints a harmless "Can't open .../vtysh.conf" on stderr: only stdout is the answer.
    if proc.returncode != 0:
        raise GwlabError(f"vtysh -N {ns} -c '{command}': {proc.stdout.strip() or proc.stderr.strip()}")
    return proc.stdout


def vtysh_json(ns: str, command: str, timeout: float = 5.0) -> Any:
    out = vtysh(ns, command, timeout)
    try:
        return json.loads(out) if out.strip() else {}
    except ValueError:
        raise GwlabError(f"vtysh -N {ns} -c '{command}': not JSON: {out[:200]}") from None


def vty(ns: str, daemon: str, command: str, timeout: float = 3.0) -> str:
    """One command on a daemon's vty socket, as vtysh sends it (command + NUL; the answer ends with
    three NULs and a status byte). 0.4 ms instead of vtysh's ~30 ms of CPU: convergence polls every
    router ten times a second."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(FRR_RUN_ROOT / ns / f"{daemon}.vty"))
        sock.sendall(command.encode() + b"\0")
        buf = b""
        while not (len(buf) >= 4 and buf[-4:-1] == b"\0\0\0"):
            chunk = sock.recv(1 << 20)
            if not chunk:
                raise OSError(f"{daemon} closed its vty")
            buf += chunk
    if buf[-1] != 0:
        raise GwlabError(f"{ns} {daemon}: '{command}' failed: {buf[:-4].decode(errors='replace').strip()}")
    return buf[:-4].decode(errors="replace")


def bgp_peers(ns: str) -> dict[str, dict[str, Any]]:
    """neighbor address -> {"state": ..., "pfxRcd": ..., ...} from `show bgp summary json`."""
    command = "show bgp ipv4 unicast summary json"
    try:
        data = json.loads(vty(ns, "bgpd", command) or "{}")
    except (OSError, ValueError, GwlabError):
        try:
            data = vtysh_json(ns, command, timeout=3.0)
        except (GwlabError, subprocess.TimeoutExpired):
            return {}
    peers: dict[str, dict[str, Any]] = data.get("peers", {}) if isinstance(data, dict) else {}
    return peers
