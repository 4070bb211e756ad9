"""End to end: a class of honest, broken and hostile submissions graded in one batch.

The catalog (:data:`autograde_catalog.CATALOG`) is submitted to a throw-away course whose
``nbgrader_config.py`` ends with ``harden(c)``. The class is graded twice, at the same time: by
the parallel command (``python -m rnnlib.autograde.classgrade``, two jobs) and by nbgrader's own
sequential ``nbgrader autograde`` in an identical copy of the course. Then the class report and
the feedback are made. Checked: every submission scores what it deserves or is flagged with a
reason, the honest students are unaffected, nothing outside a submission's folder changes, and
both gradings give the same gradebook. A Dask ``LocalCluster`` on loopback grades a few
submissions again and agrees.
"""

import csv
import os
import pathlib
import shutil
import subprocess
import sys

import autograde_catalog as catalog
import nbformat
import pytest

from rnnlib.autograde import sandbox
from rnnlib.autograde.gradebook import dump

pytestmark = pytest.mark.xdist_group("autograde")

BIN = pathlib.Path(sys.executable).parent
OUTPUTS = ("autograded", "feedback", "reports", "gradebook.db")


def env():
    return dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")


def run(cmd, cwd, timeout=400):
    return subprocess.Popen(cmd, cwd=cwd, env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def class_commands():
    """The instructors' page's class commands (``:name: class-commands``), for this course:
    the interpreter of the tests, the catalog's assignment in place of the page's ``rnn``."""
    from test_exercises_e2e import page_commands

    commands = [cmd.split() for cmd in page_commands("class-commands")]
    assert [cmd[:3] for cmd in commands] == [["python", "-m", "rnnlib.autograde.classgrade"],
                                             ["python", "-m", "rnnlib.autograde.report"]]
    assert all(cmd[3] == "rnn" for cmd in commands), commands
    return [[sys.executable, *cmd[1:3], catalog.ASSIGNMENT, *cmd[4:]] for cmd in commands]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("autograde")
    course, canary = base / "course", base / "canary"
    canary.mkdir()
    (canary / "keep.txt").write_text("keep me")
    catalog.make_course(course, timeout=4, extra="c.Execute.iopub_timeout = 2")
    catalog.submit_catalog(course, canary=canary)
    sequential = base / "sequential"
    shutil.copytree(course, sequential)
    before = catalog.tree_digest(course, skip=OUTPUTS)
    before_canary = catalog.tree_digest(canary)
    grade, report = class_commands()
    parallel = run(grade + ["--jobs", "2", "--no-progress"], course)
    stock = run([str(BIN / "nbgrader"), "autograde", catalog.ASSIGNMENT], sequential)
    out_parallel, _ = parallel.communicate(timeout=400)
    out_stock, _ = stock.communicate(timeout=400)
    report = subprocess.run(report, cwd=course, env=env(), capture_output=True, text=True,
                            timeout=120)
    assert report.returncode == 0, report.stdout + report.stderr
    with open(course / "reports" / catalog.ASSIGNMENT / "report.csv") as f:
        rows = list(csv.DictReader(f))
    return {"base": base, "course": course, "sequential": sequential, "canary": canary,
            "before": before, "before_canary": before_canary, "rows": rows,
            "parallel": (parallel.returncode, out_parallel),
            "stock": (stock.returncode, out_stock)}


def scores(root):
    """{student: {function: points}} from a course's gradebook."""
    out = {}
    cells = {cell: fn for fn, names in catalog.FUNCTIONS.items() for cell in names}
    for sid, _, cell, auto, manual, _ in dump(f"sqlite:///{root}/gradebook.db",
                                               catalog.ASSIGNMENT, "tiny"):
        if cell in cells:
            fn = out.setdefault(sid, {}).setdefault(cells[cell], 0.0)
            out[sid][cells[cell]] = fn + (manual if manual is not None else auto or 0.0)
    return out


def report_rows(graded, student):
    return [r for r in graded["rows"] if r["student"] == student]


def test_the_batch_goes_on_and_reports_only_the_ungradable(graded):
    code, out = graded["parallel"]
    assert code == 1, out  # some notebooks could not be graded: the command says which
    assert "could not be graded automatically: invalid_json, renamed" in out, out
    code, out = graded["stock"]
    assert code == 1 and "error processing assignment 'tiny' for student 'invalid_json'" in out


@pytest.mark.parametrize("name", list(catalog.CATALOG))
def test_each_submission_scores_what_it_deserves_or_is_flagged(graded, name):
    _, deserved, flags = catalog.CATALOG[name]
    rows = report_rows(graded, name)
    assert len(rows) == 3, rows
    kinds = {part.split(":")[0] for r in rows for part in r["flags"].split(" | ") if part}
    if deserved is None:
        assert {r["status"] for r in rows} == {"failed to grade"}
        assert all(r["score"] == "" and r["flags"].startswith("failed: ") for r in rows)
        return
    assert scores(graded["course"])[name] == deserved
    assert {r["status"] for r in rows} == {"graded"}
    assert set(flags) <= kinds, (flags, rows)
    if not flags:
        assert not kinds - {"cheating"}, rows


def test_honest_students_keep_full_marks_and_no_flags(graded):
    assert scores(graded["course"])["honest"] == catalog.FULL
    assert all(r["flags"] == "" and r["status"] == "graded"
               for r in report_rows(graded, "honest"))


def test_flags_have_one_line_reasons(graded):
    for row in graded["rows"]:
        for part in filter(None, row["flags"].split(" | ")):
            kind, _, reason = part.partition(": ")
            assert kind in ("failed", "manual", "timeout", "crash", "cheating", "output",
                            "sandbox") and reason and "\n" not in reason
    crash = {r["flags"] for r in report_rows(graded, "exit_in_function")
             if r["function"] == "sample_index"}
    assert any("kernel died (exit code 3)" in f for f in crash)
    assert not any("crash" in r["flags"] for r in report_rows(graded, "exit_in_function")
                   if r["function"] != "sample_index")


def test_nothing_outside_the_submissions_folder_changed(graded):
    assert catalog.tree_digest(graded["course"], skip=OUTPUTS) == graded["before"]
    assert catalog.tree_digest(graded["canary"]) == graded["before_canary"]
    assert not list(graded["base"].rglob("pwned*"))


def test_parallel_command_gives_the_same_gradebook_as_sequential_nbgrader(graded):
    parallel = dump(f"sqlite:///{graded['course']}/gradebook.db", catalog.ASSIGNMENT, "tiny")
    stock = dump(f"sqlite:///{graded['sequential']}/gradebook.db", catalog.ASSIGNMENT, "tiny")
    assert len(parallel) > 100
    assert parallel == stock
    for name in ("honest", "os_exit", "swallow_interrupt"):
        a = nbformat.read(graded["course"] / "autograded" / name / "tiny" / "tiny.ipynb", 4)
        b = nbformat.read(graded["sequential"] / "autograded" / name / "tiny" / "tiny.ipynb", 4)
        assert a.metadata["autograde"]["cells"] == b.metadata["autograde"]["cells"]


def test_feedback_for_every_student_without_hidden_tests(graded):
    feedback = graded["course"] / "feedback"
    for name in catalog.CATALOG:
        page = feedback / name / "tiny" / "tiny.html"
        assert page.is_file(), name
        text = page.read_text()
        assert "rnn_cell_forward as reference" not in text and "HIDDEN TESTS" not in text
    failed = (feedback / "renamed" / "tiny" / "tiny.html").read_text()
    assert "tiny_final.ipynb" in failed
    partial = (feedback / "partial" / "tiny" / "tiny.html").read_text()
    assert "a_next is wrong" in partial
    html = (graded["course"] / "reports" / "tiny" / "report.html").read_text()
    assert all(name in html for name in catalog.CATALOG) and "failed to grade" in html


def ungraded_copy(graded, course, names):
    """A copy of the class (before grading) with only the students ``names``."""
    shutil.copytree(graded["sequential"], course,
                    ignore=shutil.ignore_patterns("autograded", "feedback", "reports"))
    for student in (course / "submitted").iterdir():
        if student.name not in names:
            shutil.rmtree(student)
    return course


def first_grades(graded, names):
    """The gradebook rows of students ``names`` from the class's first grading."""
    first = dump(f"sqlite:///{graded['course']}/gradebook.db", catalog.ASSIGNMENT, "tiny")
    return [r for r in first if r[0] in names]


def test_dask_backend_on_a_local_cluster_agrees(graded, tmp_path):
    names = ["honest", "partial", "exit_in_function"]
    course = ungraded_copy(graded, tmp_path / "course", names)
    done = subprocess.run([sys.executable, "-m", "rnnlib.autograde.classgrade",
                           catalog.ASSIGNMENT, "--backend", "dask", "--jobs", "2", "--force",
                           "--no-progress"], cwd=course, env=env(), capture_output=True,
                          text=True, timeout=400)
    assert done.returncode == 0, done.stdout + done.stderr
    again = dump(f"sqlite:///{course}/gradebook.db", catalog.ASSIGNMENT, "tiny")
    assert [r for r in again if r[0] in names] == first_grades(graded, names)


def test_a_dask_cluster_named_in_the_configuration_grades_the_same(graded, tmp_path):
    """The instructors' page's cluster recipe: ``dask scheduler`` and ``dask worker
    --nthreads 1`` started by hand (here on loopback), ``c.ClassGrade.backend`` and
    ``c.ClassGrade.scheduler_address`` in the course's configuration, plain ``classgrade``."""
    import json
    import time

    names = ["honest", "exit_in_function"]
    course = ungraded_copy(graded, tmp_path / "course", names)
    elsewhere = tmp_path / "worker"  # the worker shares no folder with the course
    elsewhere.mkdir()
    info = tmp_path / "scheduler.json"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env()}
    scheduler = subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1",
                                  "--port", "0", "--no-dashboard", "--scheduler-file",
                                  str(info)], cwd=elsewhere, **quiet)
    worker = None
    try:
        deadline = time.monotonic() + 60
        while not info.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        address = json.loads(info.read_text())["address"]
        worker = subprocess.Popen([str(BIN / "dask"), "worker", address, "--nthreads", "1",
                                   "--nworkers", "1", "--no-dashboard"], cwd=elsewhere, **quiet)
        with open(course / "nbgrader_config.py", "a") as f:
            f.write(f'\nc.ClassGrade.backend = "dask"\n'
                    f'c.ClassGrade.scheduler_address = "{address}"\n')
        done = subprocess.run([sys.executable, "-m", "rnnlib.autograde.classgrade",
                               catalog.ASSIGNMENT, "--force", "--no-progress"], cwd=course,
                              env=env(), capture_output=True, text=True, timeout=400)
        ran = ran_on_scheduler(address)
    finally:
        for proc in (worker, scheduler):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
    assert done.returncode == 0, done.stdout + done.stderr
    assert ran == {f"autograde-{catalog.ASSIGNMENT}-{n}" for n in names}, ran
    again = dump(f"sqlite:///{course}/gradebook.db", catalog.ASSIGNMENT, "tiny")
    assert [r for r in again if r[0] in names] == first_grades(graded, names)


