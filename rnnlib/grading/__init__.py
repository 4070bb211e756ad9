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

Where things are (one concept a module):

    spec.py, diagnosis.py   what a check is (cases, mistakes, comparison) and the
                            mistake-matching that names what is wrong, once for all checks
    cases.py, sequences.py  building blocks of cases and of the mistakes of a loop over time
    rnn.py, bptt.py, language_model.py, gru.py, lstm.py, brnn_deep.py
                            the checks of each assignment, each with its cases and mistakes
    registry.py             SPECS: every check by the name of the function it grades
    in_kernel.py            ``check_*`` as the student runs them in their kernel
    judge.py                the judge: builds the cases, calls the student's functions,
                            compares, diagnoses (``judge_notebook``: a notebook graded in a
                            worker process of its own)
    kernel_judge.py         the same judge at ``nbgrader autograde``, calling the student's
                            functions in the notebook's own grading kernel
    worker.py               the host of the student's code (the worker process, or the
                            grading kernel): stubs, patch guards, the message framing
    worker_handle.py        the judge's side of the worker process
    wire.py                 the one wire format (JSON plus raw array bytes, never pickle)
    references.py, outcomes.py
                            what counts as reaching rnnlib's reference; failures and violations
    release_tags.py         the nbgrader step ``ReleaseTags`` (generate_assignment)

Two places run the same checks:

* In the student's kernel (``check_*``): the function object is called directly. This gives the
  student their feedback while they work. It also refuses the cheap tricks it can see (numpy,
  ``np.testing`` or this package patched since the setup cell imported it; rnnlib's reference
  reached from the student's function), but code in the kernel can always fool code in the
  same kernel.
* At grading, outside the student's code. At ``nbgrader autograde`` the student's code runs
  once, in the sandboxed grading kernel, which holds the judge's host (``worker.py``) instead
  of rnnlib; ``JudgedExecute`` judges each ``grading.check_*`` test cell in nbgrader's own
  process (:mod:`.kernel_judge`), calling the student's functions in that kernel. Without
  nbgrader, ``judge_notebook`` starts a fresh worker process (``python -I``: pristine numpy,
  the student's folder not on ``sys.path``) that executes the notebook's setup and student
  cells in order and serves the same calls. Either host has no rnnlib reference loaded: the
  setup cells' rnnlib imports (and the functions a check substitutes, e.g. rnnlib's
  ``rnn_cell_forward`` while ``rnn_forward`` is graded, so a mistake in the cell costs points
  once) are stubs that call back into the judge, which answers them only when allowed, and
  only for the test's own data. Data crosses the boundary as JSON and raw numeric array bytes
  (never pickle). The judge builds the cases, computes the reference and the known mistakes,
  compares and diagnoses; its verdicts are the test cells' outputs.

Integrity rules (a violation scores 0 for that test, with a message naming it):

* a function that reaches rnnlib's reference of a graded function (importing it, calling it,
  or calling a substituted reference outside the check that substitutes it);
* numpy, ``numpy.testing``, ``numpy.linalg``, ``numpy.random``, ``math``, ``builtins`` or an
  rnnlib module (this package's included) patched, or replaced in ``sys.modules``: by a
  function while it is graded (that function's tests), or by a cell's top-level code (every
  test after it).

Shapes follow the notes: xt (n_x, m), a_prev (n_a, m), x (n_x, m, T_x), a (n_a, m, T_x),
y_pred (n_y, m, T_x), biases (n, 1).

Both hosts run in the grading sandbox (the kernel always; the worker with ``judge_notebook``'s
``wrap_command``, e.g. ``rnnlib.autograde.sandbox.wrap_command``: bubblewrap, no network, the
kernels' limits): they can read only ``worker.py``, ``wire.py`` and the utility modules, not
rnnlib's references nor these checks. The host's own checks (patches, import attempts) can
still be defeated by code that attacks the host itself; that only changes the student's own
outputs, which the judge still compares with its own reference.
"""

import importlib

from . import in_kernel as _in_kernel
from .in_kernel import HEADLINE_WIDTH, headline_first
from .judge import judge_notebook, parse_checks
from .outcomes import GradingFailure, IntegrityViolation
from .registry import SPECS
from .spec import ATOL, RTOL
from .worker import _WATCHED_MODULES, _snapshot, _watched_names

__all__ = ["ATOL", "GradingFailure", "HEADLINE_WIDTH", "IntegrityViolation", "RTOL",
           "ReleaseTags", "SPECS", "headline_first", "judge_notebook", "parse_checks"]

for _name in SPECS:
    globals()[f"check_{_name}"] = _in_kernel._make_check(_name)
    __all__.append(f"check_{_name}")
del _name

#: The nbgrader step, imported when nbgrader asks for it (a student's kernel has no nbgrader).
_STEPS = {"ReleaseTags": ".release_tags"}


def __getattr__(name):
    if name in _STEPS:
        value = getattr(importlib.import_module(_STEPS[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Taken last, so that it covers this package's own functions: in the kernel, anything replaced
# after the setup cell imported it is a patch.
for _module in _WATCHED_MODULES:  # numpy.testing is imported lazily: watch it from the start
    importlib.import_module(_module)
del _module
_in_kernel._KERNEL_SNAPSHOT = _snapshot(_watched_names())
