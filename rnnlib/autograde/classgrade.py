"""Autograde a whole class in parallel: ``python -m rnnlib.autograde.classgrade ASSIGNMENT``.

Run it from the course root, where ``nbgrader autograde`` runs; it reads the same
``nbgrader_config.py`` and produces the same gradebook and ``autograded/`` folders, only faster.

How: every submission is one job, :func:`grade_job`, that needs nothing but the data it is
given (the assignment's source files, the submission's files, a template gradebook and the
configuration). It builds a private course in a temporary directory, runs nbgrader's own
``Autograde`` converter there (so every preprocessor of the configuration, the sandbox
included, runs exactly as in ``nbgrader autograde``), and returns the autograded files and the
grades as data. This process, alone, writes the files into ``autograded/`` and the grades into
the course's gradebook (SQLite's single writer; a server database works the same way), as the
jobs finish, with a progress bar.

The jobs' grading kernels are forked from a zygote that the command starts first
(:mod:`rnnlib.autograde.zygote`: a Python that has imported ipykernel and numpy, forking each
kernel into a sandbox built as for a cold start), where grading runs as root with bubblewrap;
``--cold-kernels`` or ``c.ClassGrade.zygote = False`` starts each kernel in a fresh Python.

Jobs run on a local process pool (``--backend local``, cores + 2 workers by default) or on Dask
distributed (``--backend dask``): without a scheduler address a ``LocalCluster`` on loopback;
with one, the cluster it names. Point it at a cluster in ``nbgrader_config.py``::

    c.ClassGrade.backend = "dask"
    c.ClassGrade.scheduler_address = "tcp://scheduler.example.org:8786"

or on the command line (``--scheduler tcp://...``). Start the workers with one thread each
(``dask worker tcp://scheduler.example.org:8786 --nthreads 1 --nworkers 8``): a job changes
its process's working directory and environment while it runs. Each worker machine needs this
repository's virtualenv (same Python, nbgrader, rnnlib) and bubblewrap; nothing is shared on
disk, since jobs carry their files.
"""

if __name__ == "__main__":  # the command: the kernels' zygote imports while nbgrader loads here
    from rnnlib.autograde.zygote import start_for_kernels

    start_for_kernels()

import argparse  # noqa: E402
import atexit
import concurrent.futures
import contextlib
import copy
import io
import itertools
import json
import logging
import multiprocessing
import multiprocessing.util
import os
import pathlib
import pickle
import re
import shutil
import sys
import tempfile
import threading
import time
import warnings

from traitlets import Bool, Enum, Integer, Unicode
from traitlets.config import Configurable

from . import gradebook as gbk
from .logsafe import escape
from .submission import Refused, remember, timestamp_problem
from .submission import inspect as inspect_submission


class ClassGrade(Configurable):
    """Settings of the parallel grader (section ``ClassGrade`` of ``nbgrader_config.py``)."""

    backend = Enum(["local", "dask"], "local", help="Process pool or Dask.").tag(config=True)
    jobs = Integer(0, help="Parallel jobs (0: one per core, plus two).").tag(config=True)
    scheduler_address = Unicode(
        "", help="Dask scheduler address; empty: a LocalCluster on loopback."
    ).tag(config=True)
    zygote = Bool(
        True, help="Fork each job's grading kernels from a zygote of the worker's "
                   "(SandboxedKernelManager.zygote, which wins when set) instead of starting "
                   "Python in every sandbox."
    ).tag(config=True)


# -- one job ------------------------------------------------------------------------------------

def _read_tree(path):
    path = pathlib.Path(path)
    files = {}
    if not path.is_dir():
        return files
    for dirpath, _, filenames in os.walk(path):
        for name in filenames:
            full = pathlib.Path(dirpath) / name
            if full.is_symlink() or not full.is_file():
                continue
            files[str(full.relative_to(path))] = (full.read_bytes(), full.stat().st_mode & 0o777)
    return files


def _write_tree(path, files):
    path = pathlib.Path(path)
    for rel, (data, mode) in files.items():
        target = path / rel
        if ".." in pathlib.PurePath(rel).parts or pathlib.PurePath(rel).is_absolute():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        os.chmod(target, mode)


