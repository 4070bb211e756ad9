"""The two places where the grader replaces nbgrader's code with a cheaper equivalent: the
metadata check with its schema compiled once (rnnlib.autograde.metadata) and one database
engine per gradebook URL (rnnlib.autograde.engines). Each must give what nbgrader's own code
gives, on good and on broken input; the speed is measured in bench/, not here."""

import copy
import os
import pathlib
import sqlite3
import sys

import nbformat
import pytest
from nbgrader.nbgraderformat import MetadataValidator
from nbgrader.preprocessors import CheckCellMetadata as NbgraderCheck

from rnnlib.autograde import engines
from rnnlib.autograde.metadata import CheckCellMetadata, CompiledMetadataValidator

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "solutions" / "rnn" / "rnn.ipynb"


def _first_graded(nb):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade"))


def _set(key, value):
    return lambda meta: meta.__setitem__(key, value)


#: Broken metadata of each kind nbgrader's validator refuses (its schema, its own checks).
BREAKS = {
    "wrong type": _set("points", "two"),
    "unknown key": _set("extra", 1),
    "no grade id": lambda meta: meta.pop("grade_id"),
    "schema too new": _set("schema_version", 9),
    "schema too old": _set("schema_version", 1),
    "negative points": _set("points", -1),
    "grade id with a space": _set("grade_id", "a b"),
}


def _outcome(validator_class, nb):
    try:
        validator_class().validate_nb(nb)
    except Exception as exc:  # noqa: BLE001 - the outcome compared is the exception itself
        return type(exc).__name__, str(exc)
    return "valid", ""


@pytest.mark.parametrize("kind", ["intact", *BREAKS])
def test_compiled_metadata_check_refuses_what_nbgrader_refuses(kind):
    nb = nbformat.read(NOTEBOOK, 4)
    if kind != "intact":
        BREAKS[kind](_first_graded(nb).metadata["nbgrader"])
    ours, theirs = _outcome(CompiledMetadataValidator, nb), _outcome(MetadataValidator, nb)
    assert ours == theirs
    assert (ours[0] == "valid") == (kind == "intact")


def test_the_check_step_logs_and_raises_as_nbgrader_does(caplog):
    nb = nbformat.read(NOTEBOOK, 4)
    _first_graded(nb).metadata["nbgrader"]["points"] = "two"
    errors = []
    for step in (CheckCellMetadata(), NbgraderCheck()):
        with pytest.raises(Exception) as info:
            step.preprocess(copy.deepcopy(nb), {})
        errors.append((type(info.value).__name__, str(info.value)))
    assert errors[0] == errors[1]
    assert "nbgrader metadata may be corrupted" in errors[0][1]
    assert CheckCellMetadata().preprocess(nbformat.read(NOTEBOOK, 4), {})[0].cells


@pytest.fixture(autouse=True)
def _alembic_on_path(monkeypatch):
    """nbgrader runs ``alembic`` (in the virtualenv's bin) to stamp a new gradebook."""
    bindir = os.path.dirname(sys.executable)
    monkeypatch.setenv("PATH", bindir + os.pathsep + os.environ.get("PATH", ""))


def test_a_gradebook_url_reuses_its_engine_and_keeps_no_connection(tmp_path):
    from nbgrader.api import Gradebook

    engines.install()
    url = f"sqlite:///{tmp_path / 'gb.db'}"
    with Gradebook(url) as gb:
        gb.add_student("ada")
        first = gb.engine
        gb.find_student("ada")
        assert _open_on(tmp_path / "gb.db")
    cached = len(first._compiled_cache)
    with Gradebook(url) as gb:
        assert gb.engine is first
        assert gb.find_student("ada").id == "ada"
    assert len(first._compiled_cache) == cached  # the same queries, not compiled again
    assert not _open_on(tmp_path / "gb.db")  # closing the gradebook closed its connection


def _open_on(path):
    """This process's file descriptors open on ``path``."""
    fds = pathlib.Path("/proc/self/fd")
    return [fd for fd in fds.iterdir() if os.path.realpath(fd) == str(path.resolve())]


def test_a_gradebook_made_again_at_the_same_path_is_read_afresh(tmp_path):
    from nbgrader.api import Gradebook, MissingEntry

    engines.install()
    path = tmp_path / "gb.db"
    with Gradebook(f"sqlite:///{path}") as gb:
        gb.add_student("ada")
    path.unlink()  # a test, or a job's private course, makes a new file where one was
    with Gradebook(f"sqlite:///{path}") as gb:
        with pytest.raises(MissingEntry):
            gb.find_student("ada")
        gb.add_student("grace")
    rows = sqlite3.connect(path).execute("SELECT id FROM student").fetchall()
    assert rows == [("grace",)]


def test_engines_kept_are_bounded(tmp_path):
    engines.install()
    made = [engines.reusing_create_engine(f"sqlite:///{tmp_path / f'{i}.db'}")
            for i in range(engines.KEEP + 3)]
    assert len(engines._engines) <= engines.KEEP
    assert engines.reusing_create_engine(f"sqlite:///{tmp_path / '0.db'}") is not made[0]
    last = f"sqlite:///{tmp_path / f'{engines.KEEP + 2}.db'}"
    assert engines.reusing_create_engine(last) is made[-1]


def test_gradebooks_left_open_do_not_starve_the_next(tmp_path):
    """nbgrader code that forgets ``close()`` holds its connection; with one engine per URL
    the next gradebooks must still get theirs (a shared pool of 5 + 10 would wait 30 s, then
    fail)."""
    from nbgrader.api import Gradebook

    engines.install()
    url = f"sqlite:///{tmp_path / 'gb.db'}"
    with Gradebook(url) as gb:
        gb.add_student("ada")
    left_open = []
    for _ in range(16):
        gb = Gradebook(url)
        gb.find_student("ada")  # the session now holds a connection
        left_open.append(gb)
    with Gradebook(url) as gb:
        assert gb.find_student("ada").id == "ada"
    for gb in left_open:
        gb.close()
