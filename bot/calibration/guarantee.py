"""The answer threshold with a finite-sample guarantee, not a point estimate.

The desk promises: of the questions it answers, at least ``1 - alpha`` (95%) get the right entry.
From ``n`` calibration questions answered at a threshold, ``k`` of them wrongly, the observed
precision ``1 - k/n`` is only an estimate; with 40 answers and 1 error it says 97.5% although a true
error rate of 10% produces that result often enough. So each threshold of a fixed grid is a
hypothesis test (Learn then Test, Angelopoulos et al. 2021): H0 "the error rate of the answers above
this threshold exceeds alpha", rejected when the binomial tail ``P(Bin(n, alpha) <= k)`` is at most
``delta / len(grid)``. The Bonferroni split makes the guarantee hold for the chosen threshold
whichever it is, with no assumption on how the error rate varies with the threshold: with
probability at least ``1 - delta`` over the calibration sample, every threshold it may pick has an
error rate of at most alpha on questions drawn like the calibration questions. The bound reported
with it is the one-sided Clopper-Pearson upper confidence bound at the same level.

Everything here is pure: arrays in, numbers out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import beta, binom


def clopper_pearson_upper(errors: int, n: int, delta: float) -> float:
    """One-sided upper ``1 - delta`` confidence bound on an error rate from ``errors`` in ``n``."""
    if n <= 0:
        return 1.0
    if errors >= n:
        return 1.0
    return float(beta.ppf(1.0 - delta, errors + 1, n - errors))


def clopper_pearson_lower(successes: int, n: int, delta: float) -> float:
    """One-sided lower ``1 - delta`` confidence bound on a rate from ``successes`` in ``n``."""
    if n <= 0 or successes <= 0:
        return 0.0
    return float(beta.ppf(delta, successes, n - successes + 1))


def binomial_p_value(errors: int, n: int, alpha: float) -> float:
    """P(Bin(n, alpha) <= errors): small when ``errors`` is too few for an error rate of ``alpha``."""
    if n <= 0:
        return 1.0
    return float(binom.cdf(errors, n, alpha))


@dataclass(frozen=True)
class Guarantee:
    """The chosen threshold and what it rests on."""

    threshold: float  # answer when the confidence is at least this (above 1: never answer)
    alpha: float  # error rate promised not to be exceeded
    delta: float  # chance that the promise fails because of an unlucky calibration sample
    n: int  # calibration questions answered at the threshold
    errors: int  # of which wrong
    examples: int  # calibration questions in all
    precision_lower_bound: float  # 1 - Clopper-Pearson upper bound of the error rate at the threshold
    observed_precision: float | None  # 1 - errors / n

    def describe(self) -> str:
        if self.n == 0:
            return (
                f"no threshold reaches {1 - self.alpha:.0%} precision with {1 - self.delta:.0%} confidence on "
                f"{self.examples} calibration questions: the bot hands every question to a person"
            )
        return (
            f"answers when confidence >= {self.threshold:.4f}: {self.n} of {self.examples} calibration questions "
            f"answered, {self.errors} wrongly; precision >= {self.precision_lower_bound:.3f} with "
            f"{1 - self.delta:.0%} confidence (target {1 - self.alpha:.0%})"
        )


def never(alpha: float, delta: float, examples: int) -> Guarantee:
    return Guarantee(1.0 + 1e-9, alpha, delta, 0, 0, examples, 0.0, None)


# confidences at which the bot may start answering; fixed before seeing any data, dense where
# calibrated confidences of right answers lie
GRID = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.88, 0.9, 0.92, 0.94, 0.95, 0.96, 0.97, 0.98, 0.985, 0.99, 0.995, 0.998, 0.999)


def choose_threshold(
    confidence: np.ndarray,
    correct: np.ndarray,
    alpha: float = 0.05,
    delta: float = 0.05,
    grid: tuple[float, ...] = GRID,
) -> Guarantee:
    """Lowest grid threshold whose answers are right at least ``1 - alpha`` of the time, with
    confidence ``1 - delta`` (Bonferroni over the grid).

    ``confidence``: the calibrated confidence of each calibration question's top candidate;
    ``correct``: whether that top candidate is right (out-of-scope questions are never right).
    """
    p = np.asarray(confidence, dtype=float)
    y = np.asarray(correct, dtype=bool)
    level = delta / len(grid)
    best: Guarantee | None = None
    for t in sorted(grid, reverse=True):
        answered = p >= t
        n = int(answered.sum())
        k = int((answered & ~y).sum())
        if n and binomial_p_value(k, n, alpha) <= level:
            best = Guarantee(
                float(t), alpha, delta, n, k, len(p), 1.0 - clopper_pearson_upper(k, n, level), 1.0 - k / n
            )
    return best or never(alpha, delta, len(p))


@dataclass(frozen=True)
class MixtureGuarantee:
    """The threshold for a traffic mix: in-scope questions plus a share of out-of-scope ones."""

    threshold: float
    alpha: float
    delta: float
    oos_share: float  # assumed share of out-of-scope questions in the traffic
    in_scope: int  # in-scope calibration questions
    in_answered: int  # of which answered at the threshold
    in_wrong: int  # of which answered with a wrong entry
    out_of_scope: int  # out-of-scope calibration questions
    oos_answered: int  # of which answered (always wrong)
    precision_lower_bound: float  # for the assumed mix, with confidence 1 - delta
    estimated_precision: float | None  # the same from the observed rates
    coverage_lower_bound: float  # share of in-scope questions answered right, lower bound

    @property
    def answering(self) -> bool:
        return self.threshold <= 1.0

    def describe(self) -> str:
        mix = f"assuming {self.oos_share:.0%} of questions are out of scope"
        if not self.answering:
            return (
                f"no threshold reaches {1 - self.alpha:.0%} precision with {1 - self.delta:.0%} confidence on "
                f"{self.in_scope} in-scope and {self.out_of_scope} out-of-scope calibration questions ({mix}): "
                "the bot hands every question to a person"
            )
        return (
            f"answers when confidence >= {self.threshold:.3f}; on {self.in_scope} in-scope and {self.out_of_scope} "
            f"out-of-scope calibration questions it answered {self.in_answered} and {self.oos_answered}, "
            f"{self.in_wrong + self.oos_answered} wrongly; {mix}, precision >= {self.precision_lower_bound:.3f} "
            f"with {1 - self.delta:.0%} confidence (target {1 - self.alpha:.0%})"
        )


def mixture_error_bound(
    wrong: int, answered: int, n_in: int, oos_answered: int, n_oos: int, oos_share: float, level: float
) -> float:
    """Upper bound on the error rate of answers for a mix with ``oos_share`` out-of-scope questions.

    error = (pi * w + (1 - pi) * b) / (pi * a + (1 - pi) * b) with, per question, w the chance of a
    wrong in-scope answer, a of any in-scope answer and b of answering out of scope. It grows with
    w and b and shrinks with a, so the bound takes Clopper-Pearson upper bounds of w and b and the
    lower bound of a, each at ``level / 3`` (a union bound: all three hold together).
    """
    pi = 1.0 - oos_share
    per = level / 3
    w = clopper_pearson_upper(wrong, n_in, per) if n_in else 1.0
    a = clopper_pearson_lower(answered, n_in, per) if n_in else 0.0
    b = clopper_pearson_upper(oos_answered, n_oos, per) if n_oos and oos_share > 0 else 0.0
    den = pi * a + (1 - pi) * b
    if den <= 0:
        return 1.0
    return float(min(1.0, (pi * w + (1 - pi) * b) / den))


def choose_threshold_mixture(
    p_in: np.ndarray,
    right_in: np.ndarray,
    p_oos: np.ndarray,
    oos_share: float,
    alpha: float = 0.05,
    delta: float = 0.05,
    grid: tuple[float, ...] = GRID,
) -> MixtureGuarantee:
    """Lowest grid threshold whose answers keep the error rate at most ``alpha`` for the assumed mix,
    with confidence ``1 - delta`` over the calibration sample (Bonferroni over the grid)."""
    p_in, p_oos = np.asarray(p_in, dtype=float), np.asarray(p_oos, dtype=float)
    right_in = np.asarray(right_in, dtype=bool)
    n_in, n_oos = len(p_in), len(p_oos)
    level = delta / len(grid)
    pi = 1.0 - oos_share
    best: MixtureGuarantee | None = None
    for t in sorted(grid, reverse=True):
        ans = p_in >= t
        a, w = int(ans.sum()), int((ans & ~right_in).sum())
        b = int((p_oos >= t).sum())
        ub = mixture_error_bound(w, a, n_in, b, n_oos, oos_share, level)
        if a == 0 or ub > alpha:
            continue
        rate_b = b / n_oos if n_oos else 0.0
        den = pi * a / max(1, n_in) + (1 - pi) * rate_b
        est = 1.0 - (pi * w / max(1, n_in) + (1 - pi) * rate_b) / den if den > 0 else None
        best = MixtureGuarantee(
            float(t), alpha, delta, oos_share, n_in, a, w, n_oos, b, 1.0 - ub, est,
            clopper_pearson_lower(a - w, n_in, level),
        )
    if best is None:
        return MixtureGuarantee(1.0 + 1e-9, alpha, delta, oos_share, n_in, 0, 0, n_oos, 0, 0.0, None, 0.0)
    return best
