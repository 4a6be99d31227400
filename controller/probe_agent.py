"""UDP probe sender and receiver, run inside a lab node's namespace: `python -m controller.probe_agent`.

    recv --ports A-B --out FILE [--spool FILE]
        One UDP socket per port, IP_RECVTOS on. Every packet becomes a record (flow, seq, sender's
        monotonic_ns stamp, receive monotonic_ns, TOS byte). The receive time is the kernel's
        (SO_TIMESTAMPNS, CLOCK_REALTIME) moved onto the monotonic clock with the offset between the
        two clocks read when the packet is taken (NTP slews both alike; only a step moves the offset),
        so a receiver that is scheduled late does not delay its stamps. Prints "ready" on stdout once every port
        is bound. Ends on SIGTERM/SIGINT (at once), or on a "drain MS FLOW:COUNT,..." line on stdin:
        it then keeps receiving until each flow's last packet (seq COUNT-1) is in or MS ms have passed.
        FILE: one JSON header line, then fixed-size little-endian records (`RECORD`). --spool: the
        same records, appended every 100 ms while it runs, for a controller that reads them live.

    send --dst IP --ports A-B --sport-base S --rate PPS (--duration SECONDS | --until-signal) --out FILE
        One socket per flow, bound to source port S + (port - A), so that ECMP hashing on ports spreads
        the flows. Flow i sends at t_start + k/PPS + i/(PPS*N): deadline scheduling, staggered so the
        aggregate probes the path every 1/(PPS*N) s. Payload: `PAYLOAD` (flow, seq, monotonic_ns).
        Prints "ready" on stdout after its first packet. Ends after SECONDS, or on SIGTERM/SIGINT.
        FILE (JSON): packets sent per flow, send errors, first and last send time per flow, lateness.

Both take --rt-priority N (SCHED_FIFO, as ProbeSession does by default): on a loaded two-core
machine normal scheduling delayed sends by hundreds of ms, i.e. fake outages; SCHED_FIFO kept the
per-flow inter-arrival p99 at the nominal period.

All namespaces share one kernel clock, so the sender's and the receiver's stamps compare directly.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import selectors
import signal
import socket
import struct
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

PAYLOAD = struct.Struct("<IIq")  # flow, seq, sender monotonic_ns
RECORD = struct.Struct("<IIqqB")  # payload, receive monotonic_ns, TOS byte
_TAIL = struct.Struct("<qB")
IP_RECVTOS = getattr(socket, "IP_RECVTOS", 13)
SO_RXQ_OVFL = getattr(socket, "SO_RXQ_OVFL", 40)  # cmsg: packets the socket dropped (buffer full)
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # cmsg: kernel receive time, CLOCK_REALTIME
_TIMESPEC = struct.Struct("@qq")
RCVBUF = 1 << 20
MAX_CATCH_UP_NS = 1_000_000_000  # a sender stalled longer than this skips the missed slots
MAGIC = "gwlab-probe-recv/1"
SPOOL_S = 0.1  # how often a receiver appends its new records to its spool


def parse_ports(text: str) -> tuple[int, int]:
    lo, sep, hi = text.partition("-")
    first, last = int(lo), int(hi) if sep else int(lo)
    if not 0 < first <= last < 65536:
        raise argparse.ArgumentTypeError(f"bad port range {text!r}")
    return first, last


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- receiver ----------------------------------------------------------------------------------------


@dataclass
class Receiver:
    first_port: int
    last_port: int
    records: bytearray = field(default_factory=bytearray)
    count: int = 0
    malformed: int = 0
    kernel_drops: dict[int, int] = field(default_factory=dict)  # port -> SO_RXQ_OVFL counter
    max_wakeup_ns: int = 0  # longest time from the kernel's stamp until this process took a packet
    last_seq: dict[int, int] = field(default_factory=dict)  # flow -> highest seq seen
    sockets: dict[int, socket.socket] = field(default_factory=dict)  # fd -> socket

    def bind(self) -> None:
        for port in range(self.first_port, self.last_port + 1):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
            s.setsockopt(socket.IPPROTO_IP, IP_RECVTOS, 1)
            s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            with contextlib.suppress(OSError):
                s.setsockopt(socket.SOL_SOCKET, SO_RXQ_OVFL, 1)
            s.bind(("0.0.0.0", port))
            s.setblocking(False)
            self.sockets[s.fileno()] = s

    def drain_socket(self, s: socket.socket) -> None:
        """Read everything queued on s, stamping each packet as it is taken."""
        space = socket.CMSG_SPACE(1) + socket.CMSG_SPACE(4) + socket.CMSG_SPACE(_TIMESPEC.size)
        records, payload_size, pack = self.records, PAYLOAD.size, _TAIL.pack
        last_seq = self.last_seq
        while True:
            try:
                data, ancdata, _flags, _addr = s.recvmsg(64, space)
            except BlockingIOError:
                return
            now = time.monotonic_ns()
            offset = time.time_ns() - now
            tos = 0
            stamp = now
            for level, kind, value in ancdata:
                if level == socket.IPPROTO_IP and kind == socket.IP_TOS and value:
                    tos = value[0]
                elif level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= _TIMESPEC.size:
                    sec, nsec = _TIMESPEC.unpack_from(value)
                    kernel = sec * 1_000_000_000 + nsec - offset
                    if 0 <= now - kernel < 60_000_000_000:  # else a clock step: keep our own stamp
                        stamp = kernel
                        self.max_wakeup_ns = max(self.max_wakeup_ns, now - kernel)
                elif level == socket.SOL_SOCKET and kind == SO_RXQ_OVFL and len(value) >= 4:
                    self.kernel_drops[s.getsockname()[1]] = int.from_bytes(value[:4], sys.byteorder)
            if len(data) != payload_size:
                self.malformed += 1
                continue
            records += data + pack(stamp, tos)
            self.count += 1
            flow, seq = PAYLOAD.unpack_from(data)[:2]
            if seq > last_seq.get(flow, -1):
                last_seq[flow] = seq

    def done(self, expected: dict[int, int]) -> bool:
        return all(count <= 0 or self.last_seq.get(flow, -1) >= count - 1 for flow, count in expected.items())


def parse_drain(line: str) -> tuple[float, dict[int, int]]:
    """'drain 250 0:300,1:299' -> (0.25 s, {0: 300, 1: 299})."""
    words = line.split()
    if len(words) < 2 or words[0] != "drain":
        raise ValueError(f"unknown command {line!r}")
    expected: dict[int, int] = {}
    for item in words[2].split(",") if len(words) > 2 and words[2] else []:
        flow, _, count = item.partition(":")
        expected[int(flow)] = int(count)
    return float(words[1]) / 1000.0, expected


class Spool:
    """The records so far, appended to a file every SPOOL_S for a controller that reads them live."""

    def __init__(self, path: Path | None) -> None:
        self.file = open(path, "ab", buffering=0) if path is not None else None  # noqa: SIM115 - lives with the loop
        self.written = 0
        self.due = time.monotonic()

    def flush(self, records: bytearray, force: bool = False) -> None:
        if self.file is None or (not force and time.monotonic() < self.due):
            return
        if len(records) > self.written:
            self.file.write(records[self.written :])  # whole records only: the controller reads those
            self.written = len(records)
        self.due = time.monotonic() + SPOOL_S

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def run_receiver(ports: tuple[int, int], out: Path, spool_path: Path | None = None) -> int:
    rx = Receiver(*ports)
    spool = Spool(spool_path)
    started = time.monotonic_ns()
    stop = False

    def request_stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stop
        stop = True

    # The handler only sets a flag (a record is never cut in half); the wakeup pipe ends the select().
    wake_r, wake_w = os.pipe()
    for fd in (wake_r, wake_w):
        os.set_blocking(fd, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    reason = "signal"
    rx.bind()
    sel = selectors.DefaultSelector()
    for s in rx.sockets.values():
        sel.register(s, selectors.EVENT_READ)
    sel.register(wake_r, selectors.EVENT_READ)
    stdin_fd: int | None = sys.stdin.fileno() if sys.stdin is not None else None
    if stdin_fd is not None:
        try:
            sel.register(stdin_fd, selectors.EVENT_READ)
        except (ValueError, OSError):  # not pollable: no drain command, signals only
            stdin_fd = None
    print("ready", flush=True)
    drain_until: float | None = None
    expected: dict[int, int] = {}
    pending = b""
    while not stop:
        timeout = None if drain_until is None else max(0.0, drain_until - time.monotonic())
        if spool.file is not None:
            timeout = SPOOL_S if timeout is None else min(timeout, SPOOL_S)
        for key, _ in sel.select(timeout):
            fd = key.fd
            if fd == wake_r:
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_r, 64)
            elif fd == stdin_fd:
                chunk = os.read(fd, 4096)
                if not chunk:  # the controller closed it: keep receiving until a signal
                    sel.unregister(fd)
                    stdin_fd = None
                    continue
                pending += chunk
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    if line.strip():
                        seconds, expected = parse_drain(line.decode())
                        drain_until = time.monotonic() + seconds
            else:
                rx.drain_socket(rx.sockets[fd])
        spool.flush(rx.records)
        if drain_until is not None:
            if rx.done(expected):
                reason = "drained"
                break
            if time.monotonic() >= drain_until:
                reason = "drain-timeout"
                break
    for s in rx.sockets.values():  # whatever is still queued was received before we stopped
        rx.drain_socket(s)
    spool.flush(rx.records, force=True)
    spool.close()
    header = {
        "format": MAGIC,
        "record": RECORD.format,
        "ports": list(ports),
        "records": rx.count,
        "malformed": rx.malformed,
        "kernel_drops": sum(rx.kernel_drops.values()),
        "end": reason,
        "max_wakeup_ms": rx.max_wakeup_ns / 1e6,
        "started_ns": started,
        "ended_ns": time.monotonic_ns(),
        "cpu_s": cpu_seconds(),
    }
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(json.dumps(header).encode() + b"\n")
        f.write(rx.records)
    tmp.replace(out)
    return 0


def read_records(path: Path) -> tuple[dict[str, Any], list[tuple[int, int, int, int, int]]]:
    """A receiver's output: (header, [(flow, seq, sent_ns, received_ns, tos), ...] in arrival order)."""
    data = path.read_bytes()
    line, _, body = data.partition(b"\n")
    header: dict[str, Any] = json.loads(line)
    if header.get("format") != MAGIC:
        raise ValueError(f"{path}: not a probe receiver file")
    usable = len(body) - len(body) % RECORD.size
    return header, list(RECORD.iter_unpack(body[:usable]))


