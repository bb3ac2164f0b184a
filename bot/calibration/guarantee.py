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

The desk itself uses ``choose_threshold_mixture``: its calibration questions come in several
customer-like wordings each (not independent draws) and from two populations (in scope, and
"absent": the right entry left out) mixed at an assumed share. There the unit of the test is a pair
of questions (one of each population, each averaged over its wordings) and each threshold is tested
by betting (Waudby-Smith and Ramdas 2023), which stays exact for any sample size and uses every
wording and every out-of-scope question, where a binomial test would have to keep one wording per
question and subsample the larger population (and its verdict then depended on which were kept).
A bet's outcome depends on the order of the units and on which questions were paired, so the test
averages the final wealth of ``ORDERINGS`` random pairings and orders: each is an e-value (its
expectation is at most 1 under H0), so is their mean, and Markov's inequality turns it into a valid
p-value that depends far less on one random draw (it still can: a threshold at the edge may pass for
one seed and fail for another).

Everything here is pure: arrays in, numbers out.
"""

from __future__ import annotations

from collections.abc import Sequence
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
GRID = (0.5, 0.6, 0.7, 0.75, 0.8, 0.82, 0.84, 0.85, 0.86, 0.87, 0.88, 0.89, 0.9, 0.91, 0.92, 0.93, 0.94, 0.945, 0.95, 0.955, 0.96, 0.97, 0.98, 0.985, 0.99, 0.995, 0.998, 0.999)


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
    in_scope: int  # in-scope questions of the knowledge the test rests on (one per unit)
    in_answered: int  # their wordings answered at the threshold
    in_wrong: int  # ... answered with a wrong entry
    out_of_scope: int  # out-of-scope questions the test rests on (one per unit; 0: none known)
    oos_answered: int  # their wordings answered at the threshold (always wrong)
    precision_lower_bound: float  # the precision the test proves at the threshold, confidence 1 - delta
    estimated_precision: float | None  # at the assumed mix, from the shares of wordings answered
    tested: tuple[float, ...] = ()  # the thresholds tested, in order (the last one failed, or the grid ended)
    in_wordings: int = 0  # wordings of the in-scope questions (each asked in several customer-like ways)
    oos_wordings: int = 0
    units: int = 0  # pairs per ordering (one in-scope and one out-of-scope question each)
    orderings: int = 1  # random pairings and orders whose e-values are averaged

    @property
    def answering(self) -> bool:
        return self.threshold <= 1.0

    def describe(self) -> str:
        pairs = f"; {self.units} pairs, {self.orderings} random pairings" if self.orderings > 1 else ""
        mix = (
            f"{self.in_scope} in-scope and {self.out_of_scope} out-of-scope questions of the knowledge "
            f"({self.in_wordings + self.oos_wordings} wordings; {self.oos_share:.0%} out of scope, as assumed{pairs})"
        )
        if not self.answering:
            return (
                f"no threshold reaches {1 - self.alpha:.0%} precision with {1 - self.delta:.0%} confidence on {mix}: "
                "the bot hands every question to a person"
            )
        oos = (
            f" and {self.oos_answered} of {self.oos_wordings} out-of-scope ones" if self.oos_wordings else ""
        )
        est = f"estimated {self.estimated_precision:.3f}; " if self.estimated_precision is not None else ""
        return (
            f"answers when confidence >= {self.threshold:.3f}: on {mix} it answered {self.in_answered} of "
            f"{self.in_wordings} in-scope wordings ({self.in_wrong} wrongly){oos}; precision "
            f">= {self.precision_lower_bound:.3f} with {1 - self.delta:.0%} confidence ({est}target {1 - self.alpha:.0%})"
        )


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


BET_CAP = 0.9  # the largest share of wealth staked on one unit (any value below 1 is valid)


ORDERINGS = 64  # random pairings and orders of the units whose e-values are averaged


def _log_wealth(z: np.ndarray, high: float, low: float, c: float) -> np.ndarray:
    """The gambler's log wealth after each value (the aGRAPA bet; see ``betting_p_value``)."""
    steps = np.arange(1, len(z) + 1)
    mean = np.concatenate([[0.0], np.cumsum(z)[:-1]]) / steps  # of the values before each one; prior 0
    spread = (z - mean) ** 2
    # prior: the widest spread the range allows, counted as one observation
    var = ((high - low) ** 2 / 4 + np.concatenate([[0.0], np.cumsum(spread)[:-1]])) / steps
    lam = np.clip(-mean / (var + mean * mean), 0.0, c / high)  # c < 1 keeps 1 - lam * z > 0
    return np.cumsum(np.log1p(-lam * z))


