"""The grading worker: the process that runs a student's code for the judge.

Run as ``python -I worker.py --worker FD`` (by :class:`rnnlib.grading.worker_handle._Worker`,
inside the grading sandbox). It executes the notebook's setup and student cells and calls the
student's functions when the judge asks; everything in it is untrusted by the judge. This file
holds what both sides need (the message framing around :mod:`rnnlib.grading.wire`, the one
wire format, never pickle; the snapshots that detect patches) and the worker's loop, and
nothing that computes a graded function: the worker may read only this file, ``wire.py`` and
rnnlib's utilities (``activations``, ``checks``), so that no reference, no check and no
mistake model is within the student's reach
while they are graded. The student's ``from rnnlib import grading`` gets a stand-in whose
``check_*`` functions do nothing (test cells never run here).
"""

import contextlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import io
import json
import linecache
import os
import select
import struct
import sys
import time
import traceback
import types
import warnings

import numpy as np

#: rnnlib modules the worker loads from their files: utilities any student may use.
UTILITY_MODULES = ("activations", "checks")
_WATCHED_MODULES = ("numpy", "numpy.testing", "numpy.linalg", "numpy.random", "math", "builtins")

# Builtins that Jupyter kernels replace themselves (ipykernel swaps input() at every execution).
_KERNEL_BUILTINS = frozenset(("input", "raw_input", "display", "get_ipython", "exit", "quit",
                              "help", "copyright", "credits", "license"))

#: Largest message the judge accepts from the worker (bytes), checked before it is decoded:
#: the judge runs in nbgrader's own process, and a result of a graded function is small.
MAX_MESSAGE = 4 << 20


class _WorkerLost(Exception):
    """The worker process timed out, died or broke the protocol."""



# ---------------------------------------------------------------------------------------------
# Data across the process boundary: the wire format of rnnlib.grading.wire (no pickle).


