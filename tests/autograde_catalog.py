"""A small nbgrader course and a catalog of honest, broken and hostile submissions.

The tests and the benchmark build a throw-away course with :func:`make_course` (one assignment,
``tiny``: three functions, five points), then submit notebooks made by the :data:`CATALOG`
builders with :func:`submit`. Each entry says what the submission deserves: points per function
(``rnn`` 3, ``clip`` 1, ``sample`` 1), or ``None`` when it cannot be graded automatically and
must be flagged for manual grading, and which flags the report must show.

Test cells here call :func:`rnnlib.checks.check_close`, an instructor's own test helper (not the
course's ``grading.check_*``), so that patching "the grading helpers" has something to aim at.
It lives in ``tests/`` (a test fixture, not part of the package); the benchmark imports it too.
"""

import json
import os
import pathlib
import textwrap

import nbformat

from rnnlib.autograde.classgrade import venv_on_path

ASSIGNMENT = "tiny"
NOTEBOOK = "tiny"
#: function -> grade ids of its test cells
FUNCTIONS = {"rnn": ("test_rnn_shapes", "test_rnn_values"), "clip": ("test_clip",),
             "sample": ("test_sample",)}
POINTS = {"test_rnn_shapes": 1, "test_rnn_values": 2, "test_clip": 1, "test_sample": 1}
FULL = {"rnn": 3.0, "clip": 1.0, "sample": 1.0}



# -- the instructor's notebook ----------------------------------------------------------------

SETUP = "import numpy as np\nfrom rnnlib.activations import softmax"

RNN = '''def rnn_cell_forward(xt, a_prev, parameters):
    """One RNN step: a_next = tanh(Wax xt + Waa a_prev + ba), yt_pred = softmax(Wya a_next + by)."""
    Wax, Waa, Wya = parameters["Wax"], parameters["Waa"], parameters["Wya"]
    ba, by = parameters["ba"], parameters["by"]
    a_next = np.tanh(Wax @ xt + Waa @ a_prev + ba)
    yt_pred = softmax(Wya @ a_next + by)
    return a_next, yt_pred, (a_next, a_prev, xt, parameters)'''

CLIP = '''def clip(gradients, max_value):
    """Clip every gradient in place to [-max_value, max_value]; return the dict."""
    for key in gradients:
        np.clip(gradients[key], -max_value, max_value, out=gradients[key])
    return gradients'''

SAMPLE = '''def sample_index(p):
    """Draw one index from the distribution p with numpy's global generator."""
    return int(np.random.choice(len(p), p=p))'''

TEST_RNN_SHAPES = '''from rnnlib.checks import check_close
rng = np.random.default_rng(1)
xt, a_prev = rng.standard_normal((3, 10)), rng.standard_normal((5, 10))
p = {"Wax": rng.standard_normal((5, 3)), "Waa": rng.standard_normal((5, 5)),
     "Wya": rng.standard_normal((2, 5)), "ba": rng.standard_normal((5, 1)),
     "by": rng.standard_normal((2, 1))}
a_next, yt_pred, cache = rnn_cell_forward(xt, a_prev, p)
assert a_next.shape == (5, 10), f"a_next has shape {a_next.shape}, expected (n_a, m) = (5, 10)"
assert yt_pred.shape == (2, 10), f"yt_pred has shape {yt_pred.shape}, expected (n_y, m) = (2, 10)"
print("shapes are right")'''

TEST_RNN_VALUES = '''from rnnlib.checks import check_close
check_close(yt_pred.sum(axis=0), np.ones(10), "the columns of yt_pred (sums)")
### BEGIN HIDDEN TESTS
from rnnlib.rnn import rnn_cell_forward as reference
for seed in (7, 8):
    r = np.random.default_rng(seed)
    n_x, n_a, n_y, m = r.integers(1, 6, 4)
    xt, a_prev = r.standard_normal((n_x, m)), r.standard_normal((n_a, m))
    q = {"Wax": r.standard_normal((n_a, n_x)), "Waa": r.standard_normal((n_a, n_a)),
         "Wya": r.standard_normal((n_y, n_a)), "ba": r.standard_normal((n_a, 1)),
         "by": r.standard_normal((n_y, 1))}
    got, want = rnn_cell_forward(xt, a_prev, q), reference(xt, a_prev, q)
    check_close(got[0], want[0], "a_next")
    check_close(got[1], want[1], "yt_pred")
### END HIDDEN TESTS'''

