"""rnnlib's reference code, as the checks see it: where it lives, how a check gets a
reference by its dotted name, and the profiler that notices a student's function
running reference code (in the kernel) outside an allowed helper.
"""

import importlib
import os
import sys

from .worker import _bind_test_functions, _quiet, _roundtrip

# The reference modules' files: code from these may not run for a graded function, except
# inside an allowed helper. activations and checks are utilities any student may use.
_RNNLIB_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


_UTILITY_MODULES = ("activations", "checks", "grading")


_REFERENCE_FILES = frozenset(
    os.path.join(_RNNLIB_DIR, f) for f in os.listdir(_RNNLIB_DIR)
    if f.endswith(".py") and f[:-3] not in _UTILITY_MODULES + ("__init__",)
)


def _reference(qualname):
    module, name = qualname.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)


class _ReferenceGuard:
    """A profiler that records reference code of ``spec``'s function running outside an
    allowed helper (a substituted function or a declared helper)."""

    def __init__(self, spec):
        self.forbidden = _footprint(spec)
        self.allowed = {_reference(q).__code__ for q in spec.allowed_references()}
        self.inside = []
        self.reached = []

    def _profile(self, frame, event, arg):
        if event == "call":
            code = frame.f_code
            if self.inside:
                return
            if code in self.allowed:
                self.inside.append(frame)
            elif code in self.forbidden:
                name = f"{_module_of(code)}.{code.co_qualname}"
                if name not in self.reached:
                    self.reached.append(name)
        elif event == "return" and self.inside and frame is self.inside[-1]:
            self.inside.pop()

    def __enter__(self):
        self.previous = sys.getprofile()
        sys.setprofile(self._profile)
        return self

    def __exit__(self, *exc):
        sys.setprofile(self.previous)
        return False


def _module_of(code):
    return "rnnlib." + os.path.basename(code.co_filename)[:-3]


_FOOTPRINTS = {}


def _footprint(spec):
    """The reference code objects that computing ``spec``'s reference executes."""
    if spec.name not in _FOOTPRINTS:
        codes = set()

        def profile(frame, event, arg):
            if event == "call" and frame.f_code.co_filename in _REFERENCE_FILES:
                codes.add(frame.f_code)

        ref = _reference(spec.reference)
        case = spec.fixed_cases()[0]
        previous = sys.getprofile()
        sys.setprofile(profile)
        try:
            with _quiet():
                ref(*_bind_test_functions(_roundtrip(case.args)), **case.ref_kwargs)
        finally:
            sys.setprofile(previous)
        codes.add(ref.__code__)
        _FOOTPRINTS[spec.name] = frozenset(codes)
    return _FOOTPRINTS[spec.name]
