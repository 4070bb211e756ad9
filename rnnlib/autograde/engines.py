"""One SQLAlchemy engine per gradebook URL in a grading process.

nbgrader's ``Gradebook`` calls ``create_engine`` each time it is opened, about 12 times a
notebook at grading. Each new engine starts with an empty statement cache and an uninitialised
dialect: every query nbgrader makes is compiled again each time. :func:`install` makes
``nbgrader.api`` reuse the engine of a URL instead, with SQLAlchemy's ``NullPool``: a
``Gradebook`` still opens its own connection and ``close()`` still closes it (no connection is
kept between two gradebooks, none is shared), only the compiled statements are kept.
"""

import collections
import contextlib
import os
import threading

import sqlalchemy
from sqlalchemy.pool import NullPool

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
    the disk (``synchronous=OFF``, the journal in memory): they are throw-away copies whose
    content is read back as data (a job's) or copied (the template); a commit's fsync was most
    of a template's 0.4 s and idled every worker meanwhile. The course's gradebook is never
    under such a folder."""
    path = os.path.realpath(folder)
    with _lock:
        _scratch.add(path)
    try:
        yield
    finally:
        with _lock:
            _scratch.discard(path)


def _is_scratch(url):
    url = sqlalchemy.engine.make_url(url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return False
    path = os.path.realpath(url.database)
    return any(path.startswith(folder + os.sep) for folder in _scratch)


def _unsynchronised(dbapi_connection, _record):
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=OFF")
    cursor.execute("PRAGMA journal_mode=MEMORY")
    cursor.close()


def reusing_create_engine(url, **kwargs):
    """``sqlalchemy.create_engine(url, **kwargs)``, or the engine made earlier for them."""
    kwargs.setdefault("poolclass", NullPool)
    with _lock:
        scratch = _is_scratch(url)
        key = (str(url), tuple(sorted((k, repr(v)) for k, v in kwargs.items())), scratch)
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = sqlalchemy.create_engine(url, **kwargs)
            if scratch:
                sqlalchemy.event.listen(engine, "connect", _unsynchronised)
            while len(_engines) > KEEP:
                _engines.popitem(last=False)[1].dispose()
        else:
            _engines.move_to_end(key)
        return engine


def install():
    """Make nbgrader's gradebook reuse engines (idempotent)."""
    import nbgrader.api

    nbgrader.api.create_engine = reusing_create_engine
