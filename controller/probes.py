"""UDP probes between every site's host (and point-to-site client) and the VNet VM, in both directions, with
data-plane attribution.

A `ProbeSession` runs one receiver and one sender (`controller.probe_agent`) per direction inside
the end nodes' namespaces, N flows per direction (distinct source and destination ports, so that
ECMP spreads them), and installs `controller.attribution` on the transit elements. `stop()` returns
per-flow statistics and every arrival, in milliseconds since `t0_ns` on the shared monotonic clock.

Ports: flow f (0-based over all directions) is sent from source port `base_port + SPORT_OFFSET + f`
to destination port `base_port + f`; the destination port identifies the flow everywhere (counters,
receiver sockets).

One session per lab at a time: the attribution table and the port range are per lab, not per session.
Resolution: each flow is sampled every 1/rate_pps (5 ms at 200 pps); the flows of a direction are
staggered, so the direction as a whole every 1/(rate_pps * flows). Receive times are kernel stamps.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller import attribution
from controller.analysis import flow_stats, ms
from controller.attribution import Codebook
from controller.probe_agent import RECORD, read_records
from controller.results import Arrival, FlowSpec, FlowStats, Record
from lab.errors import GwlabError
from lab.poll import Deadline
from lab.runtime.running import RunningLab, attach
from lab.topology import Node, Topology, direction
from lab.topology.naming import remote_directions

REPO = Path(__file__).resolve().parents[1]
DEFAULT_BASE_PORT = 47000
SPORT_OFFSET = 1000
READY_TIMEOUT_S = 10.0
EXIT_TIMEOUT_S = 5.0
DRAIN_MS = 250  # how long a receiver waits for packets still in flight after the senders stopped
LATE_SENDER_MS = 50.0  # a sender this late is noted in the report
RT_PRIORITY = 10  # agents run SCHED_FIFO: timing holds on a busy machine (0: normal scheduling)


@dataclass
class Direction:
    name: str  # "s1->azure" / "azure->s1"
    site: str
    src: str  # node names
    dst: str
    dst_ip: str
    flows: list[FlowSpec] = field(default_factory=list)

    @property
    def ports(self) -> tuple[int, int]:
        return self.flows[0].dport, self.flows[-1].dport


def node_ip(node: Node) -> str:
    for iface in node.interfaces:
        if iface.kind != "loopback" and (iface.addresses or iface.shared_addresses):
            return str(node.address_on(iface.name))
    raise GwlabError(f"node {node.name} has no address to probe")


def plan(
    topo: Topology, flows_per_direction: int, base_port: int = DEFAULT_BASE_PORT, sites: Sequence[str] | None = None
) -> list[Direction]:
    """Both directions for every site (host <-> vm), with flow ids and ports assigned."""
    if flows_per_direction < 1:
        raise ValueError("flows_per_direction must be at least 1")
    vm = topo.nodes["vm"]
    hosts = sorted((n for n in topo.by_role("host") if n.site is not None), key=lambda n: n.name)
    if sites is not None:
        hosts = [h for h in hosts if h.site in sites]
    dirs: list[Direction] = []
    for host in hosts:
        assert host.site is not None
        dirs.append(Direction(direction(host.site, to_azure=True), host.site, host.name, vm.name, node_ip(vm)))
        dirs.append(Direction(direction(host.site, to_azure=False), host.site, vm.name, host.name, node_ip(host)))
    # Remote VNets: each site's host to and from each remote VNet's VM, and every VNet's VM to every other's
    # ("s1->v2", "azure->v2"); `sites` keeps the directions with one of them at an end.
    for name, src, dst in remote_directions(topo.lab):
        ends = name.split("->")
        if sites is not None and not set(ends) & set(sites):
            continue
        site = ends[0] if topo.nodes[src].role == "host" else ends[1] if topo.nodes[dst].role == "host" else ends[0]
        dirs.append(Direction(name, site, src, dst, node_ip(topo.nodes[dst])))
    # Point-to-site clients, each like a site of its own: to the VM from the virtual IP it is given, and back.
    for client in topo.p2s.clients if topo.p2s else []:
        name = client.node
        if sites is not None and name not in sites:
            continue
        dirs.append(Direction(direction(name, to_azure=True), name, name, vm.name, node_ip(vm)))
        dirs.append(Direction(direction(name, to_azure=False), name, vm.name, name, str(client.vip)))
    flow = 0
    for d in dirs:
        for _ in range(flows_per_direction):
            sport, dport = base_port + SPORT_OFFSET + flow, base_port + flow
            d.flows.append(FlowSpec(flow, d.name, d.src, d.dst, sport, dport))
            flow += 1
    if flow and base_port + SPORT_OFFSET + flow > 65535:
        raise ValueError(f"base port {base_port} leaves no room for {flow} flows")
    if flow > SPORT_OFFSET:
        raise ValueError(f"at most {SPORT_OFFSET} flows")
    return dirs


# -- decoding the receivers' records ------------------------------------------------------------------


def arrivals_of(records: Iterable[Record], book: Codebook | None, t0_ns: int) -> list[Arrival]:
    return [
        Arrival(flow, seq, ms(sent, t0_ns), ms(recv, t0_ns), book.label(tos) if book else "")
        for flow, seq, sent, recv, tos in records
    ]


# -- the session -------------------------------------------------------------------------------------


@dataclass
class _Agent:
    direction: Direction
    node: str
    proc: subprocess.Popen[bytes]
    out: Path
    spool: Path | None = None  # a receiver's records so far
    read: int = 0  # bytes of the spool decoded already


class ProbeSession:
    """Probes in both directions for every site; `start()`, then `stop()` -> (flows, arrivals)."""

    def __init__(
        self,
        lab: RunningLab | str,
        flows_per_direction: int = 8,
        rate_pps: float = 200,
        t0_ns: int | None = None,
        base_port: int = DEFAULT_BASE_PORT,
        sites: Sequence[str] | None = None,
        attribute: bool = True,
        drain_ms: int = DRAIN_MS,
        rt_priority: int = RT_PRIORITY,
    ) -> None:
        self.lab = attach(lab) if isinstance(lab, str) else lab
        self.rate_pps = rate_pps
        self.t0_ns = time.monotonic_ns() if t0_ns is None else t0_ns
        self.directions = plan(self.lab.topo, flows_per_direction, base_port, sites)
        if not self.directions:
            raise GwlabError(f"lab {self.lab.name} has no site host to probe")
        self.attribute = attribute
        self.drain_ms = drain_ms
        self.rt_priority = rt_priority
        self.codebook: Codebook | None = None
        self._installed = False
        self._closed = False
        self.workdir: Path | None = None
        self.receivers: list[_Agent] = []
        self.senders: list[_Agent] = []
        self.sender_reports: dict[str, dict[str, Any]] = {}  # direction -> the sender's JSON
        self.receiver_headers: dict[str, dict[str, Any]] = {}
        self.started_ns = 0
        self.stopped_ns = 0
        self.live: list[Arrival] = []  # what snapshot() has read so far

    @property
    def flows(self) -> list[FlowSpec]:
        return [f for d in self.directions for f in d.flows]

    @property
    def ports(self) -> tuple[int, int]:
        return self.directions[0].flows[0].dport, self.directions[-1].flows[-1].dport

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _agent(self, node: str, args: list[str], stdin: int | None, stdout: int | None) -> subprocess.Popen[bytes]:
        args = [*args, "--rt-priority", str(self.rt_priority)]
        return self.lab.popen(
            node,
            [sys.executable, "-m", "controller.probe_agent", *args],
            env=self._env(),
            cwd=str(REPO),
            stdin=stdin,
            stdout=stdout,
            stderr=subprocess.PIPE,
        )

    def start(self) -> ProbeSession:
        if self.workdir is not None:
            raise GwlabError("probe session already started")
        self.workdir = Path(tempfile.mkdtemp(prefix=f"gwlab-probe-{self.lab.name}-"))
        try:
            if self.attribute:
                self.codebook = attribution.install(self.lab, self.ports)
                self._installed = True
            for d in self.directions:
                lo, hi = d.ports
                out = self.workdir / f"recv-{d.name.replace('->', '-to-')}.bin"
                spool = out.with_suffix(".live")
                argv = ["recv", "--ports", f"{lo}-{hi}", "--out", str(out), "--spool", str(spool)]
                proc = self._agent(d.dst, argv, subprocess.PIPE, subprocess.PIPE)
                self.receivers.append(_Agent(d, d.dst, proc, out, spool))
            _wait_ready(self.receivers, "receiver")
            self.started_ns = time.monotonic_ns()
            for d in self.directions:
                lo, hi = d.ports
                out = self.workdir / f"send-{d.name.replace('->', '-to-')}.json"
                args = [
                    "send",
                    "--dst",
                    d.dst_ip,
                    "--ports",
                    f"{lo}-{hi}",
                    "--sport-base",
                    str(d.flows[0].sport),
                    "--flow-base",
                    str(d.flows[0].flow),
                    "--rate",
                    str(self.rate_pps),
                    "--until-signal",
                    "--out",
                    str(out),
                ]
                proc = self._agent(d.src, args, subprocess.DEVNULL, subprocess.PIPE)
                self.senders.append(_Agent(d, d.src, proc, out))
            _wait_ready(self.senders, "sender")  # probes are flowing when start() returns
        except BaseException:
            self.close()
            raise
        return self

    def stop(self) -> tuple[list[FlowStats], list[Arrival]]:
        """Stop senders, let receivers drain what is in flight, read everything and remove the rules."""
        if self.workdir is None or self._closed:
            raise GwlabError("probe session not started" if self.workdir is None else "probe session already stopped")
        self.live = []  # the final record replaces it: never both in memory
        try:
            for agent in self.senders:
                _signal(agent.proc, signal.SIGTERM)
            for agent in self.senders:
                _reap(agent, "sender")
                self.sender_reports[agent.direction.name] = _read_json(agent.out)
            self.stopped_ns = time.monotonic_ns()
            for agent in self.receivers:
                report = self.sender_reports[agent.direction.name]
                expected = ",".join(f"{k}:{v['sent']}" for k, v in report["flows"].items())
                assert agent.proc.stdin is not None
                try:
                    agent.proc.stdin.write(f"drain {self.drain_ms} {expected}\n".encode())
                    agent.proc.stdin.close()
                except BrokenPipeError:
                    pass
            records: dict[int, list[Record]] = {f.flow: [] for f in self.flows}
            for agent in self.receivers:
                _reap(agent, "receiver", timeout=EXIT_TIMEOUT_S + self.drain_ms / 1000)
                header, recs = read_records(agent.out)
                self.receiver_headers[agent.direction.name] = header
                for r in recs:
                    if r[0] in records:
                        records[r[0]].append(r)
            counters = attribution.read_counters(self.lab, self.codebook) if self.codebook else {}
            flows: list[FlowStats] = []
            arrivals: list[Arrival] = []
            for d in self.directions:
                report = self.sender_reports[d.name]["flows"]
                for spec in d.flows:
                    sent = report.get(str(spec.flow), {})
                    recs = records[spec.flow]
                    flows.append(
                        flow_stats(
                            spec,
                            int(sent.get("sent", 0)),
                            sent.get("first_ns") or None,
                            sent.get("last_ns") or None,
                            recs,
                            self.t0_ns,
                            counters.get(spec.dport, {}),
                        )
                    )
                    arrivals.extend(arrivals_of(recs, self.codebook, self.t0_ns))
            arrivals.sort(key=lambda a: a.received_ms)
            return flows, arrivals
        finally:
            self.close()

    def snapshot(self) -> tuple[list[FlowStats], list[Arrival]]:
        """The record so far, while the probes run: every flow (its send counts are known only at the
        end) and every arrival the receivers have spooled (they append every 100 ms). Reads only what
        is new since the last call; the list returned grows with each call."""
        if self.workdir is None or self._closed:
            raise GwlabError("probe session not running")
        for agent in self.receivers:
            assert agent.spool is not None
            try:
                with open(agent.spool, "rb") as f:
                    f.seek(agent.read)
                    data = f.read()
            except FileNotFoundError:
                continue
            usable = len(data) - len(data) % RECORD.size
            agent.read += usable
            self.live += arrivals_of(RECORD.iter_unpack(data[:usable]), self.codebook, self.t0_ns)
        flows = [FlowStats(s.flow, s.direction, s.src, s.dst, s.sport, s.dport) for s in self.flows]
        return flows, self.live

    def late_senders(self, over_ms: float = LATE_SENDER_MS) -> dict[str, float]:
        """After stop: the directions whose sender fell behind its schedule by more than `over_ms`
        (ms at worst): a machine too busy for the probes' timing, whose silences are not outages."""
        late = {d: float(r.get("max_late_ms", 0.0)) for d, r in self.sender_reports.items()}
        return {d: ms for d, ms in sorted(late.items()) if ms > over_ms}

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time of each agent (after stop): "send s1->azure" -> seconds."""
        out = {f"send {d}": float(r.get("cpu_s", 0.0)) for d, r in self.sender_reports.items()}
        out.update({f"recv {d}": float(h.get("cpu_s", 0.0)) for d, h in self.receiver_headers.items()})
        return out

    def close(self) -> None:
        """Kill whatever agent is still running (by pid), remove the rules and the work directory."""
        for agent in self.senders + self.receivers:
            if agent.proc.poll() is None:
                _signal(agent.proc, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    agent.proc.wait(timeout=EXIT_TIMEOUT_S)
            for stream in (agent.proc.stdin, agent.proc.stdout, agent.proc.stderr):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
        self.senders, self.receivers = [], []
        if self._installed:
            attribution.remove(self.lab)
            self._installed = False
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self._closed = True

    def __enter__(self) -> ProbeSession:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _wait_ready(agents: list[_Agent], what: str) -> None:
    """Every agent prints "ready" once its sockets are bound (a sender: after its first packet).

    Waits for all of them, with a deadline."""
    deadline = Deadline(READY_TIMEOUT_S)
    sel = selectors.DefaultSelector()
    waiting: dict[int, _Agent] = {}
    buffers: dict[int, bytes] = {}
    for agent in agents:
        assert agent.proc.stdout is not None
        fd = agent.proc.stdout.fileno()
        os.set_blocking(fd, False)
        sel.register(fd, selectors.EVENT_READ)
        waiting[fd] = agent
        buffers[fd] = b""
    try:
        while waiting:
            left = deadline.left()
            if left <= 0:
                names = ", ".join(a.direction.name for a in waiting.values())
                raise GwlabError(f"probe {what}s not ready within {READY_TIMEOUT_S:.0f} s: {names}")
            for key, _ in sel.select(left):
                fd = int(key.fd)
                chunk = os.read(fd, 256)
                agent = waiting[fd]
                if not chunk:
                    err = agent.proc.stderr.read().decode(errors="replace") if agent.proc.stderr else ""
                    raise GwlabError(
                        f"probe {what} for {agent.direction.name} on {agent.node} exited: {err.strip()[-500:]}"
                    )
                buffers[fd] += chunk
                if b"ready" in buffers[fd]:
                    sel.unregister(fd)
                    del waiting[fd]
    finally:
        sel.close()


def _signal(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, sig)


def _reap(agent: _Agent, what: str, timeout: float = EXIT_TIMEOUT_S) -> None:
    try:
        rc = agent.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _signal(agent.proc, signal.SIGKILL)
        agent.proc.wait()
        raise GwlabError(f"probe {what} for {agent.direction.name} did not exit within {timeout:.1f} s") from None
    if rc != 0 or not agent.out.exists():
        err = agent.proc.stderr.read().decode(errors="replace") if agent.proc.stderr else ""
        raise GwlabError(f"probe {what} for {agent.direction.name} failed (exit {rc}): {err.strip()[-500:]}")


def _read_json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


__all__ = ["Direction", "FlowSpec", "ProbeSession", "arrivals_of", "plan"]