def _load_wire():
    """The wire format (:mod:`rnnlib.grading.wire`): imported in the package, loaded from its
    file beside this one in the worker (which runs this file as a script)."""
    if __package__:
        from . import wire
        return wire
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wire.py")
    spec = importlib.util.spec_from_file_location("rnnlib_grading_wire", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_wire = _load_wire()
Opaque, FnRef, TransferError = _wire.Opaque, _wire.FnRef, _wire.TransferError


# Scalar functions of one array used to test numerical gradients: smooth, with curvature, so
# that a one-sided difference or a wrong step shows.
_TEST_FUNCTIONS = {
    "sin_poly": lambda x: float(np.sum(np.sin(1.5 * x) * x ** 2 + 0.3 * x ** 3)),
    "exp_mix": lambda x: float(np.sum(np.exp(0.5 * x) * np.cos(x)) + np.sum(x) ** 2),
}


def _encode(obj):
    """``obj`` as the worker sends it: the wire format, non-data kept as :class:`Opaque`."""
    return _wire.to_tree(obj, lenient=True)


def _decode(tree):
    """What :func:`_encode` made (ValueError, as :class:`TransferError`, when malformed)."""
    return _wire.from_tree(tree, lenient=True)


def _roundtrip(obj):
    """What the judge would see of ``obj`` after the worker sent it: plain data."""
    return _decode(json.loads(json.dumps(_encode(obj))))


def _bind_test_functions(args):
    """Replace FnRef placeholders by closures over the argument they name."""
    args = list(args)
    for i, a in enumerate(args):
        if isinstance(a, FnRef):
            f, target = _TEST_FUNCTIONS[a.name], args[a.over]
            args[i] = lambda f=f, target=target: f(target)
    return tuple(args)


def _frame(obj):
    """One message as it goes over a pipe: its JSON, after its length (4 bytes, big-endian)."""
    data = json.dumps(obj).encode()
    return struct.pack(">I", len(data)) + data


def _write_message(fd, obj):
    view = memoryview(_frame(obj))
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _read_exact(fd, n, deadline=None):
    chunks, left = [], n
    while left:
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([fd], [], [], wait)[0]:
                raise _WorkerLost("timed out")
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise _WorkerLost("stopped (the process exited)")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _read_message(fd, deadline=None):
    (n,) = struct.unpack(">I", _read_exact(fd, 4, deadline))
    if n > MAX_MESSAGE:
        raise _WorkerLost(f"sent {n} bytes at once, more than the limit of {MAX_MESSAGE}")
    try:
        return json.loads(_read_exact(fd, n, deadline))
    except (ValueError, RecursionError) as e:
        raise _WorkerLost(f"broke the protocol ({type(e).__name__})") from None


# ---------------------------------------------------------------------------------------------
# Snapshots of the modules a test relies on: anything replaced since is a patch.


def _snapshot(names):
    snap = {}
    for name in names:
        module = sys.modules.get(name)
        if module is None:
            continue
        entries = {}
        for key, value in list(vars(module).items()):
            if key.startswith("__") and key.endswith("__"):
                continue
            if name == "builtins" and (key.startswith("_") or key in _KERNEL_BUILTINS):
                continue
            if not (callable(value) or isinstance(value, types.ModuleType)):
                continue  # data (constants, lazily filled caches) is not what a patch targets
            code = value.__code__ if isinstance(value, types.FunctionType) else None
            entries[key] = (value, code)
        snap[name] = (module, entries)
    return snap


def _snapshot_diff(snap):
    """Sentences naming every watched attribute replaced or deleted since ``snap``."""
    changes = []
    for name, (module, entries) in snap.items():
        if sys.modules.get(name) is not module:
            changes.append(f"sys.modules[{name!r}] was replaced")
            continue
        now = vars(module)
        for key, (value, code) in entries.items():
            if key not in now:
                changes.append(f"{name}.{key} was deleted")
            elif now[key] is not value:
                changes.append(f"{name}.{key} was replaced")
            elif code is not None and getattr(value, "__code__", None) is not code:
                changes.append(f"the code of {name}.{key} was replaced")
    return changes


def _watched_names():
    names = list(_WATCHED_MODULES)
    names += sorted(n for n in sys.modules if n == "rnnlib" or n.startswith("rnnlib."))
    return names


# ---------------------------------------------------------------------------------------------
# The worker: executes the student's cells and calls their functions. Runs as
# ``python -I grading.py --worker FD``; everything in it is untrusted by the judge.


class _Stubs:
    """The worker's ``rnnlib``: utilities from their files, given reference functions as
    callbacks to the judge, and nothing else (import attempts are reported as events)."""

    def __init__(self, rnnlib_dir, given, exported, events, rpc, checks=()):
        self.dir, self.given, self.exported = rnnlib_dir, given, exported
        self.events, self.rpc, self.checks = events, rpc, tuple(checks)

    def install(self):
        package = types.ModuleType("rnnlib", "rnnlib as seen while grading: utilities only")
        package.__path__ = []
        package.__getattr__ = self._missing("rnnlib")
        sys.modules["rnnlib"] = package
        sys.meta_path.insert(0, _StubFinder(self))
        for name in UTILITY_MODULES:
            module = importlib.import_module(f"rnnlib.{name}")
            setattr(package, name, module)
        package.grading = sys.modules["rnnlib.grading"] = self.grading_stand_in()
        for key in ("relu", "sigmoid", "softmax", "tanh"):
            setattr(package, key, getattr(package.activations, key))
        for module_name, names in self.given.items():
            module = importlib.import_module(module_name)
            for key in names:
                if module_name + "." + key in self.exported:
                    setattr(package, key, getattr(module, key))

    def grading_stand_in(self):
        """``rnnlib.grading`` for the student's code: ``check_*`` that do nothing (the judge
        runs the tests), and nothing else: no case builder, reference or mistake model."""
        module = types.ModuleType("rnnlib.grading", "The course's checks; the judge runs them.")

        def check(func, part="values"):
            return None

        for name in self.checks:
            setattr(module, f"check_{name}", check)
        module.GradingFailure = type("GradingFailure", (AssertionError,), {})
        module.IntegrityViolation = type("IntegrityViolation", (module.GradingFailure,), {})
        module.__getattr__ = self._missing("rnnlib.grading")
        return module

    def _missing(self, module_name):
        def __getattr__(key):
            if key.startswith("__"):
                raise AttributeError(key)
            self.events.append({"kind": "reference", "what": f"{module_name}.{key}"})
            raise AttributeError(
                f"{module_name}.{key} is rnnlib's reference, which is not available while "
                f"grading: write the function yourself")
        return __getattr__

    def stub(self, qualname):
        return _rpc_stub(self.rpc, qualname)


def _rpc_stub(rpc, qualname):
    """A stand-in for rnnlib's ``qualname`` whose calls the judge answers."""

    def reference(*args, **kwargs):
        return rpc(qualname, args, kwargs)

    reference.__name__ = reference.__qualname__ = qualname.rsplit(".", 1)[1]
    reference.__doc__ = f"rnnlib's {qualname}, computed by the grader."
    return reference


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, stubs):
        self.stubs = stubs

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "rnnlib" and not fullname.startswith("rnnlib."):
            return None
        short = fullname[len("rnnlib."):]
        if short in UTILITY_MODULES:
            return importlib.util.spec_from_file_location(
                fullname, os.path.join(self.stubs.dir, short + ".py"))
        if fullname in self.stubs.given:
            return importlib.machinery.ModuleSpec(fullname, self)
        self.stubs.events.append({"kind": "reference", "what": fullname})
        raise ImportError(f"{fullname} is rnnlib's reference, which is not available while "
                          f"grading: write the function yourself")

    def create_module(self, spec):
        module = types.ModuleType(spec.name)
        for key in self.stubs.given[spec.name]:
            setattr(module, key, self.stubs.stub(f"{spec.name}.{key}"))
        module.__getattr__ = self.stubs._missing(spec.name)
        return module

    def exec_module(self, module):
        pass