def ran_on_scheduler(address):
    """Keys of the grading jobs the scheduler at ``address`` saw finish."""
    from distributed import Client

    def finished(dask_scheduler):
        return sorted({str(entry[0]) for entry in dask_scheduler.transition_log
                       if str(entry[0]).startswith("autograde-") and entry[2] == "memory"})

    with Client(address, timeout=30) as client:
        return set(client.run_on_scheduler(finished))


@pytest.fixture
def postgres():
    """A throw-away PostgreSQL server on a unix socket; yields its SQLAlchemy URL for a new
    database ``course``. PostgreSQL refuses to run as root: as root, it runs as ``nobody``
    (in a folder of its own under the system's temporary folder, which ``nobody`` can reach,
    unlike pytest's)."""
    import tempfile

    bins = sorted(pathlib.Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not bins:
        pytest.skip("PostgreSQL is not installed (make system-deps installs it)")
    pg = bins[-1].parent
    folder = pathlib.Path(tempfile.mkdtemp(prefix="rnnlib-pg-"))
    as_user = []
    if os.geteuid() == 0:
        uid = str(sandbox.NOBODY)
        os.chown(folder, sandbox.NOBODY, sandbox.NOBODY)
        as_user = ["setpriv", "--reuid", uid, "--regid", uid, "--clear-groups"]

    def pg_run(*args):
        done = subprocess.run(as_user + [str(pg / args[0]), *args[1:]], capture_output=True,
                              text=True, timeout=120, cwd=folder)
        assert done.returncode == 0, done.stdout + done.stderr

    pg_run("initdb", "-D", str(folder / "data"), "-U", "grader", "--auth=trust", "-E", "UTF8")
    pg_run("pg_ctl", "-D", str(folder / "data"), "-l", str(folder / "log"), "-w", "start",
           "-o", f"-k {folder} -c listen_addresses=''")
    try:
        pg_run("createdb", "-h", str(folder), "-U", "grader", "course")
        yield f"postgresql+psycopg://grader@/course?host={folder}"
    finally:
        pg_run("pg_ctl", "-D", str(folder / "data"), "-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def test_a_postgresql_gradebook_gets_the_same_grades(graded, postgres, tmp_path):
    """``NBGRADER_DB_URL`` pointing at a server database: nbgrader records the assignment there,
    the parallel command writes the grades there, and they equal the SQLite course's."""
    course = tmp_path / "course"
    catalog.make_course(course, timeout=4, extra="import os\n"
                        "c.CourseDirectory.db_url = os.environ['NBGRADER_DB_URL']")
    names = ["honest", "partial", "exit_in_function"]
    catalog.submit_catalog(course, names=names)
    server = dict(env(), NBGRADER_DB_URL=postgres)
    for cmd in ([str(BIN / "nbgrader"), "generate_assignment", catalog.ASSIGNMENT, "--force"],
                [sys.executable, "-m", "rnnlib.autograde.classgrade", catalog.ASSIGNMENT,
                 "--jobs", "2", "--no-progress"]):
        done = subprocess.run(cmd, cwd=course, env=server, capture_output=True, text=True,
                              timeout=400)
        assert done.returncode == 0, done.stdout + done.stderr
    got = dump(postgres, catalog.ASSIGNMENT, "tiny")
    assert {r[0] for r in got} == set(names)
    assert got == first_grades(graded, names)


def test_without_the_sandbox_grading_works_and_says_so_loudly(tmp_path):
    course = tmp_path / "course"
    catalog.make_course(course, timeout=4,
                        extra="c.SandboxedKernelManager.sandbox = False")
    catalog.submit_catalog(course, names=["honest", "import_reference"])
    done = subprocess.run([str(BIN / "nbgrader"), "autograde", catalog.ASSIGNMENT], cwd=course,
                          env=env(), capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WITHOUT A SANDBOX" in done.stderr
    got = scores(course)
    assert got["honest"] == catalog.FULL
    assert got["import_reference"] == {"rnn": 0.0, "clip": 1.0, "sample": 1.0}
    nb = nbformat.read(course / "autograded" / "honest" / "tiny" / "tiny.ipynb", 4)
    assert nb.metadata["autograde"]["sandbox"] is False
    assert any(f["kind"] == "sandbox" for f in nb.metadata["autograde"]["flags"])