@contextlib.contextmanager
def _captured_log():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("[%(levelname)s] %(message)s"))
    loggers = [logging.getLogger(name) for name in ("traitlets", "rnnlib", "NbGrader")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield stream
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


def quiet_gradebook_warnings():
    """nbgrader 0.9's gradebook code makes SQLAlchemy warn "Object of type <SubmittedAssignment>
    not in session" whenever it creates a submission: harmless (the grades are the same), but
    printed over the progress bar. Called in the command's process and in every job."""
    warnings.filterwarnings("ignore", message=r"Object of type <Submitted\w*> not in session")


#: {(process id, thread id): its private folder}: see :func:`_job_folder`.
_FOLDERS = {}


def _job_folder():
    """An empty folder for one job's private course: the same path for every job of this
    process and thread (a new random folder, 0700, made at its first job). The job's gradebook
    then has the same URL each time, so the database engine that compiled nbgrader's queries
    for one job serves the next (:mod:`rnnlib.autograde.engines`); every job still starts from
    an empty folder and a fresh copy of the template."""
    key = (os.getpid(), threading.get_ident())  # a forked worker makes its own
    folder = _FOLDERS.get(key)
    if folder is None or not folder.is_dir():
        folder = _FOLDERS[key] = pathlib.Path(tempfile.mkdtemp(prefix="classgrade-"))
        atexit.register(shutil.rmtree, folder, True)
        multiprocessing.util.Finalize(None, shutil.rmtree, args=(folder, True),
                                      exitpriority=0)  # a pool worker leaves by os._exit
    _empty(folder)
    return folder


def _empty(folder):
    """Delete what ``folder`` holds (a link itself, never what it points to)."""
    for child in folder.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def grade_job(job, template=None):
    """Grade one submission in a private course; return its files and grades as data.

    ``job`` holds ``assignment``, ``student``, ``config`` (a pickled traitlets Config),
    ``source`` and ``submitted`` ({relative path: (bytes, mode)}), ``directories`` (the
    course's directory names) and ``student_record``; ``template`` is the template gradebook's
    bytes (or ``job["template"]``).
    """
    from nbgrader.converters import Autograde
    from nbgrader.converters.base import NbGraderException
    from nbgrader.coursedir import CourseDirectory

    from . import engines
    from .logsafe import install

    install()  # this process may not have loaded nbgrader_config.py (a pool or Dask worker)
    engines.install()

    started = time.monotonic()
    quiet_gradebook_warnings()
    aid, sid = job["assignment"], job["student"]
    dirs = job["directories"]
    tmp = _job_folder()
    old_cwd = os.getcwd()
    with engines.scratch_folder(tmp):  # its gradebook is a throw-away copy
        try:
            root = tmp / "course"
            _write_tree(root / dirs["source"] / aid, job["source"])
            _write_tree(root / dirs["submitted"] / sid / aid, job["submitted"])
            db = root / "gradebook.db"
            db.write_bytes(template if template is not None else job["template"])
            course_id = job["course_id"]
            record, extension = job["student_record"]
            gbk.prepare_job_gradebook(db, aid, sid, record, extension, course_id=course_id,
                                      manual=job.get("manual"))
            config = pickle.loads(job["config"])
            config.CourseDirectory.root = str(root)
            config.CourseDirectory.db_url = f"sqlite:///{db}"
            config.CourseDirectory.assignment_id = aid
            config.CourseDirectory.student_id = sid
            config.CourseDirectory.notebook_id = "*"
            os.chdir(root)
            ok = True
            with _captured_log() as log:
                coursedir = CourseDirectory(config=config)
                converter = Autograde(coursedir=coursedir, config=config)
                converter.force = True
                remember(sid, aid, job.get("link_flags", []))
                try:
                    converter.start()
                except NbGraderException:
                    ok = False
                except Exception as exc:  # noqa: BLE001 - reported per submission
                    ok = False
                    logging.getLogger("rnnlib").exception("grading failed: %s", exc)
            out_dir = root / dirs["autograded"] / sid / aid
            return {
                "assignment": aid, "student": sid, "ok": ok,
                "files": _read_tree(out_dir) if out_dir.is_dir() else None,
                "grades": gbk.export_submission(f"sqlite:///{db}", aid, sid, course_id),
                "log": log.getvalue()[-20000:],
                "seconds": time.monotonic() - started,
            }
        finally:
            os.chdir(old_cwd)
            with contextlib.suppress(OSError):
                _empty(tmp)  # the folder stays for the next job, which empties it again first


# -- the class ----------------------------------------------------------------------------------

def load_course(assignment, extra_args=()):
    """nbgrader's configuration and course directory, as ``nbgrader autograde`` loads them."""
    from nbgrader.apps.autogradeapp import AutogradeApp

    app = AutogradeApp()
    app.initialize([assignment, *extra_args])
    return app


def submissions(app, assignment):
    """Student ids whose submission nbgrader's autograde would process (sorted)."""
    from nbgrader.converters import Autograde

    coursedir = app.coursedir
    coursedir.assignment_id = assignment
    converter = Autograde(coursedir=coursedir, parent=app)
    try:
        converter.init_notebooks()
    except Exception:  # noqa: BLE001 - no notebook at all: nothing to grade
        return []
    regexp = converter._format_source("(?P<assignment_id>.*)", "(?P<student_id>.*)",
                                      escape=True)
    exclude = set(filter(None, (coursedir.student_id_exclude or "").split(",")))
    out = []
    for path in converter.assignments:
        m = re.match(regexp, path)
        if m and m.group("student_id") not in exclude:
            out.append(m.group("student_id"))
    return sorted(out)


def venv_on_path():
    """Put this Python's scripts directory on PATH (nbgrader runs ``alembic`` from it)."""
    bindir = os.path.dirname(sys.executable)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


def needs_grading(coursedir, assignment, student, force):
    """nbgrader's rule: no autograded copy yet, ``--force``, or a newer submission."""
    dest = coursedir.format_path(coursedir.autograded_directory, student, assignment)
    if force or not os.path.exists(dest):
        return True
    src = coursedir.format_path(coursedir.submitted_directory, student, assignment)
    if timestamp_problem(src) or timestamp_problem(dest):
        return True  # graded again, and refused with the reason (nbgrader's reading crashes)
    new, old = (coursedir.get_existing_timestamp(src), coursedir.get_existing_timestamp(dest))
    return new is not None and old is not None and new > old


def zygote_wanted(config):
    """Whether the jobs fork their kernels from a zygote: ``SandboxedKernelManager.zygote``
    where the configuration sets it, else ``ClassGrade.zygote``."""
    section = config.get("SandboxedKernelManager", {})
    if "zygote" in section:
        from .sandbox import SandboxedKernelManager

        value = section["zygote"]
        if hasattr(value, "get_value"):  # from the command line: a string until read as a Bool
            value = value.get_value(SandboxedKernelManager.class_traits()["zygote"])
        return bool(value)
    return ClassGrade(config=config).zygote


def make_jobs(app, assignment, students, template_bytes):
    """One job per student (the template goes separately to Dask)."""
    coursedir = app.coursedir
    config = copy.deepcopy(app.config)
    config.SandboxedKernelManager.zygote = zygote_wanted(app.config)
    config_bytes = pickle.dumps(config)
    source = _read_tree(coursedir.format_path(coursedir.source_directory, ".", assignment))
    dirs = {"source": coursedir.source_directory, "submitted": coursedir.submitted_directory,
            "autograded": coursedir.autograded_directory}
    records = gbk.student_records(coursedir.db_url, students, assignment, coursedir.course_id)
    manual = gbk.manual_scores(coursedir.db_url, assignment, students, coursedir.course_id)
    jobs = []
    for sid in students:
        jobs.append({
            "assignment": assignment, "student": sid, "config": config_bytes,
            "course_id": coursedir.course_id, "directories": dirs, "source": source,
            "submitted": _read_tree(coursedir.format_path(coursedir.submitted_directory, sid,
                                                          assignment)),
            "student_record": records[sid],
            "manual": manual[sid],
            "template": template_bytes,
        })
    return jobs


def apply_result(coursedir, result, gb):
    """Write one job's files and grades into the course (this process only; ``gb`` is the
    course's open gradebook)."""
    aid, sid = result["assignment"], result["student"]
    dest = pathlib.Path(coursedir.format_path(coursedir.autograded_directory, sid, aid))
    if dest.exists():
        for dirpath, _, _ in os.walk(dest):
            os.chmod(dirpath, 0o755)
        shutil.rmtree(dest)
    if result["ok"] and result["files"] is not None:
        _write_tree(dest, result["files"])
    if result["grades"] is not None:
        gbk.import_submission(gb, aid, sid, result["grades"])


def warm_up():
    """Import what a job needs (run once per worker while the jobs are being prepared)."""
    import nbgrader.converters  # noqa: F401
    import numpy  # noqa: F401

    from . import config, execute  # noqa: F401

    return os.getpid()


#: What a job imports, loaded once by this process before the pool's workers are forked from
#: it: each worker starts with these in memory instead of importing them itself (about 2.5
#: CPU-s a worker). The last ones are what a worker's first job still imported: ipykernel's
#: kernel spec (with IPython; jupyter_client looks up the python3 kernel there), the
#: sandbox's control groups, mistune's plugins (the safe pages' markdown).
PRELOAD = ["nbgrader.converters", "numpy", "rnnlib.autograde.config",
           "rnnlib.autograde.execute", "rnnlib.autograde.classgrade",
           "ipykernel.kernelspec", "IPython", "rnnlib.autograde.confine", "mistune.plugins.url",
           "mistune.plugins.task_lists", "mistune.plugins.def_list", "encodings.unicode_escape"]


def _zygote_pid():
    """The pid of this process's kernels' zygote (a worker's: the command's, shared)."""
    from .sandbox import kernel_zygote

    return kernel_zygote().pid


def local_pool(workers, zygote=False):
    """A process pool whose workers are forked from this process, with :data:`PRELOAD` and
    what loading the course imported already in memory.

    Called before this process opens the gradebook or starts a thread (forking then is safe:
    no lock or connection is copied half-used); the workers are forked at once. Where a thread
    runs all the same (an embedding application), the workers come from a fork server that
    imports :data:`PRELOAD` itself (as they did before: 2.5 CPU-s more a run, and its start
    delays the first job).

    ``zygote``: start the grading kernels' zygote first (:mod:`rnnlib.autograde.zygote`), so
    that the workers share it (it imports while they start)."""
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    if zygote:
        from .sandbox import kernel_zygote

        kernel_zygote()
    if threading.active_count() == 1:
        context = multiprocessing.get_context("fork")
    else:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
    pool = concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context)
    for _ in range(workers):
        pool.submit(warm_up)
    return pool


