"""The examples in the wire-format modules' docstrings hold (they are documentation users copy)."""

import doctest

import pytest

from protocols import iso4217
from protocols.htng import money
from protocols.soap import masking, safexml


@pytest.mark.parametrize("module", [safexml, masking, money, iso4217], ids=lambda m: m.__name__)
def test_docstring_examples_hold(module):
    result = doctest.testmod(module)
    assert result.attempted > 0
    assert result.failed == 0
