"""Run the instructor's test cells in the grader, against the student's kernel by proxy.

Stock nbgrader runs test cells in the student's kernel, after the student's code: whatever that
code did (patch ``numpy.testing``, replace the grading helpers, import the reference) changes
how the tests run. Here the test cells never run in the student's kernel. :class:`Judge`
executes each one in the grader's own process, with the grader's numpy, rnnlib and grading
helpers, in a namespace where every name the student defined is either

- a *copy* of the student's value (plain data only: numbers, strings, arrays, lists, tuples,
  dicts; see :mod:`rnnlib.grading.wire`), or
- a :class:`Proxy` for the student's function: calling it sends the arguments (as data) into the
  sandboxed kernel, runs the student's function there and brings the result back as data.

The student's code can therefore only influence the values its functions return, which is
exactly what the tests judge. numpy's and ``random``'s global generators are kept in step
between the two sides, so a test that seeds and then calls the student's function behaves as
it would in one kernel.

Contract for test cells (what the exercises follow): call the student's functions by name and
pass them data (arrays, numbers, strings, lists, tuples, dicts, or other student functions); a
name the test cell does not define itself is read from the student's kernel.
"""

import ast
import builtins
import contextlib
import importlib
import io
import os
import random
import sys
import time

import numpy as np

from ..grading import wire

#: Modules a test cell may receive when the student's namespace names a module (``np``);
#: anything else must be imported by the test cell itself.
IMPORTABLE = ("numpy", "math", "random", "rnnlib", "scipy", "torch", "collections",
              "itertools", "functools", "string", "re", "json", "copy", "operator", "statistics")


class StudentError(Exception):
    """The student's function raised, or returned something that is not plain data."""

    def __init__(self, function, ename, evalue, traceback=""):
        super().__init__(f"{function} raised {ename}: {evalue}")
        self.function, self.ename, self.evalue, self.student_traceback = (
            function, ename, evalue, traceback)


class StudentTimeout(Exception):
    """The student's function ran past the time limit."""


class StudentCrash(Exception):
    """The student's kernel died while running the student's function."""


class GraderLimitation(Exception):
    """The test asks for something the grader cannot do across the sandbox (needs a person)."""


class Proxy:
    """Stands for a function defined in the student's kernel."""

    def __init__(self, judge, name):
        self._judge = judge
        self.__name__ = self.__qualname__ = name

    def __call__(self, *args, **kwargs):
        return self._judge.call(self.__name__, args, kwargs)

    def __repr__(self):
        return f"<student function {self.__name__}>"


class Verdict:
    """What the judge decided for one test cell."""

    def __init__(self, status, reason="", functions=(), stdout="", value=None, error=None,
                 flag=None):
        #: "pass", "fail" or "manual"
        self.status = status
        #: one line for the instructor (and, for a failure, the student)
        self.reason = reason
        #: the student functions the cell called
        self.functions = list(functions)
        self.stdout = stdout
        #: repr of the cell's last expression (nbgrader's partial credit), or None
        self.value = value
        #: (ename, evalue) of the failure shown to the student
        self.error = error
        #: "timeout", "crash" or None
        self.flag = flag

    def as_dict(self):
        """A JSON-ready summary (stored in the autograded notebook's metadata)."""
        return {"status": self.status, "reason": self.reason, "functions": self.functions,
                "flag": self.flag}


def free_names(source):
    """Names a cell reads (and may not define first): candidates for the student's side."""
    tree = ast.parse(source)
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            names.add(node.id)
    return sorted(names)


def _valid_rng(state):
    """Keep only well-formed generator states sent by the kernel."""
    out = {}
    if not isinstance(state, dict):
        return out
    nps = state.get("numpy")
    if (isinstance(nps, tuple) and len(nps) == 5 and nps[0] == "MT19937"
            and isinstance(nps[1], np.ndarray) and nps[1].shape == (624,)
            and nps[1].dtype.kind in "iu"):
        out["numpy"] = nps
    rs = state.get("random")
    if (isinstance(rs, tuple) and len(rs) == 3 and rs[0] == 3 and isinstance(rs[1], tuple)
            and len(rs[1]) == 625 and all(isinstance(v, int) for v in rs[1])):
        out["random"] = rs
    return out


