"""Grading for the course's nbgrader assignments: checks that name the mistake, and a judge
that the code it grades cannot reach.

A test cell of an assignment notebook is one short line::

    grading.check_rnn_cell_forward(rnn_cell_forward, "values")

Each check knows its function's reference in rnnlib, builds small fixed cases (and, for the
hidden tests, random shapes and seeds), calls the student's function, checks the structure and
the shapes of what it returns, then the values; when something is wrong it evaluates the known
mistakes (sigmoid for tanh, a missing bias, transposed or swapped weights, gate mix-ups, Γu's
direction, a<t> for a<t-1>, off-by-one in time, state not carried...) as alternative
computations and says which one the student's output matches. Parts, each worth the points of
its test cell:

    "shapes"  structure and shapes on the fixed case
    "values"  values on the fixed cases (one with n_x != n_a, one with n_x == n_a, so that a
              transposed or swapped weight shows either as an error or as a value)
    "random"  rnnlib's reference on random shapes (m = 1, T_x = 1, n_x = 1 included), seeded

Two places run the same checks:

* In the student's kernel (``check_*``): the function object is called directly. This gives the
  student their feedback while they work. It also refuses the cheap tricks it can see (numpy,
  ``np.testing`` or this module patched since the setup cell imported it; rnnlib's reference
  reached from the student's function), but code in the kernel can always fool code in the
  same kernel.
* At grading, outside the kernel (``judge_notebook``, run by the nbgrader preprocessor
  ``JudgeCells`` that ``nbgrader_config.py`` puts into ``nbgrader autograde``). The judge runs in
  nbgrader's own process and never executes student code. It starts a fresh worker process
  (``python -I``: pristine numpy, the student's folder not on ``sys.path``) that executes the
  notebook's setup and student cells in order and serves calls of the student's functions.
  rnnlib's reference code is not loaded in the worker: the setup cells' rnnlib imports (and the
  functions a check substitutes, e.g. rnnlib's ``rnn_cell_forward`` while ``rnn_forward`` is
  graded, so a mistake in the cell costs points once) are stubs that call back into the judge,
  which answers them only when allowed. Data crosses the boundary as JSON and raw numeric array
  bytes (never pickle). The judge builds the cases, computes the reference and the known
  mistakes, compares and diagnoses. Its verdict replaces the kernel's when they differ (a test
  passes only when both pass).

Integrity rules (a violation scores 0 for that test, with a message naming it):

* a function that reaches rnnlib's reference of a graded function (importing it, calling it,
  or calling a substituted reference outside the check that substitutes it);
* numpy, ``numpy.testing``, ``numpy.linalg``, ``numpy.random``, ``math``, ``builtins`` or an
  rnnlib module (this one included) patched, or replaced in ``sys.modules``: by a function while
  it is graded (that function's tests), or by a cell's top-level code (every test after it).

Shapes follow the notes: xt (n_x, m), a_prev (n_a, m), x (n_x, m, T_x), a (n_a, m, T_x),
y_pred (n_y, m, T_x), biases (n, 1).

The worker runs in the grading sandbox (``JudgeCells.wrap_command``, by default
``rnnlib.autograde.sandbox.wrap_command``: bubblewrap, no network, the kernels' limits): it can
read only this file and the utility modules it loads, not rnnlib's references, and write only
its scratch folder. Its own checks (patches, import attempts) can still be defeated by code that
attacks the worker itself; that only changes the student's own outputs, which the judge still
compares with its own reference.
"""

import ast
import contextlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import traceback

import numpy as np

from . import grading_worker as _wire
from .grading_worker import (  # noqa: F401 - the wire format and the guards, shared with the worker
    _KERNEL_BUILTINS,
    _TEST_FUNCTIONS,
    _WATCHED_MODULES,
    FnRef,
    Opaque,
    _bind_test_functions,
    _decode,
    _describe_exception,
    _encode,
    _quiet,
    _read_message,
    _roundtrip,
    _rpc_stub,
    _snapshot,
    _snapshot_diff,
    _strip_magics,
    _watched_names,
    _WorkerLost,
    _write_message,
    substituted,
)

# The reference modules' files: code from these may not run for a graded function, except
# inside an allowed helper. activations and checks are utilities any student may use.
_RNNLIB_DIR = os.path.dirname(os.path.abspath(__file__))
_UTILITY_MODULES = ("activations", "checks", "grading", "grading_worker")
_REFERENCE_FILES = frozenset(
    os.path.join(_RNNLIB_DIR, f) for f in os.listdir(_RNNLIB_DIR)
    if f.endswith(".py") and f[:-3] not in _UTILITY_MODULES + ("__init__",)
)

RTOL, ATOL = 1e-6, 1e-8

# ---------------------------------------------------------------------------------------------
# Outcomes


class GradingFailure(AssertionError):
    """A test failed; the message is written for the student."""


class IntegrityViolation(GradingFailure):
    """The function reached rnnlib's reference, or numpy / the tests were patched."""


class _StudentRaised(Exception):
    """The student's function raised: ``etype``, ``message`` and ``where`` (their line)."""

    def __init__(self, etype, message, where=""):
        super().__init__(f"{etype}: {message}")
        self.etype, self.message, self.where = etype, message, where


def _load_callable(spec):
    """A function from 'module:name' or 'module.name' (for the wrap_command setting)."""
    module, _, name = spec.replace(":", ".").rpartition(".")
    return getattr(importlib.import_module(module), name)


def _worker_files():
    """What the worker must read: its own file and the utility modules it loads by path. Not
    this file (the checks compute the references) nor the rest of rnnlib."""
    files = [os.path.abspath(_wire.__file__)]
    files += [os.path.join(_RNNLIB_DIR, f"{name}.py") for name in _wire.UTILITY_MODULES]
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
        argv = [sys.executable, "-I", os.path.abspath(_wire.__file__), "--worker", str(reply_w)]
        if wrap_command is not None:
            argv = wrap_command(argv, self.scratch, readable=_worker_files(),
                                writable=(self.scratch,))
        self.argv = argv  # its release() (if any) kills what the worker left behind
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(reply_w,), cwd=self.scratch, env=env, start_new_session=True)
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
        import shutil
        shutil.rmtree(self.scratch, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# The student's function, as a check sees it: call(args) -> (result, args after the call).


def _reference(qualname):
    module, name = qualname.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)


class _LocalFunction:
    """In the kernel: the function object itself, watched by a profiler for reference code."""

    def __init__(self, func, spec):
        self.func, self.spec = func, spec

    def call(self, args, kwargs=None):
        __tracebackhide__ = True
        spec, func = self.spec, self.func
        if not callable(func):
            raise GradingFailure(f"{spec.name} is not a function: got a {type(func).__name__}")
        changes = _snapshot_diff(_KERNEL_SNAPSHOT) if _KERNEL_SNAPSHOT is not None else []
        if changes:
            raise IntegrityViolation(_patch_message(spec.name, changes, "before this test"))
        args = _bind_test_functions(_roundtrip(tuple(args)))
        kwargs = _roundtrip(kwargs or {})
        lent = {name: _reference(spec.reference_of(name)) for name in spec.substitutes}
        guard = _ReferenceGuard(spec)
        try:
            with substituted(getattr(func, "__globals__", {}), lent), _quiet(), guard:
                result = func(*args, **kwargs)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - the student's error, reported as a failure
            if guard.reached:
                raise IntegrityViolation(_reference_message(spec.name, guard.reached)) from None
            etype, message, where = _describe_exception(exc)
            if not where:
                tb = traceback.extract_tb(exc.__traceback__)
                mine = [f for f in tb if f.filename != __file__]
                if mine:
                    where = f"line {mine[-1].lineno}: {(mine[-1].line or '').strip()}"
            raise _StudentRaised(etype, message, where) from None
        if guard.reached:
            raise IntegrityViolation(_reference_message(spec.name, guard.reached))
        changes = _snapshot_diff(_KERNEL_SNAPSHOT) if _KERNEL_SNAPSHOT is not None else []
        if changes:
            raise IntegrityViolation(_patch_message(spec.name, changes, "while it ran"))
        return _roundtrip(result), _roundtrip(args)


class _ReferenceGuard:
    """A profiler that records reference code of ``spec``'s function running outside an
    allowed helper (a substituted function or a declared helper)."""

    def __init__(self, spec):
        self.forbidden = _footprint(spec)
        self.allowed = {_reference(q).__code__ for q in spec.allowed_references()}
        self.inside = []
        self.reached = []

    def _profile(self, frame, event, arg):
        if event == "call":
            code = frame.f_code
            if self.inside:
                return
            if code in self.allowed:
                self.inside.append(frame)
            elif code in self.forbidden:
                name = f"{_module_of(code)}.{code.co_qualname}"
                if name not in self.reached:
                    self.reached.append(name)
        elif event == "return" and self.inside and frame is self.inside[-1]:
            self.inside.pop()

    def __enter__(self):
        self.previous = sys.getprofile()
        sys.setprofile(self._profile)
        return self

    def __exit__(self, *exc):
        sys.setprofile(self.previous)
        return False


def _module_of(code):
    return "rnnlib." + os.path.basename(code.co_filename)[:-3]


_FOOTPRINTS = {}


def _footprint(spec):
    """The reference code objects that computing ``spec``'s reference executes."""
    if spec.name not in _FOOTPRINTS:
        codes = set()

        def profile(frame, event, arg):
            if event == "call" and frame.f_code.co_filename in _REFERENCE_FILES:
                codes.add(frame.f_code)

        ref = _reference(spec.reference)
        case = spec.fixed_cases()[0]
        previous = sys.getprofile()
        sys.setprofile(profile)
        try:
            with _quiet():
                ref(*_bind_test_functions(_roundtrip(case.args)), **case.ref_kwargs)
        finally:
            sys.setprofile(previous)
        codes.add(ref.__code__)
        _FOOTPRINTS[spec.name] = frozenset(codes)
    return _FOOTPRINTS[spec.name]


def _reference_message(name, reached):
    names = []
    for r in reached:
        r = r.split(".<locals>")[0]
        if r not in names:
            names.append(r)
    names.sort(key=lambda r: r.rsplit(".", 1)[-1].startswith("_"))
    what = ", ".join(names[:2])
    return (f"{name}: no points for this test: it reaches rnnlib's reference ({what}) instead "
            f"of computing the result itself. Write the function with numpy.")


def _patch_message(name, changes, when):
    what = "; ".join(changes[:3]) + ("; ..." if len(changes) > 3 else "")
    return (f"{name}: no points for this test: numpy or the grading code was changed {when} "
            f"({what}). Tests must run against the real numpy and rnnlib: remove that code.")


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


# ---------------------------------------------------------------------------------------------
# Checks: cases, comparison, diagnosis.


class Case:
    """One call of the function under test: ``args``, a ``label`` for messages, the sizes."""

    def __init__(self, label, args, dims, kwargs=None, ref_kwargs=None):
        self.label, self.args, self.dims = label, tuple(args), dims
        self.kwargs = kwargs or {}
        self.ref_kwargs = {**self.kwargs, **(ref_kwargs or {})}

    def fresh_args(self):
        """A private copy of the arguments (test functions bound), for a computation."""
        return _bind_test_functions(_roundtrip(self.args))


class Mistake:
    """A known mistake: ``compute(case) -> outputs`` and the sentence that names it."""

    def __init__(self, message, compute):
        self.message, self.compute = message, compute


