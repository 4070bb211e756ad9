"""Integrity of the out-of-kernel judge against submissions that aim at what grading provides.

Two classes of attack, each tried in the ways a student would (these are not the private cases
of the issue; they are the class, built here from the open repository, as a student could):

* the grading module's own helpers: in the grading worker, ``rnnlib.grading`` is a stand-in with
  nothing but no-op ``check_*`` (its case builders, references and mistake models are not within
  the student's reach);
* laundering a reference that the judge lends while it grades a sequence function: a lent cell
  answers only for the data of the test being graded, so that calling it on another test's
  inputs (known from the open seeds) and keeping the answers for later earns nothing, in any
  order of the test cells.
"""

import copy
import os
import tempfile

import numpy as np
import pytest
from test_exercises_catalog import _verdicts_by_function as _by_function
from test_exercises_catalog import submission

from rnnlib import grading


def _replace_solution(nb, grade_id, source):
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            cell.source = source
            return nb
    raise KeyError(grade_id)


def _literal(value):
    """Python source that rebuilds ``value`` (arrays, dicts, tuples, numbers)."""
    if isinstance(value, np.ndarray):
        return f"np.array({value.tolist()!r})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (tuple, list)):
        return "(" + "".join(_literal(v) + ", " for v in value) + ")"
    return repr(value)


def _cell_cases():
    """The rnn_cell_forward check's cases, as an attacker rebuilds them from the open seeds."""
    spec = grading.SPECS["rnn_cell_forward"]
    return [case.args for case in spec.fixed_cases() + spec.random_cases()]


HELPER_CELL = '''def rnn_cell_forward(xt, a_prev, parameters):
    step = grading._rnn_step(xt, a_prev, parameters)
    return step["a_next"], step["yt_pred"], (step["a_next"], a_prev, xt, parameters)
'''


def test_the_grading_modules_helpers_are_out_of_reach():
    nb = _replace_solution(submission("rnn"), "rnn_cell_forward", HELPER_CELL)
    verdicts = _by_function(grading.judge_notebook(nb))
    results = verdicts["rnn_cell_forward"]
    assert results and all(not r["passed"] and r["violation"] for r in results), results
    assert "rnnlib.grading._rnn_step" in results[0]["message"], results[0]["message"]
    assert all(r["passed"] for r in verdicts["one_hot"])


def test_the_grading_module_in_the_worker_is_a_stand_in():
    """Nothing but the checks' names: a student who lists it finds no case builder."""
    probe = """_names = sorted(n_ for n_ in dir(grading) if not n_.startswith("__"))
assert all(n_.startswith("check_") or n_ in ("GradingFailure", "IntegrityViolation")
           for n_ in _names), _names
assert grading.check_one_hot(None) is None
"""
    nb = submission("rnn", {"one_hot": [("PREPEND", probe)]})
    verdicts = _by_function(grading.judge_notebook(nb))
    assert all(r["passed"] for r in verdicts["one_hot"]), verdicts["one_hot"]


LAUNDERED_CELL = '''_STOLEN = {}


def _key(xt, a_prev):
    return (np.asarray(xt).tobytes(), np.asarray(a_prev).tobytes())


def rnn_cell_forward(xt, a_prev, parameters):
    if _key(xt, a_prev) in _STOLEN:
        return _STOLEN[_key(xt, a_prev)]
    return None, None, None  # nothing stolen: nothing earned, not even the shapes
'''

LAUNDERING_FORWARD = '''_CELL_CASES = [@CASES@]


def rnn_forward(x, a0, parameters):
    lent = rnn_cell_forward  # while rnn_forward is graded: the judge's lent reference
    for args in _CELL_CASES:
        try:
            _STOLEN[_key(args[0], args[1])] = lent(*args)
        except Exception:
            pass
    n_a, m, T_x = a0.shape[0], x.shape[1], x.shape[2]
    a = np.zeros((n_a, m, T_x))
    y_pred = np.zeros((parameters["Wya"].shape[0], m, T_x))
    caches, a_next = [], a0
    for t in range(T_x):
        a_next, yt, cache = lent(x[:, :, t], a_next, parameters)
        a[:, :, t], y_pred[:, :, t] = a_next, yt
        caches.append(cache)
    return a, y_pred, (caches, x)
'''


def _laundering_notebook(sequence_first):
    nb = submission("rnn")
    cases = ", ".join(_literal(args) for args in _cell_cases())
    _replace_solution(nb, "rnn_cell_forward", LAUNDERED_CELL)
    _replace_solution(nb, "rnn_forward", LAUNDERING_FORWARD.replace("@CASES@", cases))
    if sequence_first:  # the sequence's solution and tests moved before the cell's tests
        ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
        cell_tests = [i for i, g in enumerate(ids) if g and g.startswith("rnn_cell_forward_")]
        seq = [i for i, g in enumerate(ids) if g and g.startswith("rnn_forward")]
        order = [i for i in range(len(nb.cells)) if i not in cell_tests + seq]
        at = order.index(ids.index("rnn_cell_forward")) + 1
        order[at:at] = seq + cell_tests
        nb = copy.deepcopy(nb)
        nb.cells = [nb.cells[i] for i in order]
    return nb


@pytest.mark.parametrize("sequence_first", [False, True], ids=["course order", "reordered"])
def test_a_lent_reference_cannot_be_laundered_into_another_test(sequence_first):
    verdicts = _by_function(grading.judge_notebook(_laundering_notebook(sequence_first)))
    cell = verdicts["rnn_cell_forward"]
    assert cell and not any(r["passed"] for r in cell), cell
    seq = verdicts["rnn_forward"]
    assert seq and all(not r["passed"] and r["violation"] for r in seq), seq
    assert "answers only for the test's own inputs" in seq[0]["message"], seq[0]["message"]
    assert all(r["passed"] for r in verdicts["one_hot"])


def test_an_honest_sequence_using_the_lent_cell_keeps_full_marks():
    """The same sequence code without the laundering loop: every call is on the test's data
    (parameters as given, states fed back), so the lent cell answers."""
    nb = submission("rnn")
    honest = LAUNDERING_FORWARD.replace("@CASES@", "").replace(
        "lent = rnn_cell_forward", "lent = rnn_cell_forward\n    parameters = dict(parameters)")
    _replace_solution(nb, "rnn_forward", "_STOLEN = {}\n\n\ndef _key(*a):\n    return a\n\n\n"
                      + honest)
    verdicts = _by_function(grading.judge_notebook(nb))
    assert all(r["passed"] for rs in verdicts.values() for r in rs), verdicts


def test_a_worker_that_cannot_start_gives_back_its_sandbox_and_fails_closed():
    released = []

    class Unstartable(list):
        def release(self):
            released.append(True)

    def wrap(argv, cwd, readable=(), writable=()):
        return Unstartable(["/nonexistent/python-for-the-worker", *argv[1:]])

    before = set(os.listdir(tempfile.gettempdir()))
    verdicts = grading.judge_notebook(submission("rnn"), wrap_command=wrap)
    results = [r for rs in verdicts.values() for r in rs]
    assert results and not any(r["passed"] for r in results)
    assert "could not be started" in results[0]["message"], results[0]["message"]
    assert released == [True]
    assert not [n for n in set(os.listdir(tempfile.gettempdir())) - before
                if n.startswith("rnnlib-grading-")]
