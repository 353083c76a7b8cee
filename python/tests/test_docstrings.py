"""Every example in the package's docstrings runs and prints what it says
(doctest), so a docstring cannot drift from the code."""

import doctest
import importlib
import pkgutil

import pytest

import mmarray

MODULES = ["mmarray"] + [f"mmarray.{m.name}" for m in pkgutil.iter_modules(mmarray.__path__) if m.name != "_core"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples failed in {name}"


def test_the_examples_exist():
    # the public functions and classes carry runnable examples
    finder = doctest.DocTestFinder()
    examples = sum(len(t.examples) for name in MODULES for t in finder.find(importlib.import_module(name)))
    assert examples >= 12, examples
