"""End to end: the instructors' page's grading workflow, run on a class of submissions.

In a scratch copy of the course (``nbgrader_config.py`` and ``solutions/``), the commands of
the page's ``grading-workflow`` block run in order, with a class made of, for every
assignment: the solutions, the blank release, the catalog's mistakes (packed several to a
notebook, one per function) and, for some, the cheap tricks. The ``rnn`` assignment goes
through nbgrader's exchange (a real ``fetch_assignment`` and ``submit`` from the page's student
block, the other students' submissions placed in the same form); the others are placed in
``submitted/`` as ``collect`` would. Then the gradebook and the feedback are read.
"""

import csv
import fcntl
import html
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from test_exercises_catalog import (
    ASSIGNMENTS,
    TRICKS,
    accepted_groups,
    blank,
    e2e_groups,
    grade_cells,
    losing_parts,
    points,
    submission,
)
from test_grading_integrity import HELPER_CELL, _laundering_notebook, _replace_solution

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "book" / "instructors.md"
DEFAULT_EXCHANGE = "/srv/nbgrader/exchange"
THROUGH_EXCHANGE = "rnn"

pytestmark = pytest.mark.xdist_group("nbgrader")


def page_commands(name):
    """The commands of the page's code block ``:name: name`` (one per line)."""
    text = PAGE.read_text()
    m = re.search(r"```\{code-block\} bash\n:name: " + re.escape(name) + r"\n\n(.*?)```", text,
                  re.S)
    assert m, f"book/instructors.md has no code block named {name}"
    return [line.strip() for line in m.group(1).splitlines() if line.strip()]


def students():
    """{student: {assignment: notebook}} and what each submission deserves:
    {(student, assignment): ("full" | "zero" | [catalog entries] | trick functions)}."""
    subs, expect = {}, {}
    for a in ASSIGNMENTS:
        subs.setdefault("solution", {})[a] = submission(a)
        expect["solution", a] = "full"
        subs.setdefault("blank", {})[a] = blank(a)
        expect["blank", a] = "zero"
        # Correct code in other styles rides along in the mistakes' notebooks, for functions
        # without a mistake there (those must keep full marks); the rest get their own.
        styles = [e for g in accepted_groups(a) for e in g]
        for k, group in enumerate(e2e_groups(a), 1):
            edits = {e.function: e.edits for e in group}
            for style in list(styles):
                if style.function not in edits:
                    edits[style.function] = style.edits
                    styles.remove(style)
            subs.setdefault(f"mistakes{k}", {})[a] = submission(a, edits)
            expect[f"mistakes{k}", a] = group
        while styles:
            edits = {}
            for style in list(styles):
                if style.function not in edits:
                    edits[style.function] = style.edits
                    styles.remove(style)
            k = 1 + sum(1 for (s, b) in expect if b == a and s.startswith("styles"))
            subs.setdefault(f"styles{k}", {})[a] = submission(a, edits)
            expect[f"styles{k}", a] = "full"
        if a in TRICKS:
            edits, cheated = TRICKS[a]
            subs.setdefault("tricks", {})[a] = submission(a, edits)
            expect["tricks", a] = ("tricks", cheated)
    # the integrity attacks of test_grading_integrity, through nbgrader with the class
    subs["helpers"] = {"rnn": _replace_solution(submission("rnn"), "rnn_cell_forward",
                                                HELPER_CELL)}
    expect["helpers", "rnn"] = ("tricks", ("rnn_cell_forward",))
    subs["laundering"] = {"rnn": _laundering_notebook(sequence_first=True)}
    expect["laundering", "rnn"] = ("tricks", ("rnn_cell_forward", "rnn_forward"))
    return subs, expect


class Course:
    SAVED = ("ran", "timings", "workflow", "fetched_equals_release")

    def save(self, path):
        data = {k: getattr(self, k) for k in self.SAVED}
        data["root"] = str(self.root)
        data["scores"] = [[s, a, v] for (s, a), v in self.scores.items()]
        path.write_text(json.dumps(data))

    @classmethod
    def load(cls, path):
        data = json.loads(path.read_text())
        c = cls(Path(data["root"]))
        for k in cls.SAVED:
            setattr(c, k, data[k])
        c.scores = {(s, a): v for s, a, v in data["scores"]}
        c.expect = students()[1]
        return c

    def __init__(self, root):
        self.root = root
        self.exchange = root / "exchange"
        bindir = os.path.dirname(sys.executable)
        self.env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""),
                        NBGRADER_EXCHANGE=str(self.exchange))
        self.env.pop("NBGRADER_DB_URL", None)
        self.ran = []
        self.timings = {}

    def run(self, command, cwd=None):
        start = time.monotonic()
        args = shlex.split(command.replace(DEFAULT_EXCHANGE, str(self.exchange)))
        done = subprocess.run(args, cwd=cwd or self.root, env=self.env, capture_output=True,
                              text=True, timeout=600)
        self.timings[command] = time.monotonic() - start
        self.ran.append(command)
        assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
        return done


