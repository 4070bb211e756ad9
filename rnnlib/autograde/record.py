"""The grader's record of what happened to one notebook: verdicts per test cell and flags.

It lives in nbconvert's ``resources["autograde"]`` while the autograde preprocessors run (each
reads and adds to it), and :class:`~rnnlib.autograde.grades.RecordVerdicts` writes it into the
autograded notebook's metadata under ``autograde``, replacing anything the submission carried
there, so the class report can read it back.

A flag is ``{"kind": ..., "reason": ..., "cell": ...}``, kind one of :data:`FLAG_KINDS`.
"""

#: Flag kinds, in the order the report lists them.
FLAG_KINDS = ("failed", "manual", "timeout", "crash", "cheating", "output", "structure",
              "links", "sandbox", "late")

KEY = "autograde"


def new_record():
    """An empty record."""
    return {"version": 1, "judged": False, "cells": {}, "flags": []}


def record_for(resources):
    """The record in ``resources`` (created when missing)."""
    record = resources.get(KEY)
    if not isinstance(record, dict) or record.get("version") != 1:
        record = resources[KEY] = new_record()
    return record


def add_flag(record, kind, reason, cell=None):
    """Add a flag with a one-line ``reason`` (duplicates are kept once)."""
    if kind not in FLAG_KINDS:
        raise ValueError(f"unknown flag kind {kind!r}")
    flag = {"kind": kind, "reason": " ".join(str(reason).split())[:300], "cell": cell}
    if flag not in record["flags"]:
        record["flags"].append(flag)
    return flag
