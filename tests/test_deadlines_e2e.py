"""Deadlines and late work, as the instructors' page runs them, in both grading paths.

The catalog's tiny course gets a due date (``nbgrader db assignment add --duedate``), the
"zero" late policy of nbgrader's ``LateSubmissionPlugin``, and three students with the same
partly right notebook: one a day late, one a day late with a two-day extension
(``python -m rnnlib.autograde.extension``). After a first grading, a manual grade raises the
late and the extended students' scores (as formgrader would), and the class is regraded with
``--force`` twice, in identical copies: by ``nbgrader autograde`` and by ``classgrade``. Both
must give the same gradebook; the late student's penalty is their whole score, manual grade
included; the extended student has none; classgrade warns about lateness and
the report flags it.
"""

import csv
import re
import shutil
import subprocess
import sys
from pathlib import Path

import autograde_catalog as catalog
import pytest
from test_autograde_catalog import BIN, env

from rnnlib.autograde.gradebook import dump

pytestmark = pytest.mark.xdist_group("autograde")

DUE = "2026-01-10 12:00:00 UTC"
STAMPS = {"late": "2026-01-11 12:00:00.000000 UTC", "extended": "2026-01-11 12:00:00.000000 UTC"}
PY = [sys.executable, "-m"]


def sh(args, cwd, timeout=170):
    done = subprocess.run(args, cwd=cwd, env=env(), capture_output=True, text=True,
                          timeout=timeout)
    return done.returncode, done.stdout + done.stderr


