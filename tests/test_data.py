"""rnnlib.data: the names corpus, the dates data set and the adding problem, checked against
properties computed independently in the test."""

import calendar
import datetime
import re

import numpy as np
import pytest

from rnnlib.data import adding_problem, dates_dataset, names_corpus


def test_names_corpus_is_clean_distinct_and_seeded():
    names = names_corpus()
    assert len(names) == len(set(names)) > 5000
    assert all(re.fullmatch(r"[a-z]{2,}", n) for n in names)
    assert {"mary", "james", "john", "patricia"} <= set(names)
    assert names == names_corpus(seed=0) and names != names_corpus(seed=1)
    assert sorted(names) == sorted(names_corpus(seed=1))  # a shuffle, not another set
    assert names_corpus(limit=10, seed=5) == names_corpus(seed=5)[:10]


def test_names_corpus_unshuffled_lists_start_with_the_most_frequent():
    assert names_corpus("male", shuffle=False)[:3] == ["james", "john", "robert"]
    assert names_corpus("female", shuffle=False)[:2] == ["mary", "patricia"]
    assert names_corpus("last", shuffle=False, limit=2) == ["smith", "johnson"]
    male, female = set(names_corpus("male")), set(names_corpus("female"))
    assert set(names_corpus(("male", "female"))) == male | female
    assert male & female  # the lists share names, the corpus holds each once


def test_names_corpus_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"lists must name some of 'male', 'female', 'last', "
                                         r"got \('dinosaurs',\)"):
        names_corpus("dinosaurs")
    with pytest.raises(ValueError, match=r"limit must be a positive integer or None, got 0"):
        names_corpus(limit=0)


MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
MONTHS_ABBR = {name.lower(): i for i, name in enumerate(calendar.month_abbr) if name}
DAYS = {name.lower(): i for i, name in enumerate(calendar.day_name)}


def test_dates_agree_with_their_iso_target():
    """Every field the human date shows agrees with the target: month names, weekday, year."""
    pairs = dates_dataset(2000, seed=7)
    assert len(pairs) == 2000 and pairs == dates_dataset(2000, seed=7)
    assert pairs != dates_dataset(2000, seed=8)
    seen_formats = set()
    for human, iso in pairs:
        date = datetime.date.fromisoformat(iso)
        assert datetime.date(1970, 1, 1) <= date <= datetime.date(2029, 12, 31)
        assert human == human.lower() and "," not in human
        words = human.replace("/", " ").replace(".", " ").split()
        for w in words:
            if w in MONTHS:
                assert MONTHS[w] == date.month, (human, iso)
            elif w in MONTHS_ABBR:
                assert MONTHS_ABBR[w] == date.month, (human, iso)
            elif w in DAYS:
                assert DAYS[w] == date.weekday(), (human, iso)
        numbers = [w for w in words if w.isdigit()]
        four = [w for w in numbers if len(w) == 4]
        if four:  # a written four-digit year is the calendar year, even on 31 December
            assert four == [str(date.year)], (human, iso)
        else:  # only two-digit years: the last two digits of the year appear
            assert f"{date.year % 100:02d}" in numbers, (human, iso)
        seen_formats.add(re.sub(r"[a-z]+", "w", re.sub(r"\d", "9", human)))
    assert len(seen_formats) >= 8  # many different human formats


def test_dates_week_year_trap_is_avoided():
    """Dates at the turn of a year are where CLDR's week-year 'Y' and the year 'y' differ."""
    start = datetime.date(2018, 12, 29)
    pairs = dates_dataset(300, seed=1, start=start, end=datetime.date(2019, 1, 2))
    for human, iso in pairs:
        four = re.findall(r"\b\d{4}\b", human)
        if four:
            assert four == [iso[:4]], (human, iso)


def test_adding_problem_markers_and_sums(rng):
    x, y = adding_problem(500, 20, seed=3)
    assert x.shape == (2, 500, 20) and y.shape == (1, 500)
    values, markers = x
    assert np.all((values >= 0) & (values <= 1))
    assert np.all(markers.sum(axis=1) == 2)
    assert np.all(markers[:, :10].sum(axis=1) == 1) and np.all(markers[:, 10:].sum(axis=1) == 1)
    np.testing.assert_allclose(y[0], (values * markers).sum(axis=1), rtol=1e-15)
    x2, y2 = adding_problem(500, 20, seed=3)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    # The baseline: always predicting 1 gives MSE = Var(U1 + U2) = 2/12.
    _, big = adding_problem(100_000, 10, seed=0)
    assert np.mean((big - 1) ** 2) == pytest.approx(2 / 12, rel=0.02)
    with pytest.raises(ValueError, match=r"T must be an integer >= 2"):
        adding_problem(3, 1)
