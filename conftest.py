"""Repository-wide pytest hooks.

nbval turns every notebook cell into a test item, and cells share one kernel: under
pytest-xdist they must all run on the same worker, so each notebook becomes one xdist group
(the suite runs with ``--dist loadgroup``).
"""

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.nodeid.split("::")[0].endswith(".ipynb"):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
