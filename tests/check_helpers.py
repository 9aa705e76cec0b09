"""Helpers shared by the tests of the exercise checks (tests/test_checks_nbNN.py)."""

import pytest

from course_utils.checks import CheckFailed, strict_checks


def fails_with(check, fn, outcome, match):
    """Assert that check(fn) fails with `outcome` and a line matching `match`."""
    with strict_checks(), pytest.raises(CheckFailed, match=match) as failed:
        check(fn)
    assert failed.value.outcome == outcome


def passes(check, fn, capsys):
    """Assert that check(fn) passes and prints exactly one PASSED line."""
    with strict_checks():
        check(fn)  # raises CheckFailed unless it passes
    out = capsys.readouterr().out
    assert out.startswith("PASSED") and out.count("\n") == 1


def not_attempted(*args):
    """What a learner stub does: nbgrader's `raise NotImplementedError()`."""
    raise NotImplementedError()
