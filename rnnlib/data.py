"""Data the book needs, made on this machine: nothing is downloaded.

    names_corpus        first names (and surnames) from the US census lists shipped inside the
                        PyPI package ``names``: the character model's corpus
    dates_dataset       human-written dates and their ISO form, as the course's machine
                        translation example (Faker draws the date, babel writes it)
    adding_problem      the adding problem of Hochreiter & Schmidhuber: a long-range memory test

Every generator takes a seed: same seed, same data.
"""

import datetime
import random
from pathlib import Path

import numpy as np

# The census lists inside the ``names`` package, by the name this module gives them.
NAME_LISTS = {"male": "dist.male.first", "female": "dist.female.first", "last": "dist.all.last"}


def _names_dir():
    try:
        import names
    except ImportError as e:  # pragma: no cover - names is pinned in requirements.txt
        raise ImportError(
            "names_corpus needs the PyPI package 'names' (pinned in requirements.txt)"
        ) from e
    return Path(names.__file__).parent


def names_corpus(lists=("male", "female"), limit=None, seed=0, shuffle=True, min_length=2):
    """Lowercase names from the census lists of the ``names`` package.

    Arguments:
        lists       which lists, any of "male" (1,219 first names), "female" (4,275),
                    "last" (88,799 surnames)
        limit       keep at most this many names (after shuffling)
        seed        seed of the shuffle
        shuffle     False keeps the lists' order: most frequent names first
        min_length  drop shorter names

    Returns a list of distinct names made of the letters a-z only, e.g. ['james', 'john', ...]
    (unshuffled). The first-name lists share names; each appears once.
    """
    func = "names_corpus"
    if isinstance(lists, str):
        lists = (lists,)
    unknown = [k for k in lists if k not in NAME_LISTS]
    if unknown or not lists:
        raise ValueError(
            f"{func}: lists must name some of {', '.join(map(repr, NAME_LISTS))}, got {lists!r}"
        )
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"{func}: limit must be a positive integer or None, got {limit!r}")
    folder = _names_dir()
    seen = {}
    for key in lists:
        with open(folder / NAME_LISTS[key], encoding="ascii") as f:
            for line in f:
                fields = line.split()
                if not fields:
                    continue
                name = fields[0].lower()
                if len(name) >= min_length and name.isascii() and name.isalpha():
                    seen.setdefault(name, None)
    names = list(seen)
    if shuffle:
        order = np.random.default_rng(seed).permutation(len(names))
        names = [names[i] for i in order]
    return names[:limit] if limit is not None else names


# The course's formats, with the year written "y" (calendar year): the course's "YYY"/"YY" is
# CLDR's week-based year, which writes 2018-12-31 as "31 dec 2019" against the target 2018-12-31.
# "full" is repeated so that it is drawn more often, as in the course.
DATE_FORMATS = (
    ["short", "medium", "long"] + ["full"] * 10
    + ["d MMM y", "d MMMM y", "dd MMM y", "d MMM, y", "d MMMM, y", "dd, MMM y", "d MM yy",
       "d MMMM y", "MMMM d y", "MMMM d, y", "dd.MM.yy"]
)


def dates_dataset(n, seed=0, start=datetime.date(1970, 1, 1), end=datetime.date(2029, 12, 31)):
    """``n`` pairs (human-written date, ISO date) for the encoder-decoder example.

    Faker draws a date uniformly in [start, end]; babel's ``format_date`` writes it in a format
    drawn from ``DATE_FORMATS`` (locale en_US); the text is lowercased and its commas removed.
    The default range keeps two-digit years ("12/31/18") unambiguous.

    Returns a list of (human, machine) pairs, e.g. ("monday december 31 2018", "2018-12-31").
    Build the vocabularies with ``rnnlib.text.Vocabulary.build(..., level="char")``.
    """
    func = "dates_dataset"
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"{func}: n must be a non-negative integer, got {n!r}")
    if not (isinstance(start, datetime.date) and isinstance(end, datetime.date) and start <= end):
        raise ValueError(f"{func}: start and end must be dates with start <= end")
    from babel.dates import format_date
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(seed)
    pick = random.Random(seed)
    pairs = []
    for _ in range(n):
        date = fake.date_between_dates(date_start=start, date_end=end)
        human = format_date(date, format=pick.choice(DATE_FORMATS), locale="en_US")
        pairs.append((human.lower().replace(",", ""), date.isoformat()))
    return pairs


def adding_problem(n, T, seed=0):
    """The adding problem: remember two marked values over a long sequence and add them.

    Each input step carries two features: a value drawn uniformly from [0, 1] and a marker
    (1 at exactly two steps, one in each half of the sequence, 0 elsewhere). The target is the
    sum of the two marked values. Always predicting 1 gives a mean squared error of 2/12 ≈ 0.167.

    Returns:
        x  (2, n, T)  row 0 the values, row 1 the markers
        y  (1, n)     the sums
    """
    func = "adding_problem"
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"{func}: n must be a positive integer, got {n!r}")
    if isinstance(T, bool) or not isinstance(T, int) or T < 2:
        raise ValueError(f"{func}: T must be an integer >= 2 (one mark in each half), got {T!r}")
    rng = np.random.default_rng(seed)
    values = rng.uniform(0.0, 1.0, size=(n, T))
    half = T // 2
    first = rng.integers(0, half, size=n)
    second = rng.integers(half, T, size=n)
    markers = np.zeros((n, T))
    rows = np.arange(n)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    x = np.stack([values, markers])
    y = (values[rows, first] + values[rows, second])[None, :]
    return x, y
