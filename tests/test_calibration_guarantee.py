"""The guarantee's arithmetic: Clopper-Pearson bounds, the mixture bound, the threshold it picks."""

import numpy as np
import pytest

from bot.calibration.guarantee import (
    GRID,
    binomial_p_value,
    choose_threshold,
    choose_threshold_mixture,
    clopper_pearson_lower,
    clopper_pearson_upper,
    mixture_error_bound,
)


@pytest.mark.parametrize(
    ("errors", "n", "delta", "expected"),
    [
        (0, 59, 0.05, 0.0495),  # the "rule of three" region: 0 of 59 bounds the rate just under 5%
        (1, 40, 0.05, 0.1132),  # 1 error in 40 looks like 97.5% but only proves ~89%
        (5, 100, 0.05, 0.1023),
        (0, 0, 0.05, 1.0),
        (10, 10, 0.05, 1.0),
    ],
)
def test_clopper_pearson_upper_known_values(errors: int, n: int, delta: float, expected: float) -> None:
    assert clopper_pearson_upper(errors, n, delta) == pytest.approx(expected, abs=5e-4)


def test_bounds_bracket_the_rate_and_tighten_with_n() -> None:
    for n in (20, 200, 2000):
        k = n // 10
        lo, hi = clopper_pearson_lower(k, n, 0.05), clopper_pearson_upper(k, n, 0.05)
        assert lo < k / n < hi
    widths = [clopper_pearson_upper(n // 10, n, 0.05) - clopper_pearson_lower(n // 10, n, 0.05) for n in (20, 200, 2000)]
    assert widths == sorted(widths, reverse=True)


def test_binomial_p_value_is_the_lower_tail() -> None:
    # P(Bin(59, 0.05) <= 0) = 0.95^59
    assert binomial_p_value(0, 59, 0.05) == pytest.approx(0.95**59)
    assert binomial_p_value(59, 59, 0.05) == pytest.approx(1.0)


def test_mixture_bound_grows_with_out_of_scope_answers_and_share() -> None:
    base = mixture_error_bound(2, 500, 1000, 10, 1000, 0.2, 0.01)
    assert mixture_error_bound(2, 500, 1000, 40, 1000, 0.2, 0.01) > base  # more out-of-scope answered
    assert mixture_error_bound(2, 500, 1000, 10, 1000, 0.4, 0.01) > base  # more out-of-scope traffic
    assert mixture_error_bound(20, 500, 1000, 10, 1000, 0.2, 0.01) > base  # more wrong in-scope answers
    assert mixture_error_bound(2, 900, 1000, 10, 1000, 0.2, 0.01) < base  # more in-scope answered
    # it bounds the point estimate from above
    pi = 0.8
    est = (pi * 2 / 1000 + (1 - pi) * 10 / 1000) / (pi * 500 / 1000 + (1 - pi) * 10 / 1000)
    assert base > est


def test_choose_threshold_picks_the_lowest_grid_point_that_is_proven() -> None:
    rng = np.random.default_rng(0)
    p = rng.beta(5, 1, 4000)
    right = rng.uniform(0, 1, 4000) < p**0.3
    g = choose_threshold(p, right)
    assert g.threshold in GRID and g.precision_lower_bound >= 0.95
    level = g.delta / len(GRID)
    for t in GRID:  # every lower grid point fails the test at the Bonferroni level
        if t < g.threshold:
            a = p >= t
            assert binomial_p_value(int((a & ~right).sum()), int(a.sum()), 0.05) > level


def test_too_little_evidence_never_answers() -> None:
    g = choose_threshold(np.array([0.99] * 20), np.array([True] * 20))
    assert g.threshold > 1 and g.n == 0 and "hands every question to a person" in g.describe()


def test_mixture_threshold_rises_with_the_assumed_out_of_scope_share() -> None:
    rng = np.random.default_rng(1)
    p_in = rng.beta(6, 1, 3000)
    right = rng.uniform(0, 1, 3000) < 0.97
    p_oos = rng.beta(1.5, 3, 3000)
    low = choose_threshold_mixture(p_in, right, p_oos, 0.1)
    high = choose_threshold_mixture(p_in, right, p_oos, 0.5)
    assert low.answering and low.precision_lower_bound >= 0.95
    assert high.threshold >= low.threshold
    text = low.describe()
    assert "assuming 10% of questions are out of scope" in text and "precision >=" in text


def test_mixture_threshold_holds_on_fresh_samples_of_the_same_mix() -> None:
    """The promise itself: on new questions drawn like the calibration ones, precision >= 95%."""
    rng = np.random.default_rng(2)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p_in = rng.beta(6, 1, n)
        right = rng.uniform(0, 1, n) < np.clip(0.5 + p_in / 2, 0, 1)
        return p_in, right, rng.beta(2, 3, n)

    g = choose_threshold_mixture(*draw(3000), 0.2)
    assert g.answering
    p_in, right, p_oos = draw(200_000)
    answered_in, answered_oos = p_in >= g.threshold, p_oos >= g.threshold
    wrong = 0.8 * (answered_in & ~right).mean() + 0.2 * answered_oos.mean()
    answered = 0.8 * answered_in.mean() + 0.2 * answered_oos.mean()
    assert 1 - wrong / answered >= 0.95
