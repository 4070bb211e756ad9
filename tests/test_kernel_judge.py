"""The course's checks at ``nbgrader autograde`` call the student's functions in the notebook's own
grading kernel (:mod:`rnnlib.grading.kernel_judge`), so the student's code runs once. Code in
that kernel can reach the judge's pipes: these submissions attack them, and are graded through
``nbgrader autograde`` on the course's rnn assignment beside an honest one, with a short
per-call limit so that a hung function costs seconds.
"""

import os
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
from test_autograde_catalog import BIN, env
from test_exercises_catalog import submission
from test_grading_integrity import _replace_solution

from rnnlib.autograde.sandbox import build_host_view, bwrap_path

ROOT = Path(__file__).resolve().parents[1]
CALL_LIMIT = 5  # seconds per cell and per call of a student's function, for this class

#: Top-level code that writes forged frames (a "ready", a reply to request 1) into every pipe
#: the kernel can write to, the judge's reply pipe among them.
FORGER = """\
import json as _json, os as _os, stat as _stat, struct as _struct


def _frame(obj):
    data = _json.dumps(obj).encode()
    return _struct.pack(">I", len(data)) + data


for _fd in range(3, 256):
    try:
        if _stat.S_ISFIFO(_os.fstat(_fd).st_mode):
            _os.write(_fd, _frame({"op": "ready", "nonce": "guess", "events": []})
                      + _frame({"status": "ok", "result": 0, "args": [], "seq": 1,
                                "events": []}))
    except OSError:
        pass

"""

#: Top-level code that closes every pipe the kernel holds (the judge's among them).
CLOSER = """\
import os as _os, stat as _stat

for _fd in range(3, 256):
    try:
        if _stat.S_ISFIFO(_os.fstat(_fd).st_mode):
            _os.close(_fd)
    except OSError:
        pass

"""

#: rnn_cell_forward that never returns for one example (m = 1: the hidden random cases).
HANG = ("    if xt.shape[1] == 1:\n"
        "        while True:\n"
        "            pass\n")


#: An instructor's own test cell (not a grading.check_* call), added to the course's copy: the
#: proxy judge runs it against the same kernel, over the same pipes.
OWN_TEST = """\
xt, a_prev = np.ones((3, 2)), np.zeros((5, 2))
parameters = {"Wax": np.ones((5, 3)), "Waa": np.ones((5, 5)), "ba": np.zeros((5, 1)),
              "Wya": np.ones((2, 5)), "by": np.zeros((2, 1))}
a_next, yt_pred, cache = rnn_cell_forward(xt, a_prev, parameters)
assert a_next.shape == (5, 2) and np.allclose(a_next, np.tanh(3.0))
print("own test passed")
"""


def _add_own_test(path):
    nb = nbformat.read(path, 4)
    at = 1 + next(i for i, c in enumerate(nb.cells)
                  if c.metadata.get("nbgrader", {}).get("grade_id") == "rnn_cell_forward_random")
    nb.cells.insert(at, nbformat.v4.new_code_cell(OWN_TEST, metadata={"nbgrader": {
        "grade": True, "grade_id": "own_rnn_cell", "locked": True, "points": 1,
        "schema_version": 3, "solution": False}}))
    nbformat.write(nb, path)


def _solution(nb, grade_id):
    return next(c.source for c in nb.cells
                if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def students():
    honest = submission("rnn")
    cell = _solution(honest, "rnn_cell_forward")
    head, _, body = cell.partition('    """')
    doc_end = body.index('"""') + 3
    hang = head + '    """' + body[:doc_end] + "\n" + HANG + body[doc_end:]
    return {
        "honest": honest,
        "forger": _replace_solution(submission("rnn"), "rnn_cell_forward", FORGER + cell),
        "closer": _replace_solution(submission("rnn"), "rnn_cell_forward", CLOSER + cell),
        "hang": _replace_solution(submission("rnn"), "rnn_cell_forward", hang),
    }


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("kernel-judge")
    shutil.copy(ROOT / "nbgrader_config.py", root)
    shutil.copytree(ROOT / "solutions" / "rnn", root / "solutions" / "rnn")
    _add_own_test(root / "solutions" / "rnn" / "rnn.ipynb")
    run = dict(cwd=root, env=dict(env(), NBGRADER_EXCHANGE=str(root / "exchange")),
               capture_output=True, text=True, timeout=600)
    done = subprocess.run([str(BIN / "nbgrader"), "generate_assignment", "rnn", "--force"], **run)
    assert done.returncode == 0, done.stdout + done.stderr
    for student, nb in students().items():
        folder = root / "submitted" / student / "rnn"
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / "rnn.ipynb")
        (folder / "timestamp.txt").write_text("2026-01-10 12:00:00.000000 UTC")
    done = subprocess.run([str(BIN / "nbgrader"), "autograde", "rnn",
                           f"--Execute.timeout={CALL_LIMIT}"], **run)
    assert done.returncode == 0, done.stdout + done.stderr
    from nbgrader.api import Gradebook

    scores, maxima = {}, {}
    with Gradebook(f"sqlite:///{root}/gradebook.db", course_id="rnn-course") as gb:
        for student in students():
            nb = gb.find_submission_notebook("rnn", "rnn", student)
            scores[student] = {g.name: g.score for g in nb.grades}
            maxima = {g.name: g.max_score for g in nb.grades}
    return {"root": root, "scores": scores, "max": maxima, "log": done.stdout + done.stderr}