def _local_results(jobs, pool):
    with pool:
        futures = [pool.submit(grade_job, job) for job in jobs]
        for future in concurrent.futures.as_completed(futures):
            yield future.result()


def _dask_results(jobs, workers, address):
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if address:
        client = Client(address)
    else:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None,
                               silence_logs=logging.ERROR)
        client = Client(cluster)
    try:
        template = client.scatter(jobs[0]["template"], broadcast=True) if jobs else None
        futures = []
        for job in jobs:
            light = dict(job, template=None)
            futures.append(client.submit(grade_job, light, template, pure=False,
                                         key=f"autograde-{job['assignment']}-{job['student']}"))
        for future in as_completed(futures):
            yield future.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def default_jobs():
    """Parallel jobs when neither ``--jobs`` nor ``ClassGrade.jobs`` says: the cores plus two.

    A job waits on its kernel (start-up, replies) part of the time: two more jobs than cores
    keep the cores busy (2 cores, bench/autograde_bench.py --course rnn --jobs 3 4, two runs:
    1.93x and 2.14x with 3 jobs, 2.14x and 2.33x with 4, against nbgrader autograde; with 5 or
    6 the cores are busy all the time and the run takes longer)."""
    return (os.cpu_count() or 1) + 2


def grade_class(assignment, jobs=None, backend=None, scheduler=None, force=False,
                students=None, progress=True, extra_args=()):
    """Grade every submission of ``assignment`` in the current course; return the results.

    The results are the jobs' dicts in completion order (``ok``, ``log``, ``seconds`` per
    student); a summary is written to ``reports/<assignment>/grading_log.json``.
    """
    from nbgrader.api import Gradebook

    venv_on_path()
    quiet_gradebook_warnings()
    from .zygote import close_all, start_for_kernels

    if backend != "dask":  # it imports on the other core while this process loads the course
        start_for_kernels()
    app = load_course(assignment, extra_args)
    forking = zygote_wanted(app.config)
    if not forking:
        close_all()
    settings = ClassGrade(config=app.config)
    backend = backend or settings.backend
    workers = jobs or settings.jobs or default_jobs()
    scheduler = scheduler if scheduler is not None else settings.scheduler_address
    coursedir = app.coursedir
    wanted = [s for s in submissions(app, assignment)
              if (students is None or s in students)
              and needs_grading(coursedir, assignment, s, force)]
    results = []
    if not wanted:
        return results
    pool = local_pool(min(workers, len(wanted)), zygote=forking) if backend != "dask" else None
    from . import engines

    engines.install()
    with tempfile.TemporaryDirectory(prefix="classgrade-template-") as tmp, \
            engines.scratch_folder(tmp):
        template = pathlib.Path(tmp) / "template.db"
        gbk.make_template(coursedir.db_url, assignment, template, coursedir.course_id)
        template_bytes = template.read_bytes()
    refused, link_flags = [], {}
    for sid in list(wanted):  # before anything reads the submission (see submission.py)
        folder = coursedir.format_path(coursedir.submitted_directory, sid, assignment)
        try:
            link_flags[sid] = inspect_submission(folder)
        except Refused as exc:
            wanted.remove(sid)
            refused.append({"assignment": assignment, "student": sid, "ok": False,
                            "files": None, "grades": None, "seconds": 0.0,
                            "log": f"[ClassGrade | ERROR] refused: {exc}\n"})
    job_list = make_jobs(app, assignment, wanted, template_bytes)
    for job in job_list:
        job["link_flags"] = link_flags.get(job["student"], [])
    if backend == "dask":
        stream = _dask_results(job_list, workers, scheduler)
    else:
        stream = _local_results(job_list, pool)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(job_list), desc=f"autograde {assignment}", unit="submission",
                   file=sys.stderr)
    try:
        with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
            for result in itertools.chain(refused, stream):
                apply_result(coursedir, result, gb)
                results.append(result)
                late = late_warning(result)
                if late:  # nbgrader autograde's warning, which the job's captured log holds
                    (bar.write if bar is not None else print)(late, file=sys.stderr)
                if bar is not None:
                    bar.set_postfix_str(
                        f"{escape(result['student'])}: {'ok' if result['ok'] else 'FAILED'}")
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        close_all()  # the workers are done with it
    write_log(coursedir, assignment, results)
    return results


