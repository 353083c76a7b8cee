"""NumPy's own memmap test-suite, run against mmarray.memmap.

The tests are imported from the installed numpy (numpy/_core/tests/
test_memmap.py, shipped in the wheel); nothing is copied. Their module
global ``memmap`` is swapped for ``mmarray.memmap`` while they run.
"""

import numpy._core.tests.test_memmap as suite
import pytest

import mmarray


@pytest.fixture(autouse=True)
def _use_mmarray_memmap(monkeypatch):
    monkeypatch.setattr(suite, "memmap", mmarray.memmap)


class TestNumpyMemmapSuite(suite.TestMemmap):
    """Every test of numpy's TestMemmap, with mmarray.memmap."""


def test_the_swap_is_in_effect():
    # Guard against a suite that silently tests numpy.memmap.
    assert suite.memmap is mmarray.memmap