def _write_back(original, after):
    """Make ``original`` (arguments of a call served by the judge) equal ``after`` in place."""
    if isinstance(original, np.ndarray) and isinstance(after, np.ndarray):
        if original.shape == after.shape and original.flags.writeable:
            np.copyto(original, after, casting="unsafe")
    elif isinstance(original, dict) and isinstance(after, dict):
        for key, value in after.items():
            if key in original and isinstance(original[key], (np.ndarray, dict, list, tuple)):
                _write_back(original[key], value)
            else:
                original[key] = value
    elif isinstance(original, (list, tuple)) and isinstance(after, (list, tuple)):
        for i, (o, a) in enumerate(zip(original, after, strict=False)):
            if isinstance(o, (np.ndarray, dict, list, tuple)):
                _write_back(o, a)
            elif isinstance(original, list):
                original[i] = a


def _strip_magics(source):
    """IPython magics and shell escapes become comments (the worker is plain Python)."""
    return "\n".join("# " + line if line.lstrip().startswith(("%", "!")) else line
                     for line in source.splitlines())


def _describe_exception(exc):
    """(type name, message, 'cell N, line L: source') of the innermost student frame."""
    where = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename.startswith("<cell"):
            code = (frame.line or "").strip()
            where = f"{frame.filename.strip('<>')}, line {frame.lineno}: {code}"
    try:
        message = str(exc)
    except Exception:  # noqa: BLE001
        message = "?"
    return type(exc).__name__, message[:2000], where


@contextlib.contextmanager
def substituted(namespace, replacements):
    """``namespace`` (a function's globals) with ``replacements`` ({name: value}) in place while
    the block runs, then exactly as before (a name that was missing is removed again): how a
    graded function is lent the references of the functions it calls."""
    missing = object()
    saved = {name: namespace.get(name, missing) for name in replacements}
    namespace.update(replacements)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is missing:
                namespace.pop(name, None)
            else:
                namespace[name] = value


@contextlib.contextmanager
def _quiet():
    """No warnings (a test cell that writes to stderr scores 0 in nbgrader) and no output."""
    with warnings.catch_warnings(), np.errstate(all="ignore"), \
            contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


