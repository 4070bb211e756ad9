"""Pieces of the hardened grader, each on its own: the data codec, the judge's proxies, the
cheating scan, the student's view of rnnlib, the sandbox command and the nbgrader wiring."""

import math
import os
import pathlib
import subprocess
import sys

import nbformat
import numpy as np
import pytest

from rnnlib.autograde import agent, config, modules, sandbox, suspicious
from rnnlib.autograde.judge import Judge
from rnnlib.grading import wire

pytestmark = pytest.mark.xdist_group("autograde")

ROOT = pathlib.Path(__file__).resolve().parents[1]


# -- codec -----------------------------------------------------------------------------------

def test_codec_round_trips_plain_data():
    rng = np.random.default_rng(0)
    value = {
        "a": rng.standard_normal((3, 4)), "i": np.arange(5, dtype=np.int16), "b": True,
        "nested": [(1, 2.5, None), {"k": "text"}], 7: complex(1, -2), (1, "t"): b"\x00\xff",
        "nan": math.nan, "inf": -math.inf, "big": 2**80, "scalar": np.float32(1.5),
        "empty": np.zeros((0, 3)), "strings": np.array(["ab", "c"]),
    }
    back = wire.decode(wire.encode(value))
    assert set(back) == set(value)
    np.testing.assert_array_equal(back["a"], value["a"])
    assert back["a"].dtype == value["a"].dtype and back["i"].dtype == np.int16
    assert back["nested"] == [(1, 2.5, None), {"k": "text"}]
    assert isinstance(back["nested"][0], tuple) and isinstance(back["nested"], list)
    assert back[7] == complex(1, -2) and back[(1, "t")] == b"\x00\xff"
    assert math.isnan(back["nan"]) and back["inf"] == -math.inf and back["big"] == 2**80
    assert back["scalar"] == np.float32(1.5) and back["scalar"].dtype == np.float32
    assert back["empty"].shape == (0, 3) and list(back["strings"]) == ["ab", "c"]
    assert back["a"].flags.writeable


@pytest.mark.parametrize("value", [np.array([object()]), lambda: 1, type, np.zeros(2).data,
                                   {"f": print}, np.zeros(3, dtype=[("x", "f8")])])
def test_codec_refuses_anything_but_data(value):
    with pytest.raises(wire.TransferError):
        wire.encode(value)


@pytest.mark.parametrize("text", [
    "not json", "5", '["A", "<f8", [3], "AAAA"]', '["A", "|O", [1], "AAAAAAAAAAA="]',
    '["X", 1]', '["L", [' * 100 + "]" * 100, '["D", [[["L", []], 1]]]', '["R", "x"]',
])
def test_codec_rejects_malformed_messages(text):
    with pytest.raises(wire.TransferError):
        wire.decode(text)


# -- the judge, against an in-process stand-in for the kernel ----------------------------------

def local_kernel(namespace):
    """rpc(text) -> text served by the agent code against ``namespace`` (as in a kernel)."""
    g = {"__name__": "agent"}
    exec(compile(agent.source(), "<autograde>", "exec"), g)
    return lambda text: g["serve"](text, namespace)


def test_judge_calls_student_functions_by_proxy_and_mirrors_in_place_changes():
    ns = {}
    exec("import numpy as np\n"
         "def double(x):\n    return 2 * x\n"
         "def clip(g, v):\n    np.clip(g['w'], -v, v, out=g['w'])\n    return None\n"
         "def draw():\n    return float(np.random.rand())\n"
         "offset = np.arange(3.0)\n", ns)
    judge = Judge(local_kernel(ns))
    verdict = judge.run_cell(
        "import numpy as np\n"
        "assert (double(np.ones(2)) == 2).all()\n"
        "g = {'w': np.array([-9.0, 0.5, 9.0])}\n"
        "clip(g, 1)\n"
        "assert g['w'].tolist() == [-1.0, 0.5, 1.0], g\n"
        "assert offset.tolist() == [0.0, 1.0, 2.0]\n"
        "np.random.seed(3)\nx = draw()\nnp.random.seed(3)\nassert x == np.random.rand()\n"
        "0.5", "t")
    assert verdict.status == "pass", verdict.reason
    assert verdict.functions == ["double", "clip", "draw"]
    assert verdict.value == "0.5"