@pytest.fixture(scope="module")
def course(tmp_path_factory, worker_id):
    """The graded course. Under xdist, every worker that runs tests of this file gets the same
    one: the first builds it (under a lock), the others read what it saved."""
    if worker_id == "master":
        return build_course(tmp_path_factory.mktemp("course"))
    shared = tmp_path_factory.getbasetemp().parent
    with open(shared / "exercises-course.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        saved = shared / "exercises-course.json"
        if saved.exists():
            return Course.load(saved)
        c = build_course(shared / "exercises-course")
        c.save(saved)
        return c


def build_course(root):
    root.mkdir(exist_ok=True)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    shutil.copytree(ROOT / "solutions", root / "solutions")
    c = Course(root)
    c.exchange.mkdir()
    os.chmod(c.exchange, 0o777)
    workflow = page_commands("grading-workflow")
    generate, release, collect, *grading = workflow
    assert generate.startswith("nbgrader generate_assignment")
    assert release == f"nbgrader release_assignment {THROUGH_EXCHANGE}"
    assert collect == f"nbgrader collect {THROUGH_EXCHANGE}"

    c.run(generate)
    c.run(release)

    # One student fetches and submits through the exchange, with the page's commands ...
    home = root / "home"
    home.mkdir()
    fetch, submit = page_commands("student-commands")
    c.run(fetch, cwd=home)
    fetched = home / THROUGH_EXCHANGE / f"{THROUGH_EXCHANGE}.ipynb"
    c.fetched_equals_release = (fetched.read_text() == (
        root / "exercises" / THROUGH_EXCHANGE / f"{THROUGH_EXCHANGE}.ipynb").read_text())
    subs, expect = students()
    nbformat.write(subs["solution"][THROUGH_EXCHANGE], fetched)
    c.run(submit, cwd=home)
    # ... and the others' submissions are placed in the same form (nbgrader names a
    # submission <student>+<assignment>+<timestamp>+<random> after the OS user).
    inbound = c.exchange / "rnn-course" / "inbound"
    (made,) = list(inbound.iterdir())
    user, assignment, stamp, rand = made.name.split("+")
    shutil.move(made, inbound / f"solution+{assignment}+{stamp}+{rand}")
    for student, by_assignment in subs.items():
        if student != "solution" and THROUGH_EXCHANGE in by_assignment:
            folder = inbound / f"{student}+{assignment}+{stamp}+{rand}"
            folder.mkdir()
            (folder / "timestamp.txt").write_text(stamp)
            nbformat.write(by_assignment[THROUGH_EXCHANGE],
                           folder / f"{THROUGH_EXCHANGE}.ipynb")
    c.run(collect)
    for student, by_assignment in subs.items():
        for a, nb in by_assignment.items():
            if a != THROUGH_EXCHANGE:
                path = root / "submitted" / student / a / f"{a}.ipynb"
                path.parent.mkdir(parents=True)
                nbformat.write(nb, path)

    for command in grading:
        c.run(command)
    c.workflow, c.expect = workflow, expect
    from nbgrader.api import Gradebook

    c.scores = {}
    with Gradebook(f"sqlite:///{root}/gradebook.db", course_id="rnn-course") as gb:
        for (student, a) in expect:
            nb = gb.find_submission_notebook(a, a, student)
            c.scores[student, a] = {g.name: g.score for g in nb.grades}
            assert not any(g.needs_manual_grade for g in nb.grades), (student, a)
    return c


def feedback(course, student, assignment):
    path = course.root / "feedback" / student / assignment / f"{assignment}.html"
    return html.unescape(path.read_text())


def test_workflow_ran_the_pages_commands_in_order(course):
    print("\n".join(f"{t:6.1f} s  {cmd}" for cmd, t in course.timings.items()))
    grading = [cmd for cmd in course.ran if "fetch_assignment" not in cmd
               and "submit" not in cmd.split()[:2]]
    assert grading == course.workflow
    assert [cmd for cmd in course.ran if cmd not in course.workflow] == \
        page_commands("student-commands")


def test_committed_exercises_equal_a_fresh_generation(course):
    for a in ASSIGNMENTS:
        fresh = course.root / "exercises" / a / f"{a}.ipynb"
        committed = ROOT / "exercises" / a / f"{a}.ipynb"
        assert fresh.read_text() == committed.read_text(), \
            f"exercises/{a} is out of date: run make exercises"
    assert course.fetched_equals_release


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solutions_score_full_marks_and_blanks_zero(course, assignment):
    full = {k: float(v) for k, v in points(assignment).items()}
    assert course.scores["solution", assignment] == full
    for (student, a), expected in course.expect.items():  # correct code in other styles
        if a == assignment and expected == "full":
            assert course.scores[student, a] == full, student
    assert set(course.scores["blank", assignment].values()) == {0.0}


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_each_mistake_loses_its_points_and_its_feedback_names_it(course, assignment):
    cells = grade_cells(assignment)
    full = points(assignment)
    packed = [(s, e) for (s, a), e in course.expect.items()
              if a == assignment and isinstance(e, list)]
    assert sum(len(group) for _, group in packed) >= 5
    for student, group in packed:
        scores = course.scores[student, assignment]
        text = feedback(course, student, assignment)
        wrong = {e.function for e in group}
        for entry in group:
            assert scores[f"{entry.function}_{entry.part}"] == 0, (student, entry.name, scores)
            assert entry.fragment in text, (student, entry.name)
            for i in cells[entry.function]:  # exactly the parts it should lose
                if i.removeprefix(entry.function + "_") in losing_parts(entry):
                    assert scores[i] == 0, (student, entry.name, i, scores)
                elif entry.loses is not None:
                    assert scores[i] == full[i], (student, entry.name, i, scores)
        for function, ids in cells.items():
            if function not in wrong:
                assert all(scores[i] == full[i] for i in ids), (student, function, scores)


@pytest.mark.parametrize("student", ["helpers", "laundering"])
def test_integrity_attacks_score_zero_through_nbgrader(course, student):
    """The grading module's helpers, and a lent reference laundered with the test cells
    reordered: the functions that used them score 0, the others full marks."""
    _, cheated = course.expect[student, "rnn"]
    scores = course.scores[student, "rnn"]
    full = points("rnn")
    for function, ids in grade_cells("rnn").items():
        expected = 0 if function in cheated else None
        for i in ids:
            assert scores[i] == (full[i] if expected is None else 0), (function, i, scores)
    assert "no points for this test" in feedback(course, student, "rnn")


@pytest.mark.parametrize("assignment", sorted(TRICKS))
def test_tricks_score_zero_for_the_affected_function(course, assignment):
    _, cheated = course.expect["tricks", assignment]
    scores = course.scores["tricks", assignment]
    full = points(assignment)
    text = feedback(course, "tricks", assignment)
    for function, ids in grade_cells(assignment).items():
        if function in cheated:
            assert all(scores[i] == 0 for i in ids), (function, scores)
        else:
            assert all(scores[i] == full[i] for i in ids), (function, scores)
    assert "no points for this test" in text
    assert "Graded outside the notebook" in text


def test_no_test_cell_runs_in_the_students_kernel(course):
    """A cell after the tests prints the kernel's input history: no test (hidden or not) is in
    it, because the judge grades them outside the kernel."""
    nb = nbformat.read(course.root / "autograded" / "tricks" / "rnn" / "rnn.ipynb", 4)
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                      for o in c.get("outputs", []) if "history:" in o.get("text", ""))
    assert "def rnn_cell_forward" in printed, printed  # the history was printed
    assert "grading.check_" not in printed, printed


