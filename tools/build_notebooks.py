"""Build the instructor's notebooks ``solutions/<a>/<a>.ipynb`` from their sources.

The sources are plain Python files, ``tools/notebook_sources/<a>.py``, split into cells by
marker lines (percent format), so that solutions, tests and text are reviewed as code and the
nbgrader metadata comes out right every time::

    # %% [markdown]              Markdown; every line starts with "# " (or is "#")
    # %% setup                   locked code cell run before everything (imports)
    # %% solution ID             the student's cell: ### BEGIN SOLUTION / ### END SOLUTION
    # %% test ID points=N        locked test cell worth N points (may hold hidden tests)
    # %% demo ID                 locked code cell that uses the student's functions
    # %% code                    a plain cell the student may edit (no grading metadata)

Usage: ``python tools/build_notebooks.py [--check] [ASSIGNMENT ...]``. With ``--check`` nothing
is written; the exit status says whether every notebook equals a fresh build. Output is
deterministic: no outputs, no execution counts, cell ids derived from the grade ids.
"""

import argparse
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "tools" / "notebook_sources"
SOLUTIONS = ROOT / "solutions"

# The course's order (the notes' chapters): the book and the instructors' page list them so.
ASSIGNMENTS = ("rnn", "bptt", "language_model", "gru", "lstm", "brnn_deep")

MARKER = re.compile(r"^# %%(?: (?P<kind>\[markdown\]|setup|solution|test|demo|code))?"
                    r"(?: (?P<id>[A-Za-z0-9_-]+))?(?: points=(?P<points>\d+(?:\.\d+)?))?\s*$")
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def _nbgrader(grade_id, grade=False, solution=False, locked=False, points=None):
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
            "solution": solution}
    if points is not None:
        meta["points"] = points
    return meta


def parse(text, name):
    """The cells of one source file: [(kind, id, points, source)]."""
    cells, current = [], None
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.startswith("# %%"):
            m = MARKER.match(line)
            if not m or not m.group("kind"):
                raise SystemExit(f"{name}:{lineno}: bad cell marker {line!r}")
            kind = m.group("kind")
            if kind in ("solution", "test", "demo") and not m.group("id"):
                raise SystemExit(f"{name}:{lineno}: a {kind} cell needs an id")
            if kind == "test" and not m.group("points"):
                raise SystemExit(f"{name}:{lineno}: a test cell needs points=N")
            current = [kind, m.group("id"), m.group("points"), []]
            cells.append(current)
        elif current is None:
            if line.strip():
                raise SystemExit(f"{name}:{lineno}: text before the first cell marker")
        else:
            current[3].append(line)
    out = []
    for kind, cid, points, lines in cells:
        while lines and not lines[-1].strip():
            lines.pop()
        while lines and not lines[0].strip():
            lines.pop(0)
        if kind == "[markdown]":
            bad = [x for x in lines if x and not (x == "#" or x.startswith("# "))]
            if bad:
                raise SystemExit(f"{name}: Markdown line without '# ': {bad[0]!r}")
            lines = [x[2:] for x in lines]
        out.append((kind, cid, points, "\n".join(lines)))
    return out


def build(assignment):
    """The instructor's notebook of ``assignment`` as an nbformat node."""
    path = SOURCES / f"{assignment}.py"
    cells, ids = [], set()
    for index, (kind, cid, points, source) in enumerate(parse(path.read_text(), path.name)):
        if kind == "[markdown]":
            cell = nbformat.v4.new_markdown_cell(source)
            cell.id = f"md-{index:02d}"
        else:
            cell = nbformat.v4.new_code_cell(source)
            if kind == "setup":
                cid = cid or "setup"
                cell.metadata["nbgrader"] = _nbgrader(cid, locked=True)
            elif kind == "solution":
                cell.metadata["nbgrader"] = _nbgrader(cid, solution=True)
            elif kind == "test":
                pts = float(points)
                cell.metadata["nbgrader"] = _nbgrader(cid, grade=True, locked=True,
                                                      points=int(pts) if pts.is_integer() else pts)
            elif kind == "demo":
                cell.metadata["nbgrader"] = _nbgrader(cid, locked=True)
            cell.id = cid or f"code-{index:02d}"
        if cell.id in ids:
            raise SystemExit(f"{path.name}: duplicate cell id {cell.id!r}")
        ids.add(cell.id)
        cells.append(cell)
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def render(nb):
    return nbformat.writes(nb, version=4) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    parser.add_argument("assignments", nargs="*", default=list(ASSIGNMENTS))
    args = parser.parse_args(argv)
    stale = []
    for assignment in args.assignments:
        text = render(build(assignment))
        target = SOLUTIONS / assignment / f"{assignment}.ipynb"
        if args.check:
            if not target.exists() or target.read_text() != text:
                stale.append(str(target.relative_to(ROOT)))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            print(f"wrote {target.relative_to(ROOT)}")
    if stale:
        print("out of date (run tools/build_notebooks.py):", *stale, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
