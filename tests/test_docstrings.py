"""Examples in docstrings run as tests."""

import doctest

import pytest

import facerbm.estimator


@pytest.mark.parametrize("module", [facerbm.estimator])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
