"""Community clustering of questions: coherent groups, every question once, central member first."""

from __future__ import annotations

import numpy as np

from indexer.clustering import communities, pairwise_scores


def _vectors() -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(0)
    axes = np.eye(8, dtype=np.float32)
    rows, labels = [], []
    for topic, size in (("a", 5), ("b", 3), ("c", 1)):
        axis = axes["abc".index(topic)]
        for _ in range(size):
            rows.append(axis + rng.normal(0, 0.05, 8).astype(np.float32))
            labels.append(topic)
    return np.vstack(rows), labels


def test_topics_become_clusters_largest_first() -> None:
    vectors, labels = _vectors()
    clusters = communities(vectors, threshold=0.8)
    assert [len(c.members) for c in clusters] == [5, 3, 1]
    assert sorted(m for c in clusters for m in c.members) == list(range(len(labels)))
    assert pairwise_scores(clusters, labels) == {"pair_precision": 1.0, "pair_recall": 1.0, "pair_f1": 1.0, "purity": 1.0}
    first = clusters[0]
    assert list(first.centrality) == sorted(first.centrality, reverse=True)
    assert first.medoid == first.members[0]


def test_a_low_threshold_merges_and_the_scores_say_so() -> None:
    vectors, labels = _vectors()
    merged = communities(vectors, threshold=-1.0)
    assert len(merged) == 1
    scores = pairwise_scores(merged, labels)
    assert scores["pair_recall"] == 1.0 and scores["pair_precision"] < 0.5 and scores["purity"] == 5 / 9


def test_centring_separates_what_a_shared_direction_hides() -> None:
    # every vector shares one big common component (e5's anisotropy): raw cosines are all high
    vectors, labels = _vectors()
    common = np.full(8, 3.0, dtype=np.float32)
    shifted = vectors + common
    assert len(communities(shifted, threshold=0.8)) == 1
    centre = (shifted / np.linalg.norm(shifted, axis=1, keepdims=True)).mean(axis=0)
    assert [len(c.members) for c in communities(shifted, threshold=0.5, centre=centre)] == [5, 3, 1]


def test_nothing_and_min_size() -> None:
    assert communities(np.zeros((0, 4), dtype=np.float32)) == []
    vectors, _ = _vectors()
    assert [len(c.members) for c in communities(vectors, threshold=0.8, min_size=2)] == [5, 3]
