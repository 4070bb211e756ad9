"""Text from a submission, made safe for the grader's terminal and log files.

A student's code decides its exception messages, what it prints, even its file names; those
reach nbgrader's log (``judge: ... : <message>``, tracebacks) and the instructor's terminal.
Left as they are, terminal escape sequences run in the instructor's terminal and a message
holding ``"\\n[AutogradeApp | INFO] ..."`` forges a log line. :func:`install` (called by
``harden``) makes every log record safe: control characters are written as escapes
(``\\x1b``), and a message's further lines are indented, so no line of it can pass for a line
of the log.
"""

import logging
import re
import traceback

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def escape(text, newlines=True):
    """``text`` with control characters escaped (and, with ``newlines``, line breaks too)."""
    text = _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(text))
    return text.replace("\n", "\\n") if newlines else text.replace("\n", "\n    ")


def _safe_record(record):
    if isinstance(record.msg, str):
        record.msg = escape(record.msg, newlines=False)
    if record.args:
        if isinstance(record.args, dict):
            record.args = {k: escape(v) if isinstance(v, str) else v
                           for k, v in record.args.items()}
        else:
            record.args = tuple(escape(a) if isinstance(a, str) else a for a in record.args)
    if record.exc_info and record.exc_info[0] is not None:
        text = "".join(traceback.format_exception(*record.exc_info))
        record.exc_text = escape(text.rstrip("\n"), newlines=False)
        record.exc_info = None
    return record


def install():
    """Make every log record of this process safe (idempotent)."""
    current = logging.getLogRecordFactory()
    if getattr(current, "rnnlib_safe", False):
        return

    def factory(*args, **kwargs):
        return _safe_record(current(*args, **kwargs))

    factory.rnnlib_safe = True
    logging.setLogRecordFactory(factory)