def test_judge_reports_student_errors_missing_names_and_unreadable_results():
    ns = {}
    exec("def boom(x):\n    raise ValueError('no')\n"
         "def weird():\n    return object()\n", ns)
    judge = Judge(local_kernel(ns))
    failed = judge.run_cell("boom(1)", "a")
    assert failed.status == "fail" and "boom raised ValueError: no" in failed.reason
    assert judge.run_cell("missing_function(1)", "b").status == "fail"
    unreadable = judge.run_cell("weird()", "c")
    assert unreadable.status == "fail" and "cannot read" in unreadable.reason
    manual = judge.run_cell("boom(lambda: 1)", "d")
    assert manual.status == "manual"


# -- the cheating scan and the student's rnnlib ----------------------------------------------

@pytest.mark.parametrize("source, expected", [
    ("from rnnlib.rnn import rnn_cell_forward", "imports rnnlib.rnn"),
    ("import rnnlib\nf = rnnlib.rnn_cell_forward", "imports rnnlib"),
    ("np.testing.assert_allclose = lambda *a: None", "patches np.testing.assert_allclose"),
    ("setattr(np, 'allclose', f)", "patches np with setattr"),
    ("import sys\nsys.modules['numpy'] = None", "patches sys.modules"),
    ("open('/course/solutions/rnn/rnn.ipynb')", "touches instructor files"),
    ("open('../gradebook.db', 'rb')", "touches instructor files"),
])
def test_suspicious_code_is_named(source, expected):
    assert any(expected in reason for reason in suspicious.scan(source))


def test_honest_code_is_not_flagged():
    honest = ("import numpy as np\nfrom rnnlib.activations import softmax\n"
              "def f(x, p):\n    p['W'] = p['W'] - 0.1\n    np.random.seed(1)\n"
              "    return softmax(x)\n")
    assert suspicious.scan(honest) == []


def test_student_view_has_helpers_and_stubs_but_no_reference(tmp_path):
    requested = modules.modules_for_cells(
        ["import numpy as np\nfrom rnnlib import grading, softmax\nfrom rnnlib.rnn import x"])
    copied, stubbed = modules.view_plan(requested)
    assert copied == {"activations"} and {"grading", "rnn"} <= stubbed
    sandbox.build_rnnlib_view(tmp_path, copied, stubbed)
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    run = [sys.executable, "-c"]
    ok = subprocess.run(run + ["import sys; sys.path.insert(0, sys.argv[1]); "
                               "from rnnlib import softmax, grading; "
                               "from rnnlib.activations import sigmoid; print('ok')",
                               str(tmp_path)], capture_output=True, text=True, env=env,
                        cwd=tmp_path)
    assert ok.stdout.strip() == "ok", ok.stderr
    for line in ("from rnnlib.rnn import rnn_cell_forward", "from rnnlib import rnn_forward",
                 "import rnnlib.lstm"):
        bad = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, "
                              f"sys.argv[1]); {line}", str(tmp_path)], capture_output=True,
                             text=True, env=env, cwd=tmp_path)
        assert bad.returncode != 0, line


# -- the sandbox -------------------------------------------------------------------------------

needs_bwrap = pytest.mark.skipif(sandbox.bwrap_path() is None, reason="bubblewrap unavailable")