TEST_CLIP = '''from rnnlib.checks import check_close
g = {"dW": np.array([[-10.0, 0.5], [3.0, 20.0]]), "db": np.array([[-7.0], [2.0]])}
out = clip(g, 5)
check_close(out["dW"], [[-5.0, 0.5], [3.0, 5.0]], "clipped dW")
check_close(g["db"], [[-5.0], [2.0]], "db clipped in place")'''

TEST_SAMPLE = '''p = np.array([0.2, 0.3, 0.5])
np.random.seed(0)
got = [sample_index(p) for _ in range(8)]
np.random.seed(0)
want = [int(np.random.choice(3, p=p)) for _ in range(8)]
assert got == want, f"sample_index drew {got}, expected {want} with np.random.seed(0)"'''


def _meta(grade_id, grade=False, solution=False, locked=False, points=None):
    meta = {"schema_version": 3, "grade": grade, "solution": solution, "locked": locked,
            "grade_id": grade_id}
    if grade:
        meta["points"] = points
    return {"nbgrader": meta}


def _solution(source):
    lines = source.splitlines()
    out = [lines[0], lines[1], "    ### BEGIN SOLUTION"] + lines[2:] + ["    ### END SOLUTION"]
    return "\n".join(out)


def source_notebook():
    """The instructor's notebook (solutions and hidden tests)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    md = nbformat.v4.new_markdown_cell
    code = nbformat.v4.new_code_cell
    nb.cells = [
        md("# A tiny assignment\n\nThree functions, five points."),
        code(SETUP, metadata=_meta("setup", locked=True)),
        code(_solution(RNN), metadata=_meta("rnn_code", solution=True)),
        code(TEST_RNN_SHAPES, metadata=_meta("test_rnn_shapes", grade=True, locked=True,
                                             points=POINTS["test_rnn_shapes"])),
        code(TEST_RNN_VALUES, metadata=_meta("test_rnn_values", grade=True, locked=True,
                                             points=POINTS["test_rnn_values"])),
        code(_solution(CLIP), metadata=_meta("clip_code", solution=True)),
        code(TEST_CLIP, metadata=_meta("test_clip", grade=True, locked=True,
                                       points=POINTS["test_clip"])),
        code(_solution(SAMPLE), metadata=_meta("sample_code", solution=True)),
        code(TEST_SAMPLE, metadata=_meta("test_sample", grade=True, locked=True,
                                         points=POINTS["test_sample"])),
    ]
    return nb


CONFIG = '''c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "tiny"
c.Execute.timeout = {timeout}
c.SandboxedKernelManager.memory_limit = {memory}
c.JudgedExecute.max_output_bytes = {output}
{extra}
# Hardened autograding (issue 6): sandboxed kernels, limits, tests judged outside the kernel.
from rnnlib.autograde.config import harden  # noqa: E402
harden(c)
'''


def make_course(root, timeout=5, memory=2 * 1024**3, output=1_000_000, extra="",
                harden=True):
    """Create the tiny course in ``root``: config, source notebook, release and gradebook."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    root = pathlib.Path(root)
    venv_on_path()
    (root / "source" / ASSIGNMENT).mkdir(parents=True, exist_ok=True)
    text = CONFIG.format(timeout=timeout, memory=memory, output=output, extra=extra)
    if not harden:
        text = text.split("# Hardened")[0]
    (root / "nbgrader_config.py").write_text(text)
    nbformat.write(source_notebook(), root / "source" / ASSIGNMENT / f"{NOTEBOOK}.ipynb")
    config = Config()
    config.CourseDirectory.root = str(root)
    config.CourseDirectory.course_id = "tiny"
    api = NbGraderAPI(CourseDirectory(config=config), config=config)
    result = api.generate_assignment(ASSIGNMENT, force=True)
    if not result["success"]:
        raise RuntimeError(result["error"] + result["log"])
    return root


