"""The judge: grade a notebook's ``grading.check_*`` test cells outside its kernel.

The judge runs in nbgrader's own process and never executes student code. It starts a
worker (:mod:`rnnlib.grading.worker`, sandboxed) that executes the notebook's setup and
student cells and serves calls of the student's functions; it lends references only
while they are allowed and only for the test's own data, builds the cases, computes the
reference and the known mistakes, compares and diagnoses.
"""

import ast
import contextlib
import functools
import signal
import time

import numpy as np

from .diagnosis import _run_part
from .outcomes import GradingFailure, IntegrityViolation, _patch_message, _reference_message
from .references import _RNNLIB_DIR, _UTILITY_MODULES, _reference
from .registry import SPECS
from .worker import _decode, _encode, _quiet, _strip_magics, _WorkerLost
from .worker_handle import _load_callable, _Worker, _WorkerFunction


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
    sources = tuple(sources)
    try:
        given = _setup_imports_of(sources)
    except TypeError:  # a source that is not a string cannot be a key: parsed as before
        given = _setup_imports_of.__wrapped__(sources)
    return {module: list(names) for module, names in given.items()}


@functools.lru_cache(maxsize=64)
def _setup_imports_of(sources):
    # A class's notebooks share their setup cells: parsed once per process.
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
                if node.module[len("rnnlib."):].split(".")[0] in _UTILITY_MODULES:
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

    def setup_message(self, rnnlib_dir=_RNNLIB_DIR):
        """What the host of the student's code needs: where the utilities are, which rnnlib
        functions the setup cells give (served as callbacks) and the checks' names."""
        return {"op": "setup", "rnnlib_dir": rnnlib_dir, "given": self.given,
                "exported": self.exported, "checks": sorted(SPECS)}

    def _start(self):
        self.worker = _Worker(self.setup_message(), self.timeout, self._serve,
                              self.wrap_command)

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


def verdict_outputs(results, log=None):
    """The outputs of a test cell judged with ``results`` (which nbgrader then scores): the
    checks' sentences on a pass, an error naming every failure otherwise."""
    import nbformat

    failures = [r for r in results if not r["passed"]]
    if not failures:
        text = "\n".join(r["message"] for r in results if r.get("message"))
        return [nbformat.v4.new_output("stream", name="stdout", text=(text or "passed") + "\n")]
    violations = [r for r in failures if r["violation"]]
    decisive = violations or failures
    text = "\n".join(r["message"] for r in decisive)
    name = "IntegrityViolation" if violations else "GradingFailure"
    if log is not None:
        for r in decisive:
            log.warning("judge: %s %s: %s", r["function"], r["part"], r["message"])
    return [
        nbformat.v4.new_output("stream", name="stdout",
                               text="Graded outside the notebook's code (its "
                                    "functions were called by the judge):\n"),
        nbformat.v4.new_output("error", ename=name, evalue=text,
                               traceback=[f"\x1b[0;31m{name}\x1b[0m: {line}"
                                          for line in text.splitlines()]),
    ]