def betting_p_value(z: np.ndarray, high: float, low: float, c: float = BET_CAP) -> float:
    """A p-value for H0 "the mean of ``z`` is at least 0", from i.i.d. values in ``[low, high]``.

    Testing by betting (Waudby-Smith and Ramdas 2023, the aGRAPA bet): a gambler starts with 1 and
    stakes a share ``lam_t`` of their wealth on each value being below 0, the share chosen from the
    values seen before it only; wealth ``K_t = prod(1 - lam_s * z_s)``. Under H0 the wealth is a
    nonnegative supermartingale, so by Ville's inequality it ever reaches ``1 / delta`` with chance at
    most ``delta``: ``1 / max K_t`` is a valid p-value for any sample size, with no normal
    approximation. Unlike a binomial test it adapts to the spread of ``z``: averages of several
    wordings of one question vary less than a single wording, and the test uses that.
    """
    z = np.asarray(z, dtype=float)
    if len(z) == 0 or high <= 0:
        return 1.0
    return float(min(1.0, np.exp(-max(0.0, float(_log_wealth(z, high, low, c).max())))))


def betting_e_value(z: np.ndarray, high: float, low: float, c: float = BET_CAP) -> float:
    """The gambler's final wealth: an e-value for the same H0 (its expectation is at most 1 under H0).

    Unlike the running maximum, final wealths of several orderings of one sample can be averaged
    and stay an e-value; ``min(1, 1 / mean)`` is then a p-value by Markov's inequality."""
    z = np.asarray(z, dtype=float)
    if len(z) == 0 or high <= 0:
        return 1.0
    return float(np.exp(_log_wealth(z, high, low, c)[-1]))


def averaged_p_value(samples: Sequence[Units], alpha: float, oos_share: float) -> float:
    """The p-value of "precision below ``1 - alpha``" from the mean e-value of several orderings."""
    e = [betting_e_value(*u.z(alpha, oos_share)) for u in samples]
    return float(min(1.0, 1.0 / max(float(np.mean(e)), 1e-300))) if e else 1.0


@dataclass(frozen=True)
class Units:
    """The calibration sample as independent units for the test: one in-scope and one out-of-scope
    question of the knowledge per unit, each carrying the share of its wordings answered (and
    answered wrongly)."""

    in_answered: np.ndarray  # per unit: share of the in-scope question's wordings answered
    in_wrong: np.ndarray  # ... answered with a wrong entry
    oos_answered: np.ndarray  # per unit: share of the out-of-scope question's wordings answered (empty: none)

    def z(self, alpha: float, oos_share: float) -> tuple[np.ndarray, float, float]:
        """Per unit ``(1 - pi) * answered * (wrong - alpha) + pi * (1 - alpha) * answered_oos``: its mean
        is at most 0 exactly when the answers of the mix are right at least ``1 - alpha`` of the time."""
        if len(self.oos_answered) == 0:
            return self.in_wrong - alpha * self.in_answered, 1 - alpha, -alpha
        pi = oos_share
        z = (1 - pi) * (self.in_wrong - alpha * self.in_answered) + pi * (1 - alpha) * self.oos_answered
        return z, (1 - pi) * (1 - alpha) + pi * (1 - alpha), -(1 - pi) * alpha

    def precision(self, oos_share: float) -> float | None:
        pi = oos_share if len(self.oos_answered) else 0.0
        oos = float(self.oos_answered.mean()) if len(self.oos_answered) else 0.0
        answered = (1 - pi) * float(self.in_answered.mean()) + pi * oos
        if answered <= 0:
            return None
        return 1.0 - ((1 - pi) * float(self.in_wrong.mean()) + pi * oos) / answered