def _output(graded, student, grade_id):
    path = graded["root"] / "autograded" / student / "rnn" / "rnn.ipynb"
    cell = next(c for c in nbformat.read(path, 4).cells
                if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    return "\n".join(str(o.get("text", "")) + str(o.get("evalue", "")) for o in cell.outputs)


def test_the_kernels_view_holds_the_host_and_no_reference(tmp_path):
    host = Path(build_host_view(tmp_path))
    assert sorted(p.name for p in host.iterdir()) == ["activations.py", "agent.py",
                                                      "checks.py", "wire.py", "worker.py"]
    from rnnlib.grading import SPECS

    text = "\n".join(p.read_text() for p in host.iterdir())
    defined = [name for name in SPECS if f"def {name}(" in text]
    assert not defined, f"the kernel's view defines graded functions: {defined}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["_rnnlib_grading", "sitecustomize.py"]


@pytest.mark.skipif(bwrap_path() is None, reason="needs bubblewrap (make system-deps)")
def test_honest_and_forged_frames_score_full_marks(graded):
    for student in ("honest", "forger"):
        assert graded["scores"][student] == graded["max"], student
    assert "own_rnn_cell" in graded["max"]
    assert "own test passed" in _output(graded, "honest", "own_rnn_cell")


@pytest.mark.skipif(bwrap_path() is None, reason="needs bubblewrap (make system-deps)")
def test_a_hung_call_costs_its_test_only(graded):
    scores, full = graded["scores"]["hang"], graded["max"]
    assert scores["rnn_cell_forward_random"] == 0
    assert {k: v for k, v in scores.items() if k != "rnn_cell_forward_random"} == \
        {k: v for k, v in full.items() if k != "rnn_cell_forward_random"}
    assert "timed out" in _output(graded, "hang", "rnn_cell_forward_random")


@pytest.mark.skipif(bwrap_path() is None, reason="needs bubblewrap (make system-deps)")
def test_closing_the_judges_pipes_scores_zero_after_it(graded):
    scores, full = graded["scores"]["closer"], graded["max"]
    assert scores["one_hot_values"] == full["one_hot_values"]  # judged before the cell ran
    after = [k for k in full if k.startswith(("rnn_", "own_"))]
    assert after and all(scores[k] == 0 for k in after), scores
    assert "grading kernel" in _output(graded, "closer", "rnn_forward_values")


def test_no_pipe_is_left_open_in_the_grader():
    """The judge's ends are closed with their channel (a grader that leaked two pipes a
    notebook would run out of descriptors in a large class)."""
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("no /proc")
    from rnnlib.grading.kernel_judge import KernelChannel

    before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        r1, w1 = os.pipe()
        r2, w2 = os.pipe()
        channel = KernelChannel(w1, r2, serve=lambda m: {}, begin=lambda code: None)
        channel.close()
        channel.thread.join(5)
        os.close(r1)
        os.close(w2)
    assert len(os.listdir("/proc/self/fd")) <= before + 1


@pytest.mark.skipif(bwrap_path() is None, reason="needs bubblewrap (make system-deps)")
def test_demonstration_cells_are_not_run_at_grading(graded):
    """A locked demonstration (the rnn notebook's demo_read_word) is graded nothing; with the
    course's checks its rnnlib calls would all be callbacks, so it is not run, and says so."""
    assert "not run at grading" in _output(graded, "honest", "demo_read_word")
