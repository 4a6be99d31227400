"""Reading FRR's state with vtysh in a node's pathspace (JSON output, stdout only)."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from lab.errors import GwlabError


def vtysh(ns: str, command: str, timeout: float = 5.0) -> str:
    proc = subprocess.run(["vtysh", "-N", ns, "-c", command], capture_output=True, text=True,
                          timeout=timeout, check=False)
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


def bgp_peers(ns: str) -> dict[str, dict[str, Any]]:
    """neighbor address -> {"state": ..., "pfxRcd": ..., ...} from `show bgp summary json`."""
    try:
        data = vtysh_json(ns, "show bgp ipv4 unicast summary json", timeout=3.0)
    except (GwlabError, subprocess.TimeoutExpired):
        return {}
    peers: dict[str, dict[str, Any]] = data.get("peers", {}) if isinstance(data, dict) else {}
    return peers
