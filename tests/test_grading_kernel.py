"""The grading kernel on its own (JudgedExecute, a sandboxed kernel, no course): output still
arriving when nbclient stops waiting for it (``iopub_timeout`` after the cell's reply) is said
to be cut and flagged, as output over the byte limit is; output that all arrived is kept whole;
the kernel starts without a debugger or a completion library."""

import nbformat
import pytest

from rnnlib.autograde.execute import JudgedExecute

pytestmark = pytest.mark.xdist_group("autograde")

#: Bytes each cell prints, under the per-cell limit (the limit's flag is not the one tested).
PRINTED = 600_000


def run_notebook(tmp_path, sources, **settings):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    resources = {"metadata": {"path": str(tmp_path)}}
    JudgedExecute(**settings).preprocess(nb, resources)
    return nb, resources["autograde"]


def printed(cell):
    return "".join(o.get("text", "") for o in cell.outputs
                   if o.get("output_type") == "stream" and "output cut" not in o.get("text", ""))


def test_output_not_all_received_in_time_is_cut_and_flagged(tmp_path):
    # iopub_timeout 0: a cell whose reply comes before its last output message has been read
    # (many small messages make that the likely case) must carry the note and the flag
    source = (f"import sys\nfor _ in range({PRINTED // 1000}):\n"
              "    sys.stdout.write('x' * 999 + '\\n'); sys.stdout.flush()\n")
    nb, record = run_notebook(tmp_path, [source] * 4, iopub_timeout=0, timeout=60,
                              max_output_bytes=10 * PRINTED)
    flagged = {f["cell"] for f in record["flags"] if f["kind"] == "output"}
    assert flagged, "no cell's late output was flagged with iopub_timeout = 0"
    for index, cell in enumerate(nb.cells):
        notes = [o for o in cell.outputs if "output cut by the grader" in o.get("text", "")]
        if index in flagged:
            assert notes and "not all received within 0 s" in notes[0]["text"], cell.outputs
            assert len(printed(cell)) < PRINTED
        else:  # not flagged: nothing may be missing
            assert not notes and len(printed(cell)) == PRINTED, index
    reasons = [f["reason"] for f in record["flags"] if f["kind"] == "output"]
    assert all("did not all arrive within 0 s" in r for r in reasons), reasons


def test_output_that_arrives_in_time_is_kept_whole_and_unflagged(tmp_path):
    source = f"print('y' * {PRINTED - 1})"
    nb, record = run_notebook(tmp_path, [source, source], iopub_timeout=10, timeout=60,
                              max_output_bytes=10 * PRINTED)
    assert not [f for f in record["flags"] if f["kind"] == "output"], record["flags"]
    assert [len(printed(c)) for c in nb.cells] == [PRINTED, PRINTED]


def test_the_kernel_starts_without_a_debugger_or_jedi(tmp_path):
    # ipykernel would import debugpy (and pydevd) at start, IPython jedi: both are blocked
    from rnnlib.autograde.sandbox import KERNEL_BLOCKED

    probe = ("import sys\n"
             "tops = {m.split('.')[0] for m, v in sys.modules.items() if v is not None}\n"
             "print(sorted(tops & {'debugpy', 'jedi', 'parso', '_pydevd_bundle'}))\n"
             "try:\n    import jedi\nexcept ImportError as e:\n    print(type(e).__name__)\n")
    numpy = "import numpy as np\nprint(np.arange(3) @ np.ones(3))"
    nb, record = run_notebook(tmp_path, [probe, numpy], timeout=60)
    assert set(KERNEL_BLOCKED) == {"debugpy", "jedi"}
    assert printed(nb.cells[0]) == "[]\nModuleNotFoundError\n", nb.cells[0].outputs
    assert printed(nb.cells[1]) == "3.0\n" and not record["flags"], (nb.cells[1].outputs,
                                                                    record["flags"])


def test_the_kernel_keeps_its_history_in_memory_and_in_out_still_work(tmp_path):
    # no history file (and no thread saving to it) in a grading kernel; a student's In, Out,
    # _i and %history still answer as in any kernel
    probe = ("import os\nip = get_ipython()\n"
             "print(ip.history_manager.enabled, os.path.exists(ip.history_manager.hist_file))\n"
             "print([t.name for t in __import__('threading').enumerate()"
             " if 'History' in type(t).__name__])")
    nb, record = run_notebook(tmp_path, ["x = 41", "x + 1", probe,
                                         "print(In[1], '|', Out[2], '|', _i2)",
                                         "%history -n 1-2"], timeout=60)
    assert printed(nb.cells[2]) == "False False\n[]\n", nb.cells[2].outputs
    assert printed(nb.cells[3]) == "x = 41 | 42 | x + 1\n", nb.cells[3].outputs
    assert printed(nb.cells[4]) == "   1: x = 41\n   2: x + 1\n", nb.cells[4].outputs
    assert not record["flags"]
