"""Sequential ``nbgrader autograde`` against the parallel ``classgrade``, on the same class.

Generates a class of 40 submissions (honest, partial and broken), puts it in two identical
throw-away courses with the hardened configuration, then times, in the same run,

- nbgrader's own sequential ``nbgrader autograde ASSIGNMENT``, and
- ``python -m rnnlib.autograde.classgrade ASSIGNMENT --jobs N`` (default: its own default,
  cores + 2; ``--jobs 2 3`` times one parallel run per value),

checks that both gradebooks are identical and prints the speed-up. The load average before and
after each run is printed too (other processes on the machine slow the parallel run most), and
the machine's CPU time during each run: on N cores the speed-up cannot pass N times the
sequential run's CPU per submission over the parallel run's.

    python bench/autograde_bench.py                 # the tiny course, 40 submissions
    python bench/autograde_bench.py --course rnn    # the course's own rnn assignment
    python bench/autograde_bench.py --wait-quiet 1.0 --repeat 2

Not a test: it takes a few minutes.
"""

import argparse
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import nbformat

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "tests"))  # the tests' course and catalog of submissions

import autograde_catalog as catalog  # noqa: E402

from rnnlib.autograde.classgrade import default_jobs  # noqa: E402
from rnnlib.autograde.gradebook import dump  # noqa: E402

#: (catalog entry, count): 40 submissions, mostly honest or partial, some broken.
MIX = [("honest", 14), ("partial", 12), ("blank", 4), ("edited_tests", 2), ("invalid_json", 2),
       ("os_exit", 2), ("infinite_loop", 2), ("exit_in_function", 2)]


