"""What a submission folder may hold, checked before anything reads it.

A submission is the student's own files. Three things in ``submitted/<student>/<assignment>/``
are not, and nbgrader would read them as if they were (it follows links when it copies the
files into ``autograded/``, where feedback and formgrader serve them):

- a symbolic link, or a file with another hard link (its content is somebody else's: the
  gradebook, another student's notebook, ``solutions/``): removed before anything reads it (the
  link, never its target), and flagged ``links`` with its name and where it pointed;
- the submission folder, or the student's folder, being itself a link: the whole submission is
  refused (replaced by an empty folder, flagged in the log; it fails to grade, the rest of the
  class is graded);
- a ``timestamp.txt`` that is not a time: refused with that reason (nbgrader's own reading of it
  raises ``AttributeError: 'CourseDirectory' object has no attribute 'fail'``, which stopped a
  ``classgrade`` re-run).

:func:`pre_convert_hook` applies this in ``nbgrader autograde`` (``harden`` sets
``Autograde.pre_convert_hook``); ``classgrade`` calls :func:`inspect` for every submission
before it reads it.
"""

import logging
import os
import pathlib

log = logging.getLogger(__name__)

#: (student, assignment) -> the ``links`` flags of its last inspection, read by the autograde
#: steps of the same process (:func:`take_flags`).
_FLAGS = {}


class Refused(Exception):
    """The submission cannot be graded as it is; the message says why, for the instructor."""


def _is_link(path):
    try:
        st = os.lstat(path)
    except OSError:
        return False
    import stat

    return stat.S_ISLNK(st.st_mode) or (stat.S_ISREG(st.st_mode) and st.st_nlink > 1)


def links_in(folder):
    """[(relative path, what it points to)] of the links under ``folder`` (not followed)."""
    folder = pathlib.Path(folder)
    found = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        for name in dirnames + filenames:
            path = pathlib.Path(dirpath) / name
            if _is_link(path):
                try:
                    target = (os.readlink(path) if path.is_symlink()
                              else "another name of a file elsewhere")
                except OSError:
                    target = "?"
                found.append((str(path.relative_to(folder)), target))
        dirnames[:] = [d for d in dirnames if not (pathlib.Path(dirpath) / d).is_symlink()]
    return found


def timestamp_problem(folder):
    """A sentence when ``folder/timestamp.txt`` exists and is not a time nbgrader can read."""
    path = pathlib.Path(folder) / "timestamp.txt"
    if not path.is_file() or _is_link(path):
        return None
    try:
        text = path.read_bytes()[:200].decode("utf-8").strip()
        if text:
            from nbgrader.utils import parse_utc

            parse_utc(text)
    except (UnicodeDecodeError, ValueError, OverflowError):
        return "timestamp.txt does not hold a time nbgrader can read"
    return None


def inspect(folder):
    """Make the submission in ``folder`` safe to read; return its ``links`` flag reasons.

    Raises :class:`Refused` when the folder (or the student's folder above it) is a link, which
    is then replaced by an empty folder, or when its timestamp cannot be read.
    """
    folder = pathlib.Path(folder)
    for level in (folder, folder.parent):
        if level.is_symlink():
            target = os.readlink(level)
            level.unlink()
            level.mkdir()
            raise Refused(f"{level.name} was a symbolic link (to {target}): the submission "
                          f"is refused and was replaced by an empty folder")
    reasons = []
    for rel, target in links_in(folder):
        path = folder / rel
        if not os.path.lexists(path):
            continue  # inside a linked folder removed just before
        if path.is_dir() and not path.is_symlink():
            continue
        path.unlink()
        reasons.append(f"{rel} was a link (to {target}): removed unread")
    problem = timestamp_problem(folder)
    if problem:
        # kept for the instructor under another name: nbgrader's reading of it would crash
        (folder / "timestamp.txt").rename(folder / "timestamp.txt.unreadable")
        raise Refused(problem + " (kept as timestamp.txt.unreadable)")
    return reasons


def remember(student, assignment, reasons):
    _FLAGS.setdefault((str(student), str(assignment)), []).extend(reasons)


def take_flags(student, assignment):
    """The ``links`` flag reasons recorded for this submission in this process (once)."""
    return _FLAGS.pop((str(student), str(assignment)), [])


def pre_convert_hook(assignment=None, student=None, notebooks=None, **_):
    """``Autograde.pre_convert_hook``: inspect the submission the notebooks belong to.

    nbgrader calls it before it copies or reads anything and swallows its exceptions, so a
    refused submission is made ungradable by emptying ``notebooks`` (nbgrader's own list): it
    then fails with "No notebooks found", after the reason is logged here.
    """
    folders = {pathlib.Path(n).parent for n in notebooks or []}
    for folder in folders:
        sid, aid = folder.parent.name, folder.name
        try:
            reasons = inspect(folder)
            remember(sid, aid, reasons)
            mine = [n for n in notebooks if pathlib.Path(n).parent == folder]
            gone = [n for n in mine if not os.path.lexists(n)]
            if gone:  # a notebook that was a link is not the student's: not graded
                notebooks[:] = [n for n in notebooks if n not in gone]
                if len(gone) == len(mine):
                    names = ", ".join(pathlib.Path(n).name for n in gone)
                    raise Refused(f"the notebook {names} was a link: refused")
        except Refused as refused:
            log.error("Refusing the submission of %s for %s: %s", sid, aid, refused)
            if notebooks is not None:
                notebooks[:] = [n for n in notebooks if pathlib.Path(n).parent != folder]
