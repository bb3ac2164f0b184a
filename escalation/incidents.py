"""Spike detection: many customers asking the same unanswered thing at once is probably an incident.

Handed-off and low-confidence questions arrive one by one with their query embedding (the vector the
answer decision already computed; nothing is encoded here), language, channel and conversation. They
are clustered online: a question joins the cluster whose centroid (the normalised mean of its recent
members) is closest, if the cosine clears ``threshold``, else founds a new cluster. Members older
than the long window (``window``) leave their cluster; an empty cluster is gone.

Whether a cluster is improbably large is a one-sided test, not a fixed count. Under normal traffic a
question "joins some cluster" (is like another question asked within the window) at a long-run rate
``lambda`` per minute, estimated separately for business and off hours (the team calendar) from the
joins and minutes seen so far, with exponential forgetting (``half_life``) and a weak prior (a window
that straddles the end of business hours counts each of its minutes at its own regime's rate). No single
cluster grows faster than all clusters together, so ``lambda`` times the short window (``short``,
10 minutes) bounds the count any one cluster expects: that bound is the correction for the number of
clusters (the worst case of their shares, whatever their number), so no Bonferroni factor is applied
on top of it. When a question joins a cluster, the cluster's count of distinct conversations joining
it in the short window is tested against that expectation with the Gamma-Poisson (negative binomial)
predictive distribution, which also carries the uncertainty of the estimated rate; below ``alpha``
(and with at least ``min_count`` conversations) it opens a suspected incident. One test per joining
question: false alarms per day are at most ``alpha`` times the joins of a day (about 110 on the bench's
normal day: at most one false alarm in 90 days at the default alpha, a loose bound). Joins of a
cluster that is an incident already never count towards the base rate, so an incident does not teach
the detector that incidents are normal.

Pure and in memory: :class:`SpikeDetector` takes a question and says which cluster it joined and
whether that opened an incident; :class:`IncidentWatch` stores (and pages) what it opens and links the
questions that follow through the incidents repository.
"""

from __future__ import annotations

import math
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import numpy as np

from escalation.errors import InvalidTransition
from escalation.models import IncidentQuestion, IncidentStatus, iso
from knowledge.pii import redact

DEFAULT_THRESHOLD = 0.15  # cosine of an INCIDENT_MODELS vector to a cluster centroid (bench/incidents.py)
DEFAULT_ALPHA = 1e-4  # family-wise false-alarm probability per arriving question
# The detector's vectors: each model's query vector (the retriever computed them all), normalised, centred on
# the knowledge's mean, normalised again, weighted (squared weight in the cosine: USE counts twice as much as
# e5) and concatenated. USE puts a Chinese question and its English paraphrase in one space (0.58 centred),
# e5 alone does not (0.23, and 0.01 across the burst's languages): e5 alone opened one incident per language.
# Chosen on the bench's tuning seeds with the threshold (docs/benchmarks.md, "Spike detection").
INCIDENT_MODELS: tuple[tuple[str, float], ...] = (("use-multilingual-v3", 2.0), ("multilingual-e5-small", 1.0))


def incident_models(available: Sequence[str]) -> list[tuple[str, float]]:
    """The INCIDENT_MODELS among ``available`` (with their weights), in their order; if none is, the first
    available model alone (the threshold was chosen for INCIDENT_MODELS: another model's cosines differ)."""
    chosen = [(m, w) for m, w in INCIDENT_MODELS if m in available]
    if chosen or not available:
        return chosen
    return [(available[0], 1.0)]


def incident_vector(vectors: Mapping[str, np.ndarray], models: Sequence[tuple[str, float]]) -> np.ndarray:
    """The raw vectors of ``models`` (one query row or a 1-d vector each) end to end: what :class:`Question`
    carries when the detector has ``parts`` (its centring, weighting and normalising is the detector's)."""
    return np.concatenate([np.asarray(vectors[m], dtype=np.float32).reshape(-1) for m, _ in models])


def poisson_sf(k: int, mu: float) -> float:
    """P(N >= k) for N ~ Poisson(mu)."""
    if k <= 0:
        return 1.0
    if mu <= 0:
        return 0.0
    # 1 - P(N <= k-1), summed in log space from the top term down for accuracy in the far tail
    terms = [i * math.log(mu) - mu - math.lgamma(i + 1) for i in range(k, k + 400)]
    top = max(terms)
    tail = top + math.log(sum(math.exp(t - top) for t in terms))
    return min(1.0, math.exp(tail))


