"""Build the book: run the chapters in parallel into Jupyter Book's execution cache, then build.

``jupyter-book build`` in cache mode (``execute_notebooks: cache`` in _config.yml) runs every
notebook it does not find in its cache, one after another. This script first runs the chapters
that are not cached yet, ``--workers`` at a time (each in its own kernel, in the chapter's
folder, with _config.yml's timeout and allow_errors, exactly as myst-nb would run it), and
stores each executed notebook in that same cache. myst-nb then finds every chapter cached (it
matches a notebook by a hash of its kernelspec and its code cells' sources and metadata, the
hash that ``jupyter_cache`` computes for both) and only renders.

A chapter whose cell fails is not cached: the script names it with the error and exits 1
before building. The arguments after the options are passed to ``jupyter-book build``.

    python tools/build_book.py [--workers 2] [--path-output DIR] [-- jupyter-book options]
"""

import argparse
import concurrent.futures
import io
import json
import logging
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import yaml

# The book's root (a test points it at a tiny book).
ROOT = Path(os.environ.get("BUILD_BOOK_ROOT") or Path(__file__).resolve().parent.parent)


def cache_path(path_output):
    """Where myst-nb keeps its cache: next to the HTML output (``<outdir>/../.jupyter_cache``)."""
    return Path(path_output).resolve() / "_build" / ".jupyter_cache"


def notebooks(root=ROOT):
    """The .ipynb documents of _toc.yml, in reading order. (The book's .md pages are plain
    Markdown without code cells: nothing to execute.)"""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    docs = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                docs.append(entry["file"])
            walk(entry.get("sections"))

    for part in toc.get("parts", [{"chapters": toc.get("chapters")}]):
        walk(part.get("chapters"))
    for doc in docs:
        md = root / (doc + ".md")
        if md.exists() and "```{code-cell}" in md.read_text():
            raise SystemExit(f"{md}: a MyST-Markdown notebook; this script runs .ipynb only")
    return [root / (d + ".ipynb") for d in docs if (root / (d + ".ipynb")).exists()]


def _execute(path, timeout, allow_errors):
    """Run one notebook as myst-nb's cache mode does; return (notebook, seconds, error, log).

    Everything the client logs (e.g. tornado's report of a kernel shutdown race) is returned,
    not printed, so that the parent prints each chapter's log in one piece.

    The kernel talks over unix sockets in a directory of its own (``ipc`` transport), not
    TCP: jupyter_client picks a TCP port by binding and releasing it, and two chapters
    started at once can pick the same one (seen in CI: "Address already in use", then
    "Kernel died before replying to kernel_info").
    """
    import nbformat
    from jupyter_cache.executors.utils import single_nb_execution
    from traitlets.config import Config

    log = io.StringIO()
    handler = logging.StreamHandler(log)
    handler.setFormatter(logging.Formatter(logging.BASIC_FORMAT))
    logging.getLogger().addHandler(handler)
    sockets = tempfile.mkdtemp(prefix="build-book-kernel-")
    try:
        with redirect_stdout(log), redirect_stderr(log):
            nb = nbformat.read(str(path), as_version=4)
            # (a config, not a kernel manager: nbclient shuts down only a kernel it started)
            ipc = Config(KernelManager={"transport": "ipc", "ip": os.path.join(sockets, "k")})
            result = single_nb_execution(nb, cwd=str(path.parent), timeout=timeout,
                                         allow_errors=allow_errors, meta_override=True,
                                         config=ipc)
    finally:
        logging.getLogger().removeHandler(handler)
        shutil.rmtree(sockets, ignore_errors=True)
    error = None if result.err is None else re.sub(  # without the traceback's colour codes
        r"\x1b\[[0-9;]*m", "", f"{type(result.err).__name__}: {result.err}")
    return nb, result.time, error, log.getvalue()


def _seconds_file(path_output):
    return Path(path_output).resolve() / "_build" / ".chapter-seconds.json"


def prefill(path_output=".", workers=2, root=ROOT):
    """Execute every chapter missing from the cache, ``workers`` at a time; return the
    failures as [(chapter, error)]."""
    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    config = yaml.safe_load((root / "_config.yml").read_text()).get("execute", {})
    timeout, allow_errors = config.get("timeout", 30), config.get("allow_errors", False)
    cache = get_cache(str(cache_path(path_output)))
    todo = []
    for path in notebooks(root):
        try:
            cache.match_cache_notebook(nbformat.read(str(path), as_version=4))
        except KeyError:
            todo.append(path)
    if not todo:
        print(f"build_book: all {len(notebooks(root))} chapters are cached")
        return []
    # Longest first, so that no long chapter starts last while the other worker idles: by the
    # times of earlier builds (kept outside the cache, which `make book` may delete), else
    # last chapter first (the later chapters train the larger models).
    seconds_file = _seconds_file(path_output)
    try:
        seconds = json.loads(seconds_file.read_text())
    except (OSError, ValueError):
        seconds = {}
    todo.reverse()
    todo.sort(key=lambda p: -seconds.get(p.name, 0))
    print(f"build_book: executing {len(todo)} chapter(s), {workers} at a time", flush=True)
    failures = []
    t0 = time.perf_counter()
    context = multiprocessing.get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
        futures = {pool.submit(_execute, p, timeout, allow_errors): p for p in todo}
        for future in concurrent.futures.as_completed(futures):
            path = futures[future]
            name = path.relative_to(root)
            try:
                nb, secs, error, log = future.result()
            except Exception as exc:        # the worker itself broke (not a cell)
                nb, secs, error, log = None, 0.0, f"{type(exc).__name__}: {exc}", ""
            if log.strip():
                sys.stderr.write(log if log.endswith("\n") else log + "\n")
            if error is not None:
                failures.append((str(name), error))
                print(f"build_book: FAILED {name}\n{error}", file=sys.stderr, flush=True)
                continue
            cache.cache_notebook_bundle(
                CacheBundleIn(nb, str(path), data={"execution_seconds": secs}),
                check_validity=False, overwrite=True)
            seconds[path.name] = round(secs, 1)
            print(f"build_book: {name} executed in {secs:.1f} s "
                  f"({time.perf_counter() - t0:.0f} s elapsed)", flush=True)
    seconds_file.parent.mkdir(parents=True, exist_ok=True)
    seconds_file.write_text(json.dumps(seconds, indent=1, sort_keys=True))
    return failures


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--path-output", default=str(ROOT))
    args, rest = parser.parse_known_args(argv)
    rest = [a for a in rest if a != "--"]
    failures = prefill(args.path_output, args.workers, ROOT)
    if failures:
        print("\nbuild_book: the book was not built; chapters whose cells failed:\n"
              + "\n".join(f"  {name}: {err.strip().splitlines()[-1]}" for name, err in failures),
              file=sys.stderr)
        return 1
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jupyter_book), "build", *rest, "--path-output", args.path_output, str(ROOT)]
    return subprocess.call(cmd, cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main())
