"""A class on a shared server: the students' system-wide configuration, and the student copy.

The instructors' page's ``student-config`` block, put where Jupyter looks for system-wide
configuration (here ``JUPYTER_CONFIG_PATH``), must be all a student needs for nbgrader's
student side to find a released assignment in the course's exchange (the Assignment List runs
the same listing as ``nbgrader list``). ``tools/publish_student_copy.py`` must leave out every
file that holds a solution or a hidden test.
"""

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import autograde_catalog as catalog
import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "book" / "instructors.md"
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.xdist_group("autograde")


def page_block(name, lang="python"):
    """The code of the page's block ``:name: name`` (it may sit indented in a list)."""
    m = re.search(r"```\{code-block\} " + lang + r"\n *:name: " + name + r"\n\n(.*?)```",
                  PAGE.read_text(), re.S)
    assert m, f"book/instructors.md has no {lang} block named {name}"
    return textwrap.dedent(m.group(1))


def test_a_student_with_only_the_system_config_lists_the_release(tmp_path):
    config = page_block("student-config")
    assert 'c.Exchange.root = "/srv/nbgrader/exchange"' in config
    assert 'c.CourseDirectory.course_id = "rnn-course"' in config
    exchange = tmp_path / "exchange"
    exchange.mkdir()
    os.chmod(exchange, 0o777)
    course = catalog.make_course(tmp_path / "course", timeout=4)
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    env.pop("JUPYTER_CONFIG_PATH", None)
    release = subprocess.run([str(BIN / "nbgrader"), "release_assignment", catalog.ASSIGNMENT,
                              "--course", "rnn-course", f"--Exchange.root={exchange}"],
                             cwd=course, env=env, capture_output=True, text=True, timeout=120)
    assert release.returncode == 0, release.stdout + release.stderr
    system = tmp_path / "etc" / "jupyter"
    system.mkdir(parents=True)
    (system / "nbgrader_config.py").write_text(
        config.replace("/srv/nbgrader/exchange", str(exchange)))
    home = tmp_path / "student"
    home.mkdir()
    student_env = dict(env, HOME=str(home), JUPYTER_CONFIG_DIR=str(home / ".jupyter"))
    listing = {}
    for label, extra in (("with", {"JUPYTER_CONFIG_PATH": str(system)}), ("without", {})):
        done = subprocess.run([str(BIN / "nbgrader"), "list"], cwd=home,
                              env=dict(student_env, **extra), capture_output=True, text=True,
                              timeout=120)
        listing[label] = done.stdout + done.stderr
    assert re.search(r"rnn-course\s+tiny", listing["with"]), listing["with"]
    assert "tiny" not in listing["without"], listing["without"]


def test_the_student_copy_has_no_solutions(tmp_path):
    dest = tmp_path / "students"
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "publish_student_copy.py"),
                           str(dest)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    names = {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()}
    assert not any(n.startswith(("solutions/", "tests/", "tools/notebook_sources/"))
                   for n in names)
    for a in ("rnn", "bptt", "language_model", "gru", "lstm", "brnn_deep"):
        assert f"exercises/{a}/{a}.ipynb" in names
    assert {"pyproject.toml", "README.md", "rnnlib/grading/__init__.py",
            "rnnlib/grading/rnn.py"} <= names
    for name in names:  # no notebook or source with a solution region or hidden tests
        if name.endswith((".ipynb", ".py")) and not name.startswith("rnnlib/"):
            text = (dest / name).read_text()
            assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text, name
    again = subprocess.run([sys.executable, str(ROOT / "tools" / "publish_student_copy.py"),
                            str(dest)], capture_output=True, text=True, timeout=60)
    assert again.returncode == 1 and "exists" in again.stderr
