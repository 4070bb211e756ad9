"""Hostile submissions, second round: each class of attack graded in one batch with honest ones.

The classes (issue "Hostile submissions, second round"): a submission must not cost another
student their grade (a duplicated cell, an unreadable timestamp); a submission folder is the
student's own files only (links removed unread, a linked folder or notebook refused); nothing
shared between concurrent sandboxes lets one fail another (a process-heavy notebook beside
honest ones); the memory limit holds for a sandbox's processes together, its disk is capped,
its time is capped per notebook, nothing it started survives it; what it returns is bounded
before the grader decodes it; what it prints cannot reach the grader's terminal raw. (The
integrity class is in ``test_grading_integrity.py``, the pages people open in
``test_safe_pages.py``.)

The class is graded twice at the same time, by ``classgrade --jobs 2`` and by nbgrader's own
``nbgrader autograde`` in a copy, as in ``test_autograde_catalog.py``.
"""

import os
import pathlib
import re
import shutil
import subprocess
import sys
import textwrap
import time

import autograde_catalog as catalog
import nbformat
import pytest
from autograde_catalog import CLIP, SAMPLE, _insert_after, _nb, answered
from test_autograde_catalog import BIN, env, scores

from rnnlib.autograde import confine
from rnnlib.autograde.gradebook import dump

pytestmark = pytest.mark.xdist_group("hostile")

FULL = catalog.FULL
NOTEBOOK_TIMEOUT = 25


def honest(ctx):
    return _nb(answered(ctx["release"]))