def release_notebook(root):
    """The student's copy as released."""
    return nbformat.read(pathlib.Path(root) / "release" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", 4)


def submit(root, student, files, timestamp="2026-01-10 12:00:00.000000 UTC",
           assignment=ASSIGNMENT):
    """Put ``files`` ({relative path: bytes or str or notebook}) in the student's submission."""
    dest = pathlib.Path(root) / "submitted" / student / assignment
    dest.mkdir(parents=True, exist_ok=True)
    for rel, content in files.items():
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, nbformat.NotebookNode):
            content = nbformat.writes(content)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    (dest / "timestamp.txt").write_text(timestamp)
    return dest


# -- the catalog --------------------------------------------------------------------------------

WRONG_RNN = RNN.replace("np.tanh(", "1 / (1 + np.exp(-(").replace(
    "+ ba)", "+ ba)))")  # sigmoid for tanh: right shapes, wrong values
WRONG_CLIP = CLIP.replace("np.clip(gradients[key], -max_value, max_value, out=gradients[key])",
                          "pass")
WRONG_SAMPLE = SAMPLE.replace("int(np.random.choice(len(p), p=p))", "0")


def _cells(nb, grade_id):
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]


def answered(nb, rnn=RNN, clip=CLIP, sample=SAMPLE):
    """``nb`` with the three solution cells filled in."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    for grade_id, source in (("rnn_code", rnn), ("clip_code", clip), ("sample_code", sample)):
        if source is not None:
            for cell in _cells(nb, grade_id):
                cell.source = source
    return nb


def _insert_after(nb, grade_id, source):
    index = next(i for i, c in enumerate(nb.cells)
                 if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell(source))
    return nb


def _nb(files_nb, **extra):
    files = {f"{NOTEBOOK}.ipynb": files_nb}
    files.update(extra)
    return files


def honest(ctx):
    return _nb(answered(ctx["release"]))


def partial(ctx):
    return _nb(answered(ctx["release"], rnn=WRONG_RNN, sample=None))


def blank(ctx):
    return _nb(ctx["release"])


def invalid_json(ctx):
    text = nbformat.writes(answered(ctx["release"]))
    return {f"{NOTEBOOK}.ipynb": text[: len(text) // 2]}


def renamed(ctx):
    return {f"{NOTEBOOK}_final.ipynb": answered(ctx["release"])}


def missing(ctx):
    return {"README.txt": "I could not finish the notebook.\n"}


def os_exit(ctx):
    return _nb(answered(ctx["release"], clip="import os\nos._exit(1)\n" + CLIP))


def infinite_loop(ctx):
    return _nb(_insert_after(answered(ctx["release"]), "rnn_code", "while True:\n    pass"))


def swallow_interrupt(ctx):
    loop = textwrap.dedent("""\
        while True:
            try:
                while True:
                    pass
            except KeyboardInterrupt:
                pass""")
    return _nb(_insert_after(answered(ctx["release"]), "clip_code", loop))


def memory_bomb(ctx):
    nb = _insert_after(answered(ctx["release"]), "rnn_code",
                       "hog = bytearray(8 * 1024**3)\nhog2 = np.ones((100000, 100000))")
    return _nb(nb)


def memory_in_function(ctx):
    bomb = SAMPLE.replace('    return int(', '    hog = np.ones((10**6, 10**6))\n    return int(')
    return _nb(answered(ctx["release"], sample=bomb))


def huge_output(ctx):
    return _nb(_insert_after(answered(ctx["release"]), "rnn_code",
                             "print('x' * 50_000_000)"))


def deleted_tests(ctx):
    nb = answered(ctx["release"])
    nb.cells = [c for c in nb.cells
                if not c.metadata.get("nbgrader", {}).get("grade_id", "").startswith("test_")]
    return _nb(nb)


def edited_tests(ctx):
    nb = answered(ctx["release"], rnn=WRONG_RNN, clip=WRONG_CLIP, sample=WRONG_SAMPLE)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id", "").startswith("test_"):
            cell.source = "pass  # all good"
    return _nb(nb)


def stripped_metadata(ctx):
    nb = answered(ctx["release"])
    for cell in nb.cells:
        cell.metadata.pop("nbgrader", None)
    return _nb(nb)


def forged_metadata(ctx):
    nb = answered(ctx["release"], rnn=WRONG_RNN)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade_id", "").startswith("test_"):
            meta.update(solution=True, locked=False, points=100)
            cell.source = "pass"
    extra = nbformat.v4.new_code_cell("print('bonus')", metadata=_meta(
        "bonus", grade=True, locked=True, points=50))
    nb.cells.append(extra)
    return _nb(nb)


def import_reference(ctx):
    return _nb(answered(ctx["release"], rnn="from rnnlib.rnn import rnn_cell_forward\n"
                                             "import rnnlib\nrnn_cell_forward = "
                                             "rnnlib.rnn_cell_forward"))


def monkeypatch(ctx):
    patch = textwrap.dedent("""\
        np.testing.assert_allclose = lambda *a, **k: None
        np.testing.assert_array_equal = lambda *a, **k: None
        np.allclose = lambda *a, **k: True
        np.random.choice = lambda *a, **k: 0""")
    helpers = textwrap.dedent("""\
        import rnnlib.checks as helpers
        helpers.check_close = lambda *a, **k: None""")
    nb = answered(ctx["release"], rnn=WRONG_RNN, clip=WRONG_CLIP, sample=WRONG_SAMPLE)
    nb = _insert_after(nb, "rnn_code", patch)
    nb = _insert_after(nb, "rnn_code", helpers)
    return _nb(nb)


FAKE_NUMPY = '''"""A numpy.py shipped with a submission: loads numpy, disarms its checks."""
import os, sys
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]
del sys.modules["numpy"]
import numpy as _np
sys.modules["numpy"] = _np
_np.allclose = lambda *a, **k: True
_np.testing.assert_allclose = lambda *a, **k: None
'''

FAKE_RNNLIB = '''"""An rnnlib.py shipped with a submission."""
def check_close(*args, **kwargs):
    return None
'''


def shadow_modules(ctx):
    nb = answered(ctx["release"], rnn=WRONG_RNN, clip=WRONG_CLIP, sample=WRONG_SAMPLE)
    return _nb(nb, **{"numpy.py": FAKE_NUMPY, "rnnlib.py": FAKE_RNNLIB})


def read_solutions(ctx):
    root = ctx["root"]
    steal = textwrap.dedent(f"""\
        import json, sqlite3
        src = json.load(open({str(root / 'source' / ASSIGNMENT / (NOTEBOOK + '.ipynb'))!r}))
        code = ["".join(c["source"]) for c in src["cells"]]
        exec(next(s for s in code if "def rnn_cell_forward" in s))
        db = open({str(root / 'gradebook.db')!r}, "rb").read()""")
    return _nb(answered(ctx["release"], rnn=steal))


def write_outside(ctx):
    root, canary = ctx["root"], ctx["canary"]
    vandal = textwrap.dedent(f"""\
        import os, shutil, glob
        def attempt(f):
            try:
                f()
            except Exception as exc:
                print(type(exc).__name__)
        attempt(lambda: os.remove({str(root / 'submitted' / 'honest' / ASSIGNMENT /
                                       (NOTEBOOK + '.ipynb'))!r}))
        attempt(lambda: open({str(root / 'gradebook.db')!r}, "wb").write(b"gone"))
        attempt(lambda: open({str(root / 'pwned.txt')!r}, "w").write("pwned"))
        attempt(lambda: shutil.rmtree({str(root / 'source')!r}))
        attempt(lambda: open({str(canary / 'pwned.txt')!r}, "w").write("pwned"))
        attempt(lambda: os.remove({str(canary / 'keep.txt')!r}))
        attempt(lambda: open("../../pwned.txt", "w").write("pwned"))
        attempt(lambda: [os.remove(p) for p in glob.glob("/tmp/*/keep.txt")])
        import socket
        attempt(lambda: socket.create_connection(("127.0.0.1", 22), timeout=1))""")
    return _nb(_insert_after(answered(ctx["release"]), "rnn_code", vandal))


def exit_in_function(ctx):
    return _nb(answered(ctx["release"], sample=SAMPLE.replace(
        "    return int(", "    import os\n    os._exit(3)\n    return int(")))


def loop_in_function(ctx):
    return _nb(answered(ctx["release"], clip=CLIP.replace(
        "    for key in gradients:", "    while True:\n        pass\n    for key in gradients:")))


#: name -> (builder, deserved points per function or None (manual), flag kinds expected)
CATALOG = {
    "honest": (honest, FULL, ()),
    "partial": (partial, {"rnn": 1.0, "clip": 1.0, "sample": 0.0}, ()),
    "blank": (blank, {"rnn": 0.0, "clip": 0.0, "sample": 0.0}, ()),
    "invalid_json": (invalid_json, None, ("failed",)),
    "renamed": (renamed, None, ("failed",)),
    "missing": (missing, None, ("failed",)),
    "os_exit": (os_exit, {"rnn": 3.0, "clip": 0.0, "sample": 1.0}, ("crash",)),
    "infinite_loop": (infinite_loop, FULL, ("timeout",)),
    "swallow_interrupt": (swallow_interrupt, FULL, ("timeout",)),
    "memory_bomb": (memory_bomb, FULL, ("crash",)),
    "memory_in_function": (memory_in_function, {"rnn": 3.0, "clip": 1.0, "sample": 0.0},
                           ("crash",)),
    "huge_output": (huge_output, FULL, ("output",)),
    "deleted_tests": (deleted_tests, FULL, ()),
    "edited_tests": (edited_tests, {"rnn": 1.0, "clip": 0.0, "sample": 0.0}, ()),
    "stripped_metadata": (stripped_metadata, FULL, ()),
    "forged_metadata": (forged_metadata, {"rnn": 1.0, "clip": 1.0, "sample": 1.0}, ()),
    "import_reference": (import_reference, {"rnn": 0.0, "clip": 1.0, "sample": 1.0},
                         ("cheating",)),
    "monkeypatch": (monkeypatch, {"rnn": 1.0, "clip": 0.0, "sample": 0.0}, ("cheating",)),
    "shadow_modules": (shadow_modules, {"rnn": 1.0, "clip": 0.0, "sample": 0.0},
                       ("cheating",)),
    "read_solutions": (read_solutions, {"rnn": 0.0, "clip": 1.0, "sample": 1.0},
                       ("cheating",)),
    "write_outside": (write_outside, FULL, ("cheating",)),
    "exit_in_function": (exit_in_function, {"rnn": 3.0, "clip": 1.0, "sample": 0.0},
                         ("crash",)),
    "loop_in_function": (loop_in_function, {"rnn": 3.0, "clip": 0.0, "sample": 1.0},
                         ("timeout",)),
}


def submit_catalog(root, names=None, canary=None, prefix=""):
    """Submit the catalog's entries (all, or ``names``) as students ``prefix + name``."""
    root = pathlib.Path(root)
    ctx = {"root": root, "release": release_notebook(root),
           "canary": pathlib.Path(canary or root / "canary")}
    for name in names or CATALOG:
        builder = CATALOG[name][0]
        submit(root, prefix + name, builder(ctx))
    return ctx


def tree_digest(path, skip=()):
    """{relative path: (size, mtime_ns, sha1)} of the files under ``path`` (``skip``: top-level
    names to leave out)."""
    import hashlib

    path = pathlib.Path(path)
    out = {}
    for dirpath, dirnames, filenames in os.walk(path):
        rel_dir = pathlib.Path(dirpath).relative_to(path)
        if rel_dir.parts and rel_dir.parts[0] in skip:
            dirnames[:] = []
            continue
        for name in filenames:
            if not rel_dir.parts and name in skip:
                continue
            full = pathlib.Path(dirpath) / name
            data = full.read_bytes()
            out[str(rel_dir / name)] = (len(data), hashlib.sha1(data).hexdigest())
    return out