# -- sender ------------------------------------------------------------------------------------------


def run_sender(
    dst: str, ports: tuple[int, int], sport_base: int, rate: float, duration: float | None, flow_base: int, out: Path
) -> int:
    first, last = ports
    n = last - first + 1
    socks = []
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0", sport_base + i))
        # Unconnected on purpose: a connected UDP socket turns an ICMP error (a router with no route
        # during a failover) into a failed send of the *next* probe.
        socks.append(s)
    targets = [(dst, first + i) for i in range(n)]
    sent = [0] * n
    errors = [0] * n
    first_ns = [0] * n
    last_ns = [0] * n
    slot_ns = 1e9 / (rate * n)  # the aggregate schedule: one packet every slot, flows round-robin
    stop = False
    skipped = 0
    max_late_ns = 0

    def request_stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    pack = PAYLOAD.pack
    started = start = time.monotonic_ns()  # start: the schedule's origin, moved on by a long stall
    end = start + int(duration * 1e9) if duration is not None else None
    j = 0  # next slot
    announced = False
    while not stop:
        now = time.monotonic_ns()
        if end is not None and now >= end:
            break
        due = start + int(j * slot_ns)
        max_late_ns = max(max_late_ns, now - due)
        if now - due > MAX_CATCH_UP_NS:  # stalled (SIGSTOP, starved): the schedule resumes from now,
            missed = int((now - due) / slot_ns)  # sequence numbers where they stopped (a send time
            start += int(missed * slot_ns)  # gap with no missing number: the sender's, no outage)
            skipped += missed
            due = start + int(j * slot_ns)
        while due <= now:
            i = j % n
            seq = j // n
            max_late_ns = max(max_late_ns, now - due)
            stamp = time.monotonic_ns()
            try:
                socks[i].sendto(pack(flow_base + i, seq, stamp), targets[i])
            except OSError:
                errors[i] += 1
            else:
                sent[i] += 1
                if not first_ns[i]:
                    first_ns[i] = stamp
                last_ns[i] = stamp
            j += 1
            due = start + int(j * slot_ns)
        if not announced:
            announced = True
            with contextlib.suppress(OSError):
                print("ready", flush=True)
        wait = due - time.monotonic_ns()
        if wait > 0:
            time.sleep(wait / 1e9)  # interrupted by a signal: the handler sets `stop`
    ended = time.monotonic_ns()
    report = {
        "dst": dst,
        "ports": [first, last],
        "sport_base": sport_base,
        "flow_base": flow_base,
        "rate": rate,
        "started_ns": started,
        "ended_ns": ended,
        "cpu_s": cpu_seconds(),
        "skipped_slots": skipped,
        "max_late_ms": max_late_ns / 1e6,
        "flows": {
            str(flow_base + i): {"sent": sent[i], "errors": errors[i], "first_ns": first_ns[i], "last_ns": last_ns[i]}
            for i in range(n)
        },
    }
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(report), encoding="utf-8")
    tmp.replace(out)
    return 0


