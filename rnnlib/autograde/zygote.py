"""Start grading kernels by forking a process that has imported them already.

A grading kernel's cold start costs about 0.42 CPU-s on the course's machine, nearly all of it
Python importing ipykernel, IPython, zmq and tornado (about 480 modules), then numpy in the
notebook's first cell: more than the notebook's cells and the judge together. A class graded in
one process (a :mod:`~rnnlib.autograde.classgrade` worker) starts the same kernel over and over,
so it can import once and fork:

- :class:`Zygote` starts :mod:`rnnlib.autograde.zygote_server` (a standalone script: no
  ``rnnlib`` in it, no secret in its memory) with a kernel's environment; it imports the
  kernel's modules and numpy and waits;
- :class:`~rnnlib.autograde.sandbox.SandboxedKernelManager` (with ``zygote = True``) builds the
  kernel's sandbox exactly as for a cold start (the same bubblewrap arguments, uid, control
  group), but runs a stub in it (``sleep``), and asks the zygote for a kernel *in that sandbox*:
  the forked kernel joins its namespaces and control group, takes its limits, drops to its uid
  with no capability, keeps only the judge's pipes, and runs ipykernel. When the kernel ends the
  stub is killed, so bubblewrap ends as it does when the kernel is its own child.

Only when grading runs as root with bubblewrap (how a course grades: a uid and a control group
per sandbox). Anything unexpected (no zygote, a reply that does not come) and the kernel starts
cold instead, with a warning in the log.
"""

import json
import os
import pathlib
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading

#: Seconds a request may wait for its kernel (the first ones wait while the zygote imports).
SPAWN_TIMEOUT = 60


class ZygoteError(RuntimeError):
    """The zygote could not start or could not fork a kernel."""


def _seqpacket_pair():
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)


class ExitCode:
    """Where a forked kernel's exit code arrives (its keeper sends it when the kernel ends)."""

    def __init__(self, sock):
        self.sock, self.code = sock, None

    def get(self):
        """The code, or None while it has not come (or never will: the keeper died)."""
        if self.code is None and self.sock is not None:
            self.sock.setblocking(False)
            try:
                msg = self.sock.recv(1 << 12)
            except BlockingIOError:
                return None
            except OSError:
                msg = b""
            self.code = json.loads(msg).get("exit") if msg else None
            self.close()
        return self.code

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class ForkedKernelProcess:
    """The provisioner's process for a forked kernel: bubblewrap's (``popen``, which kills,
    signals and waits as for a cold kernel), whose exit code, once it has ended, is the
    kernel's (bubblewrap's own child is the stub, which the keeper kills)."""

    def __init__(self, popen, exit_code):
        self._popen, self._exit = popen, exit_code

    def __getattr__(self, name):
        return getattr(self._popen, name)

    def _code(self, code):
        if code is None or code < 0:  # running, or bubblewrap itself killed (by the grader)
            return code
        kernel = self._exit.get()
        return kernel if kernel is not None else code

    def poll(self):
        return self._code(self._popen.poll())

    def wait(self, timeout=None):
        return self._code(self._popen.wait(timeout))


