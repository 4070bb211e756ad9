"""Give one student more time: ``python -m rnnlib.autograde.extension A STUDENT --hours H``.

nbgrader stores an extension per submission (``Submission.extension``) and its late penalty
counts from the due date plus the extension, but it has no command to set one. Run this from
the course root before grading (or regrade the student afterwards: ``--force --student``).
The student is added to the gradebook when missing. ``--hours 0`` removes the extension.
"""

import argparse
import datetime
import sys


def grant_extension(db_url, course_id, assignment, student, hours):
    """Set ``student``'s extension on ``assignment`` to ``hours`` (0: none); returns it."""
    from nbgrader.api import Gradebook, MissingEntry

    if hours < 0:
        raise ValueError(f"extension: hours must be >= 0, got {hours!r}")
    extension = datetime.timedelta(hours=hours) if hours else None
    with Gradebook(db_url, course_id) as gb:
        gb.find_assignment(assignment)  # MissingEntry: no such assignment
        try:
            gb.find_student(student)
        except MissingEntry:
            gb.add_student(student)
        sub = gb.update_or_create_submission(assignment, student)
        sub.extension = extension
        gb.db.commit()
    return extension


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m rnnlib.autograde.extension",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("assignment")
    parser.add_argument("student")
    parser.add_argument("--hours", type=float, required=True)
    args = parser.parse_args(argv)
    from .classgrade import load_course

    coursedir = load_course(args.assignment).coursedir
    extension = grant_extension(coursedir.db_url, coursedir.course_id, args.assignment,
                                args.student, args.hours)
    print(f"{args.student}: extension on {args.assignment}: {extension or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
