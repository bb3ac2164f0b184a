"""The spike detector on synthetic streams: a normal day is quiet, a burst of one question alarms fast."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from escalation.calendar import TeamCalendar
from escalation.incidents import (
    Question,
    SpikeDetector,
    negbin_sf,
    poisson_sf,
    regime_of_calendar,
    summary,
)

DIM = 64
CALENDAR = TeamCalendar.parse({"timezone": "UTC", "hours": {"mon-sun": "09:00-18:00"}})
DAY = datetime(2026, 11, 30, tzinfo=UTC)  # a Monday


def topic_vectors(n: int, rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=(n, DIM))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def paraphrase(topic: np.ndarray, rng: np.random.Generator, noise: float = 0.09) -> np.ndarray:
    """A question about ``topic``: cosine about 0.7 to it."""
    return topic + rng.normal(scale=noise, size=DIM)


def normal_day(start: datetime, seed: int, business_per_hour: float = 30, off_per_hour: float = 4) -> list[Question]:
    """A Poisson stream of questions on 40 everyday topics (Zipf-like popularity)."""
    rng = np.random.default_rng(seed)
    py = random.Random(seed)
    topics = topic_vectors(40, np.random.default_rng(1000))  # the same topics every day
    weights = np.array([1 / (i + 1) for i in range(40)])
    weights /= weights.sum()
    out, t = [], start
    while t < start + timedelta(days=1):
        rate = business_per_hour if CALENDAR.is_open(t) else off_per_hour
        t += timedelta(minutes=py.expovariate(rate / 60))
        k = int(rng.choice(40, p=weights))
        out.append(Question(t, paraphrase(topics[k], rng), py.choice(["en", "zh"]), "widget", f"c{seed}-{len(out)}",
                            text=f"topic {k}"))
    return [q for q in out if q.at < start + timedelta(days=1)]


def burst(at: datetime, n: int, minutes: float, seed: int) -> list[Question]:
    rng = np.random.default_rng(seed)
    topic = topic_vectors(1, np.random.default_rng(seed + 77))[0]
    return [
        Question(at + timedelta(minutes=minutes * i / n), paraphrase(topic, rng), ["zh", "en"][i % 2],
                 ["widget", "email"][i % 3 == 0], f"b{i}", text=f"invoices not generated {i}")
        for i in range(n)
    ]


# these synthetic topics are random 64-d directions (cosine about 0 +- 0.13 to each other, a question about 0.7 to
# its topic): not the shipped USE + e5 vectors DEFAULT_THRESHOLD was chosen for (bench/incidents.py)
THRESHOLD = 0.4


def detector() -> SpikeDetector:
    return SpikeDetector(threshold=THRESHOLD, regime=regime_of_calendar(CALENDAR.is_open))


def run(d: SpikeDetector, stream: list[Question]) -> list:
    return [o for q in sorted(stream, key=lambda q: q.at) if (o := d.observe(q)).opened is not None]


def test_tails_match_their_definitions() -> None:
    mu = 0.4
    cdf = sum(math.exp(-mu) * mu**i / math.factorial(i) for i in range(5))
    assert poisson_sf(5, mu) == pytest.approx(1 - cdf, rel=1e-6)
    assert poisson_sf(0, mu) == 1.0
    # the Gamma-Poisson predictive is wider than the Poisson of its mean, and tends to it with much data
    assert negbin_sf(5, 4.0, 10.0, 1.0) > poisson_sf(5, 0.4)
    assert negbin_sf(5, 4000.0, 10000.0, 1.0) == pytest.approx(poisson_sf(5, 0.4), rel=0.01)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_normal_days_raise_no_alarm(seed: int) -> None:
    d = detector()
    for day in range(3):  # three days in a row, the rates learnt as they go
        assert run(d, normal_day(DAY + timedelta(days=day), seed * 10 + day)) == []
    assert d.rate("business") > d.rate("off")


def test_a_night_burst_alarms_within_minutes_and_links_the_rest() -> None:
    d = detector()
    run(d, normal_day(DAY - timedelta(days=1), 5))  # yesterday: the base rates
    start = DAY + timedelta(hours=2)
    stream = sorted([*normal_day(DAY, 6), *burst(start, 20, 10, 9)], key=lambda q: q.at)
    opened, linked = [], set()
    for q in stream:
        o = d.observe(q)
        if o.opened is not None:
            opened.append(o.opened)
            linked |= {x.conversation_id for x in o.opened.questions}
        elif o.incident is not None:
            linked.add(q.conversation_id)
    assert len(opened) == 1
    s = opened[0]
    assert s.last_seen - start <= timedelta(minutes=3)
    assert s.regime == "off" and s.p_value < s.threshold
    assert {q.conversation_id[0] for q in s.questions} == {"b"}  # only the burst's questions
    assert s.languages == ["en", "zh"] and s.channels == ["email", "widget"]
    assert linked == {f"b{i}" for i in range(20)}  # those before the alarm are in it, those after join it
    assert "customers asked" in summary(s)


def test_one_customer_repeating_themself_is_not_an_incident() -> None:
    d = detector()
    rng = np.random.default_rng(0)
    topic = topic_vectors(1, rng)[0]
    at = DAY + timedelta(hours=3)
    qs = [Question(at + timedelta(seconds=20 * i), paraphrase(topic, rng), "en", "widget", "same") for i in range(30)]
    assert run(d, qs) == []


def test_the_same_count_alarms_at_night_but_not_in_business_hours() -> None:
    """20 questions in 10 minutes is an incident at 02:00 but not at 11:00, when the desk is busy."""
    d = detector()
    run(d, normal_day(DAY - timedelta(days=1), 11, business_per_hour=120))
    assert run(d, burst(DAY + timedelta(hours=2), 12, 10, 3)) != []
    d = detector()
    run(d, normal_day(DAY - timedelta(days=1), 11, business_per_hour=120))
    assert run(d, burst(DAY + timedelta(hours=11), 12, 10, 3)) == []


def test_a_dismissed_incident_stays_quiet() -> None:
    d = detector()
    run(d, normal_day(DAY - timedelta(days=1), 5))
    first = run(d, burst(DAY + timedelta(hours=2), 20, 10, 9))
    assert len(first) == 1
    d.dismiss(first[0].opened.key, DAY + timedelta(hours=2, minutes=10))
    assert run(d, burst(DAY + timedelta(hours=2, minutes=12), 20, 10, 9)) == []


def test_two_clusters_of_one_topic_merge_once_their_centroids_meet() -> None:
    """Two ways of asking one thing (under the threshold of each other) found two clusters; as questions
    in between arrive, the centroids meet and the clusters become one (without merging: two)."""
    rng = np.random.default_rng(4)
    base, a, b = topic_vectors(3, rng)
    first, second = base + 0.9 * a, base + 0.9 * b  # cosine about 0.55 to each other
    first, second = first / np.linalg.norm(first), second / np.linalg.norm(second)
    between = [first + second + rng.normal(scale=0.02, size=DIM) for _ in range(6)]
    at = DAY + timedelta(hours=3)
    sizes = {}
    for merge in (True, False):
        d = SpikeDetector(threshold=0.75, regime=regime_of_calendar(CALENDAR.is_open), merge=merge)
        o1 = d.observe(Question(at, first, "en", "widget", "c1"))
        o2 = d.observe(Question(at + timedelta(seconds=5), second, "zh", "widget", "c2"))
        assert o1.cluster != o2.cluster
        for i, v in enumerate(between):
            d.observe(Question(at + timedelta(seconds=10 + i), v, "en", "widget", f"m{i}"))
        sizes[merge] = sorted(len(c.members) for c in d.clusters)
    assert sizes[True] == [8] and len(sizes[False]) == 2


def test_a_busy_last_business_minute_is_not_tested_against_the_nights_rate() -> None:
    """Questions of 17:51-17:59, ordinary for business hours, are still in the 10-minute window at 18:01:
    the minutes before 18:00 count at the business rate, so the first question of the night alarms nothing."""
    d = detector()
    run(d, normal_day(DAY - timedelta(days=1), 5, business_per_hour=120))
    rng = np.random.default_rng(8)
    topic = topic_vectors(1, np.random.default_rng(99))[0]
    at = DAY + timedelta(hours=17, minutes=51)
    qs = [Question(at + timedelta(minutes=i), paraphrase(topic, rng), "en", "widget", f"e{i}") for i in range(9)]
    qs.append(Question(DAY + timedelta(hours=18, minutes=1), paraphrase(topic, rng), "en", "widget", "night"))
    assert run(d, qs) == []
    assert d.rate("business") > 10 * d.rate("off")


def test_a_resolved_incident_does_not_page_again_for_the_burst_still_in_the_window() -> None:
    d = SpikeDetector(alpha=1e-3, min_count=3)
    start = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    rng = np.random.default_rng(7)
    topic = rng.normal(size=16)
    opened = None
    for i in range(12):
        vector = topic + rng.normal(scale=0.05, size=16)
        o = d.observe(Question(start + timedelta(seconds=20 * i), vector, "en", "widget", f"c{i}"))
        opened = opened or (o.opened.key if o.opened else None)
    assert opened is not None
    d.forget_incident(opened)
    later = d.observe(Question(start + timedelta(minutes=5), topic, "en", "widget", "late"))
    assert later.incident is None and later.opened is None  # a new cluster, no second page
    assert d.match(topic, start + timedelta(minutes=5)) is None


def test_the_incident_models_are_chosen_from_those_configured_in_their_order() -> None:
    from escalation.incidents import INCIDENT_MODELS, incident_models

    names = [m for m, _ in INCIDENT_MODELS]
    assert incident_models(list(reversed(names))) == list(INCIDENT_MODELS)
    assert incident_models([names[1]]) == [INCIDENT_MODELS[1]]
    assert incident_models(["another-model"]) == [("another-model", 1.0)]  # none configured: the first, alone
    assert incident_models([]) == []


def test_each_part_is_centred_and_weighted_on_its_own() -> None:
    """Two models end to end: each part is normalised and centred on its own slice of the centre, then
    weighted (the cosine is the weighted mean of the parts' cosines)."""
    from escalation.incidents import incident_vector

    rng = np.random.default_rng(3)
    a1, a2, b1, b2 = (rng.normal(size=8) for _ in range(4))
    ca, cb = rng.normal(size=8) * 0.1, rng.normal(size=8) * 0.1
    d = SpikeDetector(centre=np.concatenate([ca, cb]), parts=[(8, 2.0), (8, 1.0)])

    def centred(v: np.ndarray, c: np.ndarray) -> np.ndarray:
        v = v / np.linalg.norm(v) - c
        return v / np.linalg.norm(v)

    x = d._prepare(incident_vector({"a": a1, "b": b1}, [("a", 2.0), ("b", 1.0)]))
    y = d._prepare(incident_vector({"a": a2 * 5, "b": b2}, [("a", 2.0), ("b", 1.0)]))  # any scale
    want = (2 * centred(a1, ca) @ centred(a2, ca) + centred(b1, cb) @ centred(b2, cb)) / 3
    assert math.isclose(float(x @ y), float(want), rel_tol=1e-5)
