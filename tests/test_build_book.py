"""tools/build_book.py: chapters executed in parallel into Jupyter Book's cache, which
jupyter-book then uses without executing again; a failing cell stops the build and names its
chapter."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("build_book", ROOT / "tools" / "build_book.py")
build_book = importlib.util.module_from_spec(spec)
sys.modules["build_book"] = build_book      # its worker function is pickled by module name
spec.loader.exec_module(build_book)


def _book(root, chapters):
    """A tiny Jupyter Book in ``root``: an intro page and one notebook per (name, code)."""
    (root / "book").mkdir(parents=True)
    (root / "book" / "intro.md").write_text("# Intro\n\nA tiny book.\n")
    (root / "_config.yml").write_text(
        "title: tiny\nonly_build_toc_files: true\nexclude_patterns: [_build]\n"
        "execute:\n  execute_notebooks: cache\n  timeout: 60\n  raise_on_error: true\n"
        "  allow_errors: false\nlaunch_buttons:\n  thebe: false\n")
    (root / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n"
        + "".join(f"  - file: book/{name}\n" for name, _ in chapters))
    for name, code in chapters:
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}
        nb.cells = [nbformat.v4.new_markdown_cell(f"# {name}"),
                    *[nbformat.v4.new_code_cell(c) for c in code]]
        nbformat.write(nb, root / "book" / f"{name}.ipynb")


def test_a_failing_cell_names_its_chapter_and_is_not_cached(tmp_path):
    _book(tmp_path, [("ok", ["x = 6 * 7", "print(x)"]),
                     ("broken", ["y = 1", "raise ValueError('the cell that fails')"])])
    failures = build_book.prefill(tmp_path, workers=2, root=tmp_path)
    assert [name for name, _ in failures] == ["book/broken.ipynb"]
    assert "ValueError: the cell that fails" in failures[0][1]

    from jupyter_cache import get_cache

    cache = get_cache(str(build_book.cache_path(tmp_path)))
    ok = cache.match_cache_notebook(nbformat.read(tmp_path / "book" / "ok.ipynb", 4))
    assert cache.get_cache_bundle(ok.pk).nb.cells[1].outputs[0]["text"] == "42\n"
    with pytest.raises(KeyError):
        cache.match_cache_notebook(nbformat.read(tmp_path / "book" / "broken.ipynb", 4))

    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "build_book.py"),
                           "--path-output", str(tmp_path)], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path,
                          env={**os.environ, "BUILD_BOOK_ROOT": str(tmp_path)})
    assert proc.returncode == 1
    assert "book/broken.ipynb: ValueError: the cell that fails" in proc.stderr
    assert "the book was not built" in proc.stderr


def test_jupyter_book_uses_the_cached_chapters(tmp_path):
    """The cache keys match myst-nb's: jupyter-book executes nothing and shows the outputs."""
    _book(tmp_path, [("one", ["print('from the cache', 1)"]),
                     ("two", ["import sys", "print('from the cache', 2)"])])
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "build_book.py"),
                           "--path-output", str(tmp_path), "--", "--all", "-W", "-n"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={**os.environ, "BUILD_BOOK_ROOT": str(tmp_path)})
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert "executing 2 chapter(s), 2 at a time" in log
    assert log.count("Using cached notebook") == 2 and "Executing notebook" not in log, log
    for n in (1, 2):
        page = (tmp_path / "_build" / "html" / "book" / ("one" if n == 1 else "two")
                ).with_suffix(".html").read_text()
        assert f"from the cache {n}" in page
