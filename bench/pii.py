"""PII finder (``knowledge.pii``) beside its baselines, in one run, on labelled message sets.

    python -m bench.pii                                   # every set below that exists
    python -m bench.pii --set data/eval/pii-dev.jsonl     # one set (repeat --set for more)
    python -m bench.pii --no-presidio                     # skip the presidio baselines

Sets are JSON lines: ``{"id", "lang": "zh|en|mixed", "text", "spans": [{"start", "end", "kind"}]}``.
``data/eval/pii-dev.jsonl`` was generated while developing (checksummed values, look-alikes);
``data/eval/pii-test.jsonl`` is written blind to the code and is never tuned on.

Systems:

- **ours**: ``knowledge.pii.find_pii`` (checksums, context words, look-alike rules).
- **baseline: naive regex**: emails, any 11-digit ``1[3-9]`` run (phone), any 16-19 digit run (bank
  card), any 18-character id shape (17 digits + digit/X: resident id; 18 of the credit-code alphabet:
  credit code), no checksum, no context. It shows what the checksums and rules buy.
- **baseline: presidio-analyzer** (only when it is installed; not a dependency of the project): a
  blank spaCy pipeline (no model download), its predefined email, phone, credit-card and IBAN
  recognizers; and the same plus custom recognizers (Chinese mobile, resident id and credit code
  with our checksums, an EU VAT shape, presidio's DE/IT VAT recognizers, phones for CN and the other
  regions of the set).

Scores: a predicted span is a true positive when start, end and kind equal a gold span's (exact);
"overlap recall" counts a gold span found when a predicted span of its kind overlaps it. "look-alike
FP" counts predicted spans that overlap no gold span at all (invoice numbers, amounts, dates... taken
for PII). Throughput is messages per second of one core, over the whole set, repeated.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from knowledge.pii import PiiKind, credit_code_check, find_pii, resident_id_check

ROOT = Path(__file__).resolve().parent.parent
SETS = [ROOT / "data" / "eval" / "pii-dev.jsonl", ROOT / "data" / "eval" / "pii-test.jsonl"]
OUT = ROOT / "bench" / "out"
KINDS = [k.value for k in PiiKind]

Span = tuple[int, int, str]
Finder = Callable[[str], list[Span]]


@dataclass
class Message:
    id: str
    lang: str
    text: str
    spans: list[Span]


def load_set(path: Path) -> list[Message]:
    out = []
    for line in path.open(encoding="utf-8"):
        if line.strip():
            d = json.loads(line)
            spans = [(int(s["start"]), int(s["end"]), str(s["kind"])) for s in d["spans"]]
            out.append(Message(str(d["id"]), str(d.get("lang", "")), str(d["text"]), spans))
    return out


def ours(text: str) -> list[Span]:
    return [(s.start, s.end, s.kind.value) for s in find_pii(text)]


_NAIVE: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), "email"),
    (re.compile(r"(?<!\d)\d{17}[\dXx](?![0-9A-Za-z])"), "resident_id"),
    (re.compile(r"(?<![0-9A-Za-z])[0-9A-HJ-NPQRTUWXY]{18}(?![0-9A-Za-z])"), "credit_code"),
    (re.compile(r"(?<!\d)\d{16,19}(?!\d)"), "bank_card"),
    (re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)"), "phone"),
]


def naive(text: str) -> list[Span]:
    """Patterns in order; a later one never overlaps an earlier one's span."""
    found: list[Span] = []
    for pattern, kind in _NAIVE:
        for m in pattern.finditer(text):
            if all(m.end() <= s or m.start() >= e for s, e, _ in found):
                found.append((m.start(), m.end(), kind))
    return sorted(found)