class Zygote:
    """One zygote process and the socket to it. :meth:`spawn` may be called from several
    threads, and from processes forked after it started (each request is one datagram on the
    socket, and its reply comes on a socket of its own)."""

    def __init__(self, env, sitecustomize):
        self.folder = pathlib.Path(tempfile.mkdtemp(prefix="ag-zygote-"))
        server = self.folder / "zygote_server.py"
        shutil.copyfile(pathlib.Path(__file__).with_name("zygote_server.py"), server)
        (self.folder / "sitecustomize.py").write_text(sitecustomize)
        (self.folder / "home").mkdir()
        env = {**env, "PYTHONPATH": str(self.folder), "HOME": str(self.folder / "home"),
               "TMPDIR": str(self.folder)}
        ours, theirs = _seqpacket_pair()
        self._lock = threading.Lock()
        self.owner = os.getpid()
        try:
            self.process = subprocess.Popen(
                [sys.executable, str(server), str(theirs.fileno())], pass_fds=[theirs.fileno()],
                env=env, cwd=str(self.folder), stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        finally:
            theirs.close()
        self.control = ours
        self.pid = self.process.pid
        self._pidfd = os.pidfd_open(self.pid)

    def alive(self):
        return not select.select([self._pidfd], [], [], 0)[0]

    def spawn(self, request, fds=()):
        """Fork a kernel into the sandbox that ``request`` describes (see
        :mod:`~rnnlib.autograde.zygote_server`); ``fds`` go to the kernel as
        ``request["fd_numbers"]``. Returns the kernel's pid and its :class:`ExitCode`."""
        ours, theirs = _seqpacket_pair()
        try:
            with self._lock:
                socket.send_fds(self.control, [json.dumps(request).encode()],
                                [theirs.fileno(), *fds])
        except OSError as exc:
            raise ZygoteError(f"the zygote is gone: {exc}") from exc
        finally:
            theirs.close()
        ours.settimeout(SPAWN_TIMEOUT)
        try:
            msg, got, _, _ = socket.recv_fds(ours, 1 << 16, 1)
        except OSError as exc:
            ours.close()
            raise ZygoteError(f"the zygote did not answer: {exc}") from exc
        reply = json.loads(msg or b'{"error": "no reply"}')
        for fd in got:
            os.close(fd)
        if "error" in reply or not got:
            ours.close()
            raise ZygoteError(f"the zygote could not start a kernel: {reply.get('error')}")
        return reply["pid"], ExitCode(ours)

    def close(self):
        """Stop the zygote (kernels it forked live on until their sandboxes end); in the
        process that started it only."""
        self.control.close()
        os.close(self._pidfd)
        if os.getpid() == self.owner:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()
            shutil.rmtree(self.folder, ignore_errors=True)


_ZYGOTES = {}
_STARTS = {}
#: Zygotes a process starts for one environment before it gives up on them.
MAX_STARTS = 3
_ZYGOTES_LOCK = threading.Lock()


def shared(env, sitecustomize):
    """The zygote for kernels of environment ``env``: this process's, or the one of the process
    it was forked from (:mod:`~rnnlib.autograde.classgrade` starts one before its workers);
    started on first use, again if it died (:data:`MAX_STARTS` times, then None)."""
    key = (json.dumps(env, sort_keys=True), sitecustomize)
    with _ZYGOTES_LOCK:
        zygote = _ZYGOTES.get(key)
        if zygote is None or not zygote.alive():
            if zygote is not None:  # dead: its socket, pidfd and folder go
                zygote.close()
                del _ZYGOTES[key]
            if _STARTS.get(key, 0) >= MAX_STARTS:
                return None  # it keeps dying: kernels start cold
            _STARTS[key] = _STARTS.get(key, 0) + 1
            zygote = _ZYGOTES[key] = Zygote(env, sitecustomize)
        return zygote


def close_all():
    """Stop the zygotes this process started (and forget those it inherited)."""
    with _ZYGOTES_LOCK:
        for zygote in _ZYGOTES.values():
            zygote.close()
        _ZYGOTES.clear()


def start_for_kernels():
    """Start this process's zygote for grading kernels now, where kernels may be forked (root,
    bubblewrap installed), without loading the grading modules: a command calls it first, so
    that the zygote imports on another core while the command imports nbgrader. Returns it, or
    None. (:func:`rnnlib.autograde.sandbox.kernel_zygote` is the same zygote, once bubblewrap
    is known to work.)"""
    if os.geteuid() != 0 or shutil.which("bwrap") is None:
        return None
    from .kernel_env import KERNEL_ENV, SITECUSTOMIZE

    return shared(KERNEL_ENV, SITECUSTOMIZE)
