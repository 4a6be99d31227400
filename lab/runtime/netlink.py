"""pyroute2 handles on nodes' network namespaces, from the paths a runtime hands out: one thread per
node that entered its namespace, holding one `IPRoute` opened and used in that thread only.

Why a thread per node: pyroute2 0.9 keeps its socket per thread (`threading.local`). A `NetNS(path)`
used from a new thread forks its helper again (about 8 ms, more in a large process) to open another
socket there; an `IPRoute` opened in a thread that entered a namespace, then used from another thread,
silently opens a socket in *that* thread's namespace (the host's). So every call on a node's handle
runs in the node's own thread (`NodeThread`), where `IPRoute()` is a plain socket (0.5 ms, no fork).
`Handles[node]` gives a `NodeHandle` whose pyroute2 methods are forwarded there, so link kinds and
node configuration call it as they would call an `IPRoute`; `Handles.each` runs a function on many
nodes' handles at once (the convergence poll). A program started from a node's thread (`popen`)
starts in the node's namespace: fork and vfork copy the calling thread's namespaces, and without a
`preexec_fn` CPython spawns with vfork instead of copying this process.
"""

from __future__ import annotations

import contextlib
import functools
import os
import queue
import resource
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from types import TracebackType
from typing import Any, TypeVar

from lab.runtime.nsenter import setns

T = TypeVar("T")
CALL_TIMEOUT_S = 30.0  # a netlink call that has not answered by then will not (a wedged node thread)


class NodeThread:
    """A thread living in one network namespace, running the jobs given to it with its own `IPRoute`."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._jobs: queue.SimpleQueue[tuple[Callable[[Any], Any], Future[Any]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=f"ns-{os.path.basename(path)}", daemon=True)
        self._thread.start()  # enters and opens by itself: many nodes' threads start at once

    def _serve(self) -> None:
        ipr: Any = None
        failed: BaseException | None = None
        try:
            setns(self.path)
            from pyroute2 import IPRoute  # here: rendering (a bridge's MAC) needs no pyroute2

            ipr = IPRoute()
        except BaseException as exc:  # every job then fails with it
            failed = exc
        while (job := self._jobs.get()) is not None:
            fn, future = job
            if not future.set_running_or_notify_cancel():
                continue
            if failed is not None:
                future.set_exception(failed)
                continue
            try:
                result = fn(ipr)
                # pyroute2 may answer with a generator: read it here, in the thread that owns the socket.
                if isinstance(result, Iterator):
                    result = list(result)
                future.set_result(result)
            except BaseException as exc:
                future.set_exception(exc)
        if ipr is not None:
            with contextlib.suppress(Exception):
                ipr.close()

    def submit(self, fn: Callable[[Any], T]) -> Future[T]:
        """fn(ipr) in this node's thread, later; its result (or exception) through the future."""
        future: Future[T] = Future()
        self._jobs.put((fn, future))
        return future

    def call(self, fn: Callable[[Any], T], timeout_s: float = CALL_TIMEOUT_S) -> T:
        return self.submit(fn).result(timeout=timeout_s)

    def popen(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        """A program started in this namespace (a new session: detached from our terminal)."""
        return self.call(lambda _: subprocess.Popen(list(argv), start_new_session=True, **kwargs))

    def stop(self) -> None:
        """Ask the thread to end after the jobs already given (its socket closed)."""
        self._jobs.put(None)

    def join(self) -> None:
        self._thread.join(timeout=5.0)

    def close(self) -> None:
        self.stop()
        self.join()


class NodeHandle:
    """The `IPRoute` of a node's thread, as the caller sees it: every method runs in that thread."""

    def __init__(self, thread: NodeThread, owned: bool = False) -> None:
        self._node_thread = thread
        self._owned = owned  # open_handle's: closing the handle ends its thread

    def __getattr__(self, name: str) -> Callable[..., Any]:
        def forwarded(*args: Any, **kwargs: Any) -> Any:
            return self._node_thread.call(lambda ipr: getattr(ipr, name)(*args, **kwargs))

        return forwarded

    def in_thread(self, fn: Callable[[], T]) -> T:
        """fn() in the node's thread (in its namespace), for what works on the thread's own socket."""
        return self._node_thread.call(lambda _: fn())

    def close(self) -> None:
        if self._owned:
            self._node_thread.close()

    def __enter__(self) -> NodeHandle:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def open_handle(path: str) -> NodeHandle:
    """One handle on the namespace at `path`, with a thread of its own; close it when done. A namespace
    that is gone raises (setns fails) at the first call: it is never created by accident."""
    return NodeHandle(NodeThread(path), owned=True)


def interface_index(ns: Any) -> dict[str, int]:
    return {link.get_attr("IFLA_IFNAME"): link["index"] for link in ns.get_links()}


def raise_open_files_limit() -> None:
    """Each node's thread holds four descriptors (its netlink socket, its event loop's epoll and wake-up
    pair): a 300-node lab passes the usual soft limit of 1024, so it is raised to the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Handles:
    """One handle (and thread) per node, opened on first use, closed together; `netns_path(node)` for
    the peers of a new link."""

    def __init__(self, netns_path: Callable[[str], str]) -> None:
        self.netns_path = netns_path
        self._threads: dict[str, NodeThread] = {}
        self._lock = threading.Lock()
        raise_open_files_limit()

    def thread(self, node: str) -> NodeThread:
        with self._lock:
            found = self._threads.get(node)
            if found is None:
                found = self._threads[node] = NodeThread(self.netns_path(node))
            return found

    def __getitem__(self, node: str) -> NodeHandle:
        return NodeHandle(self.thread(node))

    def call(self, node: str, fn: Callable[[Any], T]) -> T:
        """fn(ipr) in the node's thread: several netlink calls for one round trip."""
        return self.thread(node).call(fn)

    def each(self, fn: Callable[[str, Any], T], nodes: Iterable[str]) -> dict[str, T | BaseException]:
        """fn(node, ipr) in every node's thread at once: node -> result, or the exception it raised
        (one node's failure is that node's answer, not everyone's)."""
        futures = {node: self.thread(node).submit(functools.partial(fn, node)) for node in nodes}
        out: dict[str, T | BaseException] = {}
        for node, future in futures.items():
            try:
                out[node] = future.result(timeout=CALL_TIMEOUT_S)
            except Exception as exc:  # handed back per node
                out[node] = exc
        return out

    def close(self) -> None:
        with self._lock:
            threads, self._threads = list(self._threads.values()), {}
        for thread in threads:
            thread.stop()  # all at once, then waited for
        for thread in threads:
            thread.join()

    def __enter__(self) -> Handles:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
