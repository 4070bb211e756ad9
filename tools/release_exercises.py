"""Regenerate the student notebooks ``exercises/`` from the instructor's ``solutions/``.

This is nbgrader's own ``nbgrader generate_assignment "*" --force``, run from the repository
root with ``nbgrader_config.py`` (which clears the solutions, drops the hidden tests, locks the
test cells, strips outputs and tags the cells that raise until the student writes the code with
``raises-exception``, for nbval). The only differences: it writes into a temporary release
directory and a temporary gradebook, then replaces ``exercises/`` with the result, so running
it never touches the course's ``gradebook.db``. The result is deterministic: the committed
``exercises/`` must equal a fresh run (``--check``, and a test).

Usage: ``python tools/release_exercises.py [--check]``  (``make exercises``)
"""

import argparse
import filecmp
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def generate(release_dir, root=ROOT):
    """Run nbgrader generate_assignment for every assignment of ``root``/solutions into
    ``release_dir`` (with a throw-away gradebook). Returns nothing; raises on failure."""
    bindir = os.path.dirname(sys.executable)
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""))
    env.pop("NBGRADER_DB_URL", None)
    with tempfile.TemporaryDirectory() as scratch:
        cmd = [os.path.join(bindir, "nbgrader"), "generate_assignment", "*", "--force",
               f"--CourseDirectory.release_directory={release_dir}",
               f"--CourseDirectory.db_url=sqlite:///{scratch}/gradebook.db"]
        done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"nbgrader generate_assignment failed:\n{done.stdout}\n{done.stderr}")


def _files(folder):
    return sorted(p.relative_to(folder) for p in Path(folder).rglob("*") if p.is_file())


def differences(fresh, committed):
    """Paths (relative) that differ between two release folders."""
    fresh_files, committed_files = set(_files(fresh)), set(_files(committed))
    out = sorted(fresh_files ^ committed_files)
    out += [p for p in sorted(fresh_files & committed_files)
            if not filecmp.cmp(Path(fresh) / p, Path(committed) / p, shallow=False)]
    return [str(p) for p in out]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="do not write; fail if exercises/ differs from a fresh generation")
    args = parser.parse_args(argv)
    committed = ROOT / "exercises"
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "exercises"
        generate(fresh)
        changed = differences(fresh, committed)
        if args.check:
            if changed:
                print("exercises/ differs from a fresh generation (run make exercises):",
                      *changed, sep="\n  ")
                return 1
            print("exercises/ is up to date")
            return 0
        if committed.exists():
            shutil.rmtree(committed)
        shutil.copytree(fresh, committed)
    for path in changed:
        print(f"updated exercises/{path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