def _is_number(v):
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _close(a, b):
    """Equal within RTOL/ATOL, recursively over tuples, lists and dicts; shapes must agree."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
            return False
        if a.shape != b.shape or a.dtype.kind not in "biuf" or b.dtype.kind not in "biuf":
            return False
        return bool(np.allclose(a, b, rtol=RTOL, atol=ATOL))
    if _is_number(a) and _is_number(b):
        return bool(np.isclose(float(a), float(b), rtol=RTOL, atol=ATOL))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    return a == b if not isinstance(a, Opaque) else False


def _fmt_shape(shape):
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def _first_difference(got, expected):
    """'largest difference D at index I: got G, expected E' for two same-shape arrays."""
    diff = np.abs(got.astype(np.float64) - expected.astype(np.float64))
    diff = np.where(np.isnan(diff), np.inf, diff)
    idx = np.unravel_index(int(np.argmax(diff)), diff.shape) if diff.size else ()
    return (f"largest difference {float(diff[idx]):.3g} at index {tuple(int(i) for i in idx)}: "
            f"got {float(got[idx]):.6g}, expected {float(expected[idx]):.6g}")


class Spec:
    """What one graded function must do, and the mistakes students make with it.

    Subclasses set ``name`` (the function students write), ``reference`` (rnnlib's, dotted),
    ``returns`` (names of the returned tuple's items, or None for a single value),
    ``outputs`` (the items compared), ``substitutes`` ({other graded function: its reference},
    replaced by rnnlib's while this one is graded; ``lent_for`` names the argument of each that
    must come from the test's own data) and ``helpers`` (rnnlib functions the
    student's function may call), and implement the case builders and ``mistakes``.
    """

    name = reference = ""
    returns = None
    outputs = ("value",)
    substitutes = {}
    #: {substitute: its argument that must hold this test's data}: a lent reference answers
    #: only for the case being graded, so that it cannot be laundered into another test
    lent_for = {}
    helpers = ()
    parts = ("shapes", "values", "random")
    error_hint = ""
    shape_hints = {}

    def reference_of(self, name):
        return self.substitutes[name]

    def allowed_references(self):
        return list(self.substitutes.values()) + list(self.helpers)

    def fixed_cases(self):
        raise NotImplementedError

    def random_cases(self):
        raise NotImplementedError

    def cases_for(self, part):
        """The fixed cases of a visible part ("shapes" and "values": ``fixed_cases``)."""
        return self.fixed_cases()

    def all_cases(self):
        """Every fixed case of every visible part (to check that each mistake shows)."""
        cases = []
        for part in self.parts:
            if part != "random" and not hasattr(self, f"run_{part}"):
                cases += [c for c in self.cases_for(part) if c not in cases]
        return cases

    def mistakes(self):
        return []

    def expected_shapes(self, case):
        """{output: (shape, symbols)} for the array outputs."""
        return {}

    def hints(self, case, got):
        """Sentences about properties of a wrong output (e.g. a softmax that does not sum
        to 1), used when no known mistake matches."""
        return []

    def extra_shape_problem(self, case, got):
        """A sentence about outputs whose shapes ``expected_shapes`` cannot describe."""
        return None

    def extra(self, case, got, args_after):
        """Anything else to check after the values (in-place updates, untouched inputs);
        returns a message or None."""
        return None

    def expected(self, case):
        ref = _reference(self.reference)
        with _quiet():
            result = ref(*case.fresh_args(), **case.ref_kwargs)
        return self.unpack_reference(_roundtrip(result), case)

    def unpack_reference(self, result, case):
        return self.unpack(result, case)

    def unpack(self, result, case):
        """The student's result as {output: value}; GradingFailure if its structure is wrong."""
        if self.returns is None:
            return {self.outputs[0]: result}
        names = self.returns
        if not isinstance(result, (tuple, list)) or len(result) != len(names):
            got = (f"{len(result)} values" if isinstance(result, (tuple, list))
                   else f"a {type(result).__name__}" if not isinstance(result, Opaque)
                   else repr(result))
            raise GradingFailure(
                f"{self.name} must return the {len(names)} values ({', '.join(names)}), "
                f"got {got}.")
        return dict(zip(names, result, strict=True))


def _dict_unpack(spec, result, keys):
    """A dict of gradients with exactly ``keys`` (extra keys allowed)."""
    if not isinstance(result, dict):
        got = repr(result) if isinstance(result, Opaque) else f"a {type(result).__name__}"
        raise GradingFailure(f"{spec.name} must return a dict with keys {', '.join(keys)}, "
                             f"got {got}.")
    missing = [k for k in keys if k not in result]
    renamed = [c for c, (ours, *_) in _COURSE_NAMES.items() if ours in missing and c in result]
    if renamed:
        names = [_COURSE_NAMES[c][0] for c in renamed]
        raise GradingFailure(
            f"{spec.name}: {_COURSE_NAMES[renamed[0]][1]}: name the returned gradients "
            f"{' and '.join(map(repr, names))} (the course's "
            f"{' and '.join(map(repr, renamed))}).")
    if missing:
        raise GradingFailure(f"{spec.name}: the returned dict has no key "
                             f"{', '.join(map(repr, missing))} (it has "
                             f"{', '.join(map(repr, result)) or 'none'}).")
    return {k: result[k] for k in keys}


def _shape_problem(spec, case, got):
    """A sentence about the first output whose type or shape is wrong, else None."""
    for out, (shape, symbols) in spec.expected_shapes(case).items():
        value = got.get(out)
        if not isinstance(value, np.ndarray):
            kind = repr(value) if isinstance(value, Opaque) else f"a {type(value).__name__}"
            return f"{out} must be a numpy array of shape {symbols}, got {kind}."
        if value.dtype.kind not in "biuf":
            return f"{out} has dtype {value.dtype}: it must hold numbers (float64)."
        if value.shape != tuple(shape):
            msg = (f"{out} has shape {_fmt_shape(value.shape)}, expected {symbols} = "
                   f"{_fmt_shape(shape)}")
            hint = spec.shape_hints.get(out, "")
            if len(value.shape) == len(shape) and tuple(reversed(value.shape)) == tuple(shape):
                msg += ": " + (hint or "is it transposed? Features come first, examples second")
            elif len(value.shape) == len(shape) - 1:
                msg += ": a dimension is missing (sum with keepdims=True?)"
            elif hint:
                msg += ": " + hint
            return msg + "."
    return spec.extra_shape_problem(case, got)


def _mistake_outputs(spec, case):
    """[(mistake, outputs)] for the mistakes that can be computed on ``case`` and differ from
    the reference there."""
    expected = spec.expected(case)
    found = []
    for mistake in spec.mistakes():
        try:
            with _quiet():
                alt = mistake.compute(case)
        except Exception:  # noqa: BLE001 - a mistake that cannot run on this case's shapes
            continue
        if all(_close(alt.get(k), expected[k]) for k in spec.outputs):
            continue
        found.append((mistake, alt))
    return found


def _match_mistake(spec, case, got):
    """The sentence of the known mistake ``got`` matches, or None; a partial match (some wrong
    outputs explained) gives the sentences of the outputs it explains."""
    expected = spec.expected(case)
    candidates = _mistake_outputs(spec, case)
    for mistake, alt in candidates:
        if all(_close(got.get(k), alt.get(k)) for k in spec.outputs):
            return mistake.message
    parts = []
    for k in spec.outputs:
        if _close(got.get(k), expected[k]):
            continue
        for mistake, alt in candidates:
            if not _close(alt.get(k), expected[k]) and _close(got.get(k), alt.get(k)):
                if mistake.message not in parts:
                    parts.append(mistake.message)
                break
    return " ".join(parts) if parts else None


# Names of the course's assignments that the notes (and so these exercises) spell otherwise:
# {course's name: (the notes' name, why)}.
_COURSE_NAMES = {
    "Wi": ("Wu", "The notes call the LSTM's update gate Γu", "parameters"),
    "bi": ("bu", "The notes call the LSTM's update gate Γu", "parameters"),
    "dWi": ("dWu", "The notes call the LSTM's update gate Γu", "gradients"),
    "dbi": ("dbu", "The notes call the LSTM's update gate Γu", "gradients"),
    "db": ("dba", "The notes write the hidden state's bias ba, so its gradient is dba",
           "gradients"),
}


def _error_message(spec, exc):
    if exc.etype == "NotImplementedError":
        return (f"{spec.name} is not implemented yet: replace `raise NotImplementedError()` "
                f"with your code.")
    msg = f"{spec.name} raised {exc.etype}: {exc.message}"
    if exc.where:
        msg += f" ({exc.where.rstrip(': ')})"
    text = exc.message.lower()
    if exc.etype == "ValueError" and any(
            s in text for s in ("matmul", "not aligned", "broadcast", "shapes")):
        msg += ". The shapes do not fit together" + (f": {spec.error_hint}" if spec.error_hint
                                                     else "")
    elif exc.etype == "KeyError":
        key = exc.message.strip().strip("'\"")
        if key in _COURSE_NAMES:
            ours, why, where = _COURSE_NAMES[key]
            msg += f". {why}: use {where}[{ours!r}] (the course's {key})"
        else:
            msg += ". Use the parameter names of the notes (e.g. parameters['Wax'])"
    elif exc.etype == "NameError":
        msg += (". A name your function uses is not defined where it runs: define it in your "
                "solution cell (or import it there), not only in a scratch cell")
    elif exc.etype == "RecursionError":
        msg += ". Does the function call itself?"
    return msg + ("" if msg.endswith(".") else ".")


def _evaluate(spec, case, student, shapes_only=False):
    """None if the student's function is right on ``case``, else (message, identified)."""
    try:
        result, args_after = student.call(case.args, case.kwargs)
    except _StudentRaised as exc:
        return _error_message(spec, exc), exc.etype == "NotImplementedError"
    try:
        got = spec.unpack(result, case)
    except GradingFailure as failure:
        return str(failure), False
    if getattr(spec, "wants_args_after", False):
        got["parameters"] = args_after[3]
    problem = _shape_problem(spec, case, got)
    if problem:
        named = _match_mistake(spec, case, got)
        return (f"{spec.name}: {problem} {named}", True) if named else \
            (f"{spec.name}: {problem}", False)
    if shapes_only:
        return None
    expected = spec.expected(case)
    bad = [k for k in spec.outputs if not _close(got.get(k), expected[k])]
    if bad:
        named = _match_mistake(spec, case, got)
        if named:
            return f"{spec.name}: {named}", True
        k = bad[0]
        g, e = got.get(k), expected[k]
        msg = f"{spec.name}: {k} differs from the expected value"
        if isinstance(g, np.ndarray) and isinstance(e, np.ndarray) and g.shape == e.shape:
            msg += f" ({_first_difference(g, e)})"
        elif not isinstance(e, np.ndarray):
            msg += f" (got {g!r}, expected {e!r})"
        hints = spec.hints(case, got)
        if len(bad) > 1:
            msg += f"; {', '.join(bad[1:])} also differ{'s' if len(bad) == 2 else ''}"
        return msg + "." + "".join(" " + h for h in hints), False
    problem = spec.extra(case, got, args_after)
    if problem:
        return f"{spec.name}: {problem}", True
    return None


def _run_part(spec, part, student):
    """Run one part of ``spec``'s check on ``student``; returns a sentence, or raises
    GradingFailure whose message names the mistake."""
    __tracebackhide__ = True
    if part not in spec.parts:
        raise GradingFailure(f"{spec.name}: unknown test part {part!r} "
                             f"(one of {', '.join(spec.parts)})")
    custom = getattr(spec, f"run_{part}", None)
    if custom is not None:  # a part that is not "call once per case and compare"
        return custom(student)
    if part == "random":
        cases = spec.random_cases()
        for case in cases:
            outcome = _evaluate(spec, case, student)
            if outcome:
                raise GradingFailure(f"On {case.label}: {outcome[0]}")
        return f"{spec.name}: matches rnnlib on {len(cases)} random cases."
    fixed = spec.cases_for(part)
    first = _evaluate(spec, fixed[0], student, shapes_only=(part == "shapes"))
    if first is None and part == "shapes":
        return f"{spec.name}: structure and shapes are right."
    outcomes = [first] + [_evaluate(spec, case, student) for case in fixed[1:]]
    failures = [(o, case) for o, case in zip(outcomes, fixed, strict=True) if o]
    if not failures:
        return f"{spec.name}: values are right on the fixed cases."
    identified = [(o, case) for o, case in failures if o[1]]
    (message, _), case = (identified or failures)[0]
    if case is not fixed[0]:
        message = f"On {case.label}: {message}"
    raise GradingFailure(message)


# ---------------------------------------------------------------------------------------------
# Building blocks for cases and for the mistakes (the mistakes are deliberate variants of the
# reference computations; the reference itself is always rnnlib's).


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _softmax0(z):
    e = np.exp(z - z.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def _softmax1(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _identity(z):
    return z


def _relu(z):
    return np.maximum(z, 0.0)


def _rng(seed):
    return np.random.default_rng(seed)


def _normal(rng, *shape, scale=1.0):
    return rng.standard_normal(shape) * scale


def _random_dims(seed, names, low=1, high=6, edges=None):
    """Sizes for a random case; ``edges`` maps a seed index to sizes forced to 1."""
    rng = _rng(seed)
    dims = {n: int(rng.integers(low, high + 1)) for n in names}
    for n in (edges or ()):
        dims[n] = 1
    return dims


# Seeds of the hidden random cases; the k-th case forces these sizes to 1 (edge cases).
_RANDOM_SEEDS = (
    (101, ()), (102, ("m",)), (103, ("T_x",)), (104, ("n_x",)), (105, ("m", "T_x")),
    (106, ("n_a",)),
)


def _random_cases(spec, names, make):
    cases = []
    for seed, edges in _RANDOM_SEEDS:
        dims = _random_dims(seed, names, edges=[e for e in edges if e in names])
        label = "a random case (" + ", ".join(f"{k}={v}" for k, v in dims.items()) + \
            f", seed {seed})"
        cases.append(make(label, seed, **dims))
    return cases


def _rnn_parameters(rng, n_x, n_a, n_y, scale=0.7):
    return {"Wax": _normal(rng, n_a, n_x, scale=scale), "Waa": _normal(rng, n_a, n_a, scale=scale),
            "ba": _normal(rng, n_a, 1, scale=scale), "Wya": _normal(rng, n_y, n_a, scale=scale),
            "by": _normal(rng, n_y, 1, scale=scale)}


# --- rnn -------------------------------------------------------------------------------------


def _rnn_step(xt, a_prev, p, g=np.tanh, bias=True, Wax=None, Waa=None, out=_softmax0,
              y_from_prev=False, y_bias=True):
    Wax = p["Wax"] if Wax is None else Wax
    Waa = p["Waa"] if Waa is None else Waa
    a_next = g(Waa @ a_prev + Wax @ xt + (p["ba"] if bias else 0.0))
    y_state = a_prev if y_from_prev else a_next
    yt = out(p["Wya"] @ y_state + (p["by"] if y_bias else 0.0))
    return {"a_next": a_next, "yt_pred": yt}


class _OneHot(Spec):
    name, reference = "one_hot", "rnnlib.text.one_hot"
    outputs = ("x",)
    shape_hints = {"x": "one row per symbol (n rows) and one column per time step (T columns)"}
    error_hint = "x has n rows (one per symbol) and T columns (one per time step)"

    def _case(self, label, indices, n):
        return Case(label, (list(indices), n), {"n": n, "T": len(indices)})

    def fixed_cases(self):
        return [self._case("the fixed case indices=[3, 0, 2, 5, 2], n=6", [3, 0, 2, 5, 2], 6),
                self._case("the fixed case indices=[None, 1, 4, 4], n=5 (None is x<1> = 0)",
                           [None, 1, 4, 4], 5)]

    def random_cases(self):
        cases = []
        for seed in (201, 202, 203, 204):
            rng = _rng(seed)
            n, T = int(rng.integers(1, 9)), int(rng.integers(1, 9))
            idx = [int(i) for i in rng.integers(0, n, T)]
            if seed % 2:
                idx[0] = None
            cases.append(self._case(f"a random case (indices={idx}, n={n})", idx, n))
        return cases

    def expected_shapes(self, case):
        return {"x": ((case.dims["n"], case.dims["T"]), "(n, T)")}

    def unpack(self, result, case):
        return {"x": result}

    def mistakes(self):
        def shifted(k):
            def compute(case):
                idx, n = case.fresh_args()
                x = np.zeros((n, len(idx)))
                for t, i in enumerate(idx):
                    if i is not None:
                        x[(i + k) % n, t] = 1.0
                return {"x": x}
            return compute

        def transposed(case):
            return {"x": _reference(self.reference)(*case.fresh_args()).T}

        def none_as_zero_index(case):
            idx, n = case.fresh_args()
            return {"x": _reference(self.reference)([0 if i is None else i for i in idx], n)}

        return [
            Mistake("each 1 sits one row off: index i sets row i (x[i, t] = 1), not i - 1 "
                    "or i + 1.", shifted(-1)),
            Mistake("each 1 sits one row off: index i sets row i (x[i, t] = 1), not i - 1 "
                    "or i + 1.", shifted(1)),
            Mistake("x is transposed: one_hot returns (n, T), a column per time step.",
                    transposed),
            Mistake("None must give a zero column (x<1> = 0), not the one-hot vector of "
                    "index 0.", none_as_zero_index),
        ]

    def hints(self, case, got):
        x = got["x"]
        sums = x.sum(axis=0)
        if not np.all(np.isin(x, (0.0, 1.0))):
            return ["A one-hot vector holds only zeros and a single 1."]
        if np.any(sums > 1):
            return ["Some column has more than one 1: each time step is one symbol."]
        return []


class _RnnCellForward(Spec):
    name, reference = "rnn_cell_forward", "rnnlib.rnn.rnn_cell_forward"
    returns = ("a_next", "yt_pred", "cache")
    outputs = ("a_next", "yt_pred")
    error_hint = ("Wax (n_a, n_x) multiplies xt (n_x, m), Waa (n_a, n_a) multiplies a_prev "
                  "(n_a, m), and ba (n_a, 1) is added to every column")
    shape_hints = {"a_next": "did you transpose Wax or xt? a<t> has one column per example",
                   "yt_pred": "did you transpose Wya? ŷ<t> has one column per example"}

    def _case(self, label, seed, n_x, n_a, n_y, m, **_):
        rng = _rng(seed)
        p = _rnn_parameters(rng, n_x, n_a, n_y)
        return Case(label, (_normal(rng, n_x, m), _normal(rng, n_a, m), p),
                    {"n_x": n_x, "n_a": n_a, "n_y": n_y, "m": m})

    def fixed_cases(self):
        return [self._case("the fixed case (n_x=3, n_a=5, n_y=2, m=4)", 1, 3, 5, 2, 4),
                self._case("the fixed case with n_x = n_a (n_x=4, n_a=4, n_y=3, m=2)",
                           2, 4, 4, 3, 2)]

    def random_cases(self):
        return _random_cases(self, ("n_x", "n_a", "n_y", "m"), self._case)

    def expected_shapes(self, case):
        d = case.dims
        return {"a_next": ((d["n_a"], d["m"]), "(n_a, m)"),
                "yt_pred": ((d["n_y"], d["m"]), "(n_y, m)")}

    def mistakes(self):
        def step(**kw):
            return lambda case: _rnn_step(*case.fresh_args(), **kw)

        def with_weights(swap=False, t_ax=False, t_aa=False):
            def compute(case):
                xt, a_prev, p = case.fresh_args()
                Wax, Waa = (p["Waa"], p["Wax"]) if swap else (p["Wax"], p["Waa"])
                return _rnn_step(xt, a_prev, p, Wax=Wax.T if t_ax else Wax,
                                 Waa=Waa.T if t_aa else Waa)
            return compute

        return [
            Mistake("a_next uses σ (sigmoid): the hidden state of this RNN uses tanh, "
                    "a<t> = tanh(Waa a<t-1> + Wax x<t> + ba).", step(g=_sigmoid)),
            Mistake("a_next uses ReLU: this cell uses tanh, a<t> = tanh(Waa a<t-1> + Wax x<t> "
                    "+ ba).", step(g=_relu)),
            Mistake("a_next is missing the bias ba: a<t> = tanh(Waa a<t-1> + Wax x<t> + ba).",
                    step(bias=False)),
            Mistake("Wax and Waa are swapped: Waa multiplies a<t-1> (a_prev) and Wax "
                    "multiplies x<t> (xt).", with_weights(swap=True)),
            Mistake("Wax is used transposed: Wax has shape (n_a, n_x) and multiplies xt as it "
                    "is, Wax @ xt.", with_weights(t_ax=True)),
            Mistake("Waa is used transposed: Waa multiplies a_prev as it is, Waa @ a_prev.",
                    with_weights(t_aa=True)),
            Mistake("yt_pred is not a probability distribution over the n_y classes (its "
                    "columns do not sum to 1): apply softmax to Wya a<t> + by.",
                    step(out=_identity)),
            Mistake("yt_pred is normalised over the m examples: softmax goes over axis 0, so "
                    "that each column (one example) sums to 1 over the n_y classes.",
                    step(out=_softmax1)),
            Mistake("yt_pred uses σ (sigmoid): the output layer uses softmax over axis 0.",
                    step(out=_sigmoid)),
            Mistake("yt_pred is computed from a<t-1> (a_prev): use the new state, "
                    "ŷ<t> = softmax(Wya a<t> + by).", step(y_from_prev=True)),
            Mistake("yt_pred is missing the bias by: ŷ<t> = softmax(Wya a<t> + by).",
                    step(y_bias=False)),
        ]

    def hints(self, case, got):
        hints = []
        y = got["yt_pred"]
        if not np.allclose(y.sum(axis=0), 1.0):
            hints.append("yt_pred is not a probability distribution over n_y: its columns "
                         "must sum to 1 (softmax over axis 0).")
        if np.any(np.abs(got["a_next"]) > 1):
            hints.append("a_next has entries outside [-1, 1], which tanh never produces.")
        return hints

    def extra(self, case, got, args_after):
        cache = got["cache"]
        xt, a_prev, _ = case.args
        if not (isinstance(cache, (tuple, list)) and len(cache) == 4
                and _close(cache[1], a_prev) and _close(cache[2], xt)):
            return ("cache must be (a_next, a_prev, xt, parameters), the tuple "
                    "rnn_cell_backward unpacks.")
        return None


def _sequence_variant(step, x, a0, p, n_state, carry=True, store_prev=False, x_shift=0,
                      start=0, reverse=False, zero_init=False, x_reverse=False):
    """A forward pass over time with a deliberate mistake in the loop; ``step(xt, a, p)``
    returns (state, yt). ``n_state`` is the state size."""
    n_x, m, T_x = x.shape
    a = np.zeros((n_state, m, T_x))
    y = None
    state = np.zeros_like(a0) if zero_init else a0
    order = range(T_x - 1, -1, -1) if reverse else range(start, T_x)
    for t in order:
        xt = x[:, :, T_x - 1 - t] if x_reverse else x[:, :, (t + x_shift) % T_x]
        new, yt = step(xt, state if carry else a0, p)
        if y is None:
            y = np.zeros((yt.shape[0], m, T_x))
        a[:, :, t] = state if store_prev else new
        y[:, :, t] = yt
        state = new
    return a, y


_SEQUENCE_MISTAKES = (
    ({"carry": False}, "the state is not carried from step to step: every step starts from "
                       "{init}. Pass each step's new state into the next step."),
    ({"store_prev": True}, "{out}[:, :, t] holds the state before step t (a<t-1> instead of "
                           "a<t>): store the state the step returns (off by one in time)."),
    ({"x_shift": -1}, "step t reads x<t-1>: the input of step t is x[:, :, t] (off by one in "
                      "time)."),
    ({"x_shift": 1}, "step t reads x<t+1>: the input of step t is x[:, :, t] (off by one in "
                     "time)."),
    ({"start": 1}, "the first time step is missing: loop over all T_x steps, "
                   "for t in range(T_x)."),
    ({"reverse": True}, "the loop runs backwards in time: the forward pass goes t = 0, 1, ..., "
                        "T_x - 1."),
    ({"x_reverse": True}, "the inputs are read backwards in time: step t reads x[:, :, t]."),
    ({"zero_init": True}, "the first step starts from zeros instead of {init}."),
)


def _sequence_mistakes(run, out="a", init="a0"):
    """Mistake objects of the loop over time; ``run(case, **flags) -> outputs``."""
    return [Mistake(text.format(out=out, init=init),
                    lambda case, flags=flags: run(case, **flags))
            for flags, text in _SEQUENCE_MISTAKES]


class _CachedForward:
    """The "cache" part of a forward function over a sequence: the caches it returns hold, at
    every step, the values the backward pass needs (those of rnnlib's caches).

    Subclasses (mixed into a Spec) set ``cell`` (the cell function), ``backward`` (the
    function that unpacks the caches), ``cell_fields`` (the names of a cell cache's entries, as
    the backward functions unpack them) and ``state_fields`` ({entry: (state, offset)}: a_prev
    is the state a at offset -1, a<t-1>), and implement ``states(case, expected)``: the states
    of the sequence, {name: [state<0>, state<1>, ..., state<T_x>]}.

    The check first calls the function without lending it the reference cell: with the
    student's own cell, a cache that holds a view of an array the loop overwrites later shows,
    whichever cell computed it (a lent cell answers with fresh arrays at grading). When that
    run cannot be judged (the cell raises, or its results differ from the reference, which the
    cell's own tests grade), the function is called again with the reference cell lent.
    """

    cell = backward = ""
    cell_fields = ()
    state_fields = {}

    def _cache_structure(self):
        return (f"caches must be (list of the T_x caches of {self.cell}, x), the pair "
                f"{self.backward} unpacks, each cell cache ({', '.join(self.cell_fields)})")

    def _run_for_cache(self, case, student, lend):
        saved = self.__dict__.get("substitutes")
        if not lend:
            self.substitutes = {}  # the student's own cell, while this call runs
        try:
            result, _ = student.call(case.args, case.kwargs)
            return self.unpack(result, case)
        except _StudentRaised as exc:
            if lend:
                raise GradingFailure(_error_message(self, exc)) from None
            return None
        except GradingFailure:
            # without the lent cell, a violation may be the student's cell's (its own tests
            # score it): the run with the lent cell judges the sequence function itself
            if lend:
                raise
            return None
        finally:
            if not lend:
                if saved is None:
                    del self.substitutes
                else:
                    self.substitutes = saved

    def _cache_problem(self, case, got):
        """("ok" | "outputs" | "problem", sentence, aliasing?) for one call's result."""
        caches, x = got.get("caches"), case.args[0]
        T_x = x.shape[2]
        width = len(self.cell_fields)
        if not (isinstance(caches, (tuple, list)) and len(caches) == 2
                and isinstance(caches[0], (tuple, list)) and len(caches[0]) == T_x
                and all(isinstance(c, (tuple, list)) and len(c) == width for c in caches[0])):
            shape = (f"a {type(caches).__name__}" if not isinstance(caches, (tuple, list))
                     else f"{len(caches)} items" if len(caches) != 2
                     else f"a first item of {type(caches[0]).__name__}"
                     if not isinstance(caches[0], (tuple, list))
                     else f"{len(caches[0])} cell caches for T_x = {T_x}"
                     if len(caches[0]) != T_x else "cell caches of another length")
            return "problem", f"{self._cache_structure()}; got {shape}.", False
        if not _close(caches[1], x):
            return "problem", (f"the second item of caches must be x, the input sequence "
                               f"({self.backward} reads its shape and its slices)."), False
        expected = self.expected(case)
        if not all(_close(got.get(k), expected[k]) for k in self.outputs):
            # The states differ from the reference (the cell's or the loop's mistake, which
            # other tests grade): only a cache holding another of the function's own states
            # where one belongs can be told apart here.
            try:
                own = self.states(case, got)
            except Exception:  # noqa: BLE001 - states of unexpected shapes
                return "outputs", None, False
            for t, mine in enumerate(caches[0]):
                for k, field in enumerate(self.cell_fields):
                    msg = self._aliasing(t, field, mine[k], own)
                    if msg:
                        return "problem", msg, True
            return "outputs", None, False
        states = self.states(case, expected)
        for t, (mine, ref) in enumerate(zip(caches[0], expected["caches"][0], strict=True)):
            for k, field in enumerate(self.cell_fields):
                if _close(mine[k], ref[k]):
                    continue
                msg = self._aliasing(t, field, mine[k], states)
                if msg:
                    return "problem", msg, True
                detail = ""
                if (isinstance(mine[k], np.ndarray) and isinstance(ref[k], np.ndarray)
                        and mine[k].shape == ref[k].shape):
                    detail = f" ({_first_difference(mine[k], ref[k])})"
                return "problem", (f"the cache of step {t + 1} does not hold what "
                                   f"{self.cell} stores: {field} differs{detail}. "
                                   f"{self._cache_structure()}."), False
        return "ok", None, False

    def _aliasing(self, t, field, mine, states):
        """The sentence for step ``t``'s cache entry ``field`` holding another state of the
        sequence than the one that belongs there (None when it does not)."""
        where = self.state_fields.get(field)
        if where is None or not isinstance(mine, np.ndarray):
            return None
        name, offset = where
        belongs = t + 1 + offset
        seq = states[name]
        if not 0 <= belongs < len(seq) or _close(mine, seq[belongs]):
            return None
        for s, value in enumerate(seq):
            if s != belongs and _close(mine, value):
                msg = (f"the cache of step {t + 1} holds {name}<{s}> where {name}<{belongs}> "
                       f"belongs ({field})")
                if s > belongs:
                    msg += (f": it is a view of an array you overwrite later (a slice of "
                            f"{name}, or an array changed in place); store a copy, or pass on "
                            f"the array the cell returned")
                return msg + f". {self.backward} would compute wrong gradients from it."
        return None

    def run_cache(self, student):
        for n, case in enumerate(self.fixed_cases()):
            own = self._run_for_cache(case, student, lend=False)
            verdict = self._cache_problem(case, own) if own is not None else ("outputs", None,
                                                                               False)
            if verdict[0] == "ok" or verdict[2]:
                status, message = verdict[:2]
            else:
                status, message, _ = self._cache_problem(
                    case, self._run_for_cache(case, student, lend=True))
            if status == "problem":
                raise GradingFailure(f"{self.name}: {message}" if n == 0 else
                                     f"On {case.label}: {self.name}: {message}")
        return f"{self.name}: every step's cache holds the values {self.backward} needs."


def _sequence_states(name, first, states):
    """{name: [state<0>, ..., state<T_x>]} from state<0> and the (n, m, T_x) states."""
    return {name: [first] + [states[:, :, t] for t in range(states.shape[2])]}


class _RnnForward(_CachedForward, Spec):
    name, reference = "rnn_forward", "rnnlib.rnn.rnn_forward"
    returns = ("a", "y_pred", "caches")
    outputs = ("a", "y_pred")
    parts = ("shapes", "values", "cache", "random")
    cell, backward = "rnn_cell_forward", "rnn_backward"
    cell_fields = ("a_next", "a_prev", "xt", "parameters")
    state_fields = {"a_next": ("a", 0), "a_prev": ("a", -1)}
    substitutes = {"rnn_cell_forward": "rnnlib.rnn.rnn_cell_forward"}
    lent_for = {"rnn_cell_forward": "parameters"}
    error_hint = ("x[:, :, t] is x<t> (n_x, m); a and y_pred are (n_a, m, T_x) and "
                  "(n_y, m, T_x), filled one time step at a time")

    def _case(self, label, seed, n_x, n_a, n_y, m, T_x):
        rng = _rng(seed)
        p = _rnn_parameters(rng, n_x, n_a, n_y)
        return Case(label, (_normal(rng, n_x, m, T_x), _normal(rng, n_a, m), p),
                    {"n_x": n_x, "n_a": n_a, "n_y": n_y, "m": m, "T_x": T_x})

    def fixed_cases(self):
        return [self._case("the fixed case (n_x=3, n_a=5, n_y=2, m=4, T_x=6)", 11, 3, 5, 2, 4, 6),
                self._case("the fixed case (n_x=2, n_a=3, n_y=4, m=1, T_x=3)", 12, 2, 3, 4, 1, 3)]

    def random_cases(self):
        return _random_cases(self, ("n_x", "n_a", "n_y", "m", "T_x"), self._case)

    def expected_shapes(self, case):
        d = case.dims
        return {"a": ((d["n_a"], d["m"], d["T_x"]), "(n_a, m, T_x)"),
                "y_pred": ((d["n_y"], d["m"], d["T_x"]), "(n_y, m, T_x)")}

    def mistakes(self):
        cell = _reference("rnnlib.rnn.rnn_cell_forward")

        def step(xt, a, p):
            a_next, yt, _ = cell(xt, a, p)
            return a_next, yt

        def run(case, **flags):
            x, a0, p = case.fresh_args()
            a, y = _sequence_variant(step, x, a0, p, a0.shape[0], **flags)
            return {"a": a, "y_pred": y}

        return _sequence_mistakes(run)

    def states(self, case, expected):
        return _sequence_states("a", case.args[1], expected["a"])


# --- bptt ------------------------------------------------------------------------------------


def _rnn_cell_cache(rng, n_x, n_a, m):
    p = _rnn_parameters(rng, n_x, n_a, 2)
    xt, a_prev = _normal(rng, n_x, m), _normal(rng, n_a, m)
    a_next = np.tanh(p["Waa"] @ a_prev + p["Wax"] @ xt + p["ba"])
    return (a_next, a_prev, xt, p)


def _rnn_cell_backward_variant(da_next, cache, deriv="tanh", dWaa_from="prev", dba="sum",
                               swap_dx=False, t_dWax=False):
    a_next, a_prev, xt, p = cache
    dz = da_next * {"tanh": 1 - a_next ** 2, "none": 1.0, "sigmoid": a_next * (1 - a_next),
                    "tanh_again": 1 - np.tanh(a_next) ** 2}[deriv]
    grads = {"dxt": (p["Waa"] if swap_dx else p["Wax"]).T @ dz,
             "da_prev": (p["Wax"] if swap_dx else p["Waa"]).T @ dz,
             "dWax": xt @ dz.T if t_dWax else dz @ xt.T,
             "dWaa": dz @ (a_next if dWaa_from == "next" else a_prev).T}
    grads["dba"] = {"sum": dz.sum(axis=1, keepdims=True), "none": dz,
                    "axis0": dz.sum(axis=0, keepdims=True), "nokeep": dz.sum(axis=1)}[dba]
    return grads


_RNN_GRAD_KEYS = ("dxt", "da_prev", "dWax", "dWaa", "dba")


class _RnnCellBackward(Spec):
    name, reference = "rnn_cell_backward", "rnnlib.rnn.rnn_cell_backward"
    outputs = _RNN_GRAD_KEYS
    error_hint = ("with dz = da_next * (1 - a_next**2) of shape (n_a, m): dxt = Wax.T @ dz, "
                  "da_prev = Waa.T @ dz, dWax = dz @ xt.T, dWaa = dz @ a_prev.T, "
                  "dba = dz summed over the m examples")
    shape_hints = {"dWax": "dWax has the shape of Wax: dz @ xt.T",
                   "dWaa": "dWaa has the shape of Waa: dz @ a_prev.T",
                   "dba": "dba has the shape of ba: sum dz over the examples, "
                          "dz.sum(axis=1, keepdims=True)"}

    def _case(self, label, seed, n_x, n_a, m, **_):
        rng = _rng(seed)
        cache = _rnn_cell_cache(rng, n_x, n_a, m)
        return Case(label, (_normal(rng, n_a, m), cache), {"n_x": n_x, "n_a": n_a, "m": m})

    def fixed_cases(self):
        return [self._case("the fixed case (n_x=3, n_a=5, m=4)", 21, 3, 5, 4),
                self._case("the fixed case with n_x = n_a (n_x=4, n_a=4, m=3)", 22, 4, 4, 3)]

    def random_cases(self):
        return _random_cases(self, ("n_x", "n_a", "m"), self._case)

    def expected_shapes(self, case):
        d = case.dims
        n_x, n_a, m = d["n_x"], d["n_a"], d["m"]
        return {"dxt": ((n_x, m), "(n_x, m)"), "da_prev": ((n_a, m), "(n_a, m)"),
                "dWax": ((n_a, n_x), "(n_a, n_x)"), "dWaa": ((n_a, n_a), "(n_a, n_a)"),
                "dba": ((n_a, 1), "(n_a, 1)")}

    def unpack(self, result, case):
        return _dict_unpack(self, result, _RNN_GRAD_KEYS)

    def mistakes(self):
        def v(**kw):
            return lambda case: _rnn_cell_backward_variant(*case.fresh_args(), **kw)

        return [
            Mistake("dWaa uses a<t> (a_next) where it needs a<t-1>: Waa multiplied a_prev in "
                    "the forward pass, so dWaa = dz @ a_prev.T.", v(dWaa_from="next")),
            Mistake("the tanh derivative is missing: first dz = da_next * (1 - a_next**2), "
                    "then every gradient from dz.", v(deriv="none")),
            Mistake("the derivative is the sigmoid's, a(1 - a): tanh's is 1 - a_next**2.",
                    v(deriv="sigmoid")),
            Mistake("the derivative applies tanh again: a_next already is tanh(z), so "
                    "tanh'(z) = 1 - a_next**2.", v(deriv="tanh_again")),
            Mistake("dba is not summed over the m examples: dba = dz.sum(axis=1, "
                    "keepdims=True), shape (n_a, 1).", v(dba="none")),
            Mistake("dba is summed over the wrong axis: the examples are axis 1, "
                    "dz.sum(axis=1, keepdims=True).", v(dba="axis0")),
            Mistake("dba lost its second dimension: dz.sum(axis=1, keepdims=True) keeps the "
                    "shape (n_a, 1).", v(dba="nokeep")),
            Mistake("dxt and da_prev are swapped: dxt = Wax.T @ dz and da_prev = Waa.T @ dz.",
                    v(swap_dx=True)),
            Mistake("dWax is transposed: it has the shape of Wax, dWax = dz @ xt.T.",
                    v(t_dWax=True)),
        ]


def _rnn_backward_variant(da, caches, carry=True, accumulate=True, forward_order=False,
                          da_shift=0, da0_from="last", ignore_da=False):
    cell_back = _reference("rnnlib.rnn.rnn_cell_backward")
    cell_caches, x = caches
    n_x, m, T_x = x.shape
    n_a = da.shape[0]
    dx = np.zeros((n_x, m, T_x))
    grads = {k: 0.0 for k in ("dWax", "dWaa", "dba")}
    da_prevt = np.zeros((n_a, m))
    first_da_prev = None
    order = range(T_x) if forward_order else range(T_x - 1, -1, -1)
    for t in order:
        incoming = np.zeros((n_a, m)) if ignore_da else da[:, :, (t + da_shift) % T_x]
        step = cell_back(incoming + (da_prevt if carry else 0.0), cell_caches[t])
        dx[:, :, t] = step["dxt"]
        da_prevt = step["da_prev"]
        if first_da_prev is None:
            first_da_prev = da_prevt
        for k in grads:
            grads[k] = grads[k] + step[k] if accumulate else step[k]
    return {"dx": dx, "da0": da_prevt if da0_from == "last" else first_da_prev, **grads}


_RNN_SEQ_GRAD_KEYS = ("dx", "da0", "dWax", "dWaa", "dba")


class _RnnBackward(Spec):
    name, reference = "rnn_backward", "rnnlib.rnn.rnn_backward"
    outputs = _RNN_SEQ_GRAD_KEYS
    substitutes = {"rnn_cell_backward": "rnnlib.rnn.rnn_cell_backward"}
    lent_for = {"rnn_cell_backward": "cache"}
    error_hint = ("caches is (list of T_x cell caches, x); step t gets da[:, :, t] + the "
                  "gradient flowing back from step t+1")

    def _case(self, label, seed, n_x, n_a, m, T_x, **_):
        rng = _rng(seed)
        p = _rnn_parameters(rng, n_x, n_a, 2)
        x, a0 = _normal(rng, n_x, m, T_x), _normal(rng, n_a, m)
        with _quiet():
            _, _, caches = _reference("rnnlib.rnn.rnn_forward")(x, a0, p)
        return Case(label, (_normal(rng, n_a, m, T_x), _roundtrip(caches)),
                    {"n_x": n_x, "n_a": n_a, "m": m, "T_x": T_x})

    def fixed_cases(self):
        return [self._case("the fixed case (n_x=3, n_a=5, m=4, T_x=5)", 31, 3, 5, 4, 5),
                self._case("the fixed case (n_x=2, n_a=3, m=2, T_x=3)", 32, 2, 3, 2, 3)]

    def random_cases(self):
        return _random_cases(self, ("n_x", "n_a", "m", "T_x"), self._case)

    def expected_shapes(self, case):
        d = case.dims
        n_x, n_a, m, T_x = d["n_x"], d["n_a"], d["m"], d["T_x"]
        return {"dx": ((n_x, m, T_x), "(n_x, m, T_x)"), "da0": ((n_a, m), "(n_a, m)"),
                "dWax": ((n_a, n_x), "(n_a, n_x)"), "dWaa": ((n_a, n_a), "(n_a, n_a)"),
                "dba": ((n_a, 1), "(n_a, 1)")}

    def unpack(self, result, case):
        return _dict_unpack(self, result, _RNN_SEQ_GRAD_KEYS)

    def mistakes(self):
        def v(**kw):
            return lambda case: _rnn_backward_variant(*case.fresh_args(), **kw)

        return [
            Mistake("the gradient is not carried back through time: step t must get "
                    "da[:, :, t] + da_prevt, where da_prevt is the da_prev returned by step "
                    "t+1.", v(carry=False)),
            Mistake("dWax, dWaa and dba keep only one step: the weights are shared over time, "
                    "so add up every step's gradients.", v(accumulate=False)),
            Mistake("the loop runs forward in time: backpropagation goes from t = T_x - 1 down "
                    "to 0.", v(forward_order=True)),
            Mistake("step t reads da of another step (off by one in time): it gets "
                    "da[:, :, t].", v(da_shift=-1)),
            Mistake("step t reads da of another step (off by one in time): it gets "
                    "da[:, :, t].", v(da_shift=1)),
            Mistake("step t ignores da[:, :, t], the gradient arriving from its output.",
                    v(ignore_da=True)),
            Mistake("da0 is the gradient reaching a<0>: the da_prev of the last step "
                    "processed (t = 0).", v(da0_from="first")),
        ]


def _numerical_variant(f, x, h=1e-5, scheme="central", restore=True, together=False):
    grad = np.zeros_like(x)
    if together:
        old = x.copy()
        x += h
        fp = f()
        x[...] = old - h
        fm = f()
        x[...] = old
        return np.full_like(x, (fp - fm) / (2 * h))
    for i in np.ndindex(x.shape):
        old = x[i]
        f0 = f()
        x[i] = old + h
        fp = f()
        x[i] = old - h
        fm = f()
        if restore:
            x[i] = old
        grad[i] = {"central": (fp - fm) / (2 * h), "forward": (fp - f0) / h,
                   "backward": (f0 - fm) / h, "no_half": (fp - fm) / h,
                   "flipped": (fm - fp) / (2 * h)}[scheme]
    return grad


class _NumericalGradient(Spec):
    name, reference = "numerical_gradient", "rnnlib.gradcheck.numerical_gradient"
    outputs = ("grad",)
    error_hint = "grad has the shape of x; perturb one entry x[i] at a time"

    def _case(self, label, seed, shape, fname):
        x = _normal(_rng(seed), *shape)
        return Case(label, (FnRef(fname, over=1), x), {"shape": shape})

    def fixed_cases(self):
        return [self._case("the fixed case (x of shape (3, 4))", 41, (3, 4), "sin_poly"),
                self._case("the fixed case (x of shape (5,))", 42, (5,), "exp_mix")]

    def random_cases(self):
        return [self._case(f"a random case (x of shape {_fmt_shape(s)}, seed {seed})", seed, s, f)
                for seed, s, f in ((401, (2, 3, 2), "sin_poly"), (402, (1,), "exp_mix"),
                                   (403, (4, 1), "exp_mix"), (404, (6,), "sin_poly"))]

    def expected_shapes(self, case):
        return {"grad": (case.dims["shape"], "the shape of x")}

    def unpack(self, result, case):
        return {"grad": result}

    def mistakes(self):
        def v(**kw):
            def compute(case):
                f, x = case.fresh_args()
                return {"grad": _numerical_variant(f, x, **kw)}
            return compute

        return [
            Mistake("this is a one-sided difference (f(x + h) - f(x)) / h, accurate only to "
                    "O(h): use the centred difference (f(x + h) - f(x - h)) / (2h).",
                    v(scheme="forward")),
            Mistake("this is a one-sided difference (f(x) - f(x - h)) / h, accurate only to "
                    "O(h): use the centred difference (f(x + h) - f(x - h)) / (2h).",
                    v(scheme="backward")),
            Mistake("the gradient is twice too large: the centred difference divides by 2h, "
                    "the distance between x - h and x + h.", v(scheme="no_half")),
            Mistake("the gradient has the wrong sign: (f(x + h) - f(x - h)) / (2h).",
                    v(scheme="flipped")),
            Mistake("every entry was perturbed at once: change one entry x[i] at a time and "
                    "put it back before the next one.", v(together=True)),
            Mistake("x[i] is not put back after its difference, so later entries are measured "
                    "at a shifted point: restore x[i] = old before moving on.",
                    v(restore=False)),
        ]

    def expected(self, case):
        ref = _reference(self.reference)
        f, x = case.fresh_args()
        with _quiet():
            return {"grad": ref(f, x)}

    def extra(self, case, got, args_after):
        if not _close(args_after[1], case.args[1]):
            return ("x is left changed after the call: restore each entry (x[i] = old) after "
                    "evaluating f at x[i] + h and x[i] - h.")
        return None


# --- language_model --------------------------------------------------------------------------

_COURSE_CHARS = "\n" + "abcdefghijklmnopqrstuvwxyz"
_CHAR_TO_IX = {c: i for i, c in enumerate(_COURSE_CHARS)}
_LM_GRAD_KEYS = ("dWax", "dWaa", "dWya", "dba", "dby")


def _lm_parameters(rng, n_a, vocab=27, scale=0.6, eos_bias=0.0):
    p = _rnn_parameters(rng, vocab, n_a, vocab, scale=scale)
    p["by"][0, 0] += eos_bias
    return p


class _Clip(Spec):
    name, reference = "clip", "rnnlib.optim.clip"
    outputs = _LM_GRAD_KEYS
    parts = ("values", "random")

    def _case(self, label, seed, maxValue, n_a=4, n_x=5, spread=12.0):
        rng = _rng(seed)
        shapes = {"dWax": (n_a, n_x), "dWaa": (n_a, n_a), "dWya": (n_x, n_a), "dba": (n_a, 1),
                  "dby": (n_x, 1)}
        grads = {k: rng.uniform(-spread, spread, s) for k, s in shapes.items()}
        return Case(label, (grads, maxValue), {"shapes": shapes, "maxValue": maxValue})

    def fixed_cases(self):
        return [self._case("the fixed case (maxValue=10, entries in [-12, 12])", 51, 10),
                self._case("the fixed case (maxValue=2.5)", 52, 2.5)]

    def random_cases(self):
        return [self._case(f"a random case (maxValue={mv}, seed {seed})", seed, mv, n_a, n_x, sp)
                for seed, mv, n_a, n_x, sp in ((501, 5, 3, 7, 9.0), (502, 0.5, 1, 2, 3.0),
                                               (503, 7.25, 6, 4, 30.0))]

    def expected_shapes(self, case):
        return {k: (s, f"the shape of {k}") for k, s in case.dims["shapes"].items()}

    def unpack(self, result, case):
        return _dict_unpack(self, result, _LM_GRAD_KEYS)

    def mistakes(self):
        def v(low=None, high=None, fixed=None, keys=_LM_GRAD_KEYS, norm=False):
            def compute(case):
                grads, mv = case.fresh_args()
                mv = fixed if fixed is not None else mv
                out = {}
                for k, g in grads.items():
                    if norm:
                        n = np.linalg.norm(g)
                        out[k] = g * (mv / n) if n > mv else g
                    elif k in keys:
                        out[k] = np.clip(g, -mv if low is None else low, mv if high is None
                                         else high)
                    else:
                        out[k] = g
                return out
            return compute

        return [
            Mistake("the lower bound is wrong: clip every entry into [-maxValue, maxValue].",
                    v(low=0.0)),
            Mistake("only the upper bound is applied: entries below -maxValue must become "
                    "-maxValue too.", v(low=-np.inf)),
            Mistake("maxValue is hard-coded to 5: use the maxValue argument.", v(fixed=5)),
            Mistake("maxValue is hard-coded to 10: use the maxValue argument.", v(fixed=10)),
            Mistake("each gradient was rescaled by its norm: this clip works entry by entry, "
                    "np.clip(gradient, -maxValue, maxValue).", v(norm=True)),
        ] + [Mistake(f"{k} is not clipped: clip every gradient in the dict (loop over "
                     f"gradients.values() or all of dWax, dWaa, dWya, dba, dby).",
                     v(keys=tuple(x for x in _LM_GRAD_KEYS if x != k)))
             for k in _LM_GRAD_KEYS]


def _sample_variant(parameters, char_to_ix, seed, feed=True, reset=True, carry=True,
                    greedy=False, stop=True, cap=50, include_eos=True, reseed=False,
                    legacy=None, newline_at_cap=False):
    """The reference sampler with one deliberate change. ``legacy``: draws from numpy's global
    generator instead, seeded once with np.random.seed(seed) ("once") or, as the course's
    code does, with np.random.seed(seed + 2k) before the k-th draw ("course")."""
    cell = _reference("rnnlib.rnn.rnn_cell_forward")
    vocab = len(char_to_ix)
    n_a = parameters["Waa"].shape[0]
    eos = char_to_ix["\n"]
    rng = np.random.default_rng(seed)
    legacy_rng = np.random.RandomState(seed)
    x, a = np.zeros((vocab, 1)), np.zeros((n_a, 1))
    indices = []
    while len(indices) < cap:
        a_new, y, _ = cell(x, a, parameters)
        if reseed:
            rng = np.random.default_rng(seed)
        if greedy:
            idx = int(np.argmax(y[:, 0]))
        elif legacy == "once":
            idx = int(legacy_rng.choice(vocab, p=y.ravel()))
        elif legacy == "course":
            idx = int(np.random.RandomState(seed + 2 * len(indices)).choice(vocab, p=y.ravel()))
        else:
            idx = int(rng.choice(vocab, p=y[:, 0]))
        if stop and idx == eos and not include_eos:
            break
        indices.append(idx)
        if stop and idx == eos:
            break
        if feed:
            if reset:
                x = np.zeros((vocab, 1))
            x[idx] = 1.0
        a = a_new if carry else a
    if newline_at_cap and len(indices) == cap and indices[-1] != eos:
        indices.append(eos)
    return indices


def _sample_model(seed, n_a, gain, eos=0.0):
    """A character model whose every step puts almost all its probability on a few indices
    (logits scaled by ``gain``), so that whatever random generator draws from it, a draw
    outside those few shows that the sampler used the wrong distribution. ``eos`` is added to
    the logit of "\\n"."""
    p = _lm_parameters(_rng(seed), n_a, scale=1.0)
    p["Wya"] = p["Wya"] * gain
    p["by"] = p["by"] * gain
    p["by"][0, 0] += eos
    return p


# A draw whose probability under the model is below this shows the wrong distribution: on the
# models below, a right sampler (any generator) draws one with probability < 1e-6 in a test.
_IMPLAUSIBLE = 1e-9


def _replay(parameters, indices, feed=True, carry=True, reset=True):
    """The model's probability of each drawn index, given the draws before it: x<1> = 0,
    a<0> = 0, then x<t+1> = the one-hot vector of the t-th draw (as the flags say)."""
    cell = _reference("rnnlib.rnn.rnn_cell_forward")
    vocab = parameters["by"].shape[0]
    x, a = np.zeros((vocab, 1)), np.zeros((parameters["Waa"].shape[0], 1))
    a0 = a
    probs = []
    for idx in indices:
        if not 0 <= idx < vocab:
            return probs + [0.0]
        a_new, y, _ = cell(x, a0 if not carry else a, parameters)
        probs.append(float(y[idx, 0]))
        if feed:
            if reset:
                x = np.zeros((vocab, 1))
            x[idx] = 1.0
        a = a_new
    return probs


_SAMPLE_REPLAYS = (
    ({"feed": False}, "the drawn character is not fed back: x<t+1> must be the one-hot vector "
                      "of the index just drawn."),
    ({"carry": False}, "the hidden state is not carried: each step must start from the a it "
                       "computed at the previous step."),
    ({"reset": False}, "x is not reset before writing the new one-hot vector, so it collects "
                       "several 1s: start from np.zeros((vocab_size, 1)) each step."),
)

_CAP_NEWLINE = ("do not append '\\n' when the cap is reached: a sample that reaches 50 "
                "characters stops there, with exactly 50 indices and no end index (the "
                "course's code appends one; this exercise does not).")
_LEGACY_SEED = ("the draws come from numpy's global generator (np.random.seed, "
                "np.random.choice): this exercise draws with one generator "
                "rng = np.random.default_rng(seed), created before the loop, and "
                "rng.choice(vocab_size, p=y.ravel()), so that its draws can be checked exactly.")


class _Sample(Spec):
    """Graded in four parts, so that a convention costs only the part that tests it:
    "values" (draws from the right distribution, whatever the generator), "cap" (the 50
    characters cap, whatever the generator), "draws" (the exact draws of
    np.random.default_rng(seed)) and "random" (the first on random models)."""

    name, reference = "sample", "rnnlib.language_model.sample"
    outputs = ("indices",)
    helpers = ("rnnlib.rnn.rnn_cell_forward",)
    parts = ("values", "cap", "draws", "random")

    def _case(self, label, seed, n_a, sample_seed, eos_bias=0.0, scale=0.6, params=None):
        p = params if params is not None else _lm_parameters(_rng(seed), n_a, eos_bias=eos_bias,
                                                              scale=scale)
        return Case(label, (p, dict(_CHAR_TO_IX), sample_seed), {"n_a": n_a},
                    ref_kwargs={})

    def fixed_cases(self):
        return [self._case("the fixed case (n_a=8, seed 3)", 61, 8, 3, eos_bias=1.0),
                self._case("the fixed case (n_a=8, seed 5)", 62, 8, 5, eos_bias=-1.0),
                self._case("the fixed case (n_a=5, seed 0, peaked output)", 63, 5, 0,
                           eos_bias=0.5, scale=1.5)]

    def cases_for(self, part):
        if part == "draws":
            return self.fixed_cases()
        if part == "cap":
            return [self._case("the fixed case that never draws '\\n' (n_a=8, seed 0)", 0, 8,
                               0, params=_sample_model(61, 8, 8.0, eos=-5.0))]
        return self.fixed_cases()

    def all_cases(self):
        return self.cases_for("draws") + self.cases_for("cap")

    def random_cases(self):
        return [self._case(f"a random case (n_a={n_a}, seed {s})", seed, n_a, s, eos_bias=b)
                for seed, n_a, s, b in ((601, 3, 11, 0.5), (602, 12, 4, 1.5), (603, 1, 8, 0.0))]

    def unpack(self, result, case):
        if isinstance(result, np.ndarray) and result.ndim == 1 and result.dtype.kind in "iu":
            result = [int(i) for i in result]
        if isinstance(result, (list, tuple)):
            result = [int(i) if isinstance(i, np.integer) else i for i in result]
        if not (isinstance(result, (list, tuple))
                and all(isinstance(i, int) and not isinstance(i, bool) for i in result)):
            raise GradingFailure(f"sample must return a list of indices (ints), got "
                                 f"{result!r:.80}.")
        return {"indices": list(result)}

    # -- the draws of the stated generator ("draws") ------------------------------------------

    def mistakes(self):
        def v(**kw):
            return lambda case: {"indices": _sample_variant(*case.fresh_args(), **kw)}

        return [
            Mistake(_SAMPLE_REPLAYS[0][1], v(feed=False)),
            Mistake(_SAMPLE_REPLAYS[2][1], v(reset=False)),
            Mistake(_SAMPLE_REPLAYS[1][1], v(carry=False)),
            Mistake("this takes the most likely index every time (argmax): draw it with "
                    "rng.choice(vocab_size, p=y.ravel()).", v(greedy=True)),
            Mistake("sampling does not stop at the end of a name: stop after drawing "
                    "char_to_ix['\\n'].", v(stop=False)),
            Mistake("the end index is missing from the result: append it, then stop.",
                    v(include_eos=False)),
            Mistake("the length cap is off by one: at most 50 indices.", v(cap=49)),
            Mistake("the length cap is off by one: at most 50 indices.", v(cap=51)),
            Mistake(_CAP_NEWLINE, v(newline_at_cap=True)),
            Mistake("the random generator is re-created at every step, so every draw uses the "
                    "same random number: create rng = np.random.default_rng(seed) once.",
                    v(reseed=True)),
            Mistake(_LEGACY_SEED, v(legacy="once")),
            Mistake(_LEGACY_SEED, v(legacy="course")),
        ]

    def expected(self, case):
        p, char_to_ix, seed = case.fresh_args()
        with _quiet():
            return {"indices": list(_reference(self.reference)(p, char_to_ix, seed=seed))}

    def hints(self, case, got):
        idx = got["indices"]
        if len(idx) > 50:
            return ["The result is longer than the cap of 50 indices."]
        return []

    # -- the distribution, whatever the generator ("values", "cap", "random") ----------------

    def _draw(self, student, params, seed):
        """The student's indices for one call (GradingFailure with the message if it fails)."""
        case = self._case(f"seed {seed}", 0, params["Waa"].shape[0], seed, params=params)
        try:
            result, _ = student.call(case.args, case.kwargs)
        except _StudentRaised as exc:
            raise GradingFailure(_error_message(self, exc)) from None
        return self.unpack(result, case)["indices"]

    def _judge_sequence(self, params, idx, cap_case=False):
        """None if ``idx`` is a sample of the model that a right sampler could draw, else the
        sentence that says what is wrong."""
        eos = _CHAR_TO_IX["\n"]
        if len(idx) > 50:
            if cap_case and len(idx) == 51 and idx[-1] == eos:
                return _CAP_NEWLINE
            return f"the result has {len(idx)} indices: the cap is 50."
        if eos in idx[:-1]:
            return ("sampling does not stop at the end of a name: stop after drawing "
                    "char_to_ix['\\n'].")
        if idx and idx[-1] != eos and len(idx) < 50:
            if cap_case and len(idx) == 49:
                return "the length cap is off by one: at most 50 indices, and exactly 50 here."
            return ("the result stops before the end of a name and before the cap: append "
                    "each draw, and stop only after drawing char_to_ix['\\n'] or at 50 indices.")
        if not idx:
            return "the result is empty: the sample has at least one index."
        with _quiet():
            probs = _replay(params, idx)
        if min(probs) >= _IMPLAUSIBLE:
            return None
        t = int(np.argmin(probs))
        for flags, message in sorted(_SAMPLE_REPLAYS, key=lambda r: "reset" not in r[0]):
            with _quiet():
                if min(_replay(params, idx, **flags)) >= _IMPLAUSIBLE:
                    return message
        return (f"draw {t + 1} (index {idx[t]}) has probability {probs[t]:.1e} under the "
                f"model, given the draws before it: each draw must come from y<t>, computed "
                f"from x<1> = 0 and a<0> = 0, then from the index just drawn and the state "
                f"carried from step to step.")

    def _distribution_part(self, student, models, cap_case=False, seeds=tuple(range(12))):
        for label, params in models:
            seen = set()
            for seed in seeds:
                idx = self._draw(student, params, seed)
                problem = self._judge_sequence(params, idx, cap_case)
                if problem:
                    raise GradingFailure(f"On {label} with seed {seed}: sample: {problem}")
                seen.add(tuple(idx))
            if not cap_case and len(seen) == 1:
                raise GradingFailure(
                    f"On {label}: sample: every seed gives the same sample: draw each index at "
                    f"random from y (rng.choice(vocab_size, p=y.ravel()) with "
                    f"rng = np.random.default_rng(seed)), not the most likely one (argmax).")
        return len(models) * len(seeds)

    def run_values(self, student):
        n = self._distribution_part(student, [
            ("the fixed model (n_a=8)", _sample_model(62, 8, 6.0)),
            ("the fixed model with likely ends (n_a=5)", _sample_model(608, 5, 4.0, eos=12.0))])
        return (f"sample: {n} samples, each drawn from the model's distribution given the draws "
                f"before it.")

    def run_cap(self, student):
        n = self._distribution_part(student, [
            ("the fixed model that never draws '\\n' (n_a=8)",
             _sample_model(61, 8, 8.0, eos=-5.0))], cap_case=True, seeds=(0, 1, 2))
        return f"sample: stops at the cap of 50 indices ({n} samples)."

    def run_random(self, student):
        models = [(f"a random model (n_a={n_a}, seed {seed})", _sample_model(seed, n_a, g, eos))
                  for seed, n_a, g, eos in ((606, 12, 4.0, 12.0), (607, 8, 4.0, 2.0),
                                            (606, 1, 4.0, 8.0))]
        n = self._distribution_part(student, models)
        return f"sample: {n} samples on random models, each from the model's distribution."


def _lm_example(rng, n_a, name, scale=1.0):
    p = _lm_parameters(rng, n_a, scale=scale)
    ids = [_CHAR_TO_IX[c] for c in name]
    return [None] + ids, ids + [0], p


def _optimize_variant(X, Y, a_prev, parameters, learning_rate, clip_value=5, do_clip=True,
                      sign=-1.0, update_first=False, a_index=-1, in_place=True):
    lag = _reference("rnnlib.language_model.loss_and_gradients")
    loss, grads, a = lag(X, Y, a_prev, parameters)
    raw = {k: g.copy() for k, g in grads.items()}
    if do_clip:
        for g in grads.values():
            np.clip(g, -clip_value, clip_value, out=g)
    step = raw if update_first else grads
    new = {k: parameters[k] + sign * learning_rate * step["d" + k] for k in parameters}
    if in_place:
        parameters.update(new)
    return {"loss": loss, "gradients": grads, "a_last": a[:, :, a_index],
            "parameters": parameters}


class _Optimize(Spec):
    name, reference = "optimize", "rnnlib.language_model.optimize"
    returns = ("loss", "gradients", "a_last")
    outputs = ("loss", "gradients", "a_last", "parameters")
    substitutes = {"clip": "rnnlib.optim.clip"}
    lent_for = {"clip": "gradients"}
    helpers = ("rnnlib.language_model.loss_and_gradients", "rnnlib.optim.update_parameters")
    parts = ("values", "random")

    def _case(self, label, seed, n_a, name, lr, scale=1.0):
        rng = _rng(seed)
        X, Y, p = _lm_example(rng, n_a, name, scale)
        return Case(label, (X, Y, _normal(rng, n_a, 1), p, lr), {"n_a": n_a})

    def fixed_cases(self):
        return [self._case("the fixed case (name 'aaaaaaaaab', n_a=6, learning_rate=0.05)",
                           71, 6, "aaaaaaaaab", 0.05),
                self._case("the fixed case (name 'zoe', n_a=4, learning_rate=0.01)",
                           72, 4, "zoe", 0.01, 2.0)]

    def random_cases(self):
        return [self._case(f"a random case (name {nm!r}, n_a={n_a}, seed {seed})", seed, n_a,
                           nm, lr) for seed, n_a, nm, lr in ((701, 3, "anna", 0.1),
                                                            (702, 9, "mmmmmmmmmmmmmm", 0.02),
                                                            (703, 1, "x", 0.3))]

    def expected_shapes(self, case):
        return {"a_last": ((case.dims["n_a"], 1), "(n_a, 1)")}

    def unpack(self, result, case):
        got = super().unpack(result, case)
        if not isinstance(got["gradients"], dict):
            raise GradingFailure("optimize: gradients must be the dict of (clipped) gradients.")
        return got

    wants_args_after = True  # parameters (updated in place) is compared too

    def expected(self, case):
        X, Y, a_prev, p, lr = case.fresh_args()
        with _quiet():
            loss, grads, a_last = _reference(self.reference)(X, Y, a_prev, p, lr)
        return _roundtrip({"loss": loss, "gradients": grads, "a_last": a_last,
                           "parameters": p})

    def mistakes(self):
        def v(**kw):
            return lambda case: _optimize_variant(*case.fresh_args(), **kw)

        return [
            Mistake("the gradients are not clipped: call clip(gradients, 5) between the "
                    "backward pass and the update.", v(do_clip=False)),
            Mistake("the gradients are clipped at the wrong value: clip(gradients, 5).",
                    v(clip_value=10)),
            Mistake("the gradients are clipped at the wrong value: clip(gradients, 5).",
                    v(clip_value=1)),
            Mistake("the update goes uphill: parameters['W'] -= learning_rate * "
                    "gradients['dW'].", v(sign=1.0)),
            Mistake("the update uses the gradients before clipping: clip first, then update.",
                    v(update_first=True)),
            Mistake("a_last is the first hidden state: return the last one, a<T_x> = "
                    "a[:, :, -1].", v(a_index=0)),
            Mistake("parameters is not updated in place: update_parameters(parameters, "
                    "gradients, learning_rate) changes the dict it is given.", v(in_place=False)),
        ]


# --- gru -------------------------------------------------------------------------------------


def _gate_parameters(rng, keys, n_x, n_a, n_y, scale=0.7):
    p = {}
    for k in keys:
        p["W" + k] = _normal(rng, n_a, n_a + n_x, scale=scale)
        p["b" + k] = _normal(rng, n_a, 1, scale=scale)
    p["Wy"] = _normal(rng, n_y, n_a, scale=scale)
    p["by"] = _normal(rng, n_y, 1, scale=scale)
    return p


def _gru_step(xt, c_prev, p, reset="before", swap_u=False, u_from="u", r_from="r",
              cand=np.tanh, gate=_sigmoid, concat_xc=False, out=_softmax0, y_from_prev=False):
    n_a = c_prev.shape[0]

    def stack(h):
        return np.concatenate((xt, h) if concat_xc else (h, xt), axis=0)

    concat = stack(c_prev)
    ut = gate(p["W" + u_from] @ concat + p["b" + u_from])
    rt = gate(p["W" + r_from] @ concat + p["b" + r_from])
    if reset == "before":
        zc = p["Wc"] @ stack(rt * c_prev) + p["bc"]
    elif reset == "after":
        zc = rt * (p["Wc"][:, :n_a] @ c_prev) + p["Wc"][:, n_a:] @ xt + p["bc"]
    else:
        zc = p["Wc"] @ concat + p["bc"]
    cct = cand(zc)
    c_next = (1 - ut) * cct + ut * c_prev if swap_u else ut * cct + (1 - ut) * c_prev
    yt = out(p["Wy"] @ (c_prev if y_from_prev else c_next) + p["by"])
    return c_next, yt


class _GruCellForward(Spec):
    name, reference = "gru_cell_forward", "rnnlib.gru.gru_cell_forward"
    returns = ("c_next", "yt_pred", "cache")
    outputs = ("c_next", "yt_pred")
    error_hint = ("the gates act on concat = [c<t-1>; x<t>] of shape (n_a + n_x, m), "
                  "np.concatenate((c_prev, xt), axis=0); Wu, Wr, Wc are (n_a, n_a + n_x)")
    shape_hints = {"c_next": "c<t> has one column per example"}

    def _case(self, label, seed, n_x, n_a, n_y, m, **_):
        rng = _rng(seed)
        p = _gate_parameters(rng, "cur", n_x, n_a, n_y)
        return Case(label, (_normal(rng, n_x, m), _normal(rng, n_a, m), p),
                    {"n_x": n_x, "n_a": n_a, "n_y": n_y, "m": m})

    def fixed_cases(self):
        return [self._case("the fixed case (n_x=3, n_a=5, n_y=2, m=4)", 81, 3, 5, 2, 4),
                self._case("the fixed case with n_x = n_a (n_x=3, n_a=3, n_y=2, m=2)",
                           82, 3, 3, 2, 2)]

    def random_cases(self):
        return _random_cases(self, ("n_x", "n_a", "n_y", "m"), self._case)

    def expected_shapes(self, case):
        d = case.dims
        return {"c_next": ((d["n_a"], d["m"]), "(n_a, m)"),
                "yt_pred": ((d["n_y"], d["m"]), "(n_y, m)")}

    def mistakes(self):
        def v(**kw):
            def compute(case):
                c, y = _gru_step(*case.fresh_args(), **kw)
                return {"c_next": c, "yt_pred": y}
            return compute

        return [
            Mistake("Γr is applied after the matmul (that is PyTorch's GRU): the notes reset "
                    "c<t-1> before it, c̃ = tanh(Wc [Γr * c<t-1>, x<t>] + bc).", v(reset="after")),
            Mistake("c̃ ignores Γr (that is the simplified GRU): the full GRU computes "
                    "c̃ = tanh(Wc [Γr * c<t-1>, x<t>] + bc).", v(reset="none")),
            Mistake("Γu interpolates the wrong way round: Γu = 1 must write the candidate, "
                    "c<t> = Γu * c̃ + (1 - Γu) * c<t-1>.", v(swap_u=True)),
            Mistake("Γu looks like Γr: the update gate uses Wu and bu, "
                    "Γu = σ(Wu [c<t-1>, x<t>] + bu).", v(u_from="r")),
            Mistake("Γr looks like Γu: the relevance gate uses Wr and br, "
                    "Γr = σ(Wr [c<t-1>, x<t>] + br).", v(r_from="u")),
            Mistake("Γu and Γr are swapped: Γu uses Wu, bu and Γr uses Wr, br.",
                    v(u_from="r", r_from="u")),
            Mistake("c̃ uses σ: the candidate uses tanh, c̃ = tanh(...).", v(cand=_sigmoid)),
            Mistake("the gates use tanh: Γu and Γr use σ (sigmoid), values in (0, 1).",
                    v(gate=np.tanh)),
            Mistake("the stacked input is in the wrong order: it is [c<t-1>; x<t>], hidden "
                    "part first, np.concatenate((c_prev, xt), axis=0).", v(concat_xc=True)),
            Mistake("yt_pred is not a probability distribution: apply softmax over axis 0 to "
                    "Wy c<t> + by.", v(out=_identity)),
            Mistake("yt_pred is computed from c<t-1>: use the new state, "
                    "ŷ<t> = softmax(Wy c<t> + by).", v(y_from_prev=True)),
        ]


class _GruForward(_CachedForward, Spec):
    name, reference = "gru_forward", "rnnlib.gru.gru_forward"
    returns = ("c", "y_pred", "caches")
    outputs = ("c", "y_pred")
    parts = ("shapes", "values", "cache", "random")
    cell, backward = "gru_cell_forward", "gru_backward"
    cell_fields = ("c_next", "c_prev", "ut", "rt", "cct", "xt", "parameters")
    state_fields = {"c_next": ("c", 0), "c_prev": ("c", -1)}

    def states(self, case, expected):
        return _sequence_states("c", case.args[1], expected["c"])
    substitutes = {"gru_cell_forward": "rnnlib.gru.gru_cell_forward"}
    lent_for = {"gru_cell_forward": "parameters"}
    error_hint = "x[:, :, t] is x<t> (n_x, m); c is (n_a, m, T_x), y_pred (n_y, m, T_x)"

    def _case(self, label, seed, n_x, n_a, n_y, m, T_x):
        rng = _rng(seed)
        p = _gate_parameters(rng, "cur", n_x, n_a, n_y)
        return Case(label, (_normal(rng, n_x, m, T_x), _normal(rng, n_a, m), p),
                    {"n_x": n_x, "n_a": n_a, "n_y": n_y, "m": m, "T_x": T_x})

    def fixed_cases(self):
        return [self._case("the fixed case (n_x=3, n_a=5, n_y=2, m=4, T_x=6)", 91, 3, 5, 2, 4, 6),
                self._case("the fixed case (n_x=2, n_a=3, n_y=3, m=1, T_x=3)", 92, 2, 3, 3, 1, 3)]

    def random_cases(self):
        return _random_cases(self, ("n_x", "n_a", "n_y", "m", "T_x"), self._case)

    def expected_shapes(self, case):
        d = case.dims
        return {"c": ((d["n_a"], d["m"], d["T_x"]), "(n_a, m, T_x)"),
                "y_pred": ((d["n_y"], d["m"], d["T_x"]), "(n_y, m, T_x)")}

    def mistakes(self):
        cell = _reference("rnnlib.gru.gru_cell_forward")

        def step(xt, c, p):
            c_next, yt, _ = cell(xt, c, p)
            return c_next, yt

        def run(case, **flags):
            x, c0, p = case.fresh_args()
            c, y = _sequence_variant(step, x, c0, p, c0.shape[0], **flags)
            return {"c": c, "y_pred": y}

        return _sequence_mistakes(run, out="c", init="c0")


# --- lstm ------------------------------------------------------------------------------------


def _lstm_step(xt, a_prev, c_prev, p, src=None, swap_fu=False, a_tanh=True, a_from_prev_c=False,
               cand=np.tanh, out_gate=_sigmoid, concat_xa=False, y_out=_softmax0):
    src = src or {}
    concat = np.concatenate((xt, a_prev) if concat_xa else (a_prev, xt), axis=0)

    def z(g):
        k = src.get(g, g)
        return p["W" + k] @ concat + p["b" + k]

    ft, ut, ot = _sigmoid(z("f")), _sigmoid(z("u")), out_gate(z("o"))
    cct = cand(z("c"))
    c_next = ft * cct + ut * c_prev if swap_fu else ut * cct + ft * c_prev
    c_used = c_prev if a_from_prev_c else c_next
    a_next = ot * (np.tanh(c_used) if a_tanh else c_used)
    yt = y_out(p["Wy"] @ a_next + p["by"])
    return a_next, c_next, yt


_GATE_NAMES = {"f": "the forget gate", "u": "the update gate", "o": "the output gate",
               "c": "the candidate"}
_GATE_SYMBOL = {"f": "Γf", "u": "Γu", "o": "Γo", "c": "c̃"}


class _LstmCellForward(Spec):
    name, reference = "lstm_cell_forward", "rnnlib.lstm.lstm_cell_forward"
    returns = ("a_next", "c_next", "yt_pred", "cache")
    outputs = ("a_next", "c_next", "yt_pred")
    error_hint = ("the gates act on concat = [a<t-1>; x<t>] of shape (n_a + n_x, m), "
                  "np.concatenate((a_prev, xt), axis=0); Wf, Wu, Wc, Wo are (n_a, n_a + n_x)")

    def _case(self, label, seed, n_x, n_a, n_y, m, **_):
        rng = _rng(seed)
        p = _gate_parameters(rng, "fuco", n_x, n_a, n_y)
        return Case(label, (_normal(rng, n_x, m), _normal(rng, n_a, m), _normal(rng, n_a, m), p),
                    {"n_x": n_x, "n_a": n_a, "n_y": n_y, "m": m})

    def fixed_cases(self):
        return [self._case("the fixed case (n_x=3, n_a=5, n_y=2, m=4)", 111, 3, 5, 2, 4),
                self._case("the fixed case with n_x = n_a (n_x=3, n_a=3, n_y=2, m=2)",
                           112, 3, 3, 2, 2)]

    def random_cases(self):
        return _random_cases(self, ("n_x", "n_a", "n_y", "m"), self._case)

    def expected_shapes(self, case):
        d = case.dims
        return {"a_next": ((d["n_a"], d["m"]), "(n_a, m)"),
                "c_next": ((d["n_a"], d["m"]), "(n_a, m)"),
                "yt_pred": ((d["n_y"], d["m"]), "(n_y, m)")}

    def mistakes(self):
        def v(**kw):
            def compute(case):
                a, c, y = _lstm_step(*case.fresh_args(), **kw)
                return {"a_next": a, "c_next": c, "yt_pred": y}
            return compute

        found = []
        for g in "fuoc":
            for other in "fuoc":
                if other != g:
                    found.append(Mistake(
                        f"{_GATE_SYMBOL[g]} looks like {_GATE_SYMBOL[other]}: "
                        f"{_GATE_NAMES[g]} uses W{g} and b{g}.", v(src={g: other})))
        found += [
            Mistake("Γf and Γu are swapped in c<t>: the update gate scales the candidate and "
                    "the forget gate the old cell, c<t> = Γu * c̃ + Γf * c<t-1>.", v(swap_fu=True)),
            Mistake("a_next is missing the tanh: a<t> = Γo * tanh(c<t>).", v(a_tanh=False)),
            Mistake("a_next uses c<t-1> (c_prev): a<t> = Γo * tanh(c<t>), with the new cell.",
                    v(a_from_prev_c=True)),
            Mistake("c̃ uses σ: the candidate uses tanh, c̃ = tanh(Wc [a<t-1>, x<t>] + bc).",
                    v(cand=_sigmoid)),
            Mistake("Γo uses tanh: every gate uses σ (sigmoid), values in (0, 1).",
                    v(out_gate=np.tanh)),
            Mistake("the stacked input is in the wrong order: it is [a<t-1>; x<t>], hidden part "
                    "first, np.concatenate((a_prev, xt), axis=0).", v(concat_xa=True)),
            Mistake("yt_pred is not a probability distribution: apply softmax over axis 0 to "
                    "Wy a<t> + by.", v(y_out=_identity)),
        ]
        return found


class _LstmForward(_CachedForward, Spec):
    name, reference = "lstm_forward", "rnnlib.lstm.lstm_forward"
    returns = ("a", "y", "c", "caches")
    outputs = ("a", "y", "c")
    parts = ("shapes", "values", "cache", "random")
    cell, backward = "lstm_cell_forward", "lstm_backward"
    cell_fields = ("a_next", "c_next", "a_prev", "c_prev", "ft", "ut", "cct", "ot", "xt",
                   "parameters")
    state_fields = {"a_next": ("a", 0), "a_prev": ("a", -1), "c_next": ("c", 0),
                    "c_prev": ("c", -1)}

    def states(self, case, expected):
        a0 = case.args[1]
        return {**_sequence_states("a", a0, expected["a"]),
                **_sequence_states("c", np.zeros_like(a0), expected["c"])}
    substitutes = {"lstm_cell_forward": "rnnlib.lstm.lstm_cell_forward"}
    lent_for = {"lstm_cell_forward": "parameters"}
    error_hint = "x[:, :, t] is x<t> (n_x, m); a and c are (n_a, m, T_x), y (n_y, m, T_x)"

    def _case(self, label, seed, n_x, n_a, n_y, m, T_x):
        rng = _rng(seed)
        p = _gate_parameters(rng, "fuco", n_x, n_a, n_y)
        return Case(label, (_normal(rng, n_x, m, T_x), _normal(rng, n_a, m), p),
                    {"n_x": n_x, "n_a": n_a, "n_y": n_y, "m": m, "T_x": T_x})

    def fixed_cases(self):
        return [self._case("the fixed case (n_x=3, n_a=5, n_y=2, m=4, T_x=6)", 121,
                           3, 5, 2, 4, 6),
                self._case("the fixed case (n_x=2, n_a=3, n_y=3, m=1, T_x=3)", 122, 2, 3, 3, 1, 3)]

    def random_cases(self):
        return _random_cases(self, ("n_x", "n_a", "n_y", "m", "T_x"), self._case)

    def expected_shapes(self, case):
        d = case.dims
        return {"a": ((d["n_a"], d["m"], d["T_x"]), "(n_a, m, T_x)"),
                "y": ((d["n_y"], d["m"], d["T_x"]), "(n_y, m, T_x)"),
                "c": ((d["n_a"], d["m"], d["T_x"]), "(n_a, m, T_x)")}

    def mistakes(self):
        cell = _reference("rnnlib.lstm.lstm_cell_forward")

        def run(case, carry_a=True, carry_c=True, c0_from_a0=False, store_prev=False,
                x_shift=0, start=0, reverse=False):
            x, a0, p = case.fresh_args()
            n_x, m, T_x = x.shape
            n_a = a0.shape[0]
            n_y = p["Wy"].shape[0]
            a, c, y = (np.zeros((n_a, m, T_x)), np.zeros((n_a, m, T_x)),
                       np.zeros((n_y, m, T_x)))
            a_t, c_t = a0, (a0.copy() if c0_from_a0 else np.zeros((n_a, m)))
            c0 = c_t
            order = range(T_x - 1, -1, -1) if reverse else range(start, T_x)
            for t in order:
                a_new, c_new, yt, _ = cell(x[:, :, (t + x_shift) % T_x], a_t if carry_a else a0,
                                           c_t if carry_c else c0, p)
                a[:, :, t] = a_t if store_prev else a_new
                c[:, :, t] = c_t if store_prev else c_new
                y[:, :, t] = yt
                a_t, c_t = a_new, c_new
            return {"a": a, "y": y, "c": c}

        def v(**kw):
            return lambda case: run(case, **kw)

        return [
            Mistake("the memory cell is not carried: feed each step's c_next into the next "
                    "step (only c<0> is zeros).", v(carry_c=False)),
            Mistake("the hidden state is not carried: feed each step's a_next into the next "
                    "step.", v(carry_a=False)),
            Mistake("neither state is carried from step to step: feed a_next and c_next into "
                    "the next step.", v(carry_a=False, carry_c=False)),
            Mistake("c<0> must be zeros (np.zeros((n_a, m))), not a0.", v(c0_from_a0=True)),
            Mistake("a[:, :, t] and c[:, :, t] hold the states before step t: store what the "
                    "step returns (off by one in time).", v(store_prev=True)),
            Mistake("step t reads x<t-1>: the input of step t is x[:, :, t] (off by one in "
                    "time).", v(x_shift=-1)),
            Mistake("the first time step is missing: loop over range(T_x).", v(start=1)),
            Mistake("the loop runs backwards in time: the forward pass goes t = 0 ... T_x - 1.",
                    v(reverse=True)),
        ]


_LSTM_GATE_GRADS = ("dWf", "dbf", "dWu", "dbu", "dWc", "dbc", "dWo", "dbo")
_LSTM_CELL_GRAD_KEYS = ("dxt", "da_prev", "dc_prev") + _LSTM_GATE_GRADS


def _lstm_cell_backward_variant(da_next, dc_next, cache, through_a=True, forget_dc_prev=True,
                                f_uses_c_next=False, concat_next=False, split_swap=False,
                                o_tanh_prev=False, no_gate_deriv=None):
    a_next, c_next, a_prev, c_prev, ft, ut, cct, ot, xt, p = cache
    n_a = a_prev.shape[0]
    tanh_c = np.tanh(c_next)
    dc = dc_next + (da_next * ot * (1 - tanh_c ** 2) if through_a else 0.0)

    def sd(g):
        return 1.0 if no_gate_deriv == "sigmoid" else g * (1 - g)

    dz = {"f": dc * (c_next if f_uses_c_next else c_prev) * sd(ft),
          "u": dc * cct * sd(ut),
          "c": dc * ut * (1.0 if no_gate_deriv == "tanh" else 1 - cct ** 2),
          "o": da_next * (np.tanh(c_prev) if o_tanh_prev else tanh_c) * sd(ot)}
    concat = np.concatenate([a_next if concat_next else a_prev, xt], axis=0)
    dconcat = sum(p["W" + g].T @ dz[g] for g in "fuco")
    grads = {"dxt": dconcat[:n_a] if split_swap else dconcat[n_a:],
             "da_prev": dconcat[-n_a:] if split_swap else dconcat[:n_a],
             "dc_prev": dc * ft if forget_dc_prev else dc}
    for g in "fuco":
        grads["dW" + g] = dz[g] @ concat.T
        grads["db" + g] = dz[g].sum(axis=1, keepdims=True)
    return grads


def _lstm_cache(rng, n_x, n_a, m):
    p = _gate_parameters(rng, "fuco", n_x, n_a, 2)
    xt, a_prev, c_prev = _normal(rng, n_x, m), _normal(rng, n_a, m), _normal(rng, n_a, m)
    with _quiet():
        *_, cache = _reference("rnnlib.lstm.lstm_cell_forward")(xt, a_prev, c_prev, p)
    return _roundtrip(cache)


class _LstmCellBackward(Spec):
    name, reference = "lstm_cell_backward", "rnnlib.lstm.lstm_cell_backward"
    outputs = _LSTM_CELL_GRAD_KEYS
    error_hint = ("dc = dc_next + da_next * Γo * (1 - tanh(c<t>)**2); each gate's dz has shape "
                  "(n_a, m); dW = dz @ concat.T with concat = [a<t-1>; x<t>]")

    def _case(self, label, seed, n_x, n_a, m, **_):
        rng = _rng(seed)
        cache = _lstm_cache(rng, n_x, n_a, m)
        return Case(label, (_normal(rng, n_a, m), _normal(rng, n_a, m), cache),
                    {"n_x": n_x, "n_a": n_a, "m": m})

    def fixed_cases(self):
        return [self._case("the fixed case (n_x=3, n_a=5, m=4)", 131, 3, 5, 4),
                self._case("the fixed case with n_x = n_a (n_x=3, n_a=3, m=2)", 132, 3, 3, 2)]

    def random_cases(self):
        return _random_cases(self, ("n_x", "n_a", "m"), self._case)

    def expected_shapes(self, case):
        d = case.dims
        n_x, n_a, m = d["n_x"], d["n_a"], d["m"]
        shapes = {"dxt": ((n_x, m), "(n_x, m)"), "da_prev": ((n_a, m), "(n_a, m)"),
                  "dc_prev": ((n_a, m), "(n_a, m)")}
        for g in "fuco":
            shapes["dW" + g] = ((n_a, n_a + n_x), "(n_a, n_a + n_x)")
            shapes["db" + g] = ((n_a, 1), "(n_a, 1)")
        return shapes

    def unpack(self, result, case):
        return _dict_unpack(self, result, _LSTM_CELL_GRAD_KEYS)

    def mistakes(self):
        def v(**kw):
            return lambda case: _lstm_cell_backward_variant(*case.fresh_args(), **kw)

        return [
            Mistake("c<t> also gets gradient through a<t> = Γo * tanh(c<t>): "
                    "dc = dc_next + da_next * Γo * (1 - tanh(c<t>)**2).", v(through_a=False)),
            Mistake("dc_prev is missing the forget gate: c<t> = ... + Γf * c<t-1>, so "
                    "dc_prev = dc * Γf.", v(forget_dc_prev=False)),
            Mistake("the forget gate's gradient uses c<t>: Γf multiplied c<t-1>, so "
                    "dzf = dc * c_prev * Γf * (1 - Γf).", v(f_uses_c_next=True)),
            Mistake("the weight gradients use a<t> (a_next) where they need a<t-1>: the gates "
                    "acted on [a<t-1>; x<t>], so dW = dz @ concat.T with a_prev.",
                    v(concat_next=True)),
            Mistake("dxt and da_prev are split the wrong way: the first n_a rows of "
                    "dconcat belong to a<t-1>, the rest to x<t>.", v(split_swap=True)),
            Mistake("Γo's gradient uses tanh(c<t-1>): a<t> = Γo * tanh(c<t>).",
                    v(o_tanh_prev=True)),
            Mistake("the gates' sigmoid derivative Γ(1 - Γ) is missing.",
                    v(no_gate_deriv="sigmoid")),
            Mistake("the candidate's tanh derivative (1 - c̃**2) is missing.",
                    v(no_gate_deriv="tanh")),
        ]


_LSTM_SEQ_GRAD_KEYS = ("dx", "da0") + _LSTM_GATE_GRADS


def _lstm_backward_variant(da, caches, carry_c=True, carry_a=True, accumulate=True,
                           forward_order=False):
    cell_back = _reference("rnnlib.lstm.lstm_cell_backward")
    cell_caches, x = caches
    n_x, m, T_x = x.shape
    n_a = da.shape[0]
    dx = np.zeros((n_x, m, T_x))
    grads = {k: 0.0 for k in _LSTM_GATE_GRADS}
    da_prev, dc_prev = np.zeros((n_a, m)), np.zeros((n_a, m))
    for t in (range(T_x) if forward_order else range(T_x - 1, -1, -1)):
        step = cell_back(da[:, :, t] + (da_prev if carry_a else 0.0),
                         dc_prev if carry_c else np.zeros((n_a, m)), cell_caches[t])
        dx[:, :, t] = step["dxt"]
        da_prev, dc_prev = step["da_prev"], step["dc_prev"]
        for k in grads:
            grads[k] = grads[k] + step[k] if accumulate else step[k]
    return {"dx": dx, "da0": da_prev, **grads}


class _LstmBackward(Spec):
    name, reference = "lstm_backward", "rnnlib.lstm.lstm_backward"
    outputs = _LSTM_SEQ_GRAD_KEYS
    substitutes = {"lstm_cell_backward": "rnnlib.lstm.lstm_cell_backward"}
    lent_for = {"lstm_cell_backward": "cache"}
    error_hint = ("caches is (list of T_x cell caches, x); step t gets da[:, :, t] + da_prevt "
                  "and dc_prevt from step t+1")

    def _case(self, label, seed, n_x, n_a, m, T_x, **_):
        rng = _rng(seed)
        p = _gate_parameters(rng, "fuco", n_x, n_a, 2)
        x, a0 = _normal(rng, n_x, m, T_x), _normal(rng, n_a, m)
        with _quiet():
            *_, caches = _reference("rnnlib.lstm.lstm_forward")(x, a0, p)
        return Case(label, (_normal(rng, n_a, m, T_x), _roundtrip(caches)),
                    {"n_x": n_x, "n_a": n_a, "m": m, "T_x": T_x})

    def fixed_cases(self):
        return [self._case("the fixed case (n_x=3, n_a=5, m=4, T_x=5)", 141, 3, 5, 4, 5),
                self._case("the fixed case (n_x=2, n_a=3, m=2, T_x=3)", 142, 2, 3, 2, 3)]

    def random_cases(self):
        return _random_cases(self, ("n_x", "n_a", "m", "T_x"), self._case)

    def expected_shapes(self, case):
        d = case.dims
        n_x, n_a, m, T_x = d["n_x"], d["n_a"], d["m"], d["T_x"]
        shapes = {"dx": ((n_x, m, T_x), "(n_x, m, T_x)"), "da0": ((n_a, m), "(n_a, m)")}
        for g in "fuco":
            shapes["dW" + g] = ((n_a, n_a + n_x), "(n_a, n_a + n_x)")
            shapes["db" + g] = ((n_a, 1), "(n_a, 1)")
        return shapes

    def unpack(self, result, case):
        return _dict_unpack(self, result, _LSTM_SEQ_GRAD_KEYS)

    def mistakes(self):
        def v(**kw):
            return lambda case: _lstm_backward_variant(*case.fresh_args(), **kw)

        return [
            Mistake("the memory cell's gradient is not carried back through time: step t must "
                    "get dc_prevt, the dc_prev returned by step t+1 (a widely copied bug).",
                    v(carry_c=False)),
            Mistake("the hidden state's gradient is not carried back through time: step t "
                    "must get da[:, :, t] + da_prevt.", v(carry_a=False)),
            Mistake("the weight gradients keep only one step: add up every step's gradients.",
                    v(accumulate=False)),
            Mistake("the loop runs forward in time: backpropagation goes from t = T_x - 1 down "
                    "to 0.", v(forward_order=True)),
        ]


# --- brnn_deep -------------------------------------------------------------------------------


def _rnn_layer(x, a0, p):
    """The states of a tanh RNN layer (rnnlib's rnn_forward with a dummy output layer)."""
    n_a = a0.shape[0]
    a, _, _ = _reference("rnnlib.rnn.rnn_forward")(
        x, a0, {**p, "Wya": np.zeros((1, n_a)), "by": np.zeros((1, 1))})
    return a


def _layer_parameters(rng, n_in, n_a, scale=0.7):
    return {"Wax": _normal(rng, n_a, n_in, scale=scale), "Waa": _normal(rng, n_a, n_a, scale=scale),
            "ba": _normal(rng, n_a, 1, scale=scale)}


class _BrnnForward(Spec):
    name, reference = "brnn_forward", "rnnlib.brnn.brnn_forward"
    returns = ("a", "y_hat")
    outputs = ("a", "y_hat")
    helpers = ("rnnlib.rnn.rnn_forward",)
    error_hint = ("a→ and a← are (n_a, m, T_x) each, a = [a→; a←] is (2 n_a, m, T_x) and "
                  "Wy is (n_y, 2 n_a)")

    def _case(self, label, seed, n_x, n_a, n_y, m, T_x):
        rng = _rng(seed)
        p = {"fwd": _layer_parameters(rng, n_x, n_a), "rev": _layer_parameters(rng, n_x, n_a),
             "Wy": _normal(rng, n_y, 2 * n_a, scale=0.7), "by": _normal(rng, n_y, 1, scale=0.7)}
        a0 = (_normal(rng, n_a, m), _normal(rng, n_a, m))
        return Case(label, (_normal(rng, n_x, m, T_x), a0, p),
                    {"n_x": n_x, "n_a": n_a, "n_y": n_y, "m": m, "T_x": T_x})

    def fixed_cases(self):
        return [self._case("the fixed case (n_x=3, n_a=4, n_y=2, m=3, T_x=5)", 151,
                           3, 4, 2, 3, 5),
                self._case("the fixed case (n_x=2, n_a=2, n_y=3, m=1, T_x=4)", 152, 2, 2, 3, 1, 4)]

    def random_cases(self):
        return _random_cases(self, ("n_x", "n_a", "n_y", "m", "T_x"), self._case)

    def unpack(self, result, case):
        if isinstance(result, (tuple, list)) and len(result) == 3:
            result = result[:2]  # rnnlib's brnn_forward also returns a cache
        return super().unpack(result, case)

    def expected_shapes(self, case):
        d = case.dims
        return {"a": ((2 * d["n_a"], d["m"], d["T_x"]), "(2 n_a, m, T_x)"),
                "y_hat": ((d["n_y"], d["m"], d["T_x"]), "(n_y, m, T_x)")}

    def mistakes(self):
        def run(case, flip=True, reverse_x=True, order="fr", rev_params="rev", swap_a0=False,
                out=_softmax0):
            x, a0, p = case.fresh_args()
            a0f, a0r = (a0[1], a0[0]) if swap_a0 else a0
            a_f = _rnn_layer(x, a0f, p["fwd"])
            xr = x[:, :, ::-1] if reverse_x else x
            a_r = _rnn_layer(np.ascontiguousarray(xr), a0r, p[rev_params])
            if flip:
                a_r = a_r[:, :, ::-1]
            a = np.concatenate((a_f, a_r) if order == "fr" else (a_r, a_f), axis=0)
            n_a2, m, T_x = a.shape
            z = (p["Wy"] @ a.reshape(n_a2, m * T_x) + p["by"]).reshape(-1, m, T_x)
            return {"a": a, "y_hat": out(z)}

        def v(**kw):
            return lambda case: run(case, **kw)

        return [
            Mistake("the backward states are not flipped back: after running over x reversed "
                    "in time, reverse a← again so that a←<t> sits at index t.", v(flip=False)),
            Mistake("the backward direction reads x left to right: it must run over x reversed "
                    "in time, x[:, :, ::-1].", v(reverse_x=False, flip=False)),
            Mistake("the backward direction reads x left to right: it must run over x reversed "
                    "in time, x[:, :, ::-1].", v(reverse_x=False)),
            Mistake("the two directions are stacked in the wrong order: a = [a→; a←], forward "
                    "states first.", v(order="rf")),
            Mistake("the backward direction uses the forward parameters: it has its own, "
                    "parameters['rev'].", v(rev_params="fwd")),
            Mistake("the initial states are swapped: a0 = (a→<0>, a←<T_x+1>).",
                    v(swap_a0=True)),
            Mistake("y_hat is not a probability distribution: apply softmax over axis 0 to "
                    "Wy [a→<t>; a←<t>] + by.", v(out=_identity)),
        ]


class _DeepForward(Spec):
    name, reference = "deep_forward", "rnnlib.deep.deep_forward"
    returns = ("a", "y_hat")
    outputs = ("a", "y_hat")
    helpers = ("rnnlib.rnn.rnn_forward",)
    error_hint = ("layer l reads the states of layer l-1 (n_a[l-1] rows; layer 1 reads x) and "
                  "Wy acts on the top layer's states")

    def _case(self, label, seed, n_x, sizes, n_y, m, T_x):
        rng = _rng(seed)
        layers, n_in = [], n_x
        for n_a in sizes:
            layers.append(_layer_parameters(rng, n_in, n_a))
            n_in = n_a
        p = {"layers": layers, "Wy": _normal(rng, n_y, sizes[-1], scale=0.7),
             "by": _normal(rng, n_y, 1, scale=0.7)}
        a0 = [_normal(rng, n_a, m) for n_a in sizes]
        return Case(label, (_normal(rng, n_x, m, T_x), a0, p),
                    {"n_x": n_x, "sizes": sizes, "n_y": n_y, "m": m, "T_x": T_x})

    def fixed_cases(self):
        return [self._case("the fixed case (n_x=3, layer sizes 5, 4, n_y=2, m=3, T_x=4)",
                           161, 3, (5, 4), 2, 3, 4),
                self._case("the fixed case with equal sizes (n_x=3, layer sizes 3, 3, 3, n_y=2, "
                           "m=2, T_x=3)", 162, 3, (3, 3, 3), 2, 2, 3)]

    def random_cases(self):
        cases = []
        for seed, L in ((601, 1), (602, 2), (603, 3), (604, 2)):
            rng = _rng(seed)
            sizes = tuple(int(s) for s in rng.integers(1, 6, L))
            n_x, n_y, m, T_x = (int(s) for s in rng.integers(1, 6, 4))
            cases.append(self._case(f"a random case (n_x={n_x}, layer sizes "
                                    f"{', '.join(map(str, sizes))}, n_y={n_y}, m={m}, "
                                    f"T_x={T_x}, seed {seed})", seed, n_x, sizes, n_y, m, T_x))
        return cases

    def unpack(self, result, case):
        if isinstance(result, (tuple, list)) and len(result) == 3:
            result = result[:2]
        got = super().unpack(result, case)
        L = len(case.dims["sizes"])
        if not (isinstance(got["a"], (list, tuple)) and len(got["a"]) == L):
            raise GradingFailure(
                f"deep_forward: a must be the list of the {L} layers' states, a[l] of shape "
                f"(n_a[l], m, T_x), got "
                + (f"a list of {len(got['a'])}" if isinstance(got["a"], (list, tuple))
                   else f"a {type(got['a']).__name__}") + ".")
        got["a"] = list(got["a"])
        return got

    def expected_shapes(self, case):
        d = case.dims
        shapes = {"y_hat": ((d["n_y"], d["m"], d["T_x"]), "(n_y, m, T_x)")}
        return shapes

    def unpack_reference(self, result, case):
        states, y_hat, _ = result
        return {"a": list(states), "y_hat": y_hat}

    def extra_shape_problem(self, case, got):
        return _deep_shape_problem(self, case, got)

    def mistakes(self):
        def run(case, read_x=False, top=-1, same_a0=False, reverse_layers=False, out=_softmax0):
            x, a0, p = case.fresh_args()
            layers = p["layers"]
            order = list(range(len(layers)))[::-1] if reverse_layers else range(len(layers))
            states, h = [None] * len(layers), x
            for l in order:
                h = _rnn_layer(x if read_x else h, a0[0] if same_a0 else a0[l], layers[l])
                states[l] = h
            top_a = states[top]
            n_a, m, T_x = top_a.shape
            z = (p["Wy"] @ top_a.reshape(n_a, m * T_x) + p["by"]).reshape(-1, m, T_x)
            return {"a": states, "y_hat": out(z)}

        def v(**kw):
            return lambda case: run(case, **kw)

        return [
            Mistake("every layer reads x: layer l reads the states of layer l-1, "
                    "a[l-1] (layer 1 reads x).", v(read_x=True)),
            Mistake("y_hat is computed from the first layer: the output layer reads the top "
                    "layer's states, a[L].", v(top=0)),
            Mistake("every layer starts from a0[0]: layer l starts from its own a0[l].",
                    v(same_a0=True)),
            Mistake("y_hat is not a probability distribution: apply softmax over axis 0 to "
                    "Wy a[L]<t> + by.", v(out=_identity)),
        ]


def _deep_shape_problem(spec, case, got):
    for l, (a, n_a) in enumerate(zip(got["a"], case.dims["sizes"], strict=True)):
        shape = (n_a, case.dims["m"], case.dims["T_x"])
        if not isinstance(a, np.ndarray) or a.shape != shape:
            have = _fmt_shape(a.shape) if isinstance(a, np.ndarray) else type(a).__name__
            return (f"a[{l}] (layer {l + 1}) has shape {have}, expected (n_a[{l + 1}], m, T_x) "
                    f"= {_fmt_shape(shape)}.")
    return None


# ---------------------------------------------------------------------------------------------
# The registry and the checks called from test cells.

SPECS = {spec.name: spec for spec in (
    _OneHot(), _RnnCellForward(), _RnnForward(),
    _RnnCellBackward(), _RnnBackward(), _NumericalGradient(),
    _Clip(), _Sample(), _Optimize(),
    _GruCellForward(), _GruForward(),
    _LstmCellForward(), _LstmForward(), _LstmCellBackward(), _LstmBackward(),
    _BrnnForward(), _DeepForward(),
)}

#: Characters of a first line that ``nbgrader validate`` shows whole: it cuts every line at 87
#: (Validator.width 90), after its indent (4) and ``GradingFailure: `` (16).
HEADLINE_WIDTH = 66


def headline_first(message, width=HEADLINE_WIDTH):
    """``message`` with a short first line that carries its hint, when its first line is long.

    ``nbgrader validate`` cuts each line of a traceback at about 90 characters, so a hint at the
    end of a long sentence ("... = (2, 4): did you transpose Wya? ...") was lost. The headline is
    ``<function>: <the question the message asks>`` ("did you ...?") or else its first clause;
    the whole message follows, unchanged, on the next line.
    """
    first = message.split("\n", 1)[0]
    if len(first) <= width:
        return message
    m = re.match(r"(?:On [^:]*: )?(\w+): (.*)", first)
    name, rest = (m.group(1) + ": ", m.group(2)) if m else ("", first)
    question = re.search(r"\b(did you [^?]*\?|is it [^?]*\?)", rest)
    clause = question.group(1) if question else re.split(r": |; |\. ", rest)[0]
    head = name + clause
    if len(head) > width:
        head = head[:width - 1].rsplit(" ", 1)[0] + "…"
    return f"{head}\n{message}"


def _check_in_kernel(name, func, part):
    """The failure to raise (a fresh exception, so the traceback stays short, its first line
    short enough for ``nbgrader validate``: :func:`headline_first`), or None."""
    spec = SPECS[name]
    try:
        message = _run_part(spec, part, _LocalFunction(func, spec))
    except GradingFailure as failure:
        return type(failure)(headline_first(str(failure)))
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as e:  # noqa: BLE001 - e.g. a result of a type no check expects
        return GradingFailure(f"{name}: the test could not check what the function returned "
                              f"({type(e).__name__}: {e}).")
    print(message)
    return None


def _make_check(name):
    spec = SPECS[name]

    def check(func, part="values"):
        failure = _check_in_kernel(name, func, part)
        if failure is not None:
            raise failure

    check.__name__ = check.__qualname__ = f"check_{name}"
    check.__doc__ = (f"Test the student's ``{name}`` against rnnlib's ``{spec.reference}``.\n\n"
                     f"``part`` is one of {', '.join(map(repr, spec.parts))}; raises "
                     f"GradingFailure with a sentence that names the mistake.")
    return check


for _name in SPECS:
    globals()[f"check_{_name}"] = _make_check(_name)
del _name


# ---------------------------------------------------------------------------------------------
# The judge: grade a notebook outside its kernel.


def _too_large(obj, depth=0):
    """Arguments the judge refuses to compute with for the worker (it runs in nbgrader's own
    process): huge sizes, arrays or sequences."""
    if depth > 20:
        return True
    if isinstance(obj, (int, np.integer)) and not isinstance(obj, bool):
        return abs(int(obj)) > 100_000
    if isinstance(obj, np.ndarray):
        return obj.size > 4_000_000
    if isinstance(obj, (list, tuple)):
        return len(obj) > 100_000 or any(_too_large(v, depth + 1) for v in obj)
    if isinstance(obj, dict):
        return len(obj) > 10_000 or any(_too_large(v, depth + 1) for v in obj.values())
    return False


@contextlib.contextmanager
def _time_limit(seconds):
    """Raise TimeoutError after ``seconds`` (main thread only; elsewhere no limit)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum, frame):
        raise TimeoutError(f"took more than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _nbgrader_meta(cell):
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def _cell_role(cell):
    """'test', 'exec' (setup and student code, run in the worker) or 'skip'."""
    if cell.get("cell_type") != "code":
        return "skip"
    meta = _nbgrader_meta(cell)
    if meta.get("grade") and not meta.get("solution"):
        return "test"
    if meta.get("solution") or not meta:
        return "exec"
    if meta.get("locked") and str(meta.get("grade_id", "")).startswith("setup"):
        return "exec"
    return "skip"  # a locked demonstration cell (it runs in the kernel only)


def parse_checks(source):
    """[(check name, function name, part)] of the ``grading.check_*`` calls in a test cell."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "grading"
                and node.func.attr.startswith("check_") and node.args
                and isinstance(node.args[0], ast.Name)):
            continue
        part = "values"
        if len(node.args) > 1 and isinstance(node.args[1], ast.Constant):
            part = node.args[1].value
        for kw in node.keywords:
            if kw.arg == "part" and isinstance(kw.value, ast.Constant):
                part = kw.value.value
        found.append((node.func.attr[len("check_"):], node.args[0].id, str(part)))
    return found


def _setup_imports(sources):
    """{module: [names]} of the rnnlib functions the setup cells import (given to students)."""
    given = {}
    for source in sources:
        try:
            tree = ast.parse(_strip_magics(source))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if not (isinstance(node, ast.ImportFrom) and node.module
                    and (node.module == "rnnlib" or node.module.startswith("rnnlib."))):
                continue
            for alias in node.names:
                if node.module == "rnnlib" and alias.name in _UTILITY_MODULES:
                    continue
                if node.module[len("rnnlib."):] in _UTILITY_MODULES:
                    continue
                try:
                    obj = _reference(f"{node.module}.{alias.name}")
                except (ImportError, AttributeError):
                    continue
                if node.module == "rnnlib" and hasattr(obj, "__module__"):
                    if obj.__module__.split(".")[-1] in _UTILITY_MODULES:
                        continue
                    module = obj.__module__
                else:
                    module = node.module
                if callable(obj):
                    given.setdefault(module, [])
                    if alias.name not in given[module]:
                        given[module].append(alias.name)
    return given


def _fingerprints(obj, depth=0):
    """{(dtype, shape, digest)} of the numeric arrays in ``obj`` (nested tuples, lists and
    dicts): where the data a lent reference is called with came from."""
    import hashlib

    found = set()
    if depth > 20:
        return found
    if isinstance(obj, np.ndarray) and obj.dtype.kind in "biufc":
        a = np.ascontiguousarray(obj)
        found.add((a.dtype.str, a.shape, hashlib.sha1(a.tobytes()).hexdigest()))
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            found |= _fingerprints(v, depth + 1)
    elif isinstance(obj, dict):
        for v in obj.values():
            found |= _fingerprints(v, depth + 1)
    return found


class _NotebookJudge:
    def __init__(self, cells, timeout=30.0, log=None, wrap_command=None, notebook_timeout=300.0):
        self.cells, self.timeout, self.log = cells, timeout, log
        self.deadline = time.monotonic() + notebook_timeout
        self.notebook_timeout = notebook_timeout
        self.wrap_command = wrap_command
        self.graded = {c for cell in cells if _cell_role(cell) == "test"
                       for c, _, _ in parse_checks(cell.get("source", ""))}
        refs = {SPECS[c].reference for c in self.graded if c in SPECS}
        given = _setup_imports(cell.get("source", "") for cell in cells
                               if _cell_role(cell) == "exec" and _nbgrader_meta(cell))
        self.given = {m: [n for n in names if f"{m}.{n}" not in refs]
                      for m, names in given.items()}
        import rnnlib
        self.exported = [f"{m}.{n}" for m, names in self.given.items() for n in names
                         if getattr(rnnlib, n, None) is _reference(f"{m}.{n}")]
        self.worker = None
        self.executed = []  # (cell index, source) replayed after a restart
        self.taints = []  # (cell index, [changes]): patches; every later test scores 0
        self.top_references = []  # (cell index, what) reached at a cell's top level
        self.active = None  # the spec being graded
        self.call_violations = []
        self.provenance = set()  # fingerprints of the data of the call being graded
        self.broken = None
        self.cell_errors = {}

    # -- the worker --------------------------------------------------------------------------

    def _start(self):
        setup = {"op": "setup", "rnnlib_dir": _RNNLIB_DIR, "given": self.given,
                 "exported": self.exported, "checks": sorted(SPECS)}
        self.worker = _Worker(setup, self.timeout, self._serve, self.wrap_command)

    def _restart(self):
        if self.worker is not None:
            self.worker.close()
        self.worker = None
        try:
            self._start()
            for index, source in self.executed:
                self.worker.request({"op": "exec", "cell": index, "source": source})
        except _WorkerLost as lost:
            self.broken = f"the grading worker could not be restarted ({lost})"

    def _serve(self, request):
        qualname = str(request.get("name"))
        if qualname.startswith("__subst__."):
            name = qualname.split(".", 1)[1]
            if self.active is None or name not in self.active.substitutes:
                what = f"rnnlib's {name} (lent only while another function is graded)"
                if self.active is None:
                    self.top_references.append((None, f"rnnlib.{name}"))
                else:
                    self.call_violations.append(what)
                return {"error": ["RuntimeError", f"{what} is not available here"]}
            qualname = self.active.substitutes[name]
            foreign = self._foreign_input(name, qualname, request)
            if foreign:
                what = (f"rnnlib's {name} (lent while {self.active.name} is graded) with "
                        f"{foreign} that this test did not give: the lent function answers "
                        f"only for the test's own inputs")
                self.call_violations.append(what)
                return {"error": ["RuntimeError", f"{what}"]}
        else:
            module, _, name = qualname.rpartition(".")
            if name not in self.given.get(module, ()):
                return {"error": ["RuntimeError", f"{qualname} is not available"]}
        try:
            args = _decode(request.get("args"))
            kwargs = _decode(request.get("kwargs"))
            if _too_large((args, kwargs)):
                return {"error": ["ValueError", f"{qualname}: arguments too large to compute "
                                                f"while grading"]}
            with _quiet(), _time_limit(self.timeout):
                result = _reference(qualname)(*args, **kwargs)
            self.provenance |= _fingerprints((result, args, kwargs))
            return {"result": _encode(result), "args": _encode(args), "kwargs": _encode(kwargs)}
        except Exception as e:  # noqa: BLE001 - the reference's error goes back to the caller
            return {"error": [type(e).__name__, str(e)]}

    def _foreign_input(self, name, qualname, request):
        """The argument of a lent ``name`` that holds arrays neither of this test's case nor of
        an answer the judge gave during this call (None when all are)."""
        import inspect

        arg = self.active.lent_for.get(name)
        if arg is None:
            return None
        try:
            args, kwargs = _decode(request.get("args")), _decode(request.get("kwargs"))
            bound = inspect.signature(_reference(qualname)).bind_partial(*args, **kwargs)
        except (TypeError, ValueError):
            return None  # the reference itself will say what is wrong with the call
        value = bound.arguments.get(arg)
        if value is None or _fingerprints(value) <= self.provenance:
            return None
        return f"a {arg} argument"

    # -- cells -------------------------------------------------------------------------------

    def _left(self):
        """Seconds left of the notebook's budget (at most one call's limit)."""
        return max(0.5, min(self.timeout, self.deadline - time.monotonic()))

    def _out_of_time(self):
        if time.monotonic() >= self.deadline and not self.broken:
            self.broken = (f"the notebook used its {self.notebook_timeout:g} s in all "
                           f"(each cell and call also has {self.timeout:g} s)")
        return bool(self.broken)

    def _exec(self, index, source):
        if self.broken or self._out_of_time():
            return
        try:
            reply = self.worker.request({"op": "exec", "cell": index, "source": source},
                                        timeout=self._left())
        except _WorkerLost as lost:
            self.cell_errors[index] = f"the cell {lost}"
            self._restart()
            return
        self.executed.append((index, source))
        if reply.get("error"):
            self.cell_errors[index] = " ".join(str(x) for x in reply["error"] if x)
        self._note_events(index, reply.get("events", []))

    def _note_events(self, index, events):
        patches = [str(e.get("what")) for e in events if e.get("kind") == "patch"]
        if patches:
            self.taints.append((index, patches))
        for e in events:
            if e.get("kind") == "reference":
                self.top_references.append((index, str(e.get("what"))))

    def call(self, fn_name, spec, args, kwargs):
        """One call of the student's function for a check (used by _WorkerFunction)."""
        if self.broken or self._out_of_time():
            raise GradingFailure(f"{spec.name}: {self.broken}.")
        self.call_violations = []
        self.provenance = _fingerprints((args, kwargs))
        message = {"op": "call", "fn": fn_name, "args": _encode(tuple(args)),
                   "kwargs": _encode(kwargs), "subst": list(spec.substitutes)}
        try:
            reply = self.worker.request(message, timeout=self._left())
        except _WorkerLost as lost:
            self._restart()
            raise GradingFailure(
                f"{spec.name}: the call of your function {lost} (limit {self.timeout:g} s per "
                f"call). Look for an endless loop or code that exits the process.") from None
        events = reply.get("events", [])
        patches = [str(e.get("what")) for e in events if e.get("kind") == "patch"]
        if patches:
            self.taints.append((None, patches))
            raise IntegrityViolation(_patch_message(spec.name, patches, "while it ran"))
        reached = [str(e.get("what")) for e in events if e.get("kind") == "reference"]
        if reached or self.call_violations:
            raise IntegrityViolation(_reference_message(spec.name, reached + self.call_violations))
        return reply

    def _concerns(self, spec, what):
        module, _, func = spec.reference.rpartition(".")
        return (what in (spec.reference, module, f"rnnlib.{func}")
                or what.endswith("." + func) or (what == f"rnnlib.{spec.name}"))

    def _check(self, check, fn_name, part):
        spec = SPECS.get(check)
        result = {"check": check, "function": fn_name, "part": part, "passed": False,
                  "violation": False}
        if spec is None:
            result["message"] = f"unknown check {check!r}"
            return result
        try:
            if self.taints:
                where, changes = self.taints[0]
                by = f"by the notebook's cell {where}" if where is not None else "by a function"
                raise IntegrityViolation(_patch_message(spec.name, changes, f"before this test "
                                                        f"({by}; every later test scores 0)"))
            reached = [what for _, what in self.top_references if self._concerns(spec, what)]
            if reached:
                raise IntegrityViolation(_reference_message(spec.name, reached))
            self.active = spec
            result["message"] = _run_part(spec, part, _WorkerFunction(self, fn_name, spec))
            result["passed"] = True
        except GradingFailure as failure:
            result["message"] = str(failure)
            result["violation"] = isinstance(failure, IntegrityViolation)
        except Exception as e:  # noqa: BLE001 - fail closed, say so, grade the rest
            result["message"] = (f"{spec.name}: the test could not judge this function "
                                 f"({type(e).__name__}: {e}); ask your instructor.")
            if self.log is not None:
                self.log.error("judge: %s %s: internal error", fn_name, part, exc_info=True)
        finally:
            self.active = None
        return result

    def run(self):
        verdicts = {}
        try:
            self._start()
        except _WorkerLost as lost:
            self.broken = f"the grading worker did not start ({lost})"
        try:
            for index, cell in enumerate(self.cells):
                role = _cell_role(cell)
                if role == "exec":
                    self._exec(index, cell.get("source", ""))
                elif role == "test":
                    checks = parse_checks(cell.get("source", ""))
                    if checks:
                        verdicts[index] = [self._check(*c) for c in checks]
        finally:
            if self.worker is not None:
                self.worker.close()
        return verdicts


def judge_notebook(nb, timeout=30.0, log=None, wrap_command=None, notebook_timeout=300.0):
    """Grade the test cells of notebook ``nb`` (an nbformat node or a dict) outside its kernel.

    Returns {cell index: [result]} for the test cells that call ``grading.check_*``; each
    result is a dict with check, function, part, passed, message and violation (True for an
    integrity violation: rnnlib's reference reached, numpy or the grading code patched).
    ``timeout`` bounds each cell and each call in the worker (seconds), ``notebook_timeout``
    all of them together; ``wrap_command``, a
    function or a 'module:function' string, puts the worker in a sandbox (see ``_Worker``).
    """
    if isinstance(wrap_command, str):
        wrap_command = _load_callable(wrap_command) if wrap_command else None
    return _NotebookJudge(list(nb["cells"]), timeout=timeout, log=log,
                          wrap_command=wrap_command, notebook_timeout=notebook_timeout).run()


def _apply_verdicts(nb, verdicts, log=None):
    """Write the judge's verdicts as the test cells' outputs (which nbgrader then scores): the
    checks' sentences on a pass, an error naming every failure otherwise. The test cells did
    not run in the student's kernel (it never sees a test's source), so whatever outputs they
    carry are replaced."""
    import nbformat

    changed = []
    for index, results in verdicts.items():
        cell = nb.cells[index]
        failures = [r for r in results if not r["passed"]]
        if not failures:
            text = "\n".join(r["message"] for r in results if r.get("message"))
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout",
                                                   text=(text or "passed") + "\n")]
            continue
        violations = [r for r in failures if r["violation"]]
        decisive = violations or failures
        text = "\n".join(r["message"] for r in decisive)
        name = "IntegrityViolation" if violations else "GradingFailure"
        cell.outputs = [
            nbformat.v4.new_output("stream", name="stdout",
                                   text="Graded outside the notebook's kernel:\n"),
            nbformat.v4.new_output("error", ename=name, evalue=text,
                                   traceback=[f"\x1b[0;31m{name}\x1b[0m: {line}"
                                              for line in text.splitlines()]),
        ]
        changed.append(index)
        if log is not None:
            for r in decisive:
                log.warning("judge: %s %s: %s", r["function"], r["part"], r["message"])
    return changed


def _nbgrader_preprocessors():
    from nbgrader.preprocessors import NbGraderPreprocessor
    from traitlets import Float, Unicode

    class JudgeCells(NbGraderPreprocessor):
        """Autograde step (after Execute): re-grade every ``grading.check_*`` test cell
        outside the student's kernel and record failures in the cell's outputs."""

        timeout = Float(30.0, help="Seconds allowed for each cell or call in the grading "
                                   "worker.").tag(config=True)
        notebook_timeout = Float(300.0, help="Seconds allowed for the whole notebook in the "
                                             "grading worker.").tag(config=True)
        wrap_command = Unicode(
            "rnnlib.autograde.sandbox:wrap_command",
            help="'module:function' that wraps the worker's command line in a sandbox, called "
                 "as f(argv, cwd, readable=..., writable=...). The default runs the worker in "
                 "bubblewrap with the grading kernels' limits (limits only, and a loud warning, "
                 "where bubblewrap is missing); empty: no sandbox.").tag(config=True)

        def preprocess(self, nb, resources):
            verdicts = judge_notebook(nb, timeout=self.timeout, log=self.log,
                                      wrap_command=self.wrap_command or None,
                                      notebook_timeout=self.notebook_timeout)
            _apply_verdicts(nb, verdicts, log=self.log)
            return nb, resources

    class ReleaseTags(NbGraderPreprocessor):
        """generate_assignment step (after ClearSolutions): tag ``raises-exception`` the
        release cells that raise until the student writes the code (test cells, cells that
        call the student's functions, top-level solution stubs), so that nbval accepts the
        release while the instructor's notebook still must run cleanly."""

        def preprocess(self, nb, resources):
            defined = set()
            for cell in nb.cells:
                if cell.cell_type == "code" and _nbgrader_meta(cell).get("solution"):
                    with contextlib.suppress(SyntaxError):
                        for node in ast.parse(cell.source).body:
                            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                                defined.add(node.name)
            for cell in nb.cells:
                if cell.cell_type == "code":
                    _tag(cell, _raises_in_release(cell, defined))
            return nb, resources

    return {"JudgeCells": JudgeCells, "ReleaseTags": ReleaseTags}


_HIDDEN_TESTS = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*",
                           re.S | re.M)


def _raises_in_release(cell, defined):
    meta = _nbgrader_meta(cell)
    try:
        tree = ast.parse(_strip_magics(_HIDDEN_TESTS.sub("", cell.source)))
    except SyntaxError:
        return False
    if meta.get("grade") and not meta.get("solution"):
        return bool(tree.body)  # a test cell with visible tests
    if meta.get("solution"):
        return any(isinstance(node, ast.Raise) for node in tree.body)
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    return bool(used & defined) and not str(meta.get("grade_id", "")).startswith("setup")


def _tag(cell, on):
    tags = [t for t in cell.metadata.get("tags", []) if t != "raises-exception"]
    if on:
        tags.append("raises-exception")
    if tags:
        cell.metadata["tags"] = tags
    else:
        cell.metadata.pop("tags", None)


def __getattr__(name):
    if name in ("JudgeCells", "ReleaseTags"):
        classes = _nbgrader_preprocessors()
        globals().update(classes)
        return classes[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Taken last, so that it covers this module's own functions: in the kernel, anything replaced
# after the setup cell imported this module is a patch.
for _module in _WATCHED_MODULES:  # numpy.testing is imported lazily: watch it from the start
    importlib.import_module(_module)
del _module
_KERNEL_SNAPSHOT = _snapshot(_watched_names() + [__name__])

