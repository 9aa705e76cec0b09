"""course_utils.checks.core: outcomes, the one printed line, strict mode."""

import numpy as np
import pytest
import torch

from course_utils.checks import Case, CheckFailed, run_check, strict_checks

CASES = [Case((np.array([1.0, 2.0]),), np.array([2.0, 4.0]), "small"),
         Case((np.array([[3.0]]),), np.array([[6.0]]), "matrix")]


def outcome_of(fn, cases=CASES, **kwargs):
    with strict_checks():
        try:
            run_check("double", fn, cases, **kwargs)
        except CheckFailed as failed:
            return failed.outcome, str(failed)
    return "passed", ""


def test_passing_prints_one_line(capsys):
    assert run_check("double", lambda x: 2 * x, CASES) is None  # shows only its line
    assert capsys.readouterr().out == "PASSED double: all 2 cases agree.\n"


def test_failing_prints_one_line_and_returns_false_when_not_strict(capsys, monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.delenv("COURSE_CHECKS_STRICT", raising=False)
    run_check("double", lambda x: 3 * x, CASES)  # prints, does not raise
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("NOT YET double: case 1 (small)")


def raise_not_implemented(x):
    raise NotImplementedError()


@pytest.mark.parametrize("fn,outcome,text", [
    (raise_not_implemented, "not_attempted", "not attempted yet"),
    (lambda x: None, "returned_none", "returned None: did you forget `return`?"),
    (lambda x: 2 * x.T if x.ndim == 2 else np.append(2 * x, 0), "wrong_shape",
     r"wrong shape: expected (2,), got (3,)"),
    (lambda x: x + 2, "wrong_value",
     "first wrong value at index (0,): expected 2, got 3"),
    (lambda x: 1 / 0, "raised", "ZeroDivisionError"),
    (42, "not_callable", "expected a function, got int"),
    (lambda x: [2.0, 4.0], "wrong_value", "expected an array, got list"),
])
def test_outcomes(fn, outcome, text):
    got, message = outcome_of(fn)
    assert got == outcome
    assert text in message


def test_value_mismatch_reports_the_first_wrong_index():
    _, message = outcome_of(lambda x: 2 * x + (x > 1.5))
    assert "index (1,): expected 4, got 5" in message


def test_hint_is_used_when_it_recognises_the_mistake():
    def hint(got, expected, case):
        return "multiply, do not add" if np.allclose(got, case.args[0] + 2) else None

    _, message = outcome_of(lambda x: x + 2, hints=[hint])
    assert message.endswith("Hint: multiply, do not add")
    _, message = outcome_of(lambda x: x * 5, hints=[hint])
    assert "Hint" not in message


def test_tuples_and_tensors_are_compared_item_by_item():
    cases = [Case((np.array([1.0]),), (np.array([1.0]), np.array([2.0])))]
    assert outcome_of(lambda x: (torch.tensor(x), torch.tensor(2 * x)), cases)[0] == (
        "passed"
    )
    outcome, message = outcome_of(lambda x: (x, 3 * x), cases)
    assert outcome == "wrong_value" and message.count("item 1 of the tuple") == 1
    outcome, message = outcome_of(lambda x: x, cases)
    assert outcome == "wrong_value" and "expected a tuple of 2 values" in message


def test_the_learner_cannot_change_the_cases():
    cases = [Case((np.array([1.0]),), np.array([2.0]))] * 2

    def double_in_place(x):
        x *= 2
        return x

    assert outcome_of(double_in_place, cases)[0] == "passed"
    assert cases[0].args[0][0] == 1.0


def test_environment_turns_on_strict_mode(monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    with pytest.raises(CheckFailed):
        run_check("double", lambda x: x, CASES)
    monkeypatch.delenv("NBGRADER_EXECUTION")
    monkeypatch.setenv("COURSE_CHECKS_STRICT", "1")
    with pytest.raises(CheckFailed):
        run_check("double", lambda x: x, CASES)


def test_check_failed_is_an_assertion_error():
    # nbgrader counts a cell that raises as a failed test.
    assert issubclass(CheckFailed, AssertionError)