def presidio_finders() -> list[tuple[str, Finder]]:
    """Presidio with a blank spaCy pipeline, or nothing when presidio-analyzer is not installed."""
    try:
        import spacy
        import tldextract
        from presidio_analyzer import AnalyzerEngine, Pattern, PatternRecognizer, RecognizerRegistry
        from presidio_analyzer.nlp_engine import SpacyNlpEngine
        from presidio_analyzer.predefined_recognizers import (
            CreditCardRecognizer,
            DeVatIdRecognizer,
            EmailRecognizer,
            IbanRecognizer,
            ItVatCodeRecognizer,
            PhoneRecognizer,
        )
    except ImportError:
        return []
    # the email recognizer's domain check would fetch the public suffix list: use the bundled copy
    tldextract.tldextract.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=())

    class BlankEngine(SpacyNlpEngine):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(models=[{"lang_code": "en", "model_name": "blank"}])

        def load(self) -> None:
            self.nlp = {"en": spacy.blank("xx")}  # type: ignore[assignment]  # any script; no model download

    engine = BlankEngine()
    engine.load()
    entity_kind = {
        "EMAIL_ADDRESS": "email", "PHONE_NUMBER": "phone", "CREDIT_CARD": "bank_card", "IBAN_CODE": "iban",
        "CN_RESIDENT_ID": "resident_id", "CN_CREDIT_CODE": "credit_code", "EU_VAT": "vat_id",
        "DE_VAT_ID": "vat_id", "IT_VAT_CODE": "vat_id",
    }  # fmt: skip

    class Checked(PatternRecognizer):  # type: ignore[misc]
        def __init__(self, entity: str, regex: str, check: Callable[[str], bool], context: list[str]) -> None:
            super().__init__(entity, patterns=[Pattern(entity, regex, 0.5)], context=context)
            self._check = check

        def validate_result(self, pattern_text: str) -> bool:
            return self._check(pattern_text.upper())

    def analyzer(custom: bool) -> AnalyzerEngine:
        registry = RecognizerRegistry(supported_languages=["en"])
        registry.add_recognizer(EmailRecognizer())
        registry.add_recognizer(CreditCardRecognizer())
        registry.add_recognizer(IbanRecognizer())
        if not custom:
            registry.add_recognizer(PhoneRecognizer())
            return AnalyzerEngine(nlp_engine=engine, registry=registry, supported_languages=["en"])
        regions = ["CN", "US", "GB", "DE", "FR", "NL", "HK", "TW", "SG", "JP", "AU", "IT", "ES", "CH"]
        registry.add_recognizer(PhoneRecognizer(supported_regions=regions))
        registry.add_recognizer(DeVatIdRecognizer())
        registry.add_recognizer(ItVatCodeRecognizer())
        registry.add_recognizer(
            Checked(
                "PHONE_NUMBER",
                r"(?<!\d)(?:\+?86[ -]?)?1[3-9]\d[ -]?\d{4}[ -]?\d{4}(?!\d)",
                lambda s: True,
                ["手机", "电话", "phone", "mobile"],
            )
        )
        registry.add_recognizer(
            Checked(
                "CN_RESIDENT_ID",
                r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])",
                lambda s: resident_id_check(s[:17]) == s[17],
                ["身份证", "resident", "ID"],
            )
        )
        registry.add_recognizer(
            Checked(
                "CN_CREDIT_CODE",
                r"(?<![0-9A-Za-z])[0-9A-HJ-NPQRTUWXY]{18}(?![0-9A-Za-z])",
                lambda s: credit_code_check(s[:17]) == s[17],
                ["税号", "信用代码", "tax"],
            )
        )
        registry.add_recognizer(
            Checked(
                "EU_VAT",
                r"\b(?:AT|BE|BG|CY|CZ|DE|DK|EE|EL|ES|FI|FR|HR|HU|IE|IT|LT|LU|LV|MT|NL|PL|PT|RO|SE|SI|SK|GB|XI)[ ]?[0-9A-Z]{8,12}\b|\bCHE-?\d{3}\.?\d{3}\.?\d{3}\b",
                lambda s: True,
                ["VAT", "USt", "TVA", "BTW", "IVA"],
            )
        )
        return AnalyzerEngine(nlp_engine=engine, registry=registry, supported_languages=["en"])

    def finder(engine_: AnalyzerEngine) -> Finder:
        entities = sorted({r for rec in engine_.registry.recognizers for r in rec.supported_entities})

        def find(text: str) -> list[Span]:
            results = engine_.analyze(text, language="en", entities=entities)
            spans = [
                (r.start, r.end, entity_kind[r.entity_type]) for r in results if r.entity_type in entity_kind
            ]
            kept: list[Span] = []
            for s in sorted(spans, key=lambda s: (s[0] - s[1], s[0])):  # longest first, no overlaps
                if all(s[1] <= k[0] or s[0] >= k[1] for k in kept):
                    kept.append(s)
            return sorted(kept)

        return find

    return [
        ("baseline: presidio-analyzer, predefined recognizers (blank spaCy)", finder(analyzer(False))),
        ("baseline: presidio-analyzer + custom recognizers (with our checksums)", finder(analyzer(True))),
    ]


