import pytest

from bot.flow.decision import ScoredCandidate, Thresholds, decide

TH = Thresholds(answer=0.7, clarify=0.6, clarify_margin=0.5)
C = [
    ScoredCandidate("credit-note", 10.0),
    ScoredCandidate("void-invoice", 9.8),
    ScoredCandidate("vat-rates", 7.0),
]


@pytest.mark.parametrize(
    ("cands", "p_top", "p_among", "human", "after", "kind", "reason", "suggestions"),
    [
        (C, 0.9, 0.95, False, False, "answer", "confident", ()),
        (C, 0.7, 0.95, False, False, "answer", "confident", ()),
        (C, 0.5, 0.8, False, False, "clarify", "close_candidates", ("credit-note", "void-invoice")),
        (C, 0.5, 0.8, False, True, "handoff", "low_confidence", ()),  # second miss after "did you mean"
        (C, 0.5, 0.4, False, False, "handoff", "low_confidence", ()),
        (C[:1] + C[2:], 0.5, 0.9, False, False, "handoff", "low_confidence", ()),  # nothing close to offer
        (C, 0.99, 0.99, True, False, "handoff", "customer_request", ()),
        ([], 0.0, 0.0, False, False, "handoff", "missing_knowledge", ()),
    ],
)
def test_decide(cands, p_top, p_among, human, after, kind, reason, suggestions) -> None:  # type: ignore[no-untyped-def]
    d = decide(cands, p_top, p_among, TH, wants_human=human, after_clarify=after)
    assert (d.kind, d.reason, d.suggestions) == (kind, reason, suggestions)


def test_suggestions_are_capped() -> None:
    many = [ScoredCandidate(f"e{i}", 10 - i * 0.01) for i in range(6)]
    d = decide(many, 0.1, 0.9, TH)
    assert d.kind == "clarify" and len(d.suggestions) == TH.max_suggestions


def test_close_confusable_entries_are_asked_about_not_answered() -> None:
    th = Thresholds(answer=0.7, clarify=0.6, clarify_margin=0.5, overlap_margin=1.0)
    pair = {("credit-note", "partial-credit-note")}
    cands = [ScoredCandidate("credit-note", 5.0), ScoredCandidate("partial-credit-note", 4.5)]
    d = decide(cands, 0.99, 0.99, th, confusable=pair)
    assert (d.kind, d.reason, d.suggestions) == ("clarify", "near_neighbours", ("credit-note", "partial-credit-note"))
    # far apart, not confusable, or already asked: answer
    far = [cands[0], ScoredCandidate("partial-credit-note", 3.0)]
    assert decide(far, 0.99, 0.99, th, confusable=pair).kind == "answer"
    assert decide(cands, 0.99, 0.99, th, confusable=set()).kind == "answer"
    assert decide(cands, 0.99, 0.99, th, confusable=pair, after_clarify=True).kind == "answer"


def test_a_risk_hands_off_before_anything_else() -> None:
    d = decide(C, 0.99, 0.99, TH, risk="bank_details_change")
    assert (d.kind, d.reason) == ("handoff", "bank_details_change")


def test_an_exact_question_of_the_knowledge_is_answered() -> None:
    d = decide(C, 0.1, 0.1, TH, exact="credit-note")
    assert (d.kind, d.reason) == ("answer", "exact_question")
    assert decide(C, 0.1, 0.1, TH, exact="vat-rates").kind != "answer"  # not the top candidate: no shortcut
    assert decide(C, 0.1, 0.1, TH, exact="credit-note", risk="prompt_injection").kind == "handoff"