@needs_bwrap
def test_sandboxed_command_sees_only_what_it_is_given(tmp_path):
    secret = tmp_path / "course" / "gradebook.db"
    secret.parent.mkdir()
    secret.write_text("grades")
    shared = tmp_path / "shared.txt"
    shared.write_text("read me")
    work = tmp_path / "work"
    work.mkdir()
    probe = (
        "import os, socket\n"
        "def attempt(f):\n"
        "    try:\n        f(); return 'ok'\n"
        "    except Exception as e:\n        return type(e).__name__\n"
        f"print(attempt(lambda: open({str(secret)!r}).read()))\n"
        f"print(attempt(lambda: os.remove({str(secret)!r})))\n"
        f"print(open({str(shared)!r}).read())\n"
        f"print(attempt(lambda: open({str(shared)!r}, 'w').write('x')))\n"
        "print(attempt(lambda: open('mine.txt', 'w').write('x')))\n"
        "print(attempt(lambda: socket.create_connection(('127.0.0.1', 22), timeout=1)))\n"
        "print(attempt(lambda: bytearray(4 * 1024**3)))\n"
    )
    argv = sandbox.wrap_command([sys.executable, "-c", probe], cwd=work, readable=[shared])
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    lines = out.stdout.split()
    assert lines == ["FileNotFoundError", "FileNotFoundError", "read", "me", "OSError", "ok",
                     "ConnectionRefusedError", "MemoryError"], (out.stdout, out.stderr)
    assert secret.read_text() == "grades" and shared.read_text() == "read me"
    # the write succeeded ("ok") in the sandbox's own size-limited tmpfs, never on the host
    assert not (work / "mine.txt").exists()
    argv.release()


# -- wiring into nbgrader ------------------------------------------------------------------

def test_harden_keeps_the_course_configuration_and_its_judge():
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    path = ROOT / "nbgrader_config.py"
    if path.exists():
        c = PyFileConfigLoader(path.name, path=str(ROOT)).load_config()
    else:
        c = Config()
    hardened = config.harden(c)
    names = [config._name(p) for p in hardened.Autograde.autograde_preprocessors]
    assert names[0] == "FlagSuspiciousCode" and names[-2:] == ["RecordVerdicts",
                                                               "SanitizeSubmission"]
    assert "JudgedExecute" in names and "Execute" not in names
    assert "SaveJudgedGrades" in names and "SaveAutoGrades" not in names
    assert names.index("LimitOutputBytes") < names.index("SaveJudgedGrades")
    sanitize = [config._name(p) for p in hardened.Autograde.sanitize_preprocessors]
    assert "SafeOverwriteCells" in sanitize and "OverwriteCells" not in sanitize
    feedback = [config._name(p) for p in hardened.GenerateFeedback.preprocessors]
    assert "ClearHiddenTests" in feedback
    if path.exists():  # the course's checks judge the grading.check_* cells in JudgedExecute
        assert hardened.JudgedExecute.delegate == "rnnlib.grading:parse_checks"
    assert hardened.Execute.timeout > 0 and hardened.OverwriteCells.add_missing_cells


def test_the_course_configuration_states_the_pipeline_that_runs(monkeypatch):
    """nbgrader_config.py's lists are the ones nbgrader runs: harden(c) at its end changes
    none of them (it only sets what goes around the steps)."""
    from traitlets.config.loader import PyFileConfigLoader

    def load():
        return PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()

    def lists(c):
        return {key: [config._name(p) for p in c[section][attr]]
                for key, (section, attr) in {
                    "sanitize": ("Autograde", "sanitize_preprocessors"),
                    "autograde": ("Autograde", "autograde_preprocessors"),
                    "feedback": ("GenerateFeedback", "preprocessors"),
                    "release": ("GenerateAssignment", "preprocessors")}.items()}

    ran = lists(load())
    monkeypatch.setattr(config, "harden", lambda c: c)
    stated = lists(load())
    assert stated == ran
    assert stated["autograde"] == [
        "FlagSuspiciousCode", "JudgedExecute", "IgnorePattern", "ClearMetadataPreprocessor",
        "LimitOutputBytes", "LimitOutput", "SaveJudgedGrades",
        "AssignLatePenalties", "CheckCellMetadata", "RecordVerdicts", "SanitizeSubmission"]
    assert stated["sanitize"][:2] == ["ClearOutput", "SafeOverwriteCells"]


