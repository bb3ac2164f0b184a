"""The guarantee's arithmetic: Clopper-Pearson bounds, the test by betting, the threshold it picks."""

import numpy as np
import pytest

from bot.calibration.guarantee import (
    GRID,
    START_MIN_ANSWERED,
    Units,
    averaged_p_value,
    betting_e_value,
    betting_p_value,
    binomial_p_value,
    choose_threshold,
    choose_threshold_mixture,
    clopper_pearson_lower,
    clopper_pearson_upper,
    mixed_sample,
    point_threshold,
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


def test_mixed_sample_has_the_assumed_share() -> None:
    ii, oo = mixed_sample(3000, 2000, 0.2)
    assert len(ii) == 3000 and len(oo) == 750 and len(set(oo.tolist())) == 750
    ii, oo = mixed_sample(1000, 100, 0.2)  # too few out-of-scope: in-scope ones are subsampled
    assert len(oo) == 100 and len(ii) == 400
    assert len(oo) / (len(ii) + len(oo)) == pytest.approx(0.2)


def test_betting_p_value_is_valid_at_the_null_and_powerful_below_it() -> None:
    """Under H0 (mean exactly 0) p <= 0.05 at most 5% of the time, whatever the sample size; skewed
    values as the calibration's are (rare large errors, many small credits)."""
    rng = np.random.default_rng(7)

    def draw(n: int, wrong: float) -> np.ndarray:
        u = rng.uniform(0, 1, n)
        # answered wrongly: +0.95; answered right: -0.05; not answered: 0
        return np.where(u < wrong, 0.95, np.where(u < 0.5, -0.05, 0.0))

    null = 0.05 * 0.5  # P(wrong) at which the mean is 0: 0.95 w - 0.05 (0.5 - w) = 0
    rejections = [betting_p_value(draw(n, null), 0.95, -0.05) <= 0.05 for n in (50, 300, 1000) for _ in range(300)]
    assert np.mean(rejections) <= 0.05
    assert betting_p_value(draw(1000, 0.01), 0.95, -0.05) < 0.001  # precision 98% is proven
    assert betting_p_value(np.zeros(0), 0.95, -0.05) == 1.0


def test_wordings_of_one_question_count_as_one_unit() -> None:
    # 300 questions asked in 4 wordings each: the test rests on 300 questions, not 1,200 examples
    origins = np.repeat(np.arange(300), 4)
    p_in = np.full(1200, 0.99)
    g = choose_threshold_mixture(p_in, np.ones(1200, dtype=bool), np.zeros(0), 0.2, origin_in=origins)
    assert g.in_scope == 300 and g.in_wordings == 1200 and g.in_answered == 1200
    assert "300 in-scope and 0 out-of-scope questions of the knowledge (1200 wordings" in g.describe()


def test_in_and_out_of_scope_questions_are_paired() -> None:
    rng = np.random.default_rng(5)
    p_in, p_oos = rng.beta(8, 1, 800), rng.beta(2, 2, 500)
    g = choose_threshold_mixture(p_in, np.ones(800, dtype=bool), p_oos, 0.2)
    assert (g.in_scope, g.out_of_scope, g.units) == (800, 500, 500) and g.answering
    assert "500 pairs, 64 random pairings" in g.describe()


def test_averaged_e_values_are_valid_at_the_null() -> None:
    """The mean final wealth of several orderings of one sample is an e-value: under H0 its p-value
    is <= 0.05 at most 5% of the time."""
    rng = np.random.default_rng(11)
    null = 0.05 * 0.5
    rejections = []
    for n in (50, 300, 1000):
        for _ in range(150):
            u = rng.uniform(0, 1, n)
            z = np.where(u < null, 0.95, np.where(u < 0.5, -0.05, 0.0))
            e = np.mean([betting_e_value(z[rng.permutation(n)], 0.95, -0.05) for _ in range(16)])
            rejections.append(1 / e <= 0.05)
    assert np.mean(rejections) <= 0.05
    z = np.where(rng.uniform(0, 1, 1000) < 0.01, 0.95, -0.05)
    assert betting_e_value(z, 0.95, -0.05) > 1000  # precision 98% is proven from the final wealth too


def test_the_verdict_does_not_hang_on_one_random_pairing() -> None:
    """Near the edge one ordering's bet passes or fails by luck; the mean e-value of 64 barely moves."""
    rng = np.random.default_rng(8)
    n = 700
    answered = rng.uniform(0, 1, n) < 0.45
    wrong = answered & (rng.uniform(0, 1, n) < 0.03)
    oos = (rng.uniform(0, 1, n) < 0.06).astype(float)

    def ordering(seed: int) -> Units:
        o = np.random.default_rng(seed).permutation(n)
        return Units(answered[o].astype(float), wrong[o].astype(float), oos[o])

    single = [np.log(betting_p_value(*ordering(s).z(0.05, 0.2))) for s in range(10)]
    averaged = [np.log(averaged_p_value([ordering(100 * s + k) for k in range(64)], 0.05, 0.2)) for s in range(10)]
    assert np.std(averaged) < np.std(single) / 3


def test_fixed_sequence_stops_at_the_first_threshold_not_proven() -> None:
    # confidences on a ladder; below 0.9 the answers are wrong a third of the time
    p_in = np.repeat([0.995, 0.97, 0.93, 0.86, 0.7], 400)
    right = np.ones(len(p_in), dtype=bool)
    right[(p_in < 0.9)] = np.arange(int((p_in < 0.9).sum())) % 3 != 0
    g = choose_threshold_mixture(p_in, right, np.zeros(0), 0.2)
    assert g.threshold == 0.87 and g.tested[-1] == 0.86  # 0.86 failed, nothing below it was tested
    assert g.precision_lower_bound >= 0.95 and g.in_wrong == 0


def test_testing_starts_where_enough_questions_are_answered() -> None:
    p_in = np.concatenate([np.full(START_MIN_ANSWERED - 1, 0.999), np.full(500, 0.9)])
    g = choose_threshold_mixture(p_in, np.ones(len(p_in), dtype=bool), np.zeros(0), 0.2)
    assert g.tested[0] == 0.9 and g.threshold == 0.5


def test_out_of_scope_answers_count_as_errors_at_the_assumed_share() -> None:
    rng = np.random.default_rng(3)
    p_in = rng.beta(8, 1, 2000)
    right = np.ones(2000, dtype=bool)
    p_oos = rng.beta(2, 2, 2000)
    low, high = choose_threshold_mixture(p_in, right, p_oos, 0.05), choose_threshold_mixture(p_in, right, p_oos, 0.5)
    assert low.answering and high.threshold >= low.threshold
    assert high.oos_answered <= high.in_answered * 0.06
    assert "5% out of scope, as assumed;" in low.describe()


def test_point_threshold_is_looser_than_the_guarantee() -> None:
    rng = np.random.default_rng(4)
    p_in = rng.beta(6, 1, 3000)
    right = rng.uniform(0, 1, 3000) < np.clip(0.6 + p_in * 0.4, 0, 1)
    p_oos = rng.beta(2, 3, 3000)
    g = choose_threshold_mixture(p_in, right, p_oos, 0.2)
    assert point_threshold(p_in, right, p_oos, 0.2) <= g.threshold


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