def negbin_sf(k: int, shape: float, exposure: float, window: float) -> float:
    """P(N >= k) for the Gamma-Poisson predictive count in ``window`` of a rate with a Gamma(``shape``,
    rate ``exposure``) posterior: negative binomial with r = shape, p = exposure / (exposure + window)."""
    if k <= 0:
        return 1.0
    r, p = shape, exposure / (exposure + window)
    log_p, log_q = math.log(p), math.log1p(-p)

    def log_pmf(i: int) -> float:
        return math.lgamma(i + r) - math.lgamma(r) - math.lgamma(i + 1) + r * log_p + i * log_q

    terms = [log_pmf(i) for i in range(k, k + 2000)]
    top = max(terms)
    return min(1.0, math.exp(top + math.log(sum(math.exp(t - top) for t in terms))))


@dataclass(frozen=True)
class Question:
    """One handed-off or low-confidence customer question."""

    at: datetime  # aware
    vector: np.ndarray  # the query embedding (any scale; normalised here)
    lang: str
    channel: str
    conversation_id: str
    handoff_id: int | None = None
    text: str = ""


@dataclass
class _Member:
    at: datetime
    vector: np.ndarray
    question: Question
    joined: bool  # False for the question that founded the cluster


@dataclass
class Cluster:
    key: str
    members: list[_Member] = field(default_factory=list)
    incident: str | None = None  # the incident key once it opened one
    muted_until: datetime | None = None  # a dismissed incident: no new alarm from this cluster until then

    def centroid(self) -> np.ndarray:
        m = np.mean([x.vector for x in self.members], axis=0)
        return m / max(float(np.linalg.norm(m)), 1e-12)

    def questions(self) -> list[Question]:
        return [m.question for m in self.members]


@dataclass(frozen=True)
class Suspected:
    """An incident the detector suspects: the cluster's questions within the window, oldest first."""

    key: str
    cluster: str
    questions: tuple[Question, ...]
    count: int  # distinct conversations in the short window
    expected: float  # the null's expected count in the short window
    p_value: float
    threshold: float  # the alpha it was tested at
    regime: str
    title: str = ""  # the most central question's text


    @property
    def first_seen(self) -> datetime:
        return self.questions[0].at

    @property
    def last_seen(self) -> datetime:
        return self.questions[-1].at

    @property
    def languages(self) -> list[str]:
        return sorted({q.lang for q in self.questions})

    @property
    def channels(self) -> list[str]:
        return sorted({q.channel for q in self.questions})


@dataclass(frozen=True)
class Observed:
    """What one question did: the cluster it joined, the incident that cluster belongs to (if any), and
    the incident it opened now (if it did)."""

    cluster: str
    incident: str | None
    opened: Suspected | None = None
    p_value: float = 1.0


@dataclass
class _Rate:
    """Joins and minutes of one regime, exponentially forgotten."""

    joins: float = 0.0
    minutes: float = 0.0


def regime_of_calendar(is_open: Callable[[datetime], bool]) -> Callable[[datetime], str]:
    """Business or off hours, by a team calendar's ``is_open``."""
    return lambda at: "business" if is_open(at) else "off"


