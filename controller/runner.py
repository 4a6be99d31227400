"""Run a scenario against a lab: steps in order, failures measured, expectations judged, a report made.

Control-plane convergence is checked live against the oracle (every session and FIB as the model
predicts for the failures in effect). Data-plane expectations (paths, symmetry, outage, loss) are
judged on the probe record afterwards, on the window that followed the step that asked for them.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from controller import analysis, converge
from controller.converge import up
from controller.failures import Failure, current_failures, inject, resolve, restore
from controller.fibmon import FibMonitor
from controller.oracle import Failures, Prediction, predict
from controller.probes import ProbeSession
from controller.results import Expectation, FailureResult, RunReport
from controller.scenario import Converge, Expect, Fail, Observe, Restore, Scenario, lab_data
from lab.errors import GwlabError
from lab.ipsec.psk import write_private
from lab.runtime.backends import DEFAULT
from lab.runtime.frr import vtysh_json
from lab.runtime.lifecycle import down
from lab.runtime.running import RunningLab, attach
from lab.runtime.state import RUN_ROOT
from lab.topology import direction

POLL_S = 0.05


@dataclass
class _Pending:
    """An expectation judged once the probe record is in."""

    step: int
    expect: Expect
    start_ms: float
    end_ms: float
    oracle_paths: dict[str, list[str]]
    failure: FailureResult | None


@dataclass
class _Window:
    failure: FailureResult
    converged_at_ms: float | None = None
    end_ms: float | None = None


@dataclass
class Runner:
    lab: RunningLab
    scenario: Scenario
    t0_ns: int = field(default_factory=time.monotonic_ns)
    report: RunReport = field(init=False)
    probes: ProbeSession | None = None
    fibmon: FibMonitor | None = None
    pending: list[_Pending] = field(default_factory=list)
    windows: list[_Window] = field(default_factory=list)
    active: dict[str, tuple[Failure, _Window]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.report = RunReport(
            self.lab.name,
            self.scenario.name,
            self.lab.topo.timing.profile,
            dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            self.t0_ns,
        )
        if self.lab.topo.timing.profile.startswith("fast"):
            self.report.notes.append("fast profile: BGP, BFD and failover timers are scaled down from Azure's")

    def now_ms(self) -> float:
        return (time.monotonic_ns() - self.t0_ns) / 1e6

    # -- steps -----------------------------------------------------------------------------------
    def run(self) -> RunReport:
        self.fibmon = FibMonitor(self.lab, self.t0_ns).start()
        try:
            for index, step in enumerate(self.scenario.steps, start=1):
                handler = getattr(self, f"_{step.kind}")
                handler(index, step.args)
        finally:
            if self.probes is not None:
                self._probes(0, "stop")
            changes = self.fibmon.stop()
            self._judge(changes)
        self.report.duration_ms = self.now_ms()
        self.report.passed = all(e.passed for e in self.report.expectations)
        return self.report

    def _expectation(
        self, step: int, kind: str, description: str, passed: bool, detail: str = "", duration_ms: float = 0.0
    ) -> None:
        self.report.expectations.append(Expectation(step, kind, description, passed, detail, duration_ms))

    def _probes(self, step: int, action: str) -> None:
        if action == "start":
            if self.probes is None:
                settings = self.scenario.probes
                self.probes = ProbeSession(
                    self.lab, flows_per_direction=settings.flows, rate_pps=settings.rate, t0_ns=self.t0_ns
                ).start()
            return
        if self.probes is not None:
            flows, arrivals = self.probes.stop()
            self.probes = None
            self.report.flows += flows
            self.report.arrivals += arrivals

    def _observe(self, step: int, args: Observe) -> None:
        time.sleep(args.ms / 1000)  # traffic is observed for this long: time passing, not synchronisation

    def _converge(self, step: int, args: Converge) -> None:
        ok, seconds, diffs = self._wait_converged(args.within_ms / 1000)
        detail = "" if ok else self._diff_text(diffs)
        self._expectation(
            step, "converge", f"lab matches the oracle within {args.within_ms} ms", ok, detail, seconds * 1000
        )

    def _failures(self) -> Failures:
        return current_failures(self.lab)

    def _wait_converged(self, timeout_s: float) -> tuple[bool, float, list[converge.Difference]]:
        """Until the lab matches the oracle: sessions and FIBs (controller.converge), then the BFD
        sessions under the BGP sessions that should be up, at the profile's timers (a BFD session still
        coming up, or still at its 1 s start-up interval, would leave the next failure to the hold timer)."""
        failures = self._failures()
        pred = predict(self.lab.topo, failures)
        start = time.monotonic()
        deadline = start + timeout_s
        while True:
            try:
                ok, _, diffs = converge.wait(self.lab, pred, max(0.0, deadline - time.monotonic()), skip=failures.nodes)
            except (RuntimeError, TimeoutError, OSError) as exc:
                # pyroute2's namespace helper can miss its 2 s deadline on a loaded machine: poll again.
                ok, diffs = False, [converge.Difference("-", "read", "netlink", "an answer", str(exc))]
                if time.monotonic() < deadline:
                    time.sleep(POLL_S)
                    continue
            if ok:
                diffs = self._bfd_differences(pred, failures.nodes)
                ok = not diffs
            if ok or time.monotonic() >= deadline:
                return ok, time.monotonic() - start, diffs
            time.sleep(POLL_S)

    def _bfd_peers(self, node: str) -> Any:
        # Through vtysh: bfdd's own vty socket has the command only in enable mode.
        try:
            return vtysh_json(self.lab.runtime.frr_dir(node), "show bfd peers json", timeout=3.0)
        except (GwlabError, subprocess.TimeoutExpired):
            return []

    def _bfd_differences(self, pred: Prediction, skip: set[str]) -> list[converge.Difference]:
        timing = self.lab.topo.timing
        diffs: list[converge.Difference] = []
        for node in self.lab.topo.routers():
            assert node.bgp is not None
            wanted = [n for n in node.bgp.neighbors if n.bfd and pred.sessions.get((node.name, n.address))]
            if not wanted or node.name in skip:
                continue
            data = self._bfd_peers(node.name)
            peers = {p.get("peer"): p for p in data if isinstance(p, dict)} if isinstance(data, list) else {}
            for n in wanted:
                p = peers.get(str(n.address), {})
                status = str(p.get("status", "absent"))
                detect = int(p.get("remote-detect-multiplier", 0)) * max(
                    int(p.get("receive-interval", 0)), int(p.get("remote-transmit-interval", 0))
                )
                if status != "up" or not 0 < detect <= timing.bfd_detect_ms:
                    diffs.append(
                        converge.Difference(
                            node.name,
                            "bfd",
                            str(n.address),
                            f"up, detection <= {timing.bfd_detect_ms} ms",
                            f"{status}, detection {detect} ms",
                        )
                    )
        return diffs

    @staticmethod
    def _diff_text(diffs: list[converge.Difference]) -> str:
        lines = [f"{d.node} {d.what} {d.item}: expected {d.expected}, got {d.actual}" for d in diffs[:12]]
        more = f" (+{len(diffs) - 12} more)" if len(diffs) > 12 else ""
        return "; ".join(lines) + more

    def _fail(self, step: int, args: Fail) -> None:
        failure = resolve(self.lab, args.target, args.mode)
        detection = failure.detection()
        injected = self.now_ms()
        result = FailureResult(args.target, failure.mode, injected, detection.mechanism, detection.expected_ms)
        self.report.failures.append(result)
        window = _Window(result)
        self.windows.append(window)
        inject(
            self.lab,
            failure,
            lambda delay_s, what: self.report.notes.append(f"step {step}: after {delay_s:g} s the {what}"),
        )
        self.active[args.target] = (failure, window)
        within = args.within_ms / 1000 if args.within_ms else detection.expected_ms / 1000 + 15
        ok, _, diffs = self._wait_converged(within)
        done = self.now_ms()
        window.converged_at_ms = self._last_fib_change(injected, done) if ok else None
        result.converged_ms = (window.converged_at_ms - injected) if window.converged_at_ms is not None else None
        result.expected_path_after = predict(self.lab.topo, self._failures()).paths
        self._expectation(
            step,
            "fail",
            f"{args.target} {failure.mode}: lab converges to the oracle's prediction ({detection.mechanism})",
            ok,
            "" if ok else self._diff_text(diffs),
            done - injected,
        )

    def _last_fib_change(self, since_ms: float, until_ms: float) -> float:
        assert self.fibmon is not None
        changes = [c.t_ms for c in self.fibmon.since(since_ms) if c.t_ms <= until_ms]
        return max(changes) if changes else since_ms

    def _restore(self, step: int, args: Restore) -> None:
        if args.target not in self.active:
            raise GwlabError(f"step {step}: {args.target} is not failed in this scenario (nothing to restore)")
        failure, window = self.active.pop(args.target)
        restore(self.lab, failure)
        restored = self.now_ms()
        window.failure.restored_ms = restored
        window.end_ms = restored
        ok, seconds, diffs = self._wait_converged(args.within_ms / 1000)
        self._expectation(
            step,
            "restore",
            f"{args.target} restored: lab converges back",
            ok,
            "" if ok else self._diff_text(diffs),
            seconds * 1000,
        )

    def _expect(self, step: int, args: Expect) -> None:
        start = self.now_ms()
        oracle_paths = predict(self.lab.topo, self._failures()).paths
        time.sleep(args.window_ms / 1000)  # the observation window itself
        last = self.windows[-1].failure if self.windows else None
        self.pending.append(_Pending(step, args, start, self.now_ms(), oracle_paths, last))

    # -- judging ---------------------------------------------------------------------------------
    def _judge(self, changes: list[Any]) -> None:
        flows, arrivals = self.report.flows, self.report.arrivals
        end = self.now_ms()
        for w in self.windows:
            f = w.failure
            f.fib_changes = [c for c in changes if f.injected_ms <= c.t_ms <= (w.end_ms or end)]
            f.path_before = analysis.paths_in_window(flows, arrivals, f.injected_ms - 500, f.injected_ms)
            after_start = w.converged_at_ms if w.converged_at_ms is not None else (w.end_ms or end) - 500
            after_end = min(after_start + 500, w.end_ms or end)
            if after_end <= after_start:
                after_start, after_end = (w.end_ms or end) - 500, (w.end_ms or end)
            f.path_after = analysis.paths_in_window(flows, arrivals, after_start, after_end)
            f.outage_ms, f.lost = analysis.outage(flows, arrivals, f.injected_ms, w.end_ms or end)
            sym = analysis.symmetric(f.path_after)
            f.symmetric_after = all(sym.values()) if sym else None
        for p in self.pending:
            self._judge_one(p)

    def _judge_one(self, p: _Pending) -> None:
        flows, arrivals = self.report.flows, self.report.arrivals
        e = p.expect
        if not flows and (e.paths is not None or e.symmetric is not None or e.outage_ms or e.lost_max is not None):
            self._expectation(p.step, "expect", "traffic expectations", False, "no probes ran (add 'probes: start')")
            return
        measured = analysis.paths_in_window(flows, arrivals, p.start_ms, p.end_ms)
        if e.paths is not None:
            want = p.oracle_paths if e.paths == "oracle" else e.paths
            # a direction expected at tunnel level ("gw0/t-s1-vpn1") is measured at tunnel level
            tunnels = analysis.paths_in_window(flows, arrivals, p.start_ms, p.end_ms, labels=True)
            got = {d: (tunnels if analysis.tunnel_level(want.get(d, [])) else measured).get(d, []) for d in measured}
            wrong = {
                d: (want.get(d, []), got.get(d, []))
                for d in sorted(set(want) | set(got))
                if (e.direction is None or d == e.direction) and want.get(d, []) != got.get(d, [])
            }
            source = "the oracle's" if e.paths == "oracle" else "the expected"
            detail = "; ".join(
                f"{d}: expected {w or 'no path'}, measured {m or 'no traffic'}" for d, (w, m) in wrong.items()
            )
            self._expectation(p.step, "paths", f"traffic takes {source} paths {self._fmt(want)}", not wrong, detail)
        if e.symmetric is not None:
            sym = analysis.symmetric(measured)
            ok = all(v == e.symmetric for v in sym.values()) and bool(sym)
            detail = (
                ""
                if ok
                else "; ".join(
                    f"{site}: {'symmetric' if v else 'asymmetric'} (to Azure via "
                    f"{measured.get(direction(site, True))}, back via {measured.get(direction(site, False))})"
                    for site, v in sym.items()
                )
            )
            self._expectation(
                p.step, "symmetric", f"routing is {'symmetric' if e.symmetric else 'asymmetric'}", ok, detail
            )
        if (e.outage_ms is not None or e.lost_max is not None) and p.failure is None:
            self._expectation(p.step, "outage", "outage bounds", False, "no failure before this step")
            return
        if e.outage_ms is not None and p.failure is not None:
            outages = {d: v for d, v in p.failure.outage_ms.items() if e.direction is None or d == e.direction}
            lo, hi = e.outage_ms.min, e.outage_ms.max
            bad = {d: v for d, v in outages.items() if (hi is not None and v > hi) or (lo is not None and v < lo)}
            bounds = " and ".join(
                x for x in (f">= {lo:g} ms" if lo is not None else "", f"<= {hi:g} ms" if hi is not None else "") if x
            )
            self._expectation(
                p.step,
                "outage",
                f"outage after {p.failure.target} {bounds}",
                not bad and bool(outages),
                "; ".join(f"{d}: {v:.1f} ms" for d, v in (bad or outages).items()),
            )
        if e.lost_max is not None and p.failure is not None:
            lost = {d: v for d, v in p.failure.lost.items() if e.direction is None or d == e.direction}
            bad_lost = {d: v for d, v in lost.items() if v > e.lost_max}
            self._expectation(
                p.step,
                "lost",
                f"at most {e.lost_max} packets lost after {p.failure.target}",
                not bad_lost,
                "; ".join(f"{d}: {v}" for d, v in lost.items()),
            )

    @staticmethod
    def _fmt(paths: dict[str, list[str]]) -> str:
        return ", ".join(f"{d}: {'+'.join(e) or 'none'}" for d, e in sorted(paths.items()))


def run_scenario(
    scenario: Scenario,
    lab_override: str | None = None,
    attach_to: str | None = None,
    keep: bool = False,
    runtime: str = DEFAULT,
) -> RunReport:
    """Bring the lab up on `runtime` and wait until it has converged (or attach to a running one), run
    the scenario, take the lab down (unless kept)."""
    if attach_to is not None:
        lab = attach(attach_to)
        return Runner(lab, scenario).run()
    source, data = lab_data(scenario, lab_override)
    name = f"scn{os.getpid() % 100000}"
    merged: Path | None = None
    if data is not None:
        RUN_ROOT.mkdir(parents=True, exist_ok=True)
        merged = RUN_ROOT / f"{name}.lab.yaml"
        # 0600: overrides may carry a connection's pre-shared key
        write_private(merged, yaml.safe_dump(data, sort_keys=False).encode())
        source = str(merged)
    try:
        return Runner(up(source, name=name, runtime=runtime).lab, scenario).run()
    finally:
        if not keep:
            down(name)
        if merged is not None and not keep:
            merged.unlink(missing_ok=True)
