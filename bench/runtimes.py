"""The default lab on each runtime, side by side in docs/benchmarks.md: netns, docker, podman."""

from __future__ import annotations

from typing import Any

from bench.tables import fmt, mib, spread

TARGET_RUNTIME_S = {"docker": 8.0, "podman": 6.0}  # the default lab on each container runtime


def runtime_rows(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(runtime, summary) of the munet comparison's built-in lab on every runtime measured: netns from its
    built-in case (IPsec tunnels, as on the containers; not the VXLAN copy timed against munet)."""
    lab = data["munet"].get("builtin", data["munet"]["lab"])
    rows = [("netns", g["summary"]) for g in data["gwlab"] if g["kind"] == "builtin" and g["lab"] == lab]
    rows += [(g["lab"].split("(")[-1].rstrip(")"), g["summary"]) for g in data["gwlab"] if g["kind"] == "runtime"]
    return rows


def section(data: dict[str, Any]) -> list[str]:
    rows = runtime_rows(data)
    if len(rows) < 2:
        return []
    lab = data["munet"].get("builtin", data["munet"]["lab"])
    out = [
        f"## `{lab}` on each runtime (same run, round-robin)",
        "",
        "The same lab, the same oracle and finish line, on network namespaces and in containers "
        "(`gwlab up --runtime docker|podman`: one container of the node image per node, wired from the "
        "host). *nodes* is the namespaces phase on netns; on containers it is the engine check, the image "
        "check and the containers' creation, and *wire* (sysctls, links, addresses, from the host) follows. "
        "Memory: PSS of the lab's processes (the nodes' daemons and init), then what the runtime runs "
        "beside them for this lab (a `containerd-shim` per container on docker, a `conmon` on podman), then "
        "the engine's daemons, shared by every lab on it (docker: `dockerd` and its `containerd`; podman "
        "has none).",
        "",
        "| runtime | up (s), median (min-max) | nodes | wire | daemons | convergence | down (s) "
        "| PSS lab (MiB) | + per-node monitors | + engine daemons | total PSS | ok runs |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for runtime, s in rows:
        p = s.get("phases", {})
        nodes = p.get("namespaces")
        if nodes is None and p.get("containers") is not None:
            nodes = sum(p.get(k) or 0.0 for k in ("engine", "image check", "image", "containers"))
        extra = s.get("runtime_pss_mib") or {}
        per_lab, shared = extra.get("per_lab") or 0.0, extra.get("shared") or 0.0
        total = None if s["pss_mib"] is None else s["pss_mib"] + per_lab + shared
        out.append(
            f"| {runtime} | **{fmt(s['up_s'])}**{spread(s)} | {fmt(nodes)} | {fmt(p.get('wire'))} "
            f"| {fmt(p.get('daemons'))} | {fmt(p.get('convergence'))} | {fmt(s['down_s'])} | {mib(s['pss_mib'])} "
            f"| {mib(per_lab) if extra else '-'} | {mib(shared) if extra else '-'} | {mib(total)} "
            f"| {s['ok_runs']}/{s['runs']} |"
        )
    netns = rows[0][1].get("up_s") if rows[0][0] == "netns" else None
    ratios = [f"{r} {s['up_s'] / netns:.1f}x" for r, s in rows[1:] if netns and s.get("up_s")]
    if ratios:
        out += ["", f"Time to converged against netns: {', '.join(ratios)}."]
    errors = [f"{r}: {e}" for r, s in rows for e in s.get("errors", [])]
    if errors:
        out += ["", "Failed runs: " + "; ".join(errors)]
    out.append("")
    return out


def targets(data: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    rows: list[tuple[str, str, bool | None]] = []
    for runtime, summary in runtime_rows(data):
        if runtime in TARGET_RUNTIME_S:
            got = summary.get("up_s")
            rows.append(
                (
                    f"default lab on {runtime} converged in ≤ {TARGET_RUNTIME_S[runtime]:.0f} s",
                    f"{fmt(got)} s",
                    None if got is None else got <= TARGET_RUNTIME_S[runtime],
                )
            )
    return rows
