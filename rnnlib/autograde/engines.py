"""One SQLAlchemy engine per gradebook URL in a grading process.

nbgrader's ``Gradebook`` calls ``create_engine`` each time it is opened, about 11 times a
notebook at grading. Each new engine starts with an empty statement cache and an uninitialised
dialect: every query nbgrader makes is compiled again each time. :func:`install` makes
``nbgrader.api`` reuse the engine of a URL instead, with SQLAlchemy's ``NullPool``: a
``Gradebook`` still opens its own connection and ``close()`` still closes it (no connection is
kept between two gradebooks, none is shared), only the compiled statements are kept. Scratch
gradebooks (:func:`scratch_folder`) are the exception: their connections are pooled while the
job that owns them runs. :func:`install` also makes ``Gradebook()`` skip creating its tables
when they all exist (:func:`_skipping_create_all`).
"""

import collections
import contextlib
import os
import threading

import sqlalchemy
from sqlalchemy.pool import NullPool, QueuePool

#: Engines kept (the most recently used URLs): a classgrade worker sees one URL a job.
KEEP = 8

_engines = collections.OrderedDict()
_lock = threading.Lock()


#: Folders whose SQLite gradebooks are scratch copies (a classgrade job's, the template): see
#: :func:`scratch_folder`.
_scratch = set()


@contextlib.contextmanager
def scratch_folder(folder):
    """While in this block, SQLite gradebooks under ``folder`` are written without waiting for
    the disk (``synchronous=OFF``, the journal in memory) and their connections are pooled for
    the whole block: they are throw-away copies whose content is read back as data (a job's)
    or copied (the template). A commit's fsync was most of a template's 0.4 s and idled every
    worker meanwhile; opening a connection, with its pragmas, three times for each of a job's
    11 ``Gradebook()`` opens was about a thirtieth of its CPU. At the block's end the pooled
    connections are closed, before a next job writes a new file at the same path. The
    course's gradebook is never under such a folder."""
    path = os.path.realpath(folder)
    with _lock:
        _scratch.add(path)
    try:
        yield
    finally:
        with _lock:
            _scratch.discard(path)
            for (_, _, scratch), engine in _engines.items():
                if scratch and _under(engine.url, (path,)):
                    _dispose(engine)  # its statement cache stays for the next job


def _keep_pool(close=True):
    """A scratch engine's ``dispose()`` while its block runs: nothing."""


def _dispose(engine):
    """Close an engine's pooled connections (a scratch engine's too)."""
    sqlalchemy.engine.Engine.dispose(engine)


def _under(url, folders):
    url = sqlalchemy.engine.make_url(url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return False
    path = os.path.realpath(url.database)
    return any(path.startswith(folder + os.sep) for folder in folders)


def _is_scratch(url):
    return _under(url, _scratch)


def _unsynchronised(dbapi_connection, _record):
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=OFF")
    cursor.execute("PRAGMA journal_mode=MEMORY")
    cursor.close()


def reusing_create_engine(url, **kwargs):
    """``sqlalchemy.create_engine(url, **kwargs)``, or the engine made earlier for them."""
    with _lock:
        scratch = _is_scratch(url)
        if scratch:  # pooled, without a bound: nbgrader code may leave gradebooks open
            kwargs.setdefault("poolclass", QueuePool)
            kwargs.setdefault("max_overflow", -1)
        else:
            kwargs.setdefault("poolclass", NullPool)
        key = (str(url), tuple(sorted((k, repr(v)) for k, v in kwargs.items())), scratch)
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = sqlalchemy.create_engine(url, **kwargs)
            if scratch:
                sqlalchemy.event.listen(engine, "connect", _unsynchronised)
                # nbgrader's Gradebook.close() disposes of its engine's pool: here the pool
                # lasts until the scratch block's end (see scratch_folder)
                engine.dispose = _keep_pool
            while len(_engines) > KEEP:
                _dispose(_engines.popitem(last=False)[1])
        else:
            _engines.move_to_end(key)
        return engine


def _skipping_create_all(create_all, metadata):
    """``metadata.create_all`` that returns at once when every table exists (SQLite only).

    nbgrader's ``Gradebook()`` calls ``create_all`` at each open, about 11 times a job: its
    check-first asks the database about each of the 13 tables in turn, a fifteenth of a job's
    CPU in the grader. One query for all the names is enough to know it would create nothing.
    With nothing to create, ``create_all`` only fires the metadata's DDL events, and on SQLite
    those do nothing (the Enum types' hooks create types on PostgreSQL only)."""

    def skipping(bind, tables=None, checkfirst=True):
        if tables is None and checkfirst and not metadata._sequences \
                and getattr(bind, "dialect", None) is not None and bind.dialect.name == "sqlite":
            existing = set(sqlalchemy.inspect(bind).get_table_names())
            if all(t.schema is None and t.name in existing for t in metadata.tables.values()):
                return None
        return create_all(bind=bind, tables=tables, checkfirst=checkfirst)

    skipping.rnnlib_skipping = True
    return skipping


def install():
    """Make nbgrader's gradebook reuse engines and skip creating its tables where all exist
    (idempotent)."""
    import nbgrader.api

    nbgrader.api.create_engine = reusing_create_engine
    metadata = nbgrader.api.Base.metadata
    if not getattr(metadata.create_all, "rnnlib_skipping", False):
        metadata.create_all = _skipping_create_all(metadata.create_all, metadata)
