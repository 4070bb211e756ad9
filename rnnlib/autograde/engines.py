"""One SQLAlchemy engine per gradebook URL in a grading process.

nbgrader's ``Gradebook`` calls ``create_engine`` each time it is opened, about 12 times a
notebook at grading. Each new engine starts with an empty statement cache and an uninitialised
dialect: every query nbgrader makes is compiled again each time. :func:`install` makes
``nbgrader.api`` reuse the engine of a URL instead, with SQLAlchemy's ``NullPool``: a
``Gradebook`` still opens its own connection and ``close()`` still closes it (no connection is
kept between two gradebooks, none is shared), only the compiled statements are kept.
"""

import collections
import threading

import sqlalchemy
from sqlalchemy.pool import NullPool

#: Engines kept (the most recently used URLs): a classgrade worker sees one URL a job.
KEEP = 8

_engines = collections.OrderedDict()
_lock = threading.Lock()


def reusing_create_engine(url, **kwargs):
    """``sqlalchemy.create_engine(url, **kwargs)``, or the engine made earlier for them."""
    kwargs.setdefault("poolclass", NullPool)
    key = (str(url), tuple(sorted((k, repr(v)) for k, v in kwargs.items())))
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = sqlalchemy.create_engine(url, **kwargs)
            while len(_engines) > KEEP:
                _engines.popitem(last=False)[1].dispose()
        else:
            _engines.move_to_end(key)
        return engine


def install():
    """Make nbgrader's gradebook reuse engines (idempotent)."""
    import nbgrader.api

    nbgrader.api.create_engine = reusing_create_engine
