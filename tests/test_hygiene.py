"""Repository habits: committed notebooks carry no outputs; dependencies stay pinned; the
virtualenv carries no package that slows every start."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def tracked(pattern):
    out = subprocess.run(["git", "ls-files", pattern], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    return [ROOT / line for line in out.splitlines() if (ROOT / line).exists()]


NOTEBOOKS = tracked("*.ipynb")


def test_there_are_notebooks_to_check():
    assert NOTEBOOKS, "git ls-files found no notebooks: the hygiene check would check nothing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_committed_notebook_has_no_outputs(path):
    nb = json.loads(path.read_text())
    dirty = [
        i for i, cell in enumerate(nb["cells"])
        if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count"))
    ]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs; clear them before committing"


def test_every_requirement_is_pinned():
    lines = [line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text()
             .splitlines()]
    reqs = [line for line in lines if line]
    loose = [r for r in reqs if "==" not in r and not r.startswith("sqlalchemy")]
    assert not loose, f"unpinned requirements: {loose}"
    # Any other torch pin downloads a multi-GB CUDA build instead of the local CPU wheel.
    assert "torch==2.13.0" in reqs
    assert any(re.fullmatch(r"sqlalchemy>=2\.0,<2\.1", r) for r in reqs)


def test_importing_nbformat_builds_no_iri_parsers():
    # `make venv` removes rfc3987-syntax (see the Makefile): with it, every process that imports
    # nbformat (each nbgrader command, each grading worker) spent 2.5 CPU-s building parsers
    probe = ("import sys, nbformat, jsonschema\n"
             "print(sorted(m for m in ('rfc3987_syntax', 'lark') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout
    assert out == "[]\n", f"nbformat's import loaded {out.strip()}: run `make venv`"