@pytest.mark.parametrize("student", ["solution", "blank", "mistakes1"])
def test_feedback_hides_the_hidden_tests(course, student):
    text = feedback(course, student, "rnn")
    assert 'check_rnn_cell_forward(rnn_cell_forward, "random")' not in text
    assert "BEGIN HIDDEN TESTS" not in text
    assert "grading.py" not in text  # tracebacks are cut to the sentence


def test_export_lists_every_student_and_assignment(course):
    with open(course.root / "grades.csv") as f:
        rows = list(csv.DictReader(f))
    got = {(r["student_id"], r["assignment"]): float(r["score"]) for r in rows}
    for key in course.expect:
        assert key in got, key
    assert got["solution", "lstm"] == sum(points("lstm").values())
    assert got["blank", "lstm"] == 0


def test_class_report_folds_test_cells_under_their_functions(course):
    """The course's own judge grades these cells: the report still groups them by function
    (the solution cell whose grade id begins the test's) and totals them per student."""
    done = subprocess.run([sys.executable, "-m", "rnnlib.autograde.report", "rnn",
                           "--no-feedback"], cwd=course.root, env=course.env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    with open(course.root / "reports" / "rnn" / "report.csv") as f:
        rows = list(csv.DictReader(f))
    cells = grade_cells("rnn")
    full = points("rnn")
    assert list(dict.fromkeys(r["function"] for r in rows)) == list(cells)
    for r in rows:
        if r["student"] == "solution":
            assert float(r["score"]) == sum(full[i] for i in cells[r["function"]]), r
    page = (course.root / "reports" / "rnn" / "report.html").read_text()
    assert "<th>rnn_cell_forward</th>" in page and "rnn_cell_forward_shapes</th>" not in page
    total = sum(full.values())
    assert f'who">solution</th><td class="num total" data-sort="{total:g}"' in page