def _set_rng(state):
    state = _valid_rng(state)
    with contextlib.suppress(Exception):
        if "numpy" in state:
            np.random.set_state(state["numpy"])  # noqa: NPY002
    with contextlib.suppress(Exception):
        if "random" in state:
            random.setstate(state["random"])


def _get_rng():
    return {"numpy": np.random.get_state(), "random": random.getstate()}  # noqa: NPY002


class Judge:
    """Runs one notebook's test cells; ``rpc(request_text) -> answer_text`` reaches the
    student's kernel (JSON made by :mod:`rnnlib.grading.wire`).

    ``rpc`` blocks and raises :class:`StudentTimeout`, :class:`StudentCrash` or
    :class:`StudentError`.
    """

    def __init__(self, rpc, cwd=None, importable=IMPORTABLE, max_output=100_000):
        self.rpc = rpc
        self.cwd = cwd
        self.importable = tuple(importable)
        self.max_output = max_output
        #: names the test cells themselves defined (trusted), kept from cell to cell
        self.trusted = {"__name__": "__main__", "__builtins__": builtins}
        self._called = []
        np.random.seed(0)  # noqa: NPY002 - the global generator tests share
        random.seed(0)

    # -- talking to the kernel ---------------------------------------------------------------
    def _request(self, request):
        request["rng"] = _get_rng()
        try:
            text = wire.encode(request)
        except wire.TransferError as exc:
            raise GraderLimitation(f"cannot send the test's data to the kernel: {exc}") from None
        answer = wire.decode(self.rpc(text))
        if not isinstance(answer, dict):
            raise wire.TransferError("malformed answer")
        _set_rng(answer.get("rng"))
        return answer

    def _wire(self, value, depth=0):
        if depth > wire.MAX_DEPTH:
            raise GraderLimitation("test data nested too deeply")
        if isinstance(value, Proxy):
            return wire.Ref(value.__name__)
        if isinstance(value, list):
            return [self._wire(v, depth + 1) for v in value]
        if isinstance(value, tuple):
            return tuple(self._wire(v, depth + 1) for v in value)
        if isinstance(value, dict):
            return {k: self._wire(v, depth + 1) for k, v in value.items()}
        return value

    def call(self, name, args, kwargs):
        """Call the student's function ``name`` in the kernel; return its result as data."""
        if name not in self._called:
            self._called.append(name)
        args = list(args)
        sync = [i for i, a in enumerate(args) if isinstance(a, (np.ndarray, list, dict))]
        request = {"op": "call", "name": name, "args": self._wire(args),
                   "kwargs": self._wire(dict(kwargs)), "sync": sync}
        try:
            before = {i: wire.encode(request["args"][i]) for i in sync}
        except wire.TransferError as exc:
            raise GraderLimitation(f"cannot pass this argument to {name}: {exc}") from None
        try:
            answer = self._request(request)
        except wire.TransferError as exc:
            raise StudentError(name, "TransferError", str(exc)) from None
        except StudentError as exc:
            exc.function = name
            raise StudentError(name, exc.ename, exc.evalue, exc.student_traceback) from None
        if "error" in answer:
            err = answer["error"] if isinstance(answer["error"], dict) else {}
            raise StudentError(name, str(err.get("ename", "Error")),
                               str(err.get("evalue", "")), str(err.get("traceback", "")))
        if "ok" not in answer:
            raise StudentError(name, "TransferError", "no result came back")
        try:
            result = wire.decode(answer["ok"])
        except wire.TransferError as exc:
            raise StudentError(name, "TransferError", str(exc)) from None
        self._apply_mutations(args, sync, before, answer.get("after"))
        return result

    @staticmethod
    def _apply_mutations(args, sync, before, after_text):
        """Mirror in-place changes the student's function made to array/list/dict arguments."""
        if not sync or not isinstance(after_text, str):
            return
        try:
            after = wire.decode(after_text)
        except wire.TransferError:
            return
        if not isinstance(after, list) or len(after) != len(sync):
            return
        for i, new in zip(sync, after, strict=True):
            try:
                if wire.encode(new) == before[i]:
                    continue
            except wire.TransferError:
                continue
            old = args[i]
            with contextlib.suppress(Exception):
                if isinstance(old, np.ndarray) and isinstance(new, np.ndarray) \
                        and old.shape == new.shape and old.flags.writeable:
                    old[...] = new
                elif isinstance(old, dict) and isinstance(new, dict):
                    old.clear()
                    old.update(new)
                elif isinstance(old, list) and isinstance(new, list):
                    old[:] = new

    def _student_names(self, source):
        names = [n for n in free_names(source) if n not in self.trusted]
        if not names:
            return {}
        answer = self._request({"op": "prepare", "names": names})
        kinds = answer.get("kinds") if isinstance(answer.get("kinds"), dict) else {}
        namespace = {}
        for name, kind in kinds.items():
            if name not in names or not isinstance(kind, tuple) or len(kind) != 2:
                continue
            what, payload = kind
            if what == "callable":
                namespace[name] = Proxy(self, name)
            elif what == "data":
                namespace[name] = payload
            elif what == "module" and isinstance(payload, str):
                module = self._module(payload)
                if module is not None:
                    namespace[name] = module
            # anything else stays undefined: a NameError in the test, as for a missing name
        return namespace

    def _module(self, name):
        top = name.split(".")[0]
        if name in sys.modules and top in self.importable:
            return sys.modules[name]
        if top in self.importable:
            with contextlib.suppress(Exception):
                return importlib.import_module(name)
        return None

    # -- running a test cell -----------------------------------------------------------------
    def run_cell(self, source, label="test"):
        """Run one test cell's (trusted) ``source``; return a :class:`Verdict`."""
        self._called = []
        out = io.StringIO()
        value = None
        try:
            tree = ast.parse(source)
        except SyntaxError as exc:
            return Verdict("manual", f"test cell {label} does not parse: {exc}")
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        old_cwd = os.getcwd()
        namespace, student = dict(self.trusted), {}
        try:
            namespace.update(self._student_names(source))
            student = {k: v for k, v in namespace.items() if k not in self.trusted}
            if self.cwd:
                os.chdir(self.cwd)
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                exec(compile(tree, f"<{label}>", "exec"), namespace)
                if last is not None:
                    result = eval(compile(last, f"<{label}>", "eval"), namespace)
                    if result is not None:
                        value = repr(result)
            verdict = Verdict("pass", "", self._called, value=value)
        except StudentTimeout as exc:
            verdict = Verdict("fail", f"timeout: {exc}", self._called,
                              error=("TimeoutError", str(exc)), flag="timeout")
        except StudentCrash as exc:
            verdict = Verdict("fail", f"crash: {exc}", self._called,
                              error=("KernelDied", str(exc)), flag="crash")
        except GraderLimitation as exc:
            verdict = Verdict("manual", f"the grader cannot run this test: {exc}", self._called,
                              error=("NeedsManualGrade", str(exc)))
        except StudentError as exc:
            verdict = Verdict("fail", str(exc), self._called, error=(exc.ename, str(exc)))
            verdict.student_traceback = exc.student_traceback
        except wire.TransferError as exc:
            verdict = Verdict("fail", f"unreadable answer from the kernel: {exc}", self._called,
                              error=("TransferError", str(exc)))
        except Exception as exc:  # the test failed: an assertion or any other error
            verdict = Verdict("fail", f"{type(exc).__name__}: {exc}".splitlines()[0][:300],
                              self._called, error=(type(exc).__name__, str(exc)))
        finally:
            os.chdir(old_cwd)
        # keep what the test cell itself defined, never the student's copies or proxies
        if verdict.status != "manual":
            for key, val in namespace.items():
                if key in student and student[key] is val:
                    continue
                if isinstance(val, Proxy):
                    continue
                self.trusted[key] = val
        verdict.stdout = out.getvalue()[: self.max_output]
        return verdict

    def sync_rng(self):
        """Push the grader's generator states to the kernel (after a test cell)."""
        self._request({"op": "prepare", "names": []})


def now():
    """Monotonic seconds (for deadlines)."""
    return time.monotonic()
