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

from dataclasses import dataclass, replace

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
    in_scope: int  # in-scope calibration questions in the mixed sample
    in_answered: int  # of which answered at the threshold
    in_wrong: int  # of which answered with a wrong entry
    out_of_scope: int  # out-of-scope calibration questions in the mixed sample
    oos_answered: int  # of which answered (always wrong)
    precision_lower_bound: float  # 1 - Clopper-Pearson upper bound of the error rate, confidence 1 - delta
    estimated_precision: float | None  # 1 - errors / answered
    tested: tuple[float, ...] = ()  # the thresholds tested, in order (the last one failed, or the grid ended)

    @property
    def answering(self) -> bool:
        return self.threshold <= 1.0

    def describe(self) -> str:
        mix = f"{self.in_scope} in-scope and {self.out_of_scope} out-of-scope calibration questions ({self.oos_share:.0%} out of scope, as assumed)"
        if not self.answering:
            return (
                f"no threshold reaches {1 - self.alpha:.0%} precision with {1 - self.delta:.0%} confidence on {mix}: "
                "the bot hands every question to a person"
            )
        return (
            f"answers when confidence >= {self.threshold:.3f}: on {mix} it answered {self.in_answered + self.oos_answered}, "
            f"{self.in_wrong + self.oos_answered} wrongly; precision >= {self.precision_lower_bound:.3f} "
            f"with {1 - self.delta:.0%} confidence (target {1 - self.alpha:.0%})"
        )


def one_per_origin(origins: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One example per origin (the variants of one question are not independent of each other)."""
    if len(origins) == 0:
        return np.arange(0)
    order = rng.permutation(len(origins))
    _, first = np.unique(origins[order], return_index=True)
    return np.sort(order[first])


def mixed_sample(n_in: int, n_oos: int, oos_share: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices of in-scope and out-of-scope examples forming a sample with ``oos_share`` out of scope.

    The larger pool is subsampled (seeded) rather than weighted, so that errors among the answers
    of the sample are binomial and the bound exact.
    """
    rng = np.random.default_rng(seed)
    want_oos = round(n_in * oos_share / (1 - oos_share))
    if want_oos <= n_oos:
        return np.arange(n_in), np.sort(rng.choice(n_oos, want_oos, replace=False))
    want_in = round(n_oos * (1 - oos_share) / oos_share)
    return np.sort(rng.choice(n_in, want_in, replace=False)), np.arange(n_oos)


# confidences at which the bot may start answering, tested from the strictest down
SEQUENCE = tuple(sorted(GRID, reverse=True))
START_MIN_ANSWERED = 100  # the first threshold tested is the strictest one that answers at least this many


def choose_threshold_mixture(
    p_in: np.ndarray,
    right_in: np.ndarray,
    p_oos: np.ndarray,
    oos_share: float,
    alpha: float = 0.05,
    delta: float = 0.05,
    sequence: tuple[float, ...] = SEQUENCE,
    seed: int = 0,
    origin_in: np.ndarray | None = None,
    origin_oos: np.ndarray | None = None,
) -> MixtureGuarantee:
    """Lowest threshold whose answers keep the error rate at most ``alpha`` for the assumed mix, with
    confidence ``1 - delta``: Learn then Test with fixed-sequence testing.

    The calibration examples are first mixed to the assumed share (``mixed_sample``). Thresholds are
    then tested from the strictest down, each at level ``delta`` (H0: error rate above alpha;
    rejected when ``P(Bin(n, alpha) <= k) <= delta``), and testing stops at the first threshold not
    rejected. Fixed-sequence testing controls the chance of certifying any threshold whose error
    rate exceeds alpha at ``delta`` with no correction for the number of thresholds. ``origin_*``:
    the question each example was made from; the test sample keeps one example per question, since
    the customer-like variants of one question are not independent draws. Testing starts
    at the strictest threshold answering at least ``START_MIN_ANSWERED`` questions, a choice made
    from the confidences alone, never from whether answers were right.
    """
    p_in, p_oos = np.asarray(p_in, dtype=float), np.asarray(p_oos, dtype=float)
    right_in = np.asarray(right_in, dtype=bool)
    rng = np.random.default_rng(seed)
    keep_in = one_per_origin(np.asarray(origin_in), rng) if origin_in is not None else np.arange(len(p_in))
    keep_oos = one_per_origin(np.asarray(origin_oos), rng) if origin_oos is not None else np.arange(len(p_oos))
    p_in, right_in, p_oos = p_in[keep_in], right_in[keep_in], p_oos[keep_oos]
    ii, oo = mixed_sample(len(p_in), len(p_oos), oos_share, seed) if len(p_oos) else (np.arange(len(p_in)), np.arange(0))
    p = np.concatenate([p_in[ii], p_oos[oo]])
    right = np.concatenate([right_in[ii], np.zeros(len(oo), dtype=bool)])
    is_in = np.concatenate([np.ones(len(ii), dtype=bool), np.zeros(len(oo), dtype=bool)])
    start = next((k for k, t in enumerate(sequence) if (p >= t).sum() >= START_MIN_ANSWERED), len(sequence))
    best: MixtureGuarantee | None = None
    tested: list[float] = []
    for t in sequence[start:]:
        tested.append(float(t))
        ans = p >= t
        n, k = int(ans.sum()), int((ans & ~right).sum())
        if binomial_p_value(k, n, alpha) > delta:
            break
        best = MixtureGuarantee(
            float(t),
            alpha,
            delta,
            oos_share,
            len(ii),
            int((ans & is_in).sum()),
            int((ans & is_in & ~right).sum()),
            len(oo),
            int((ans & ~is_in).sum()),
            1.0 - clopper_pearson_upper(k, n, delta),
            1.0 - k / n,
        )
    if best is None:
        return MixtureGuarantee(1.0 + 1e-9, alpha, delta, oos_share, len(ii), 0, 0, len(oo), 0, 0.0, None, tuple(tested))
    return replace(best, tested=tuple(tested))


def point_threshold(
    p_in: np.ndarray, right_in: np.ndarray, p_oos: np.ndarray, oos_share: float, alpha: float = 0.05, seed: int = 0
) -> float:
    """The lowest threshold whose answers on the mixed calibration sample are right ``1 - alpha`` of
    the time: a point estimate with no guarantee, reported beside it for comparison only."""
    p_in, p_oos, right_in = np.asarray(p_in, float), np.asarray(p_oos, float), np.asarray(right_in, bool)
    ii, oo = mixed_sample(len(p_in), len(p_oos), oos_share, seed) if len(p_oos) else (np.arange(len(p_in)), np.arange(0))
    p = np.concatenate([p_in[ii], p_oos[oo]])
    right = np.concatenate([right_in[ii], np.zeros(len(oo), dtype=bool)])
    order = np.argsort(-p, kind="stable")
    hits = np.cumsum(right[order])
    n = np.arange(1, len(p) + 1)
    ok = (hits / n >= 1 - alpha) & (n >= 30)
    return float(p[order][np.flatnonzero(ok)[-1]]) if ok.any() else 1.0 + 1e-9
