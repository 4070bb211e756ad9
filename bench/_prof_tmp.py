"""Where one notebook's grading time goes: sequential ``nbgrader autograde`` on the course's rnn
assignment, timed in-process, split into the steps an instructor and a maintainer can act on.

    python bench/autograde_profile.py                # 6 honest submissions
    python bench/autograde_profile.py --submissions 10 --kind partial

Prints, per notebook (the mean over the submissions): the whole autograde run of a notebook,
then the kernel's start (sandbox and the judge's host included), the cells in the kernel (the
``grading.check_*`` cells judged among them), the gradebook writes, the sanitiser, and the
command's own start (imports, the course's configuration). Wall-clock seconds, on whatever
else the machine is doing: read the shares, not the absolute numbers. Not a test.
"""

import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import autograde_bench  # noqa: E402

#: (label, "module:Class.method") of the steps timed (wall clock, summed over the notebooks).
STEPS = [
    ("one notebook, all steps", "nbgrader.converters.autograde:Autograde.convert_single_notebook"),
    ("  SafeOverwriteCells (sanitize)", "rnnlib.autograde.grades:SafeOverwriteCells.preprocess"),
    ("  executing in the kernel (JudgedExecute)",
     "rnnlib.autograde.execute:JudgedExecute.preprocess"),
    ("    kernel start (sandbox)",
     "rnnlib.autograde.execute:JudgedExecute.start_new_kernel_client"),
    ("      the judge's host in it", "rnnlib.autograde.execute:JudgedExecute._boot_host"),
    ("    cells, test cells included", "rnnlib.autograde.execute:JudgedExecute.execute_cell"),
    ("      check cells (judged, calling the kernel)",
     "rnnlib.autograde.execute:JudgedExecute._judge_checks"),
    ("    kernel shutdown", "nbclient.client:NotebookClient._cleanup_kernel"),
    ("  gradebook writes (SaveJudgedGrades)",
     "rnnlib.autograde.grades:SaveJudgedGrades.preprocess"),
    ("  SanitizeSubmission", "rnnlib.autograde.sanitize:SanitizeSubmission.preprocess"),
]


def instrument(target, totals, label):
    """Wrap ``module:Class.method`` so that its wall-clock time adds to ``totals[label]``."""
    import functools
    import importlib
    import inspect

    module, _, path = target.partition(":")
    owner_name, name = path.split(".")
    owner = getattr(importlib.import_module(module), owner_name)
    original = getattr(owner, name)
    def add(start):
        totals[label] = totals.get(label, 0.0) + time.perf_counter() - start

    async def awaited(result, start):
        try:
            return await result
        finally:
            add(start)

    @functools.wraps(original)
    def timed(*args, **kwargs):
        start = time.perf_counter()
        result = original(*args, **kwargs)
        if inspect.isawaitable(result):  # a coroutine: timed until it is done
            return awaited(result, start)
        add(start)
        return result
    setattr(owner, name, timed)


EXTRA = [a for a in sys.argv[1:] if a.startswith("--Sandboxed")]
sys.argv[1:] = [a for a in sys.argv[1:] if not a.startswith("--Sandboxed")]

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=6)
    parser.add_argument("--kind", default="honest", choices=["honest", "partial", "blank"])
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="autograde-profile-") as tmp:
        course = pathlib.Path(tmp) / "course"
        n = max(args.submissions, 40)
        _, plan = autograde_bench.rnn_class(course, n)
        keep = [f"s{i:03d}-{k}" for i, k in enumerate(plan) if k == args.kind]
        keep = keep[:args.submissions]
        for student in os.listdir(course / "submitted"):
            if student not in keep:
                shutil.rmtree(course / "submitted" / student)
        start = time.perf_counter()
        bare = subprocess.run([sys.executable, "-c", "import nbgrader.apps.autogradeapp"],
                              capture_output=True)
        import_s = time.perf_counter() - start
        assert bare.returncode == 0
        os.chdir(course)
        os.environ["PATH"] = autograde_bench.bench_env()["PATH"]
        from nbgrader.apps.autogradeapp import AutogradeApp

        totals = {}
        for label, target in STEPS:
            instrument(target, totals, label)
        start = time.perf_counter()
        try:
            AutogradeApp.launch_instance(["rnn"] + EXTRA)
        except SystemExit:
            pass
        total = time.perf_counter() - start
        AutogradeApp.clear_instance()
    print(f"{len(keep)} {args.kind} submissions of rnn; nbgrader autograde {total:.2f} s in all, "
          f"{total / len(keep):.2f} s a notebook; python + nbgrader's imports {import_s:.2f} s")
    whole = totals.get(STEPS[0][0], total) / len(keep)
    for label, _ in STEPS:
        per = totals.get(label, 0.0) / len(keep)
        print(f"{label:44s} {per:6.2f} s  ({100 * per / whole:3.0f}%)")
    steps = sum(totals.get(label, 0.0) for label, _ in STEPS[1:] if not label.startswith("    "))
    print(f"{'  the rest (nbgrader: scores, files, ...)':44s} {whole - steps / len(keep):6.2f} s")


if __name__ == "__main__":
    main()
