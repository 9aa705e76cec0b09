"""course_utils.timing: medians, warm-up, argument checks."""

import time

import pytest

from course_utils.timing import compare, measure, speedup


def test_measure_counts_calls_and_reports_the_median():
    calls = []
    delays = iter([0.0, 0.001, 0.05, 0.001])  # warm-up, then 3 timed runs

    def fn():
        calls.append(1)
        time.sleep(next(delays))

    median = measure(fn, repeats=3, warmup=1)
    assert len(calls) == 4
    assert 0.001 <= median < 0.05  # the slow run does not move the median


def test_speedup_of_a_slower_function_is_above_one():
    assert speedup(lambda: time.sleep(0.02), lambda: None, repeats=3) > 10


@pytest.mark.parametrize("kwargs", [{"repeats": 0}, {"warmup": -1}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError, match="repeats >= 1 and warmup >= 0"):
        measure(lambda: None, **kwargs)


def test_compare_times_round_robin_after_warm_up():
    order = []
    fns = {"a": lambda: order.append("a"), "b": lambda: order.append("b")}
    times = compare(fns, rounds=2, repeats=1, warmup=1)
    assert order == ["a", "b", "a", "b", "a", "b"]  # warm-up, then two rounds
    assert set(times) == {"a", "b"} and all(len(t) == 2 for t in times.values())
    with pytest.raises(ValueError, match="rounds >= 1"):
        compare(fns, rounds=0)


def test_compare_sees_which_is_slower():
    times = compare({"slow": lambda: time.sleep(0.01), "fast": lambda: None},
                    rounds=2, repeats=2)
    assert min(times["slow"]) > 10 * min(times["fast"])
