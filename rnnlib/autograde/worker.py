"""The course judge's worker process, run in the grading sandbox.

``rnnlib.grading.JudgeCells`` re-grades the test cells outside the kernel with a worker process
that executes the student's cells again (``python -I rnnlib/grading.py --worker``). That worker
runs student code, so it belongs in the sandbox as much as the kernel does. Until
``rnnlib.grading`` builds its worker command with :func:`rnnlib.autograde.sandbox.wrap_command`
itself, :class:`SandboxedJudgeCells` (which :func:`rnnlib.autograde.config.harden` puts in
``JudgeCells``'s place) runs ``JudgeCells`` with the ``subprocess`` module that
``rnnlib.grading`` sees replaced by one whose ``Popen`` wraps the command: the worker sees only
``grading.py`` and the utility modules it loads (not the references), its scratch directory,
no network, and gets the same limits as a kernel. A command that already starts with ``bwrap``
is left alone, so the shim steps aside once ``rnnlib.grading`` wraps its own worker.
"""

import contextlib
import os

from . import sandbox


def worker_readable(grading):
    """Files the worker needs: ``grading.py`` and the utility modules it loads by path."""
    folder = getattr(grading, "_RNNLIB_DIR", os.path.dirname(os.path.abspath(grading.__file__)))
    names = getattr(grading, "_UTILITY_MODULES", ("activations", "checks", "grading"))
    files = [os.path.abspath(grading.__file__)]
    files += [os.path.join(folder, f"{n}.py") for n in names]
    return sorted({f for f in files if os.path.isfile(f)})


class _Subprocess:
    """``subprocess`` as the grading module sees it, with a sandboxing ``Popen``."""

    def __init__(self, real, readable):
        self._real, self._readable = real, readable

    def __getattr__(self, name):
        return getattr(self._real, name)

    def Popen(self, args, *rest, cwd=None, **kwargs):  # noqa: N802 - subprocess's name
        bwrap = sandbox.bwrap_path()
        args = list(args)
        if cwd is not None and not (bwrap and args and args[0] == bwrap):
            args = sandbox.wrap_command(args, cwd=cwd, readable=self._readable)
        return self._real.Popen(args, *rest, cwd=cwd, **kwargs)


@contextlib.contextmanager
def sandboxed_workers(grading):
    """While active, workers that ``grading`` starts run in the sandbox."""
    real = grading.subprocess
    grading.subprocess = _Subprocess(real, worker_readable(grading))
    try:
        yield
    finally:
        grading.subprocess = real


def _make():
    from rnnlib import grading

    class SandboxedJudgeCells(grading.JudgeCells):
        """``rnnlib.grading.JudgeCells`` with its worker in the grading sandbox (configured as
        ``JudgeCells``: its settings apply)."""

        def preprocess(self, nb, resources):
            with sandboxed_workers(grading):
                return super().preprocess(nb, resources)

    return SandboxedJudgeCells


def __getattr__(name):
    if name == "SandboxedJudgeCells":
        cls = _make()
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
