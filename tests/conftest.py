"""Shared fixtures: seeded random generators; torch in float64 for 1e-10 comparisons."""

import zlib

import numpy as np
import pytest
import torch

torch.set_default_dtype(torch.float64)

# (n_x, n_a, n_y, m, T_x): the edge cases n_x = 1, m = 1, T_x = 1 and generic shapes.
SHAPES = [(3, 5, 2, 4, 6), (1, 4, 3, 2, 5), (4, 3, 2, 1, 7), (2, 6, 4, 3, 1), (5, 7, 3, 8, 9)]


@pytest.fixture
def rng(request):
    """A generator seeded from the test's id: reproducible, and different for each test."""
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))