class SpikeDetector:
    """Online clusters of questions and a test of each cluster's recent count against the base rate.

    Thread-safe. ``centre``: subtracted from every normalised vector before the cosine (e5's cosines are
    anisotropic: any two questions score about 0.8; the mean of the knowledge's vectors is a good centre,
    as for the content gaps). ``parts``: the vector is several models' vectors end to end (INCIDENT_MODELS),
    given as (dimension, weight) each; each part is normalised and centred on its own slice of ``centre``,
    then weighted. With centred e5 alone a Chinese question and its English paraphrase scored about 0 (0.01
    on the bench's burst), so one incident opened once per language (tried then: one centre per language;
    merging clusters by per-language-centred centroids; both linked only 40-48 of the 60 burst questions).
    ``merge``: clusters whose centroids come within ``threshold`` of each other merge.
    ``prior_joins_per_hour`` and ``prior_hours``: the Gamma prior of the join rate of each regime (a weak
    one: after a day the data dominate)."""

    def __init__(
        self,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        window: timedelta = timedelta(minutes=60),
        short: timedelta = timedelta(minutes=10),
        alpha: float = DEFAULT_ALPHA,
        min_count: int = 3,
        half_life: timedelta = timedelta(days=7),
        regime: Callable[[datetime], str] = lambda at: "any",
        prior_joins_per_hour: float = 2.0,
        prior_hours: float = 2.0,
        centre: np.ndarray | None = None,
        mute_for: timedelta = timedelta(hours=6),
        merge: bool = True,
        parts: Sequence[tuple[int, float]] | None = None,
    ) -> None:
        self.threshold = threshold
        self.window = window
        self.short = short
        self.alpha = alpha
        self.min_count = min_count
        self.half_life_minutes = half_life.total_seconds() / 60
        self.regime = regime
        self.prior_joins = prior_joins_per_hour * prior_hours
        self.prior_minutes = prior_hours * 60.0
        self.mute_for = mute_for
        self.merge = merge
        self._centre = None if centre is None else np.asarray(centre, dtype=np.float32)
        self._parts = None if parts is None else tuple(parts)
        self._clusters: dict[str, Cluster] = {}
        self._rates: dict[str, _Rate] = {}
        self._clock: datetime | None = None
        self._lock = threading.Lock()

    # -- state -------------------------------------------------------------------------------------

    def set_centre(self, centre: np.ndarray | None, parts: Sequence[tuple[int, float]] | None = None) -> None:
        """A new centre (the knowledge changed): the clusters' vectors were centred on the old one, so
        they are re-centred (the raw vectors are kept). ``parts``: as in the constructor."""
        with self._lock:
            self._centre = None if centre is None else np.asarray(centre, dtype=np.float32)
            self._parts = None if parts is None else tuple(parts)
            for c in self._clusters.values():
                for m in c.members:
                    m.vector = self._prepare(m.question.vector)

    def rate(self, regime: str) -> float:
        """The estimated join rate of ``regime`` per minute (posterior mean)."""
        r = self._rates.get(regime, _Rate())
        return (r.joins + self.prior_joins) / (r.minutes + self.prior_minutes)

    @property
    def clusters(self) -> list[Cluster]:
        with self._lock:
            return list(self._clusters.values())

    def dismiss(self, incident: str, at: datetime) -> None:
        """An agent dismissed ``incident``: its cluster stops linking questions to it and stays silent
        for ``mute_for``."""
        with self._lock:
            for c in self._clusters.values():
                if c.incident == incident:
                    c.incident = None
                    c.muted_until = at + self.mute_for

    def forget_incident(self, incident: str) -> None:
        """The incident is over (resolved): its cluster is dropped, so a question like it founds a new one
        and only a new spike after the fix pages again (the burst still in the window does not)."""
        with self._lock:
            for key in [k for k, c in self._clusters.items() if c.incident == incident]:
                del self._clusters[key]

    # -- the stream --------------------------------------------------------------------------------

    def _prepare(self, vector: np.ndarray) -> np.ndarray:
        v = np.asarray(vector, dtype=np.float32).reshape(-1)
        if self._parts is not None and len(self._parts) > 1:
            out, at = [], 0
            for dim, weight in self._parts:
                part = self._prepare_part(v[at : at + dim], None if self._centre is None else self._centre[at : at + dim])
                out.append(part * math.sqrt(weight))
                at += dim
            w = np.concatenate(out)
            return w / max(float(np.linalg.norm(w)), 1e-12)
        return self._prepare_part(v, self._centre)

    @staticmethod
    def _prepare_part(v: np.ndarray, centre: np.ndarray | None) -> np.ndarray:
        v = v / max(float(np.linalg.norm(v)), 1e-12)
        if centre is not None:
            v = v - centre
            v = v / max(float(np.linalg.norm(v)), 1e-12)
        return v

    def _advance(self, at: datetime) -> None:
        """Time passes: exposure is added to the regime of the elapsed time (split per minute boundary
        is not needed: questions arrive far more often than regimes change), old members leave."""
        if self._clock is not None and at > self._clock:
            minutes = (at - self._clock).total_seconds() / 60
            decay = 0.5 ** (minutes / self.half_life_minutes)
            for r in self._rates.values():
                r.joins *= decay
                r.minutes *= decay
            self._rates.setdefault(self.regime(self._clock), _Rate()).minutes += minutes
        if self._clock is None or at > self._clock:
            self._clock = at
        horizon = at - self.window
        for key in list(self._clusters):
            c = self._clusters[key]
            c.members = [m for m in c.members if m.at > horizon]
            if not c.members:
                del self._clusters[key]

    def observe(self, q: Question) -> Observed:
        with self._lock:
            self._advance(q.at)
            v = self._prepare(q.vector)
            best, best_sim = None, -1.0
            if self._clusters:
                keys = list(self._clusters)
                cents = np.stack([self._clusters[k].centroid() for k in keys])
                sims = cents @ v
                i = int(np.argmax(sims))
                best, best_sim = self._clusters[keys[i]], float(sims[i])
            if best is None or best_sim < self.threshold:
                c = Cluster(uuid.uuid4().hex[:12])
                c.members.append(_Member(q.at, v, q, joined=False))
                self._clusters[c.key] = c
                return Observed(c.key, None)
            c = best
            c.members.append(_Member(q.at, v, q, joined=True))
            if self.merge:
                self._absorb(c)
            if c.incident is not None:  # part of a known incident: linked, not counted as normal traffic
                return Observed(c.key, c.incident)
            regime = self.regime(q.at)
            count, expected, p = self._test(c, q.at)
            rate = self._rates.setdefault(regime, _Rate())
            rate.joins += 1
            cut = self.alpha  # one test per question; the expectation already bounds every cluster (see above)
            muted = c.muted_until is not None and q.at < c.muted_until
            if p < cut and count >= self.min_count and not muted:
                c.incident = uuid.uuid4().hex
                cent = c.centroid()
                central = max(c.members, key=lambda m: float(m.vector @ cent)).question
                s = Suspected(
                    c.incident, c.key, tuple(c.questions()), count, expected, p, cut, regime, central.text
                )
                return Observed(c.key, c.incident, s, p)
            return Observed(c.key, None, None, p)

    def match(self, vector: np.ndarray, at: datetime) -> str | None:
        """The incident whose cluster ``vector`` would join, without adding it (a question the bot answered:
        it is no evidence of a spike, but while an incident is confirmed its customers get its note)."""
        with self._lock:
            self._advance(at)
            incidents = [c for c in self._clusters.values() if c.incident is not None]
            if not incidents:
                return None
            v = self._prepare(vector)
            cents = np.stack([c.centroid() for c in incidents])
            sims = cents @ v
            i = int(np.argmax(sims))
            return incidents[i].incident if float(sims[i]) >= self.threshold else None

    def _absorb(self, c: Cluster) -> None:
        """Clusters whose centroid is now as close to ``c``'s as a member would have to be join it: the first
        questions of one topic, asked differently (another language, an error code), often found
        clusters of their own before their common centre emerges."""
        others = [k for k in self._clusters if k != c.key]
        if not others:
            return
        cent = c.centroid()
        sims = np.stack([self._clusters[k].centroid() for k in others]) @ cent
        for k, sim in zip(others, sims, strict=True):
            if sim >= self.threshold:
                other = self._clusters.pop(k)
                c.members = sorted(c.members + other.members, key=lambda m: m.at)
                c.incident = c.incident or other.incident
                if other.muted_until is not None:
                    c.muted_until = max(c.muted_until or other.muted_until, other.muted_until)

    def _test(self, c: Cluster, at: datetime) -> tuple[int, float, float]:
        """The cluster's distinct conversations joining in the short window, the count the null expects
        there, and the p-value of seeing at least that many."""
        since = at - self.short
        joined = {m.question.conversation_id for m in c.members if m.at > since and m.joined}
        founders = {m.question.conversation_id for m in c.members if not m.joined}
        count = len(joined - founders)
        # the window may straddle the end of business hours: each minute at its own regime's rate (the
        # joins of 17:55 are not tested against the night's rate at 18:05)
        minutes = self.short.total_seconds() / 60
        steps = max(1, int(round(minutes)))
        share: dict[str, float] = {}
        for i in range(steps):
            t = since + self.short * ((i + 0.5) / steps)
            share[self.regime(t)] = share.get(self.regime(t), 0.0) + minutes / steps
        expected, shape, biggest = 0.0, 0.0, -1.0
        for name, w in share.items():
            r = self._rates.get(name, _Rate())
            a, b = r.joins + self.prior_joins, r.minutes + self.prior_minutes
            part = a / b * w
            expected += part
            if part > biggest:  # the predictive's spread: that of the regime the expectation rests on most
                biggest, shape = part, a
        return count, expected, negbin_sf(count, shape, shape / expected, 1.0)