def _per_origin(origins: np.ndarray, *values: np.ndarray) -> list[np.ndarray]:
    _, inverse, counts = np.unique(origins, return_inverse=True, return_counts=True)
    return [np.bincount(inverse, weights=v.astype(float)) / counts for v in values]


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
    orderings: int = ORDERINGS,
) -> MixtureGuarantee:
    """Lowest threshold whose answers keep the error rate at most ``alpha`` for the assumed mix, with
    confidence ``1 - delta``: Learn then Test with fixed-sequence testing.

    ``origin_*``: the question each example was made from. The customer-like wordings of one
    question are not independent draws, so the unit of the test is the question: its examples are
    averaged (the share of its wordings answered, and answered wrongly), and each unit pairs one
    in-scope question with one out-of-scope question (random pairing; the larger pool keeps only as
    many as the smaller in each pairing). The mix enters through the weights of the unit's value
    (``Units.z``), whose mean is at most 0 exactly when precision is at least ``1 - alpha`` for
    questions drawn like the calibration ones (a question at random, one of its wordings at random)
    at the assumed out-of-scope share. Thresholds are tested from the strictest down, each at level
    ``delta`` by betting on ``orderings`` seeded random pairings and orders of the units and
    averaging their final wealth (``averaged_p_value``), and testing stops at the first threshold
    not proven. Fixed-sequence testing controls the chance of certifying any threshold whose error
    rate exceeds alpha at ``delta`` with no correction for the number of thresholds. Testing
    starts at the strictest threshold answering at least ``START_MIN_ANSWERED`` units' worth of
    questions, a choice
    made from the confidences alone, never from whether answers were right.
    """
    p_in, p_oos = np.asarray(p_in, dtype=float), np.asarray(p_oos, dtype=float)
    right_in = np.asarray(right_in, dtype=bool)
    o_in = np.asarray(origin_in) if origin_in is not None else np.arange(len(p_in))
    o_oos = np.asarray(origin_oos) if origin_oos is not None else np.arange(len(p_oos))
    q_in, q_oos = len(np.unique(o_in)), len(np.unique(o_oos)) if len(p_oos) else 0
    rng = np.random.default_rng(seed)
    draws = [
        (rng.permutation(q_in), rng.permutation(q_oos) if len(p_oos) else np.arange(0)) for _ in range(orderings)
    ]
    n_units = min(q_in, q_oos) if q_oos else q_in

    def at(t: float) -> list[Units]:
        # the per-question shares do not depend on the ordering: computed once, then drawn from
        answered_in = p_in >= t
        a_in, w_in = _per_origin(o_in, answered_in, answered_in & ~right_in)
        a_oos = _per_origin(o_oos, p_oos >= t)[0] if len(p_oos) else np.zeros(0)
        return [
            Units(a_in[oi[:n_units]], w_in[oi[:n_units]], a_oos[oo[:n_units]] if len(oo) else np.zeros(0))
            for oi, oo in draws
        ]

    def counts(t: float) -> tuple[int, int, int]:
        a_in = p_in >= t
        return int(a_in.sum()), int((a_in & ~right_in).sum()), int((p_oos >= t).sum())

    def answered_units(u: Units) -> float:
        return float(u.in_answered.sum() + u.oos_answered.sum())

    per_threshold = [at(t) for t in sequence]  # each threshold's units, computed once
    start = next(
        (k for k, us in enumerate(per_threshold) if answered_units(us[0]) >= START_MIN_ANSWERED), len(sequence)
    )
    shape = dict(in_wordings=len(p_in), oos_wordings=len(p_oos), units=n_units, orderings=orderings)
    chosen: tuple[float, list[Units]] | None = None
    tested: list[float] = []
    for t, us in zip(sequence[start:], per_threshold[start:], strict=True):
        tested.append(float(t))
        if averaged_p_value(us, alpha, oos_share) > delta:
            break
        chosen = (float(t), us)
    if chosen is None:
        return MixtureGuarantee(
            1.0 + 1e-9, alpha, delta, oos_share, q_in, 0, 0, q_oos, 0, 0.0, None, tuple(tested), **shape
        )
    t, us = chosen
    ans_in, wrong_in, ans_oos = counts(t)
    estimate = [e for e in (u.precision(oos_share) for u in us) if e is not None]
    return MixtureGuarantee(
        t,
        alpha,
        delta,
        oos_share,
        q_in,
        ans_in,
        wrong_in,
        q_oos,
        ans_oos,
        precision_bound(us, oos_share, delta),
        float(np.mean(estimate)) if estimate else None,
        tuple(tested),
        **shape,
    )


def precision_bound(samples: Sequence[Units], oos_share: float, delta: float, steps: int = 30) -> float:
    """The highest precision ``1 - a`` the averaged betting test proves for these orderings of the
    units at level ``delta`` (0 when it proves nothing)."""

    def proven(a: float) -> bool:
        return averaged_p_value(samples, a, oos_share) <= delta

    lo, hi = 0.0, 1.0 - 1e-9  # error rates: lo not proven, hi proven
    if not proven(hi):
        return 0.0
    for _ in range(steps):
        mid = (lo + hi) / 2
        if proven(mid):
            hi = mid
        else:
            lo = mid
    return 1.0 - hi


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
