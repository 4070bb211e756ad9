"""Write a copy of the repository for students, without the solutions.

    python tools/publish_student_copy.py DEST        # a folder (must not exist)
    python tools/publish_student_copy.py DEST.tar.gz # or an archive

It takes the committed files (``git ls-files``: nothing untracked, no gradebook) and leaves
out what gives answers away: ``solutions/`` (the instructor's notebooks and hidden tests),
``tools/notebook_sources/`` and ``tools/build_notebooks.py`` (their sources), and ``tests/``
(whose mistake catalog quotes the solutions' lines). The copy keeps the book, ``exercises/``,
``rnnlib`` (the notebooks import it, and grading needs it), ``pyproject.toml`` and the README:
``pip install .`` works in it. What it cannot hide: ``rnnlib`` is the reference the exercises
are graded against (its functions are the answers; grading scores 0 for calling or importing
them, not for reading them), and ``rnnlib/grading/`` holds the seeds of the hidden checks.
"""

import argparse
import io
import pathlib
import shutil
import subprocess
import sys
import tarfile

ROOT = pathlib.Path(__file__).resolve().parents[1]

#: Left out of the student copy (paths, or folders ending in "/").
EXCLUDE = ("solutions/", "tools/notebook_sources/", "tools/build_notebooks.py", "tests/",
           ".github/", ".ci/")


def student_files(root=ROOT):
    """The committed files that go into the student copy (relative paths, sorted)."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True,
                            check=True).stdout.decode().split("\0")
    keep = []
    for rel in filter(None, listed):
        if any(rel == e or (e.endswith("/") and rel.startswith(e)) for e in EXCLUDE):
            continue
        if (root / rel).is_file():
            keep.append(rel)
    return sorted(keep)


def publish(dest, root=ROOT):
    """Write the copy to ``dest`` (a new folder, or a ``.tar.gz``); returns the file list."""
    dest = pathlib.Path(dest)
    if dest.exists():
        raise ValueError(f"{dest} exists: give a new folder or archive name")
    files = student_files(root)
    if dest.name.endswith((".tar.gz", ".tgz")):
        top = dest.name.split(".")[0]
        with tarfile.open(dest, "w:gz") as tar:
            for rel in files:
                data = (root / rel).read_bytes()
                info = tarfile.TarInfo(f"{top}/{rel}")
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    else:
        for rel in files:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / rel, dest / rel)
    return files


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dest", help="a new folder, or an archive ending in .tar.gz")
    args = parser.parse_args(argv)
    try:
        files = publish(args.dest)
    except ValueError as exc:
        print(f"publish_student_copy: {exc}", file=sys.stderr)
        return 1
    print(f"{args.dest}: {len(files)} files (left out: {', '.join(EXCLUDE)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
