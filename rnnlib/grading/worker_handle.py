"""The judge's side of the grading worker (:mod:`rnnlib.grading.worker`): start it
in the sandbox, send it requests, answer its callbacks, and call a student's
function there.
"""

import contextlib
import importlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from . import wire
from . import worker as _worker_module
from .outcomes import GradingFailure, _StudentRaised
from .references import _RNNLIB_DIR
from .worker import _decode, _read_message, _WorkerLost, _write_message


def _load_callable(spec):
    """A function from 'module:name' or 'module.name' (for the wrap_command setting)."""
    module, _, name = spec.replace(":", ".").rpartition(".")
    return getattr(importlib.import_module(module), name)


def _worker_files():
    """What the worker must read: its own file, the wire format and the utility modules it
    loads by path. Not the checks (they compute the references) nor the rest of rnnlib."""
    files = [os.path.abspath(_worker_module.__file__), os.path.abspath(wire.__file__)]
    files += [os.path.join(_RNNLIB_DIR, f"{name}.py") for name in _worker_module.UTILITY_MODULES]
    return tuple(sorted({f for f in files if os.path.isfile(f)}))


class _Worker:
    """The judge's handle on one worker process.

    ``wrap_command(argv, cwd, readable=(), writable=())`` (optional) returns the command line
    that runs ``argv`` in a sandbox; the worker needs to read :func:`_worker_files` and to write
    only its scratch folder (its working directory)."""

    def __init__(self, setup, timeout, serve, wrap_command=None):
        self.timeout, self.serve = timeout, serve
        reply_r, reply_w = os.pipe()
        self.scratch = tempfile.mkdtemp(prefix="rnnlib-grading-")
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "HOME")}
        env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
                   TMPDIR=self.scratch, MPLBACKEND="Agg")
        argv = [sys.executable, "-I", os.path.abspath(_worker_module.__file__), "--worker",
                str(reply_w)]
        if wrap_command is not None:
            argv = wrap_command(argv, self.scratch, readable=_worker_files(),
                                writable=(self.scratch,))
        self.argv = argv  # its release() (if any) kills what the worker left behind
        try:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                pass_fds=(reply_w,), cwd=self.scratch, env=env, start_new_session=True)
        except (OSError, ValueError) as exc:  # no process: give back its uid, group, folder
            for fd in (reply_r, reply_w):
                os.close(fd)
            release = getattr(argv, "release", None)
            if release is not None:
                release()
            shutil.rmtree(self.scratch, ignore_errors=True)
            raise _WorkerLost(f"could not be started ({type(exc).__name__}: {exc})") from None
        os.close(reply_w)
        self.reply_fd = reply_r
        self.request(setup, timeout=max(timeout, 60))

    def request(self, message, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        try:
            self._send(message)
            while True:
                reply = _read_message(self.reply_fd, deadline)
                if not isinstance(reply, dict):
                    raise _WorkerLost("broke the protocol")
                if reply.get("op") != "callback":
                    return reply
                self._send(self.serve(reply))
        except _WorkerLost:
            self.close()
            raise
        except Exception as e:  # noqa: BLE001 - malformed data from the worker
            self.close()
            raise _WorkerLost(f"broke the protocol ({type(e).__name__})") from None

    def _send(self, message):
        try:
            _write_message(self.proc.stdin.fileno(), message)
        except (BrokenPipeError, OSError):
            raise _WorkerLost("stopped (the process exited)") from None

    def close(self):
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        release = getattr(self.argv, "release", None)
        if release is not None:
            release()
        with contextlib.suppress(Exception):
            self.proc.wait(timeout=10)
        for f in (self.proc.stdin,):
            with contextlib.suppress(Exception):
                f.close()
        with contextlib.suppress(OSError):
            os.close(self.reply_fd)
        self.reply_fd = -1
        shutil.rmtree(self.scratch, ignore_errors=True)


class _WorkerFunction:
    """At grading: the function lives in the worker; the judge checks every call's events."""

    def __init__(self, judge, fn_name, spec):
        self.judge, self.fn_name, self.spec = judge, fn_name, spec

    def call(self, args, kwargs=None):
        reply = self.judge.call(self.fn_name, self.spec, args, kwargs or {})
        status = reply.get("status")
        if status == "missing":
            raise GradingFailure(
                f"{self.spec.name}: there is no function {self.fn_name} in the notebook (a "
                f"`def {self.fn_name}(...)` in a cell above this test). Did you rename it?")
        if status == "raised":
            raise _StudentRaised(str(reply.get("etype")), str(reply.get("message")),
                                 str(reply.get("where") or ""))
        try:
            return _decode(reply["result"]), _decode(reply["args"])
        except Exception as e:  # noqa: BLE001 - malformed data from the worker
            raise GradingFailure(f"{self.spec.name}: the grading worker sent back malformed "
                                 f"data ({type(e).__name__}).") from None
