"""ExaBGP speakers forked from one process that imported ExaBGP once, instead of one interpreter each.

Starting `exabgp` costs about 0.4 CPU-s, nearly all of it Python importing ExaBGP, before the speaker
daemonises: a 100-site lab has over 100 speakers. `ForkServer` runs this module as a program (`python
-m lab.runtime.exabgp_forks`, with the interpreter ExaBGP is installed in): it imports ExaBGP, then for
each request on its stdin forks a child that enters the node's network namespace, starts a session,
takes the speaker's environment and argv and runs ExaBGP's own `main`, exactly as the `exabgp` script
would: a real, separate ExaBGP process per speaker, which daemonises as usual (its pid file, its log).
The server reaps that first child once it has daemonised and answers with its exit code; the child's
stderr goes to a file the launcher reads (`ForkedLaunch`: what `daemons.confirm` needs of a launcher).
The children share the imported pages until they write them, which lowers each speaker's PSS too.

The server imports nothing of gwlab (it runs beside ExaBGP's interpreter) and ends at EOF on its stdin.
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import traceback
from pathlib import Path
from typing import IO, Any

CLONE_NEWNET = 0x40000000
PR_SET_NAME = 15


class ForkedLaunch:
    """One speaker's launch through the server: the exit code of the child that daemonised."""

    def __init__(self, server: ForkServer, ident: int, stderr: Path) -> None:
        self.server, self.ident, self.stderr = server, ident, stderr
        self.returncode: int | None = None

    def communicate(self, input: Any = None, timeout: float | None = None) -> tuple[bytes, bytes]:
        self.wait(timeout)
        try:
            err = self.stderr.read_bytes()
        except OSError:
            err = b""
        return b"", err

    def poll(self) -> int | None:
        """The exit code if the server has answered already; never blocks (answers come in order)."""
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self.returncode = self.server.result(self.ident, timeout)
        return self.returncode


class ForkServer:
    """The fork server, started on first use; `close` ends it (after it has answered every launch)."""

    def __init__(self, python: str) -> None:
        self.python = python
        self._proc: subprocess.Popen[bytes] | None = None
        self._next = 0
        self._answers: dict[int, int] = {}

    def launch(self, netns: str, argv: list[str], env: dict[str, str], stderr: Path) -> ForkedLaunch:
        if self._proc is None:
            # The package directory on its path: the server imports this module, nothing else of gwlab.
            where = str(Path(__file__).resolve().parents[2])
            self._proc = subprocess.Popen(
                [self.python, "-m", "lab.runtime.exabgp_forks"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                cwd=where,
                env={"PATH": env.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": where},
                start_new_session=True,
            )
        self._next += 1
        request = {"id": self._next, "netns": netns, "argv": argv, "env": env, "stderr": str(stderr)}
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps(request).encode() + b"\n")
        self._proc.stdin.flush()
        return ForkedLaunch(self, self._next, stderr)

    def result(self, ident: int, timeout: float | None) -> int:
        """The answer to launch `ident` (answers come in order); 1 if the server died first."""
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        while ident not in self._answers:
            line = proc.stdout.readline()  # the server answers each launch within its daemonising time
            if not line:
                return 1
            answer = json.loads(line)
            self._answers[int(answer["id"])] = int(answer["returncode"])
        return self._answers.pop(ident)

    def close(self) -> None:
        if self._proc is None:
            return
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None


def _child(libc: Any, request: dict[str, Any], run: Any) -> int:
    """In the forked child: the node's namespace, a session, the speaker's stdio, environment and argv."""
    fd = os.open(request["netns"], os.O_RDONLY | os.O_CLOEXEC)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), f"setns({request['netns']})")
    os.close(fd)
    libc.prctl(PR_SET_NAME, b"exabgp", 0, 0, 0)  # its command name, as the exabgp script's would be
    os.setsid()
    null = os.open(os.devnull, os.O_RDWR)
    err = os.open(request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    for target, source in ((0, null), (1, null), (2, err)):
        os.dup2(source, target)
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = list(request["argv"])
    try:
        code = run()
    except SystemExit as exc:
        code = exc.code
    return code if isinstance(code, int) else (0 if code is None else 1)


def serve(requests: IO[str], answers: IO[str]) -> None:
    from exabgp.application import server  # noqa: F401 - the server and its reactor, imported once
    from exabgp.application.main import main as run  # what each speaker would import again

    libc = ctypes.CDLL(None, use_errno=True)
    for line in requests:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = _child(libc, request, run)
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)  # the first child exits once ExaBGP has daemonised
        answers.write(json.dumps({"id": request["id"], "returncode": os.waitstatus_to_exitcode(status)}) + "\n")
        answers.flush()


if __name__ == "__main__":
    serve(sys.stdin, sys.stdout)