def duplicated_cells(ctx):
    """A test cell and a solution cell pasted twice (an honest accident, or not)."""
    nb = answered(ctx["release"])
    for grade_id in ("test_rnn_shapes", "clip_code"):
        i = next(i for i, c in enumerate(nb.cells)
                 if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
        nb.cells.insert(i + 1, nbformat.from_dict(dict(nb.cells[i], id=f"copy-{i}")))
    return _nb(nb)


def process_heavy(ctx):
    """As many threads as the machine gives, held for a while: the honest student graded
    beside it must not run out of processes. The threads end with the cell: they fill the
    kernel's address space (a thread's stack counts against the memory limit), and what later
    cells could still load depended on the megabytes left over (7 MB or 0.4 MB, as the kernel's
    own start-up changed), not on the grader."""
    hog = textwrap.dedent("""\
        import threading, time
        held = []
        try:
            for _ in range(5000):
                t = threading.Thread(target=time.sleep, args=(2.5,), daemon=True)
                t.start()
                held.append(t)
        except RuntimeError:
            pass
        for t in held:
            t.join()""")
    return _nb(_insert_after(answered(ctx["release"]), "rnn_code", hog))


def memory_in_children(ctx):
    """Four children of the kernel, each wanting 1 GiB (the limit is 2 GiB for the sandbox):
    how many hold theirs at once, counted once each has either its GiB or been killed (up to
    3.5 s, within the cell's 4 s: a loaded machine allocates slowly)."""
    hog = textwrap.dedent("""\
        import os, subprocess, sys, time
        code = ("import sys, time; b = bytearray(1024**3); open(sys.argv[1], 'w').close(); "
                "time.sleep(6)")
        kids = [subprocess.Popen([sys.executable, "-c", code, f"held{i}"]) for i in range(4)]
        def holding(i, k):
            return k.poll() is None and os.path.exists(f"held{i}")
        deadline = time.time() + 3.5
        while time.time() < deadline and any(
                k.poll() is None and not holding(i, k) for i, k in enumerate(kids)):
            time.sleep(0.1)
        print("children holding 1 GiB at once:", sum(holding(i, k) for i, k in enumerate(kids)))
        for k in kids:
            k.kill()""")
    return _nb(_insert_after(answered(ctx["release"]), "clip_code", hog))


def disk_filler(ctx):
    """Writes 300 MB (more than the 256 MiB cap) into its working directory, HOME, TMPDIR,
    /tmp and /dev/shm (64 MiB there), a cell for each, so that a loaded machine does not run
    one cell past its 4 s."""
    nb = answered(ctx["release"])
    wheres = ('"."', 'os.environ["HOME"]', 'os.environ["TMPDIR"]', '"/tmp"', '"/dev/shm"')
    for where in reversed(wheres):  # each inserted right after rnn_code: the last one first
        fill = textwrap.dedent(f"""\
            import os
            where = {where}
            path = os.path.join(where, "fill.bin")
            chunk = b"x" * 4 * 1024**2  # few large writes: quick on a loaded machine
            try:
                with open(path, "wb") as f:
                    for _ in range(75):
                        f.write(chunk)
                print(where, "took 300 MB")
            except OSError as e:
                print(where, "refused:", type(e).__name__)
            finally:
                if os.path.exists(path):
                    os.remove(path)""")
        nb = _insert_after(nb, "rnn_code", fill)
    return _nb(nb)


def slow_cells(ctx):
    """Many cells, each just under the per-cell limit (4 s here), before the sample test."""
    nb = answered(ctx["release"])
    for _ in range(10):
        nb = _insert_after(nb, "test_clip", "import time\ntime.sleep(3.5)")
    return _nb(nb)


def survivor(ctx):
    """Leaves a process behind, escaped from its process group and session."""
    leave = textwrap.dedent("""\
        import subprocess
        subprocess.Popen(["sh", "-c", "sleep 600 & sleep 600"], start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)""")
    return _nb(_insert_after(answered(ctx["release"]), "rnn_code", leave))


def huge_value(ctx):
    """clip returns 200 MB of nested data to the grader."""
    huge = CLIP.replace("    return gradients", "    return [[i] for i in range(10**7)]")
    return _nb(answered(ctx["release"], clip=huge))


ESCAPES = "\x1b[2J\x1b]0;owned\x07"
FORGED = "[AutogradeApp | ERROR] FORGED LINE"


def terminal_escapes(ctx):
    """Prints escape sequences and a forged log line, also from an exception the grader
    logs."""
    loud = SAMPLE.replace("    return int(",
                          f"    raise ValueError({ESCAPES!r} + '\\n' + {FORGED!r})\n"
                          f"    return int(")
    nb = answered(ctx["release"], sample=loud)
    nb = _insert_after(nb, "rnn_code", f"import os, sys\nprint({ESCAPES!r})\n"
                                      f"os.write(2, {(ESCAPES + chr(10) + FORGED).encode()!r})")
    return _nb(nb)


def history_reader(ctx):
    """Prints the kernel's input history after the tests (hidden tests must not be in it)."""
    nb = answered(ctx["release"])
    nb.cells.append(nbformat.v4.new_code_cell(
        "print(In)\nprint(get_ipython().history_manager.input_hist_raw)"))
    return _nb(nb)


#: name -> (builder, deserved points per function or None (refused: fails to grade), flags)
CASES = {
    "a_honest": (honest, FULL, ()),
    "duplicated_cells": (duplicated_cells, FULL, ("structure",)),
    "process_heavy": (process_heavy, FULL, ()),
    "b_honest": (honest, FULL, ()),
    "memory_in_children": (memory_in_children, FULL, ()),
    "disk_filler": (disk_filler, FULL, ()),
    "slow_cells": (slow_cells, {"rnn": 3.0, "clip": 1.0, "sample": 0.0}, ("timeout",)),
    "survivor": (survivor, FULL, ()),
    "huge_value": (huge_value, {"rnn": 3.0, "clip": 0.0, "sample": 1.0}, ()),
    "terminal_escapes": (terminal_escapes, {"rnn": 3.0, "clip": 1.0, "sample": 0.0}, ()),
    "history_reader": (history_reader, FULL, ()),
    "links": (honest, FULL, ("links",)),
    "linked_folder": (None, None, ("failed",)),
    "linked_notebook": (None, None, ("failed",)),
    "bad_timestamp": (honest, None, ("failed",)),
    "z_honest": (honest, FULL, ()),
}


def submit_cases(root):
    ctx = {"root": root, "release": catalog.release_notebook(root)}
    for name, (builder, _, _) in CASES.items():
        if builder is not None:
            catalog.submit(root, name, builder(ctx),
                           timestamp="not a time" if name == "bad_timestamp" else
                           "2026-01-10 12:00:00.000000 UTC")


def add_links(root, canary):
    """The link cases, made in each copy of the course (a copy would not keep them)."""
    links = root / "submitted" / "links" / catalog.ASSIGNMENT
    honest_nb = root / "submitted" / "a_honest" / catalog.ASSIGNMENT / "tiny.ipynb"
    os.symlink(root / "gradebook.db", links / "gradebook_copy.db")
    os.symlink(honest_nb, links / "friend.ipynb")
    os.symlink(root / "source", links / "source_copy")
    os.link(canary / "keep.txt", links / "hard.txt")
    (root / "submitted" / "linked_folder").mkdir()
    os.symlink(honest_nb.parent, root / "submitted" / "linked_folder" / catalog.ASSIGNMENT)
    mine = root / "submitted" / "linked_notebook" / catalog.ASSIGNMENT
    mine.mkdir(parents=True)
    os.symlink(honest_nb, mine / "tiny.ipynb")
    (mine / "timestamp.txt").write_text("2026-01-10 12:00:00.000000 UTC")


def _uid_leased(uid):
    """Whether a live sandbox holds ``uid`` now (another grading running beside this test,
    as under ``pytest -n 2``): its processes are not leftovers."""
    import fcntl

    path = confine.LOCK_DIR / str(uid)
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # closing drops a lock taken here
    return False


def _empty_groups():
    def empty(group):
        try:
            return not (group / "cgroup.procs").read_text().strip()
        except FileNotFoundError:  # removed since the listing: gone, not left over
            return False

    return {p for c in ("memory", "pids", "cpu")
            for p in (pathlib.Path("/sys/fs/cgroup") / c / confine.GROUP).glob("*")
            if p.is_dir() and empty(p)}


def _sandbox_processes():
    """Processes running as a sandbox uid that no live sandbox holds, and control groups left
    empty (a live sandbox's group has its processes; one that a grading beside this test is
    just closing is gone a moment later)."""
    uids = range(confine.UID_BASE, confine.UID_BASE + confine.UID_COUNT)
    procs = [pid for uid in uids[:64] if not _uid_leased(uid)
             for pid in confine._pids_of_uid(uid)]
    groups = _empty_groups()
    if groups:
        time.sleep(3)
        groups &= _empty_groups()
    return procs, sorted(groups)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    course, canary = base / "course", base / "canary"
    canary.mkdir()
    (canary / "keep.txt").write_text("keep me")
    catalog.make_course(course, timeout=4, extra=(
        "c.Execute.iopub_timeout = 2\n"
        f"c.JudgedExecute.notebook_timeout = {NOTEBOOK_TIMEOUT}"))
    sequential = base / "sequential"
    submit_cases(course)
    shutil.copytree(course, sequential)
    for root in (course, sequential):
        add_links(root, canary)
    before = catalog.tree_digest(course / "source")
    before_canary = catalog.tree_digest(canary)
    gradebook_before = (course / "gradebook.db").stat().st_size
    parallel = subprocess.Popen(
        [sys.executable, "-m", "rnnlib.autograde.classgrade", catalog.ASSIGNMENT, "--jobs", "2",
         "--no-progress"], cwd=course, env=env(), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT)
    stock = subprocess.Popen([str(BIN / "nbgrader"), "autograde", catalog.ASSIGNMENT],
                             cwd=sequential, env=env(), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
    out_parallel, _ = parallel.communicate(timeout=400)
    out_stock, _ = stock.communicate(timeout=400)
    left = _sandbox_processes()
    report = subprocess.run([sys.executable, "-m", "rnnlib.autograde.report",
                             catalog.ASSIGNMENT], cwd=course, env=env(), capture_output=True,
                            timeout=120)
    assert report.returncode == 0, report.stdout + report.stderr
    return {"base": base, "course": course, "sequential": sequential, "canary": canary,
            "before": before, "before_canary": before_canary, "left": left,
            "gradebook_before": gradebook_before,
            "out": {"classgrade": (parallel.returncode, out_parallel),
                    "nbgrader": (stock.returncode, out_stock)}}


def record(root, student):
    path = root / "autograded" / student / catalog.ASSIGNMENT / "tiny.ipynb"
    return nbformat.read(path, 4).metadata["autograde"] if path.is_file() else None


@pytest.mark.parametrize("path", ["classgrade", "nbgrader"])
def test_the_batch_goes_on_and_names_only_the_refused(graded, path):
    code, out = graded["out"][path]
    text = out.decode("utf-8", "replace")
    assert code == 1, text  # some submissions were refused: the command says so
    refused = sorted(n for n, (_, deserved, _) in CASES.items() if deserved is None)
    if path == "classgrade":
        assert f"could not be graded automatically: {', '.join(refused)}" in text, text
    else:
        for name in refused:
            assert f"for student '{name}'" in text, name


@pytest.mark.parametrize("path", ["classgrade", "nbgrader"])
@pytest.mark.parametrize("name", list(CASES))
def test_each_case_scores_what_it_deserves(graded, name, path):
    _, deserved, flags = CASES[name]
    root = graded["course"] if path == "classgrade" else graded["sequential"]
    got = scores(root)
    if deserved is None:
        assert record(root, name) is None  # refused: nothing of it graded or served
        return
    assert got[name] == deserved, (name, got.get(name))
    kinds = {f["kind"] for f in record(root, name)["flags"]}
    assert set(flags) <= kinds, (name, kinds)


def test_honest_students_keep_full_marks_and_no_flags(graded):
    for root in (graded["course"], graded["sequential"]):
        for name in ("a_honest", "b_honest", "z_honest"):
            assert scores(root)[name] == FULL
            assert record(root, name)["flags"] == [], record(root, name)["flags"]


def test_the_two_paths_agree(graded):
    """The same gradebook, but for the refused: nbgrader records a submission (with no
    score) before its hook can refuse it; classgrade refuses before it records anything."""
    refused = {n for n, (_, deserved, _) in CASES.items() if deserved is None}
    a = dump(f"sqlite:///{graded['course']}/gradebook.db", catalog.ASSIGNMENT, "tiny")
    b = dump(f"sqlite:///{graded['sequential']}/gradebook.db", catalog.ASSIGNMENT, "tiny")
    assert len(a) > 100
    assert [r for r in a if r[0] not in refused] == [r for r in b if r[0] not in refused]


def test_links_are_removed_unread_and_named(graded):
    for root in (graded["course"], graded["sequential"]):
        reasons = [f["reason"] for f in record(root, "links")["flags"] if f["kind"] == "links"]
        assert len(reasons) == 4, reasons
        assert any("gradebook_copy.db was a link" in r for r in reasons)
        served = root / "autograded" / "links" / catalog.ASSIGNMENT
        assert sorted(p.name for p in served.iterdir()) == ["timestamp.txt", "tiny.ipynb"]
        for refused in ("linked_folder", "linked_notebook"):  # nothing of them is served
            assert not list((root / "autograded" / refused).rglob("*.*")), refused
    assert catalog.tree_digest(graded["canary"]) == graded["before_canary"]
    assert catalog.tree_digest(graded["course"] / "source") == graded["before"]


def test_nothing_a_submission_started_survives_it(graded):
    procs, groups = graded["left"]
    assert procs == [] and groups == [], graded["left"]
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert "sleep 600" not in ps


def test_the_disk_and_the_memory_are_capped_for_the_whole_sandbox(graded):
    nb = nbformat.read(graded["course"] / "autograded" / "disk_filler" / "tiny" / "tiny.ipynb", 4)
    fills = [c for c in nb.cells if c.cell_type == "code" and "fill.bin" in c.source]
    assert len(fills) == 5, [c.source[:60] for c in fills]
    for cell in fills:  # each place: refused, said by the cell itself (not cut by a time-out)
        said = "".join(o.get("text", "") or f"{o.get('ename')}: {o.get('evalue')}"
                       for o in cell.get("outputs", []))
        assert "refused: OSError" in said and "took 300 MB" not in said, (cell.source, said)
    nb = nbformat.read(graded["course"] / "autograded" / "memory_in_children" / "tiny" /
                       "tiny.ipynb", 4)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []))
    if confine.cgroup_mode():
        found = re.search(r"children holding 1 GiB at once: (\d)", text)
        assert found and int(found.group(1)) <= 1, text


def test_the_notebook_time_limit_holds(graded):
    flags = record(graded["course"], "slow_cells")["flags"]
    assert any(f"its {NOTEBOOK_TIMEOUT} s in all" in f["reason"] for f in flags), flags


@pytest.mark.parametrize("path", ["classgrade", "nbgrader"])
def test_no_student_bytes_reach_the_grader_terminal(graded, path):
    _, out = graded["out"][path]
    text = out.decode("utf-8", "replace")
    assert "\x1b[2J" not in text and "\x07" not in text
    assert not any(line.startswith(FORGED) for line in text.splitlines())


def test_the_kernel_history_holds_no_test(graded):
    nb = nbformat.read(graded["course"] / "autograded" / "history_reader" / "tiny" /
                       "tiny.ipynb", 4)
    printed = "".join(o.get("text", "") for o in nb.cells[-1].get("outputs", []))
    assert "def rnn_cell_forward" in printed  # the history was printed
    assert "check_close" not in printed and "reference" not in printed, printed
