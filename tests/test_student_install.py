"""A student's own set-up: ``pip install .`` of the repository is enough for the exercises.

Offline, the test does what pip does for a student: it builds the repository's wheel, makes a
fresh virtualenv (no pip, nothing but the standard library), installs the wheel and exactly the
distributions the wheel declares (``Requires-Dist`` without an extra, linked from this
environment, e.g. numpy), and runs a release notebook's code cells there in order, as a kernel
would, with the solutions filled in, then with a mistake. Nothing else is importable: not
tqdm, torch, nbgrader or the repository's own checkout (``python -I``, run from elsewhere).
"""

import email
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from test_exercises_catalog import CATALOG, submission

from rnnlib.grading import HEADLINE_WIDTH

ROOT = Path(__file__).resolve().parents[1]

RUNNER = textwrap.dedent('''
    import json, sys, traceback
    cells = json.load(open(sys.argv[1]))
    ns, out = {"__name__": "__main__"}, []
    for gid, source in cells:
        try:
            exec(compile(source, f"<{gid}>", "exec"), ns)
            out.append([gid, None, None])
        except Exception as e:
            out.append([gid, type(e).__name__, str(e)])
    missing = []
    for name in ("tqdm", "torch", "nbgrader", "matplotlib"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    import rnnlib
    history = rnnlib.train(lambda i: 1.0 / (i + 1), 3)  # rnnlib.train works without tqdm
    print(json.dumps({"cells": out, "missing": missing, "loss": history.loss,
                      "rnnlib": rnnlib.__file__}))
''')


def _requirements(wheel):
    """Names of the distributions the wheel requires without an extra."""
    with zipfile.ZipFile(wheel) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        msg = email.message_from_bytes(z.read(meta))
    names = []
    for req in msg.get_all("Requires-Dist") or []:
        if "extra ==" not in req:
            names.append(re.match(r"[A-Za-z0-9_.-]+", req).group(0))
    return names


def _link_distribution(name, site):
    """Install ``name`` into ``site`` by linking its top-level entries from this environment."""
    dist = importlib.metadata.distribution(name)
    tops = {Path(str(f)).parts[0] for f in dist.files or []}
    for top in tops:
        if top == ".." or top.endswith(".pth"):
            continue
        src = Path(dist.locate_file(top))
        if src.exists() and not (site / top).exists():
            (site / top).symlink_to(src)


@pytest.fixture(scope="module")
def student_python(tmp_path_factory):
    base = tmp_path_factory.mktemp("student")
    # setuptools writes build/ into the tree it builds: build a copy of what pip reads
    tree = base / "repo"
    shutil.copytree(ROOT / "rnnlib", tree / "rnnlib",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tree)
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(base / "wheels"), str(tree)],
        capture_output=True, text=True, timeout=120, cwd=base)
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = (base / "wheels").glob("rnnlib-*.whl")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=60)
    (site,) = venv.glob("lib/python*/site-packages")
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
    requires = _requirements(wheel)
    assert requires == ["numpy"], requires  # the minimal install the README documents
    for name in requires:
        _link_distribution(name, site)
    return venv / "bin" / "python", base


def run_notebook(student_python, nb, name):
    python, base = student_python
    cells = [(c.metadata.get("nbgrader", {}).get("grade_id"), c.source)
             for c in nb.cells if c.cell_type == "code"]
    (base / f"{name}.json").write_text(json.dumps(cells))
    (base / "runner.py").write_text(RUNNER)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    done = subprocess.run([str(python), "-I", str(base / "runner.py"), str(base / f"{name}.json")],
                          capture_output=True, text=True, timeout=120, cwd=base, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_a_correct_notebook_passes_every_test_cell(student_python):
    got = run_notebook(student_python, submission("rnn"), "correct")
    assert Path(got["rnnlib"]).is_relative_to(student_python[1] / "venv"), got["rnnlib"]
    assert got["missing"] == ["tqdm", "torch", "nbgrader", "matplotlib"]
    assert got["loss"] == [1.0, 0.5, 1 / 3]
    failed = [(gid, kind, msg) for gid, kind, msg in got["cells"] if kind is not None]
    assert not failed, failed
    assert sum(gid.endswith(("_values", "_shapes")) for gid, _, _ in got["cells"] if gid) >= 5


def test_a_wrong_answer_fails_with_the_hint_on_a_short_first_line(student_python):
    (entry,) = [e for e in CATALOG if (e.assignment, e.name) == ("rnn", "transposed_output")]
    got = run_notebook(student_python, submission("rnn", {entry.function: entry.edits}),
                       "wrong")
    results = {gid: (kind, msg) for gid, kind, msg in got["cells"]}
    kind, message = results["rnn_cell_forward_shapes"]
    assert kind == "GradingFailure"
    first = message.split("\n")[0]
    # nbgrader validate cuts each line at 87 characters, after "    GradingFailure: "
    assert len(first) <= HEADLINE_WIDTH and "did you transpose Wya?" in first, message
    assert entry.fragment in message
    assert results["one_hot_values"] == (None, None)
