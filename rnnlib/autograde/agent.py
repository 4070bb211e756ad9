"""The few lines the grader runs inside the student's kernel to reach the student's names.

The grader sends this module's source together with :mod:`rnnlib.grading.wire` into the
kernel with every request (see :func:`request_code`). It looks names up in the student's
namespace, calls the student's functions on arguments the grader chose and sends results back as
plain data. It judges nothing: whatever the student's code does to it can only change the
values the student hands in, which is exactly what is being graded.
"""

import functools
import inspect
import pathlib

#: Name under which each request leaves its answer in the student's namespace.
RESULT_NAME = "__autograde_result__"


def _rng_state():
    import sys

    state = {}
    if "numpy" in sys.modules:
        try:
            state["numpy"] = sys.modules["numpy"].random.get_state()
        except Exception:
            pass
    if "random" in sys.modules:
        try:
            state["random"] = sys.modules["random"].getstate()
        except Exception:
            pass
    return state


def _set_rng_state(state):
    import sys

    if not state:
        return
    if "numpy" in state:
        try:
            import numpy

            numpy.random.set_state(state["numpy"])  # noqa: NPY002 - the global generator
        except Exception:
            pass
    if "random" in state:
        try:
            sys.modules["random"].setstate(state["random"])
        except Exception:
            pass


def _describe(value):
    if inspect.ismodule(value):
        return ("module", getattr(value, "__name__", ""))
    if callable(value) and not isinstance(value, type):
        return ("callable", None)
    try:
        encode(value)  # noqa: F821 - provided by the wire source sent alongside
    except Exception:
        return ("other", type(value).__name__)
    return ("data", value)


def _error(exc, limit=40):
    import traceback

    lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    lines = [line for line in lines if "<autograde>" not in line]
    text = "".join(lines[-limit:])
    return {"ename": type(exc).__name__, "evalue": str(exc)[:2000], "traceback": text[-8000:]}


def serve(text, ns):
    """Answer one request (JSON text) against the student's namespace ``ns``; return JSON."""
    request = decode(text, refs=lambda name: ns[name])  # noqa: F821
    _set_rng_state(request.get("rng"))
    op = request["op"]
    answer = {}
    if op == "prepare":
        kinds = {}
        for name in request["names"]:
            if name in ns:
                kinds[name] = _describe(ns[name])
        answer["kinds"] = kinds
    elif op == "call":
        function = ns.get(request["name"])
        args, kwargs = request["args"], request["kwargs"]
        try:
            if function is None:
                raise NameError(f"name {request['name']!r} is not defined")
            result = function(*args, **kwargs)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # the student's code may raise anything, SystemExit too
            answer["error"] = _error(exc)
        else:
            try:
                answer["ok"] = encode(result)  # noqa: F821
            except Exception as exc:
                answer["error"] = {
                    "ename": "TransferError",
                    "evalue": f"{request['name']} returned a value the grader cannot read: {exc}",
                    "traceback": "",
                }
            try:
                answer["after"] = encode([args[i] for i in request.get("sync", [])])  # noqa: F821
            except Exception:
                pass
    answer["rng"] = _rng_state()
    return encode(answer)  # noqa: F821


@functools.lru_cache(maxsize=1)
def source():
    """The code that runs in the kernel: the wire format (rnnlib.grading.wire), then this
    module."""
    from ..grading import wire

    parts = [pathlib.Path(wire.__file__).read_text(), pathlib.Path(__file__).read_text()]
    return "\n\n".join(parts)


def request_code(request_json):
    """The code cell that answers ``request_json`` in the kernel and leaves the answer in
    :data:`RESULT_NAME` as base64 text."""
    return (
        f"def __autograde_run__(request, src={source()!r}):\n"
        "    import base64 as b64\n"
        "    g = {'__name__': '__autograde_agent__'}\n"
        "    exec(compile(src, '<autograde>', 'exec'), g)\n"
        "    answer = g['serve'](request, globals())\n"
        "    return b64.b64encode(answer.encode('utf-8')).decode('ascii')\n"
        f"{RESULT_NAME} = None\n"
        f"{RESULT_NAME} = __autograde_run__({request_json!r})\n"
        "del __autograde_run__\n"
    )