def late_warning(result):
    """The job's "... is N seconds late" line from nbgrader's autograde, or None."""
    for line in result["log"].splitlines():
        if line.startswith("[WARNING]") and "seconds late" in line:
            return escape(f"{result['student']}: {line[len('[WARNING] '):]}")
    return None


def write_log(coursedir, assignment, results):
    """Per-student outcome of this run, for the class report."""
    folder = pathlib.Path(coursedir.root) / "reports" / assignment
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "grading_log.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    for r in results:
        errors = [line for line in r["log"].splitlines() if line.startswith("[ERROR]")]
        old[r["student"]] = {"ok": r["ok"], "seconds": round(r["seconds"], 2),
                             "errors": errors[:20]}
    path.write_text(json.dumps(old, indent=1, sort_keys=True))
    return path


def main(argv=None):
    """Command line: ``python -m rnnlib.autograde.classgrade ASSIGNMENT [options]``."""
    parser = argparse.ArgumentParser(prog="python -m rnnlib.autograde.classgrade",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("assignment")
    parser.add_argument("--jobs", "-j", type=int, default=None,
                        help="parallel jobs (default: ClassGrade.jobs, else cores + 2)")
    parser.add_argument("--backend", choices=["local", "dask"], default=None)
    parser.add_argument("--scheduler", default=None, help="Dask scheduler address")
    parser.add_argument("--force", action="store_true", help="regrade graded submissions")
    parser.add_argument("--student", action="append", help="only this student (repeatable)")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--cold-kernels", action="store_true",
                        help="start every grading kernel in a fresh Python (no zygote)")
    args = parser.parse_args(argv)
    results = grade_class(args.assignment, jobs=args.jobs, backend=args.backend,
                          scheduler=args.scheduler, force=args.force, students=args.student,
                          progress=not args.no_progress,
                          extra_args=(["--SandboxedKernelManager.zygote=False"]
                                      if args.cold_kernels else ()))
    failed = [r["student"] for r in results if not r["ok"]]
    print(f"graded {len(results)} submissions of {args.assignment}; "
          f"{len(failed)} could not be graded automatically"
          + (f": {escape(', '.join(sorted(failed)))}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