def summary(s: Suspected, short: timedelta = timedelta(minutes=10)) -> str:
    """One line for a pager or a chat channel."""
    conv = len({q.conversation_id for q in s.questions})
    minutes = int((s.last_seen - s.first_seen).total_seconds() // 60) + 1
    return (
        f"{conv} customers asked the same unanswered question within {minutes} min ({len(s.questions)} "
        f"questions; {', '.join(s.languages)}; {', '.join(s.channels)}): {s.count} in the last "
        f"{int(short.total_seconds() // 60)} min where {s.expected:.2f} are expected (p = {s.p_value:.1e})"
    )


class IncidentRepoLike(Protocol):
    """What :class:`IncidentWatch` needs of ``escalation.storage.repos.IncidentRepo``."""

    def open(
        self,
        key: str,
        title: str,
        summary: str,
        questions: list[IncidentQuestion],
        detection: dict[str, Any],
        console_url: Callable[[int], str | None] = ...,
    ) -> tuple[dict[str, Any], bool]: ...

    def link(self, incident_id: int, q: IncidentQuestion) -> bool: ...

    def get(self, incident_id: int) -> dict[str, Any]: ...

    def set_link_handoff(self, incident_id: int, conversation_id: str, handoff_id: int) -> None: ...

    def set_status(
        self,
        incident_id: int,
        status: IncidentStatus,
        actor: str,
        note_en: str | None = None,
        note_zh: str | None = None,
        reason: str | None = None,
    ) -> dict[str, Any]: ...


def incident_question(q: Question) -> IncidentQuestion:
    return IncidentQuestion(q.conversation_id, q.lang, q.channel, q.text, iso(q.at), q.handoff_id)


def detection(s: Suspected) -> dict[str, Any]:
    """How the detector decided, for the incident's record and its page."""
    return {
        "count": s.count,
        "expected": round(s.expected, 4),
        "p_value": float(f"{s.p_value:.3g}"),
        "threshold": float(f"{s.threshold:.3g}"),
        "regime": s.regime,
    }


class IncidentWatch:
    """The detector and the incidents it opens: a suspected incident is stored (and paged) once, later
    questions of its cluster are linked to it, a dismissed one silences its cluster.

    In memory per process: on several replicas each watches the questions it answers."""

    def __init__(
        self,
        repo: IncidentRepoLike,
        detector: SpikeDetector,
        console_url: Callable[[int], str | None] = lambda incident_id: None,
    ) -> None:
        self.repo = repo
        self.detector = detector
        self.console_url = console_url
        self._ids: dict[str, int] = {}  # detector key -> incident id
        self._lock = threading.Lock()

    def observe(self, q: Question) -> int | None:
        """Feed one question; the id of the incident it belongs to, if any (opened now or before)."""
        o = self.detector.observe(q)
        if o.opened is not None:
            s = o.opened
            title = redact(" ".join((s.title or s.questions[-1].text).split()))[:200]
            row, _ = self.repo.open(
                s.key, title, summary(s, self.detector.short), [incident_question(x) for x in s.questions],
                detection(s), self.console_url,
            )
            with self._lock:
                self._ids[s.key] = int(row["id"])
            return int(row["id"])
        if o.incident is None:
            return None
        with self._lock:
            incident_id = self._ids.get(o.incident)
        if incident_id is None:
            return None
        try:
            self.repo.link(incident_id, incident_question(q))
        except InvalidTransition:  # dismissed or resolved meanwhile (by another replica): stop linking
            self.detector.dismiss(o.incident, q.at)
            return None
        return incident_id

    def match(self, q: Question) -> int | None:
        """The incident ``q``'s cluster belongs to, without feeding the detector (an answered question);
        linked when it is confirmed (its customer is then told its note)."""
        key = self.detector.match(q.vector, q.at)
        if key is None:
            return None
        with self._lock:
            incident_id = self._ids.get(key)
        if incident_id is None or self.repo.get(incident_id)["status"] != IncidentStatus.CONFIRMED:
            return None
        try:
            self.repo.link(incident_id, incident_question(q))
        except InvalidTransition:
            return None
        return incident_id

    def attach_handoff(self, incident_id: int, conversation_id: str, handoff_id: int) -> None:
        """The linked question was handed off after it was linked: its link carries the handoff."""
        self.repo.set_link_handoff(incident_id, conversation_id, handoff_id)

    def _key(self, incident_id: int) -> str | None:
        with self._lock:
            return next((k for k, v in self._ids.items() if v == incident_id), None)

    def set_status(
        self,
        incident_id: int,
        status: IncidentStatus,
        actor: str,
        note_en: str | None = None,
        note_zh: str | None = None,
        at: datetime | None = None,
        reason: str | None = None,
    ) -> dict[str, Any]:
        row = self.repo.set_status(incident_id, status, actor, note_en, note_zh, reason)
        key = self._key(incident_id) or str(row.get("key", ""))
        if status == IncidentStatus.DISMISSED:
            self.detector.dismiss(key, at or datetime.now(UTC))
        elif status == IncidentStatus.RESOLVED:
            self.detector.forget_incident(key)
        return row