def test_harden_fills_in_stock_nbgrader():
    from traitlets.config import Config

    c = config.harden(Config())
    names = [config._name(p) for p in c.Autograde.autograde_preprocessors]
    assert names == ["FlagSuspiciousCode", "JudgedExecute", "IgnorePattern",
                     "ClearMetadataPreprocessor", "LimitOutputBytes", "LimitOutput",
                     "SaveJudgedGrades", "AssignLatePenalties", "CheckCellMetadata",
                     "RecordVerdicts", "SanitizeSubmission"]
    assert c.Execute.timeout == 30 and not c.Execute.raise_on_iopub_timeout
    assert c.Execute.shutdown_kernel == "immediate"


@needs_bwrap
def test_the_course_judges_worker_runs_in_the_sandbox(tmp_path):
    grading = pytest.importorskip("rnnlib.grading")

    victim = tmp_path / "other_student.ipynb"
    victim.write_text("{}")
    stolen = tmp_path / "stolen.txt"
    solution = next(c.source for c in nbformat.read(
        ROOT / "solutions" / "rnn" / "rnn.ipynb", 4).cells
        if c.source.startswith("def one_hot"))
    vandal = (f"import os\ntry:\n    os.remove({str(victim)!r})\nexcept OSError:\n    pass\n"
              f"try:\n    open({str(stolen)!r}, 'w').write(open({str(victim)!r}).read())\n"
              "except OSError:\n    pass\n")
    meta = {"nbgrader": {"grade": False, "solution": True, "locked": False,
                         "grade_id": "one_hot", "schema_version": 3}}
    test = {"nbgrader": {"grade": True, "solution": False, "locked": True, "points": 1,
                         "grade_id": "one_hot_values", "schema_version": 3}}
    setup = {"nbgrader": {"grade": False, "solution": False, "locked": True,
                          "grade_id": "setup", "schema_version": 3}}
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import numpy as np\nfrom rnnlib import grading",
                                  metadata=setup),
        nbformat.v4.new_code_cell(vandal + solution, metadata=meta),
        nbformat.v4.new_code_cell('grading.check_one_hot(one_hot, "values")', metadata=test),
    ])
    verdicts = grading.judge_notebook(nb, timeout=60,
                                      wrap_command="rnnlib.autograde.sandbox:wrap_command")
    assert [r["passed"] for r in verdicts[2]] == [True], verdicts
    assert victim.read_text() == "{}" and not stolen.exists()


def test_without_bubblewrap_a_command_still_gets_its_limits(monkeypatch, capsys):
    monkeypatch.setattr(sandbox, "bwrap_path", lambda: None)
    monkeypatch.setattr(sandbox.warn_unsandboxed, "done", False, raising=False)
    argv = sandbox.wrap_command(["python", "-c", "pass"], cwd="/tmp", memory_limit=10**9)
    assert argv[:2] == ["prlimit", "--as=1000000000"] and argv[-3:] == ["python", "-c", "pass"]
    assert "WITHOUT A SANDBOX" in capsys.readouterr().err


def test_every_module_classgrade_preloads_exists():
    # classgrade imports these before it forks its workers; the fork server it falls back on
    # (when a thread runs) skips a name it cannot import without a word
    from rnnlib.autograde.classgrade import PRELOAD

    probe = "import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)\n"
    done = subprocess.run([sys.executable, "-c", probe, *PRELOAD], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_job_folder_is_the_same_path_and_empty_for_each_job():
    # the same path: the job's gradebook URL, and so its database engine, is reused; empty:
    # nothing of one student's job is left for the next
    import stat
    import threading

    from rnnlib.autograde.classgrade import _job_folder

    first = _job_folder()
    assert stat.S_IMODE(first.stat().st_mode) == 0o700 and not list(first.iterdir())
    (first / "course" / "submitted").mkdir(parents=True)
    (first / "gradebook.db").write_text("x")
    (first / "link").symlink_to(ROOT)
    again = _job_folder()
    assert again == first and not list(again.iterdir())
    assert ROOT.is_dir()  # the link went, not what it points to
    other = []
    thread = threading.Thread(target=lambda: other.append(_job_folder()))
    thread.start()
    thread.join()
    assert other[0] != first  # a thread of its own, a folder of its own
