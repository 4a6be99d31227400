"""Namespaces made by threads, programs spawned from a thread inside a namespace, and one netlink thread
per node: on real namespaces (no lab, so not slow), each checked against what the kernel says."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator

import pytest
from pyroute2 import netns

from lab.runtime.netlink import Handles, interface_index, open_handle
from lab.runtime.nsenter import create_namespace, popen_in
from tests.helpers import require_root
from tests.labs import unique

pytestmark = pytest.mark.root


@pytest.fixture
def two() -> Iterator[list[str]]:
    """Two fresh namespaces (/run/netns paths), removed afterwards."""
    require_root()
    names = [unique("nl") + f"_{i}" for i in range(2)]
    for name in names:
        create_namespace(name)
    try:
        yield [f"/run/netns/{n}" for n in names]
    finally:
        for name in names:
            netns.remove(name)


def ns_inode(path: str) -> int:
    return os.stat(path).st_ino


def test_a_namespace_made_by_a_thread_is_a_new_one_and_the_caller_stays_home(two: list[str]) -> None:
    own = ns_inode("/proc/self/ns/net")
    assert ns_inode(two[0]) != own and ns_inode(two[1]) != own and ns_inode(two[0]) != ns_inode(two[1])
    assert ns_inode(f"/proc/self/task/{threading.get_native_id()}/ns/net") == own


def test_a_program_spawned_from_a_thread_in_a_namespace_runs_in_it(two: list[str]) -> None:
    """fork/vfork copies the calling thread's namespace only: the child is in the node's, we are not."""
    procs = [popen_in(path, ["sleep", "30"], stdout=subprocess.DEVNULL) for path in two]
    try:
        for path, proc in zip(two, procs, strict=True):
            assert ns_inode(f"/proc/{proc.pid}/ns/net") == ns_inode(path)
            assert os.getsid(proc.pid) == proc.pid  # its own session: not killed by our terminal's Ctrl-C
        assert ns_inode("/proc/self/ns/net") not in {ns_inode(p) for p in two}
        # What it sees is the namespace's network: only a loopback.
        out = popen_in(two[0], ["ip", "-o", "link"], stdout=subprocess.PIPE).communicate(timeout=10)[0]
        assert [line.split(":")[1].strip() for line in out.decode().splitlines()] == ["lo"]
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def test_each_node_handle_acts_in_its_own_namespace_whichever_thread_calls(two: list[str]) -> None:
    """A link made through one node's handle exists there only; calls from other threads go to the same
    node thread (a pyroute2 socket used from another thread would talk to the host's namespace)."""
    paths = dict(zip(["a", "b"], two, strict=True))
    with Handles(paths.__getitem__) as handles:
        handles["a"].link("add", ifname="va", kind="veth", peer={"ifname": "vb", "net_ns_fd": paths["b"]})
        seen: dict[str, set[str]] = {}

        def look(node: str) -> None:
            seen[node] = set(interface_index(handles[node]))

        threads = [threading.Thread(target=look, args=(n,)) for n in paths]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert seen == {"a": {"lo", "va"}, "b": {"lo", "vb"}}
        read = handles.each(lambda node, ipr: sorted(interface_index(ipr)), ["a", "b"])
        assert read == {"a": ["lo", "va"], "b": ["lo", "vb"]}
        with open_handle(paths["b"]) as b:
            assert "vb" in interface_index(b)


def test_a_namespace_that_is_gone_is_an_error_per_node_never_created_again(two: list[str]) -> None:
    gone = two[0] + "-gone"
    with Handles(lambda node: {"ok": two[1], "gone": gone}[node]) as handles:
        read = handles.each(lambda node, ipr: sorted(interface_index(ipr)), ["ok", "gone"])
        assert read["ok"] == ["lo"] and isinstance(read["gone"], OSError)
    assert not os.path.exists(gone)
