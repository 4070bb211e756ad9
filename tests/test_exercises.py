"""The exercises' files and the grading module, without running nbgrader.

- ``solutions/`` is what ``tools/build_notebooks.py`` builds from ``tools/notebook_sources``;
- the notebooks carry valid nbgrader metadata; the release hides solutions and hidden tests and
  tags exactly the cells that raise until the student writes the code;
- the instructors' page lists the workflow's steps and the right points;
- ``rnnlib.grading``: its wire format refuses what it must, every known mistake is a real
  alternative (it differs from the reference on a fixed case), the kernel-side check refuses a
  patched numpy, and the judge survives a function that never returns.
"""

import ast
import copy
import importlib.util
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest
from test_exercises_catalog import ASSIGNMENTS, grade_cells, points, submission

from rnnlib import grading

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "book" / "instructors.md"


def _load_tool(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build_notebooks = _load_tool("build_notebooks")


def _nb(folder, a):
    return nbformat.read(ROOT / folder / a / f"{a}.ipynb", as_version=4)


def _meta(cell):
    return cell.metadata.get("nbgrader", {})


def test_assignment_lists_agree():
    assert tuple(build_notebooks.ASSIGNMENTS) == ASSIGNMENTS
    assert sorted(p.name for p in (ROOT / "solutions").iterdir() if p.is_dir()) == \
        sorted(ASSIGNMENTS)
    assert sorted(p.name for p in (ROOT / "exercises").iterdir() if p.is_dir()) == \
        sorted(ASSIGNMENTS)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solutions_are_built_from_their_sources(assignment):
    built = build_notebooks.render(build_notebooks.build(assignment))
    assert (ROOT / "solutions" / assignment / f"{assignment}.ipynb").read_text() == built, \
        "solutions/ is out of date: run python tools/build_notebooks.py"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_instructor_notebook_metadata(assignment):
    nb = _nb("solutions", assignment)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    ids = [_meta(c)["grade_id"] for c in nb.cells if _meta(c)]
    assert len(ids) == len(set(ids))
    assert _meta(nb.cells[1])["grade_id"] == "setup" and _meta(nb.cells[1])["locked"]
    for cell in nb.cells:
        meta = _meta(cell)
        if meta.get("solution"):
            assert not meta["grade"] and not meta["locked"]
            assert "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source
        elif meta.get("grade"):
            assert meta["locked"] and meta["points"] > 0
            checks = grading.parse_checks(cell.source)
            assert checks, f"test cell {meta['grade_id']} calls no grading check"
            for check, function, part in checks:
                assert check == function and part in grading.SPECS[check].parts
        assert "raises-exception" not in cell.metadata.get("tags", [])
    # every function has a visible values test and a hidden random test
    for function, cells in grade_cells(assignment).items():
        assert f"{function}_values" in cells and f"{function}_random" in cells


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_hides_solutions_and_hidden_tests(assignment):
    release = _nb("exercises", assignment)
    text = nbformat.writes(release)
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", '"random")'):
        assert marker not in text
    solution_cells = {_meta(c)["grade_id"]: c for c in _nb("solutions", assignment).cells
                      if _meta(c).get("solution")}
    for cell in release.cells:
        if _meta(cell).get("solution"):
            assert "raise NotImplementedError()" in cell.source
            body = solution_cells[_meta(cell)["grade_id"]].source
            solved = body.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0]
            for line in solved.strip().splitlines():
                if len(line.strip()) > 25:  # no line of the solution survives
                    assert line.strip() not in cell.source
        assert not cell.get("outputs") and not cell.get("execution_count")


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_tags_exactly_the_cells_that_raise(assignment):
    release = _nb("exercises", assignment)
    defined = {node.name for c in release.cells if _meta(c).get("solution")
               for node in ast.parse(c.source).body if isinstance(node, ast.FunctionDef)}
    for cell in release.cells:
        if cell.cell_type != "code":
            continue
        meta, tagged = _meta(cell), "raises-exception" in cell.metadata.get("tags", [])
        names = {n.id for n in ast.walk(ast.parse(cell.source)) if isinstance(n, ast.Name)}
        if meta.get("grade"):
            expected = bool(grading.parse_checks(cell.source))  # hidden-only cells: empty
        elif meta.get("solution") or meta.get("grade_id") == "setup":
            expected = False  # a def that raises only when called
        else:
            expected = bool(names & defined)  # a demonstration using the student's code
        assert tagged == expected, (meta.get("grade_id"), cell.source[:80])


def test_instructors_page_lists_the_workflow_and_the_points():
    from test_exercises_e2e import page_commands

    workflow = page_commands("grading-workflow")
    steps = [cmd.split()[1] for cmd in workflow]
    assert [cmd.split()[0] for cmd in workflow] == ["nbgrader"] * len(workflow)
    assert steps == ["generate_assignment", "release_assignment", "collect", "autograde",
                     "generate_feedback", "export"]
    assert [cmd.split()[1] for cmd in page_commands("student-commands")] == \
        ["fetch_assignment", "submit"]
    text = PAGE.read_text()
    for a in ASSIGNMENTS:
        m = re.search(rf"^\| `{a}` \|.*\| (\d+) \|[^|]*\|$", text, re.M)
        assert m, f"the page's table has no row for {a}"
        assert int(m.group(1)) == sum(points(a).values()), a
        for function in grade_cells(a):
            assert f"`{function}`" in m.group(0)