class _Host:
    """What runs the student's code for the judge: it executes cells, calls the student's
    functions on the judge's arguments and reports patches and attempts to reach a reference.

    It lives in the grading worker (:func:`_worker_main`, for
    :func:`~rnnlib.grading.judge_notebook`) or in the notebook's own grading kernel
    (:func:`kernel_host`, at ``nbgrader autograde``); ``namespace`` is the student's global
    namespace there. It reads requests from ``request_fd`` and writes replies and callbacks to
    ``reply_fd``."""

    def __init__(self, request_fd, reply_fd, setup, namespace):
        self.request_fd, self.reply_fd, self.namespace = request_fd, reply_fd, namespace
        self.events = []
        _Stubs(setup["rnnlib_dir"], {k: tuple(v) for k, v in setup["given"].items()},
               set(setup["exported"]), self.events, self.rpc, setup.get("checks", ())).install()
        for name in _WATCHED_MODULES:
            importlib.import_module(name)
        self.snap = _snapshot(_watched_names())

    def send(self, obj):
        _write_message(self.reply_fd, obj)

    def rpc(self, qualname, args, kwargs):
        """Call rnnlib's ``qualname``: the judge computes it (a callback) and answers."""
        self.send({"op": "callback", "name": qualname, "args": _encode(args),
                   "kwargs": _encode(kwargs)})
        answer = _read_message(self.request_fd)
        if "error" in answer:
            etype, message = answer["error"]
            raise {"ValueError": ValueError, "TypeError": TypeError}.get(etype, RuntimeError)(
                message)
        # The reference may have changed its arguments in place (update_parameters, clip):
        # do the same to the caller's objects.
        _write_back(args, _decode(answer["args"]))
        _write_back(kwargs, _decode(answer["kwargs"]))
        return _decode(answer["result"])

    def take_events(self):
        """The patches since the last call, then the reference attempts; both cleared."""
        found = [{"kind": "patch", "what": change} for change in _snapshot_diff(self.snap)]
        if found:  # report a patch once, then watch for the next one
            self.snap.update(_snapshot(_watched_names()))
        found += self.events
        self.events.clear()
        return found

    def handle(self, request):
        """The reply to one ``exec``, ``call`` or ``agent`` request (None for any other:
        stop)."""
        op = request.get("op")
        if op == "agent":
            return self._agent(request.get("text"))
        if op == "exec":
            filename = f"<cell {request['cell']}>"
            source = _strip_magics(request["source"])
            linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
            error = None
            try:
                with _quiet():
                    exec(compile(source, filename, "exec"), self.namespace)  # noqa: S102
            except BaseException as exc:  # noqa: BLE001 - the cell failed; the notebook goes on
                error = _describe_exception(exc)
            return {"error": error, "events": self.take_events()}
        if op != "call":
            return None
        func = self.namespace.get(request["fn"])
        if not callable(func):
            return {"status": "missing", "events": self.take_events()}
        args = _bind_test_functions(_decode(request["args"]))
        kwargs = _decode(request["kwargs"])
        stubs = {name: _rpc_stub(self.rpc, "__subst__." + name)
                 for name in request.get("subst", [])}
        try:
            with substituted(self.namespace, stubs), _quiet():
                result = func(*args, **kwargs)
            reply = {"status": "ok", "result": _encode(result), "args": _encode(args)}
        except BaseException as exc:  # noqa: BLE001
            etype, message, where = _describe_exception(exc)
            reply = {"status": "raised", "etype": etype, "message": message, "where": where}
        reply["events"] = self.take_events()
        return reply


    def _agent(self, text):
        """A request of the instructor's own test cells (:mod:`rnnlib.autograde.agent`, whose
        file lies beside this one in the kernel's view), answered against the namespace;
        what the student's code prints meanwhile comes back with it."""
        if getattr(self, "agent_serve", None) is None:
            here = os.path.dirname(os.path.abspath(__file__))
            parts = []
            for name in ("wire.py", "agent.py"):
                with open(os.path.join(here, name), encoding="utf-8") as f:
                    parts.append(f.read())
            agent = {"__name__": "__autograde_agent__"}
            exec(compile("\n\n".join(parts), "<autograde>", "exec"), agent)  # noqa: S102
            self.agent_serve = agent["serve"]
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                answer = self.agent_serve(str(text), self.namespace)
        except BaseException as exc:  # noqa: BLE001 - a malformed request or a broken agent
            return {"failed": [type(exc).__name__, str(exc)[:2000]]}
        return {"answer": answer, "stdout": out.getvalue()[:1_000_000]}


def _worker_main(reply_fd):
    # The protocol runs on a private copy of stdin and on reply_fd; the student's code sees
    # an empty stdin and writes into nothing.
    request_fd = os.dup(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    host = _Host(request_fd, reply_fd, _read_message(request_fd), namespace)
    host.send({"ok": True})
    while True:
        reply = host.handle(_read_message(request_fd))
        if reply is None:
            return
        host.send(reply)


#: Environment variable naming the grading kernel's ends of its pipes to the judge
#: ("request fd,reply fd"), set by the sandboxed kernel manager.
KERNEL_FDS = "RNNLIB_GRADING_FDS"


def kernel_host(setup):
    """Make this grading kernel the judge's host (run once by ``JudgedExecute`` when the kernel
    has started, before any cell): rnnlib becomes the stubs, the student's cells are watched
    for patches as they run (an IPython ``post_run_cell`` hook), and :func:`serve` answers
    the judge while a test cell is graded."""
    from IPython import get_ipython

    shell = get_ipython()
    request_fd, reply_fd = (int(fd) for fd in os.environ.pop(KERNEL_FDS).split(","))
    host = _Host(request_fd, reply_fd, setup, shell.user_ns)
    pending = []  # [execution count, events] of the cells run since the judge last asked

    def after_cell(result):
        events = host.take_events()
        if events and result.execution_count:  # not the grader's own requests or replays
            pending.append([result.execution_count, events])

    def serve(nonce):
        """Answer the judge's requests until it says it is done (one test cell). The replies
        carry the judge's ``nonce`` and each request's ``seq``, so that whatever else was
        written to the pipe is told apart and dropped."""
        host.send({"op": "ready", "nonce": nonce, "events": list(pending)})
        pending.clear()
        while True:
            request = _read_message(request_fd)
            reply = host.handle(request)
            if reply is None:
                return
            reply["seq"] = request.get("seq")
            host.send(reply)

    shell.events.register("post_run_cell", after_cell)
    globals()["serve"] = serve


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--worker":
    _worker_main(int(sys.argv[2]))