def score(messages: Sequence[Message], predicted: Sequence[list[Span]]) -> dict[str, Any]:
    per = {k: {"support": 0, "tp": 0, "fp": 0, "fn": 0, "overlap": 0} for k in KINDS}
    lookalike = 0
    errors: list[dict[str, Any]] = []
    for msg, pred in zip(messages, predicted, strict=True):
        gold = set(msg.spans)
        got = set(pred)
        for s, e, k in gold:
            row = per.setdefault(k, {"support": 0, "tp": 0, "fp": 0, "fn": 0, "overlap": 0})
            row["support"] += 1
            if (s, e, k) in got:
                row["tp"] += 1
            else:
                row["fn"] += 1
            if any(pk == k and ps < e and s < pe for ps, pe, pk in got):
                row["overlap"] += 1
        for s, e, k in got - gold:
            per.setdefault(k, {"support": 0, "tp": 0, "fp": 0, "fn": 0, "overlap": 0})["fp"] += 1
            if not any(gs < e and s < ge for gs, ge, _ in gold):
                lookalike += 1
        if got != gold:
            errors.append(
                {
                    "id": msg.id,
                    "missed": [(k, msg.text[s:e]) for s, e, k in sorted(gold - got)],
                    "wrong": [(k, msg.text[s:e]) for s, e, k in sorted(got - gold)],
                }
            )
    total = {key: sum(r[key] for r in per.values()) for key in ("support", "tp", "fp", "fn", "overlap")}
    return {"per_kind": per, "micro": total, "lookalike_fp": lookalike, "errors": errors}


def rates(r: dict[str, int]) -> dict[str, float]:
    p = r["tp"] / (r["tp"] + r["fp"]) if r["tp"] + r["fp"] else float("nan")
    rec = r["tp"] / r["support"] if r["support"] else float("nan")
    f1 = 2 * p * rec / (p + rec) if p + rec and p == p and rec == rec else float("nan")
    ov = r["overlap"] / r["support"] if r["support"] else float("nan")
    return {"precision": p, "recall": rec, "f1": f1, "overlap_recall": ov}


def throughput(find: Finder, texts: Sequence[str], min_seconds: float = 1.0) -> float:
    """Messages per second over the whole set, repeated until ``min_seconds`` have passed."""
    n, started = 0, time.perf_counter()
    while True:
        for t in texts:
            find(t)
        n += len(texts)
        elapsed = time.perf_counter() - started
        if elapsed >= min_seconds:
            return n / elapsed


def fmt(v: Any) -> str:
    if isinstance(v, float):
        return "—" if v != v else f"{v:.3f}"
    return str(v)


def kind_table(result: dict[str, Any]) -> list[str]:
    lines = [
        "| kind | support | TP | FP | FN | precision | recall | overlap recall |",
        "|---|---|---|---|---|---|---|---|",
    ]
    rows = [(k, r) for k, r in result["per_kind"].items() if r["support"] or r["fp"]]
    for name, r in [*rows, ("**micro**", result["micro"])]:
        m = rates(r)
        lines.append(
            f"| {name} | {r['support']} | {r['tp']} | {r['fp']} | {r['fn']} | {fmt(m['precision'])} | "
            f"{fmt(m['recall'])} | {fmt(m['overlap_recall'])} |"
        )
    return lines


