"""IPsec mistakes on a VPN device, and their fix as its admin makes it: the device's end of a tunnel
reconfigured with a wrong key or wrong local traffic selectors (the tunnel failure's own operation,
lab.runtime.tunnelops.rekey_with), and fixed by making it match Azure's connection.

The fix, as a student makes it: Azure's connection (the portal) is the gateway end's files; the
device's are its own end's (both 0600, under /run/gwlab/<lab>/ipsec/). Copy the key (secrets.conf)
or mirror the selectors (swanctl.conf: the device's local_ts is Azure's remote_ts), reload the
device's charon and initiate from it. `fix_steps` says that in words (never the key itself);
`apply_fix` does it, for the tests."""

from __future__ import annotations

import re
from pathlib import Path

from controller.exercises.model import IpsecEdit
from controller.failures.ipsec import wrong_selectors
from lab.errors import GwlabError
from lab.ipsec.tunnels import site_to_site
from lab.runtime import tunnelops
from lab.runtime.running import RunningLab
from lab.topology import Topology, Tunnel, TunnelEnd

SECRET = re.compile(r"^(\s*secret\s*=\s*)(.+)$", re.MULTILINE)
CHILDREN = re.compile(r"^(    children \{\n)(.*?)(^    \}\n)", re.MULTILINE | re.DOTALL)  # swanctl.conf as rendered
CHILD = re.compile(r"^      (\S+) \{\n(.*?)^      \}\n", re.MULTILINE | re.DOTALL)
TS = re.compile(r"^(\s*)(local_ts|remote_ts)\s*=\s*(.+)$", re.MULTILINE)


def tunnel_of(topo: Topology, name: str) -> Tunnel:
    for t in topo.tunnels:
        if t.name == name and t.ipsec is not None:
            return t
    names = ", ".join(t.name for t in topo.tunnels if t.ipsec is not None) or "none"
    raise GwlabError(f"'{name}' is not an IPsec tunnel of lab {topo.name} ({names})")


def inject(lab: RunningLab, edit: IpsecEdit) -> None:
    tunnel = tunnel_of(lab.topo, edit.tunnel)
    if edit.mismatch == "key":
        tunnelops.rekey_with(lab, tunnel, variant="mismatch")
    else:
        tunnelops.rekey_with(lab, tunnel, onprem_ts=wrong_selectors(tunnel))


def _files(lab_dir: Path, end: TunnelEnd) -> tuple[Path, Path, str]:
    root = lab_dir / end.endpoint
    return (
        root / "swanctl" / "swanctl.conf",
        root / "swanctl" / "secrets.conf",
        f"unix://{root / 'run' / 'charon.vici'}",
    )


def fix_steps(lab_dir: Path, topo: Topology, edit: IpsecEdit) -> list[str]:
    """What the device's admin does, in words and commands (paths of lab `lab_dir`)."""
    tunnel = tunnel_of(topo, edit.tunnel)
    device, azure = tunnel.ends()
    conf, secrets, uri = _files(lab_dir, device)
    azure_conf, azure_secrets, _ = _files(lab_dir, azure)
    assert tunnel.ipsec is not None
    ike = tunnel.ipsec.connection
    if edit.mismatch == "key":
        what = f"copy the connection's shared key from Azure ({azure_secrets}) into the device's {secrets}"
    else:
        what = (
            f"make the children in the device's {conf} mirror Azure's in {azure_conf}: "
            "a child per pair, its local_ts Azure's remote_ts and the other way round"
        )
    return [
        what,
        f"swanctl --load-all --noprompt --file {conf} --uri {uri}",
        *(f"swanctl --initiate --ike {ike} --child {child} --uri {uri}" for child in children(tunnel, device)),
    ]


def apply_fix(lab: RunningLab, edit: IpsecEdit) -> None:
    """The fix as `fix_steps` says it, done here (the tests' student)."""
    tunnel = tunnel_of(lab.topo, edit.tunnel)
    device, azure = tunnel.ends()
    lab_dir = lab.state.run_dir / "ipsec"
    conf, secrets, _ = _files(lab_dir, device)
    azure_conf, azure_secrets, _ = _files(lab_dir, azure)
    if edit.mismatch == "key":
        found = SECRET.search(azure_secrets.read_text(encoding="utf-8"))
        if found is None:
            raise GwlabError(f"no secret in {azure_secrets}")
        key = found.group(2)
        secrets.write_text(
            SECRET.sub(lambda m: m.group(1) + key, secrets.read_text(encoding="utf-8")), encoding="utf-8"
        )
    else:
        conf.write_text(mirror_children(conf.read_text(encoding="utf-8"), azure_conf.read_text(encoding="utf-8")))
    charon = tunnelops.charon(lab, device)
    assert tunnel.ipsec is not None
    charon.swanctl("--load-all", "--noprompt", "--file", str(conf))
    for child in children(tunnel, device):
        charon.swanctl("--initiate", "--ike", tunnel.ipsec.connection, "--child", child, "--timeout", "5")


def mirror_children(device_conf: str, azure_conf: str) -> str:
    """The device's children made Azure's mirror, pair by pair (its local_ts is Azure's remote_ts and
    the other way round), each with the device's own options (those of its first child)."""
    own, azure = CHILDREN.search(device_conf), CHILDREN.search(azure_conf)
    if own is None or azure is None:
        raise GwlabError("no children section to mirror")
    template = CHILD.search(own.group(2))
    if template is None:
        raise GwlabError("the device has no child to take its options from")
    blocks = []
    for name, body in CHILD.findall(azure.group(2)):
        ts = {key: value for _, key, value in TS.findall(body)}
        swapped = {"local_ts": ts.get("remote_ts", ""), "remote_ts": ts.get("local_ts", "")}
        mine = TS.sub(lambda m, new=swapped: f"{m.group(1)}{m.group(2)} = {new[m.group(2)]}", template.group(2))
        blocks.append(f"      {name} {{\n{mine}      }}\n")
    return device_conf[: own.start(2)] + "".join(blocks) + device_conf[own.end(2) :]


def children(tunnel: Tunnel, end: TunnelEnd) -> list[str]:
    return [ch.name for ch in site_to_site(tunnel, end, "").connections[0].children]
