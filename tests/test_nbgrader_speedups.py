"""The places where the grader replaces nbgrader's code with a cheaper equivalent: the
metadata check with its schema compiled once and each cell's metadata checked once
(rnnlib.autograde.metadata), one database engine per gradebook URL, pooled connections for
scratch gradebooks and no table creation where all tables exist (rnnlib.autograde.engines),
and each Markdown cell made safe once (rnnlib.autograde.sanitize). Each must give what the
code it replaces gives, on good and on broken input; the speed is measured in bench/, not
here."""

import copy
import os
import pathlib
import sqlite3
import sys

import nbformat
import pytest
import sqlalchemy
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


def test_metadata_checked_once_is_refused_once_changed():
    """The check remembers valid metadata by its content: any change is checked again."""
    nb = nbformat.read(NOTEBOOK, 4)
    assert _outcome(CompiledMetadataValidator, nb) == ("valid", "")
    assert _outcome(CompiledMetadataValidator, nb) == ("valid", "")  # now from memory
    for kind, change in [("points as a string", _set("points", "2")),
                         ("points as true", _set("points", True)), *BREAKS.items()]:
        broken = copy.deepcopy(nb)
        change(_first_graded(broken).metadata["nbgrader"])
        ours, theirs = _outcome(CompiledMetadataValidator, broken), _outcome(MetadataValidator,
                                                                             broken)
        assert ours == theirs, kind
        assert ours[0] != "valid", kind


def test_a_gradebook_creates_a_missing_table_and_skips_creating_present_ones(tmp_path,
                                                                           monkeypatch):
    from nbgrader.api import Base, Gradebook

    engines.install()
    url = f"sqlite:///{tmp_path / 'gb.db'}"
    with Gradebook(url) as gb:
        gb.add_student("ada")
    created = []
    original = type(Base.metadata).create_all.__get__(Base.metadata)  # SQLAlchemy's own
    monkeypatch.setattr(Base.metadata, "create_all", engines._skipping_create_all(
        lambda **kw: created.append(kw) or original(**kw), Base.metadata))
    with Gradebook(url) as gb:
        assert gb.find_student("ada").id == "ada"
    assert created == []  # every table there: nothing asked of the database table by table
    with sqlite3.connect(tmp_path / "gb.db") as db:
        db.execute("DROP TABLE comment")
    with Gradebook(url) as gb:
        gb.find_student("ada")
    assert len(created) == 1
    with sqlite3.connect(tmp_path / "gb.db") as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {t.name for t in Base.metadata.tables.values()} <= tables


def test_scratch_gradebooks_pool_connections_and_close_them_at_the_end(tmp_path):
    from nbgrader.api import Gradebook, MissingEntry

    engines.install()
    connects = {}

    def opens(url, student, n=5):
        """Connections made by ``n`` gradebook opens that find ``student``."""
        seen = []
        with Gradebook(url) as gb:
            gb.find_student(student)
            sqlalchemy.event.listen(gb.engine, "connect", lambda *_: seen.append(1))
        for _ in range(n):
            with Gradebook(url) as gb:
                assert gb.find_student(student).id == student
        return len(seen)

    for where in ("course", "job"):
        url = f"sqlite:///{tmp_path / where / 'gb.db'}"
        (tmp_path / where).mkdir(exist_ok=True)
        with Gradebook(url) as gb:
            gb.add_student("ada")
        with engines.scratch_folder(tmp_path / "job"):
            connects[where] = opens(url, "ada")
            left_open = [Gradebook(url) for _ in range(20)]  # no bound: none waits
            for gb in left_open:
                gb.find_student("ada")
            for gb in left_open:
                gb.close()
        assert not _open_on(tmp_path / where / "gb.db")  # no connection outlives the block
    assert connects["job"] < connects["course"]  # one connection a gradebook, not three

    path = tmp_path / "job" / "gb.db"
    path.unlink()  # the next job writes a new file at the same path: read afresh
    with engines.scratch_folder(tmp_path / "job"):
        with Gradebook(f"sqlite:///{path}") as gb:
            with pytest.raises(MissingEntry):
                gb.find_student("ada")


def test_markdown_made_safe_once_is_what_making_it_safe_gives():
    from rnnlib.autograde import sanitize

    nb = nbformat.read(NOTEBOOK, 4)
    sources = [c.source for c in nb.cells if c.cell_type == "markdown"]
    sources += ["<script>alert(1)</script>", "$x$ <img src=x onerror=alert(1)>"]
    for source in sources:
        fresh = sanitize._render_safe(source, {})
        assert sanitize.safe_markdown(source) == fresh
        assert sanitize.safe_markdown(source) == fresh  # the second time from memory
    before = sanitize._safe_markdown_plain.cache_info().currsize
    with_image, attached = "![a](attachment:a.png)", {"a.png": {"image/png": "iVBORw0KGgo="}}
    assert sanitize.safe_markdown(with_image, attached) == sanitize._render_safe(with_image,
                                                                                 attached)
    long = "word " * (sanitize.CACHED_CHARS // 5 + 1)
    assert sanitize.safe_markdown(long) == sanitize._render_safe(long, {})
    assert sanitize._safe_markdown_plain.cache_info().currsize == before  # neither kept