def tiny_class(root, n):
    """The tiny course with ``n`` submissions drawn from :data:`MIX` (in its proportions)."""
    catalog.make_course(root, timeout=5)
    ctx = {"root": root, "release": catalog.release_notebook(root), "canary": root / "canary"}
    plan = [name for name, count in MIX for _ in range(count)]
    plan = [plan[i * len(plan) // n] for i in range(n)]
    for i, name in enumerate(plan):
        catalog.submit(root, f"s{i:03d}-{name}", catalog.CATALOG[name][0](ctx))
    return catalog.ASSIGNMENT, plan


def rnn_class(root, n):
    """The course's rnn assignment: solutions, partial solutions, blanks, broken notebooks."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    shutil.copytree(ROOT / "solutions" / "rnn", root / "solutions" / "rnn")
    env = bench_env()
    subprocess.run([str(BIN / "nbgrader"), "generate_assignment", "rnn", "--force"], cwd=root,
                   env=env, check=True, capture_output=True)
    solution = nbformat.read(root / "solutions" / "rnn" / "rnn.ipynb", 4)
    release = nbformat.read(root / "exercises" / "rnn" / "rnn.ipynb", 4)

    def partial(k):
        nb = nbformat.from_dict(json.loads(json.dumps(release)))
        solved = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in
                  solution.cells if c.metadata.get("nbgrader", {}).get("solution")}
        for j, cell in enumerate(c for c in nb.cells
                                 if c.metadata.get("nbgrader", {}).get("solution")):
            if j % 3 != k % 3:
                cell.source = solved[cell.metadata["nbgrader"]["grade_id"]]
        return nb

    def broken(k):
        if k % 2:
            return nbformat.writes(solution)[:2000]
        nb = nbformat.from_dict(json.loads(json.dumps(solution)))
        nb.cells.insert(3, nbformat.v4.new_code_cell("import os\nos._exit(1)"))
        return nb

    kinds = (["honest"] * 14 + ["partial"] * 14 + ["blank"] * 4 + ["broken"] * 8)
    plan = [kinds[i * len(kinds) // n] for i in range(n)]
    for i, kind in enumerate(plan):
        nb = {"honest": lambda i: solution, "partial": partial, "blank": lambda i: release,
              "broken": broken}[kind](i)
        catalog.submit(root, f"s{i:03d}-{kind}", {"rnn.ipynb": nb}, assignment="rnn")
    return "rnn", plan


BIN = pathlib.Path(sys.executable).parent


def bench_env():
    return dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")


def load():
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def machine_cpu():
    """CPU seconds the whole machine has spent busy (all processes: the command, its kernels,
    their sandboxes), from /proc/stat."""
    with open("/proc/stat") as f:
        ticks = [int(v) for v in f.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # not idle, iowait


def timed(cmd, cwd):
    """(wall s, load before, load after, the finished process, machine CPU s)."""
    before, cpu = load(), machine_cpu()
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=bench_env(), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    return seconds, before, load(), done, machine_cpu() - cpu


def wait_quiet(threshold, limit=600):
    """Wait (up to ``limit`` s) until the 1-minute load average is below ``threshold``."""
    start = time.time()
    while os.getloadavg()[0] > threshold and time.time() - start < limit:
        time.sleep(5)
    return os.getloadavg()[0]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--course", choices=["tiny", "rnn"], default="tiny")
    parser.add_argument("--submissions", type=int, default=40)
    parser.add_argument("--jobs", type=int, nargs="+", default=[0],
                        help="parallel jobs, one parallel run per value (0: cores + 2)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--wait-quiet", type=float, default=None, metavar="LOAD",
                        help="before each run, wait until the load average is below LOAD")
    args = parser.parse_args(argv)
    job_counts = [j or default_jobs() for j in args.jobs]
    print(f"{os.cpu_count()} cores, jobs {job_counts}, {args.submissions} submissions, "
          f"course {args.course}")
    with tempfile.TemporaryDirectory(prefix="autograde-bench-") as tmp:
        base = pathlib.Path(tmp)
        template = base / "template"
        make = tiny_class if args.course == "tiny" else rnn_class
        assignment, plan = make(template, args.submissions)
        counts = {k: plan.count(k) for k in dict.fromkeys(plan)}
        print("class:", ", ".join(f"{v} {k}" for k, v in counts.items()))
        ratios = []
        course_id = "tiny" if args.course == "tiny" else "rnn-course"
        for rep in range(args.repeat):
            seq = base / f"seq{rep}"
            shutil.copytree(template, seq)
            if args.wait_quiet is not None:
                print(f"load before sequential: {wait_quiet(args.wait_quiet):.2f}")
            t_seq, l0, l1, out_seq, cpu = timed(
                [str(BIN / "nbgrader"), "autograde", assignment], seq)
            print(f"run {rep + 1}: sequential nbgrader autograde  {t_seq:6.1f} s (load {l0} -> "
                  f"{l1}), exit {out_seq.returncode}; machine CPU {cpu:.1f} s, "
                  f"{cpu / len(plan):.2f} s a submission")
            reference = dump(f"sqlite:///{seq}/gradebook.db", assignment, course_id)
            for jobs in job_counts:
                par = base / f"par{rep}-{jobs}"
                shutil.copytree(template, par)
                if args.wait_quiet is not None:
                    print(f"load before parallel: {wait_quiet(args.wait_quiet):.2f}")
                t_par, l2, l3, out_par, cpu = timed(
                    [sys.executable, "-m", "rnnlib.autograde.classgrade", assignment, "--jobs",
                     str(jobs), "--no-progress"], par)
                same = dump(f"sqlite:///{par}/gradebook.db", assignment, course_id) == reference
                ratios.append((jobs, t_seq / t_par))
                print(f"       parallel classgrade --jobs {jobs}  {t_par:6.1f} s (load {l2} -> "
                      f"{l3}), exit {out_par.returncode}; speed-up {t_seq / t_par:.2f}x; "
                      f"identical gradebooks: {same}; machine CPU {cpu:.1f} s, "
                      f"{cpu / len(plan):.2f} s a submission")
                shutil.rmtree(par)
            shutil.rmtree(seq)
        print("speed-up: " + " ".join(f"{r:.2f}x (--jobs {j})" for j, r in ratios)
              + " (target: >= 3x on 2 cores)")
        if args.repeat > 1:  # this machine's runs of the same code differ by up to 40%
            print("median: " + " ".join(
                f"{statistics.median(r for j, r in ratios if j == jobs):.2f}x (--jobs {jobs})"
                for jobs in job_counts) + f" over {args.repeat} runs")


if __name__ == "__main__":
    main()
