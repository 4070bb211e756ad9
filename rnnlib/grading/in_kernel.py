"""The checks as the student runs them in their own kernel: ``grading.check_*`` calls
the function object directly (watched for reference code and patches) and raises a
GradingFailure whose first line carries the hint.
"""

import os
import re
import traceback

from .diagnosis import _run_part
from .outcomes import (
    GradingFailure,
    IntegrityViolation,
    _patch_message,
    _reference_message,
    _StudentRaised,
)
from .references import _reference, _ReferenceGuard
from .registry import SPECS
from .worker import (
    _bind_test_functions,
    _describe_exception,
    _quiet,
    _roundtrip,
    _snapshot_diff,
    substituted,
)

#: The watched modules (numpy, builtins, rnnlib and these checks) as they were when the
#: package was imported: anything replaced after that is a patch. Taken by ``__init__``, last.
_KERNEL_SNAPSHOT = None
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


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
                mine = [f for f in tb
                        if os.path.dirname(os.path.abspath(f.filename)) != _PACKAGE_DIR]
                if mine:
                    where = f"line {mine[-1].lineno}: {(mine[-1].line or '').strip()}"
            raise _StudentRaised(etype, message, where) from None
        if guard.reached:
            raise IntegrityViolation(_reference_message(spec.name, guard.reached))
        changes = _snapshot_diff(_KERNEL_SNAPSHOT) if _KERNEL_SNAPSHOT is not None else []
        if changes:
            raise IntegrityViolation(_patch_message(spec.name, changes, "while it ran"))
        return _roundtrip(result), _roundtrip(args)


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