def evaluate(
    path: Path, systems: Sequence[tuple[str, Finder]], show_errors: int
) -> tuple[str, dict[str, Any]]:
    messages = load_set(path)
    texts = [m.text for m in messages]
    langs = sorted({m.lang for m in messages})
    n_spans = sum(len(m.spans) for m in messages)
    chars = sum(len(t) for t in texts) / max(1, len(texts))
    lines = [f"\n## {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}\n"]
    lines.append(
        f"{len(messages)} messages ({', '.join(f'{sum(m.lang == g for m in messages)} {g}' for g in langs)}), "
        f"{n_spans} gold spans, {chars:.0f} characters per message on average.\n"
    )
    summary = [
        "| system | precision | recall | F1 | overlap recall | look-alike FP | messages/s | µs/message |",
        "|---|---|---|---|---|---|---|---|",
    ]
    details: list[str] = []
    report: dict[str, Any] = {"set": str(path), "messages": len(messages), "spans": n_spans, "systems": {}}
    for name, find in systems:
        predicted = [find(t) for t in texts]
        result = score(messages, predicted)
        speed = throughput(find, texts, 1.0 if name == "ours" else 0.3)
        m = rates(result["micro"])
        summary.append(
            f"| {name} | {fmt(m['precision'])} | {fmt(m['recall'])} | {fmt(m['f1'])} | {fmt(m['overlap_recall'])} | "
            f"{result['lookalike_fp']} | {speed:,.0f} | {1e6 / speed:,.0f} |"
        )
        details += [f"\n### {name}\n", *kind_table(result)]
        if name == "ours" and len(langs) > 1:
            details += [
                "\nPer language (ours):\n",
                "| lang | support | TP | FP | FN | precision | recall |",
                "|---|---|---|---|---|---|---|",
            ]
            for g in langs:
                idx = [i for i, msg in enumerate(messages) if msg.lang == g]
                r = score([messages[i] for i in idx], [predicted[i] for i in idx])["micro"]
                lr = rates(r)
                details.append(
                    f"| {g} | {r['support']} | {r['tp']} | {r['fp']} | {r['fn']} | {fmt(lr['precision'])} | {fmt(lr['recall'])} |"
                )
        if name == "ours" and show_errors and result["errors"]:
            details.append(
                f"\nFirst {min(show_errors, len(result['errors']))} of {len(result['errors'])} messages with an error (ours):\n"
            )
            for e in result["errors"][:show_errors]:
                details.append(f"- {e['id']}: missed {e['missed']}, wrong {e['wrong']}")
        report["systems"][name] = {
            **result,
            "messages_per_second": speed,
            "errors": result["errors"][:show_errors],
        }
    return "\n".join([*lines, *summary, *details]), report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--set",
        dest="sets",
        action="append",
        type=Path,
        help="A JSONL set; repeat for more (default: every one of data/eval/pii-*.jsonl that exists).",
    )
    ap.add_argument(
        "--no-presidio",
        action="store_true",
        help="Skip the presidio baselines even when presidio is installed.",
    )
    ap.add_argument(
        "--errors", type=int, default=0, help="List this many of our wrong messages per set (ids and values)."
    )
    args = ap.parse_args()
    paths = (
        [p if p.is_absolute() else Path.cwd() / p for p in args.sets]
        if args.sets
        else [p for p in SETS if p.exists()]
    )
    systems: list[tuple[str, Finder]] = [
        ("ours", ours),
        ("baseline: naive regex (no checksums, no context)", naive),
    ]
    if not args.no_presidio:
        found = presidio_finders()
        if not found:
            print("(presidio-analyzer is not installed: its baselines are left out)")
        systems += found
    texts, reports = [], []
    for path in paths:
        text, report = evaluate(path.resolve(), systems, args.errors)
        print(text, flush=True)
        texts.append(text)
        reports.append(report)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "pii.md").write_text("\n".join(texts) + "\n", encoding="utf-8")
    (OUT / "pii.json").write_text(json.dumps(reports, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"\nwritten {OUT / 'pii.md'}")


if __name__ == "__main__":
    main()