# --- rnnlib.grading --------------------------------------------------------------------------


def test_codec_roundtrips_data_and_refuses_objects():
    value = {"W": np.arange(6.0).reshape(2, 3), 3: [np.float64(1.5), None, True, "x"],
             "t": (np.zeros((0, 2)), np.array([1, 2], dtype=np.int32))}
    back = grading.worker._roundtrip(value)
    assert grading.spec._close(back["W"], value["W"]) and back[3][1:] == [None, True, "x"]
    assert isinstance(back["t"], tuple) and back["t"][1].dtype == np.int32
    assert isinstance(grading.worker._roundtrip(lambda: 1), grading.worker.Opaque)
    assert isinstance(grading.worker._roundtrip(np.array([object()])), grading.worker.Opaque)
    with pytest.raises(ValueError):
        grading.worker._decode(["A", "|O", [1], ""])  # no object arrays (no pickle)
    with pytest.raises(ValueError):
        grading.worker._decode(["?", 1])
    with pytest.raises(ValueError):  # only the lenient worker side knows Opaque and FnRef
        grading.wire.from_tree(["O", "a function"])


@pytest.mark.parametrize("name", sorted(grading.SPECS))
def test_every_known_mistake_differs_from_the_reference_somewhere(name):
    spec = grading.SPECS[name]
    cases = spec.all_cases()
    seen = set()
    for case in cases:
        seen |= {m.message for m, _ in grading.diagnosis._mistake_outputs(spec, case)}
    assert {m.message for m in spec.mistakes()} <= seen, \
        "a mistake that no fixed case can tell from the right answer"


def test_kernel_check_refuses_a_patched_numpy(monkeypatch):
    ns = {}
    exec(compile("import numpy as np\n"  # noqa: S102
                 "def clip(gradients, maxValue):\n"
                 "    for g in gradients.values():\n"
                 "        np.clip(g, -maxValue, maxValue, out=g)\n"
                 "    return gradients\n", "<student>", "exec"), ns)
    assert grading.in_kernel._check_in_kernel("clip", ns["clip"], "values") is None
    monkeypatch.setattr(np.testing, "assert_allclose", lambda *a, **k: None)
    failure = grading.in_kernel._check_in_kernel("clip", ns["clip"], "values")
    assert isinstance(failure, grading.IntegrityViolation)
    assert "numpy.testing.assert_allclose was replaced" in str(failure)


def test_kernel_check_refuses_a_patched_grading_module(monkeypatch):
    monkeypatch.setattr(grading.spec, "_close", lambda a, b: True)
    failure = grading.in_kernel._check_in_kernel("clip", lambda g, m: g, "values")
    assert "rnnlib.grading.spec._close was replaced" in str(failure)


def test_judge_survives_an_endless_loop_and_a_dead_worker():
    nb = copy.deepcopy(submission("rnn"))
    for cell in nb.cells:
        if _meta(cell).get("grade_id") == "one_hot":
            cell.source = cell.source.replace("    x = np.zeros((n, len(indices)))",
                                              "    while True:\n        pass")
        if _meta(cell).get("grade_id") == "rnn_cell_forward":
            cell.source = cell.source.replace("    Wax, Waa, ba =",
                                              "    import os\n    os._exit(3)\n    Wax, Waa, ba =")
    verdicts = grading.judge_notebook(nb, timeout=2)
    by_function = {}
    for results in verdicts.values():
        for r in results:
            by_function.setdefault(r["function"], []).append(r)
    assert all("timed out" in r["message"] for r in by_function["one_hot"])
    assert all("stopped" in r["message"] for r in by_function["rnn_cell_forward"])
    assert all(r["passed"] for r in by_function["rnn_forward"])  # the batch goes on


def test_judge_runs_no_student_code_in_its_own_process():
    nb = copy.deepcopy(submission("rnn"))
    nb.cells.append(nbformat.v4.new_code_cell("import numpy\nnumpy.TOUCHED_BY_STUDENT = True"))
    grading.judge_notebook(nb)
    assert not hasattr(np, "TOUCHED_BY_STUDENT")


def test_judge_refuses_huge_work_asked_by_student_code():
    nb = copy.deepcopy(submission("language_model"))
    nb.cells.append(nbformat.v4.new_code_cell(
        "try:\n    initialize_parameters(10**7, 27, 27)\n    REFUSED = False\n"
        "except ValueError as e:\n    REFUSED = 'too large' in str(e)\n"))
    nb.cells.append(nbformat.v4.new_code_cell("assert REFUSED"))
    verdicts = grading.judge_notebook(nb)
    assert all(r["passed"] for results in verdicts.values() for r in results)
    judge = grading.judge._NotebookJudge(list(nb.cells))
    judge.run()
    assert judge.cell_errors == {}, judge.cell_errors  # the refusal reached the student's code