def total(db, student):
    """(score with manual grades, late penalty) of the student's notebook."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{db}", "tiny") as gb:
        nb = gb.find_submission_notebook(catalog.NOTEBOOK, catalog.ASSIGNMENT, student)
        return sum(g.score for g in nb.grades), nb.late_submission_penalty or 0.0


@pytest.fixture(scope="module")
def regraded(tmp_path_factory):
    from nbgrader.api import Gradebook

    base = tmp_path_factory.mktemp("deadlines")
    course = base / "stock"
    catalog.make_course(course, timeout=4,
                        extra='c.LateSubmissionPlugin.penalty_method = "zero"')
    ctx = {"root": course, "release": catalog.release_notebook(course),
           "canary": base / "canary"}
    for student, stamp in STAMPS.items():
        catalog.submit(course, student, catalog.CATALOG["partial"][0](ctx), timestamp=stamp)
    steps = [[str(BIN / "nbgrader"), "db", "assignment", "add", catalog.ASSIGNMENT,
              f"--duedate={DUE}"],
             [*PY, "rnnlib.autograde.extension", catalog.ASSIGNMENT, "extended", "--hours",
              "48"],
             [str(BIN / "nbgrader"), "autograde", catalog.ASSIGNMENT]]
    for step in steps:
        code, out = sh(step, course)
        assert code == 0, (step, out)
    first = {s: total(course / "gradebook.db", s) for s in STAMPS}
    with Gradebook(f"sqlite:///{course}/gradebook.db", "tiny") as gb:
        for student in ("late", "extended"):
            grade = gb.find_grade("test_sample", catalog.NOTEBOOK, catalog.ASSIGNMENT, student)
            grade.manual_score = catalog.POINTS["test_sample"]
        gb.db.commit()
    parallel = base / "parallel"
    shutil.copytree(course, parallel)
    stock = subprocess.Popen([str(BIN / "nbgrader"), "autograde", catalog.ASSIGNMENT,
                              "--force"], cwd=course, env=env(), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    code, out_parallel = sh([*PY, "rnnlib.autograde.classgrade", catalog.ASSIGNMENT, "--force",
                             "--jobs", "2", "--no-progress"], parallel)
    assert code == 0, out_parallel
    out_stock, _ = stock.communicate(timeout=170)
    assert stock.returncode == 0, out_stock
    code, out = sh([*PY, "rnnlib.autograde.report", catalog.ASSIGNMENT, "--no-feedback"],
                   parallel)
    assert code == 0, out
    with open(parallel / "reports" / catalog.ASSIGNMENT / "report.csv") as f:
        rows = list(csv.DictReader(f))
    return {"stock": course, "parallel": parallel, "first": first, "rows": rows,
            "out_parallel": out_parallel, "out_stock": out_stock}


def test_first_grading_penalises_only_the_late_student(regraded):
    score, penalty = regraded["first"]["late"]
    assert score == 2 and penalty == 2  # "zero": the whole score
    assert regraded["first"]["extended"] == (2, 0)


@pytest.mark.parametrize("path", ["stock", "parallel"])
def test_the_late_penalty_counts_the_manual_grade(regraded, path):
    db = Path(regraded[path]) / "gradebook.db"
    assert total(db, "late") == (3, 3)  # score 3 with the manual grade, all of it lost
    assert total(db, "extended") == (3, 0)


def test_both_paths_give_the_same_gradebook(regraded):
    def rows(root):
        return [r for r in dump(f"sqlite:///{root}/gradebook.db", catalog.ASSIGNMENT, "tiny")]

    assert rows(regraded["stock"]) == rows(regraded["parallel"])


def test_classgrade_warns_and_the_report_flags_the_late_student(regraded):
    assert "is 86400.0 seconds late" in regraded["out_stock"]
    assert "late: " in regraded["out_parallel"] and "86400.0 seconds late" in \
        regraded["out_parallel"], regraded["out_parallel"]
    assert "extended:" not in regraded["out_parallel"]
    assert "SAWarning" not in regraded["out_parallel"]  # silenced in the jobs
    flagged = {r["student"] for r in regraded["rows"] if "late: submitted 1 d" in r["flags"]}
    assert flagged == {"late"}


def test_extension_refuses_a_negative_time():
    from rnnlib.autograde.extension import grant_extension

    with pytest.raises(ValueError, match="hours must be >= 0"):
        grant_extension("sqlite://", "tiny", "tiny", "x", -1)




def test_the_report_page_has_totals_and_one_column_per_function(regraded):
    folder = regraded["parallel"] / "reports" / catalog.ASSIGNMENT
    page = (folder / "report.html").read_text()
    thead = page.split('id="students"')[1].split("<tbody>")[0]
    heads = re.findall(r"<th(?: [^>]*)?>([^<]*)</th>", thead)
    functions = list(dict.fromkeys(r["function"] for r in regraded["rows"]))
    assert heads[:2] == ["student", "total"] and heads[-2:] == ["status", "flags"]
    assert heads[2:-2] == functions and not any(h.startswith("test_") for h in heads), heads
    # the late student's total is after the penalty: 3 - 3; the extended one keeps 3
    assert re.search(r'who">late</th><td class="num total" data-sort="0"', page)
    assert re.search(r'who">extended</th><td class="num total" data-sort="3"', page)
    assert "<b>2 students</b>" in page and "1 late" in page
    assert "<script>document.querySelectorAll('#students thead th')" in page  # sorting, inline
    assert "Content-Security-Policy" in page and "sha256-" in page  # only that script runs
    cells = {r["function"]: r["cells"] for r in regraded["rows"] if r["student"] == "late"}
    assert cells["rnn_cell_forward"] == "test_rnn_shapes=1/1 test_rnn_values=0/2"


def test_lms_exports_carry_every_grade_as_nbgrader_export(regraded, tmp_path):
    """Canvas and Moodle CSVs, parsed back, give every student nbgrader export's score."""
    course = regraded["stock"]
    code, out = sh([str(BIN / "nbgrader"), "export", "--to", str(tmp_path / "nbgrader.csv")],
                   course)
    assert code == 0, out
    with open(tmp_path / "nbgrader.csv") as f:
        expected = {(r["student_id"], r["assignment"]): float(r["score"])
                    for r in csv.DictReader(f)}
    assert expected == {("late", "tiny"): 0.0, ("extended", "tiny"): 3.0}
    mapping = tmp_path / "lms-ids.csv"
    mapping.write_text("student_id,name,canvas_id,sis_login_id,section,email\n"
                       "late,\"Late, Lee\",1001,lee7,A,lee@example.org\n"
                       "extended,\"Ext, Eve\",,eve9,B,eve@example.org\n")
    got = {}
    for platform in ("canvas", "moodle"):
        path = tmp_path / f"{platform}.csv"
        code, out = sh([*PY, "rnnlib.autograde.lms", platform, "--map", str(mapping),
                        "--out", str(path)], course)
        assert code == 0, out
        with open(path, newline="") as f:
            got[platform] = list(csv.DictReader(f))
    canvas = got["canvas"]
    assert list(canvas[0])[:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert canvas[0]["Student"] == "Points Possible" and canvas[0]["tiny"] == "5"
    by_login = {r["SIS Login ID"]: r for r in canvas[1:]}
    assert by_login["lee7"]["ID"] == "1001" and by_login["lee7"]["Student"] == "Late, Lee"
    ids = {"lee7": "late", "eve9": "extended", "lee@example.org": "late",
           "eve@example.org": "extended"}
    for login, row in by_login.items():
        assert float(row["tiny"]) == expected[ids[login], "tiny"]
    moodle = {r["Email address"]: r for r in got["moodle"]}
    assert list(got["moodle"][0])[:4] == ["First name", "Last name", "ID number",
                                          "Email address"]
    assert {ids[k]: float(r["tiny"]) for k, r in moodle.items()} == \
        {s: v for (s, _), v in expected.items()}
    # a student the platform cannot match is named, not silently dropped
    mapping.write_text("student_id,email\nlate,lee@example.org\n")
    code, out = sh([*PY, "rnnlib.autograde.lms", "moodle", "--map", str(mapping), "--out",
                    str(tmp_path / "x.csv")], course)
    assert code == 1 and "no email / idnumber for extended" in out, out