# -- command line ------------------------------------------------------------------------------------


def set_rt_priority(priority: int) -> bool:
    """SCHED_FIFO at `priority` (1..99) so that a busy machine does not delay sends and stamps; the
    agents sleep between packets, and the kernel's RT throttling caps them anyway. False if refused."""
    if priority <= 0:
        return False
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except (OSError, AttributeError):
        return False
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="probe_agent", description="UDP probe sender and receiver")
    sub = parser.add_subparsers(dest="mode", required=True)
    recv = sub.add_parser("recv")
    recv.add_argument("--ports", type=parse_ports, required=True)
    recv.add_argument("--out", type=Path, required=True)
    recv.add_argument("--spool", type=Path, help="append the records here as they come (read live)")
    recv.add_argument("--rt-priority", type=int, default=0, help="SCHED_FIFO priority; 0: normal scheduling")
    send = sub.add_parser("send")
    send.add_argument("--dst", required=True)
    send.add_argument("--ports", type=parse_ports, required=True)
    send.add_argument("--sport-base", type=int, required=True)
    send.add_argument("--flow-base", type=int, default=0, help="flow id of the first port")
    send.add_argument("--rate", type=float, required=True, help="packets per second per flow")
    when = send.add_mutually_exclusive_group(required=True)
    when.add_argument("--duration", type=float)
    when.add_argument("--until-signal", action="store_true")
    send.add_argument("--out", type=Path, required=True)
    send.add_argument("--rt-priority", type=int, default=0, help="SCHED_FIFO priority; 0: normal scheduling")
    args = parser.parse_args(argv)
    set_rt_priority(args.rt_priority)
    if args.mode == "recv":
        return run_receiver(args.ports, args.out, args.spool)
    if args.rate <= 0:
        parser.error("--rate must be positive")
    duration = None if args.until_signal else args.duration
    return run_sender(args.dst, args.ports, args.sport_base, args.rate, duration, args.flow_base, args.out)


if __name__ == "__main__":
    sys.exit(main())
