"""The machinery behind every exercise check: run cases, print one line.

A check calls the learner's function on several cases and prints a single
friendly line: passed, not attempted yet, returned None, wrong shape, raised
an error, or the first wrong value with a hint. In strict mode (under
nbgrader, whose runs set $NBGRADER_EXECUTION, when $COURSE_CHECKS_STRICT=1,
or inside `strict_checks()`) a failed check also raises `CheckFailed`, so that
an autograder marks the cell as failed.
"""

from __future__ import annotations

import contextlib
import copy
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

_strict_depth = 0

# A hint looks at one wrong answer and returns advice, or None if it does not
# recognise the mistake: hint(got, expected, case) -> str | None.
Hint = Callable[[Any, Any, "Case"], "str | None"]


class CheckFailed(AssertionError):
    """Raised by a failed check in strict mode; `outcome` names the kind."""

    def __init__(self, message: str, outcome: str) -> None:
        super().__init__(message)
        self.outcome = outcome


@dataclass
class Case:
    """One call of the learner's function and the answer it should give."""

    args: tuple
    expected: Any
    label: str = ""
    kwargs: dict = field(default_factory=dict)


@contextlib.contextmanager
def strict_checks() -> Iterator[None]:
    """Within this block a failed check raises `CheckFailed`."""
    global _strict_depth
    _strict_depth += 1
    try:
        yield
    finally:
        _strict_depth -= 1


def is_strict() -> bool:
    env = os.environ
    flag = env.get("COURSE_CHECKS_STRICT", "").lower() in ("1", "true", "yes")
    return _strict_depth > 0 or flag or bool(env.get("NBGRADER_EXECUTION"))


def random_tensors(seed: int, *shapes: tuple[int, ...]) -> list:
    """Float64 normal tensors of the given shapes from one seeded generator.

    Check cases use their own generator, so running a check never moves the
    notebook's global random state.
    """
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(*s, generator=generator, dtype=torch.float64) for s in shapes]


def to_numpy(x: Any) -> Any:
    """Arrays and tensors become NumPy arrays; anything else is returned as is."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        return x.detach().cpu().numpy()
    if isinstance(x, (np.ndarray, np.generic, float, int)) and not isinstance(x, bool):
        return np.asarray(x)
    return x


def _describe(case: Case, index: int) -> str:
    return f"case {index + 1}" + (f" ({case.label})" if case.label else "")


def _compare(got: Any, expected: Any, rtol: float, atol: float) -> str | None:
    """None if `got` matches `expected`, else what is wrong (shape or value)."""
    if isinstance(expected, tuple):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            kind = type(got).__name__
            return f"expected a tuple of {len(expected)} values, got {kind}"
        for i, (g, e) in enumerate(zip(got, expected, strict=True)):
            problem = _compare(g, e, rtol, atol)
            if problem is not None:
                return f"item {i} of the tuple: {problem}"
        return None

    got, expected = to_numpy(got), to_numpy(expected)
    if not isinstance(got, np.ndarray):
        return f"expected an array, got {type(got).__name__}"
    if got.shape != expected.shape:
        return f"wrong shape: expected {expected.shape}, got {got.shape}"
    close = np.isclose(got, expected, rtol=rtol, atol=atol, equal_nan=False)
    if close.all():
        return None
    where = tuple(int(i) for i in np.argwhere(~close)[0])
    return (
        f"first wrong value at index {where}: expected {expected[where]:.4g}, "
        f"got {got[where]:.4g}"
    )


def run_check(
    title: str,
    fn: Any,
    cases: Sequence[Case],
    hints: Sequence[Hint] = (),
    rtol: float = 1e-6,
    atol: float = 1e-8,
) -> None:
    """Run `fn` on every case; print one line; in strict mode raise on failure.

    Returns nothing, so that a check cell shows only its line. Code that needs
    the verdict runs the check inside `strict_checks()`.
    """
    message, outcome = _evaluate(fn, cases, hints, rtol, atol)
    if outcome == "passed":
        print(f"PASSED {title}: all {len(cases)} cases agree.")
        return
    line = f"NOT YET {title}: {message}"
    print(line)
    if is_strict():
        raise CheckFailed(line, outcome)


def _evaluate(fn, cases, hints, rtol, atol) -> tuple[str, str]:
    if not callable(fn):
        return f"expected a function, got {type(fn).__name__}", "not_callable"
    for index, case in enumerate(cases):
        where = _describe(case, index)
        try:
            got = fn(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs))
        except NotImplementedError:
            return (
                "not attempted yet: replace `raise NotImplementedError()` with "
                "your code, run that cell, then this one.",
                "not_attempted",
            )
        except Exception as err:  # the learner's code: report any failure
            return f"{where} raised {type(err).__name__}: {err}", "raised"
        if got is None:
            return f"{where} returned None: did you forget `return`?", "returned_none"
        problem = _compare(got, case.expected, rtol, atol)
        if problem is None:
            continue
        for hint in hints:
            advice = hint(got, case.expected, case)
            if advice:
                return f"{where}: {problem}. Hint: {advice}", "wrong_value"
        kind = "wrong_shape" if "wrong shape" in problem else "wrong_value"
        return f"{where}: {problem}.", kind
    return "", "passed"
