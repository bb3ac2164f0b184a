"""FAQ entries: one markdown file per entry and language, with YAML front matter.

Format::

    ---
    id: credit-note
    lang: en
    questions:
      - How do I correct an invoice I already sent?
    tags: [corrections]
    ---
    # How do I issue a credit note?

    The answer, in markdown.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from knowledge.errors import FaqFormatError, FormatProblem
from knowledge.lang import LANGS, Lang

ID_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
KNOWN_KEYS = {"id", "lang", "questions", "tags"}


@dataclass(frozen=True)
class FaqEntry:
    """One translation of one FAQ entry."""

    id: str
    lang: Lang
    title: str
    questions: tuple[str, ...]
    answer: str
    tags: tuple[str, ...] = ()
    path: Path | None = field(default=None, compare=False)

    @property
    def key(self) -> tuple[str, str]:
        return (self.id, self.lang)


def _key_lines(front: list[str], offset: int) -> dict[str, int]:
    """Map each top-level key of the front matter to its line number in the file."""
    lines: dict[str, int] = {}
    for i, raw in enumerate(front):
        m = re.match(r"^([A-Za-z_][\w-]*)\s*:", raw)
        if m:
            lines.setdefault(m.group(1), offset + i)
    return lines


MAX_ANSWER_CHARS = 8_000  # an answer longer than this is several answers (and is sent on every ask)
MAX_FILE_BYTES = 256 * 1024  # read no further: a file this large is not an FAQ entry


def parse_faq(text: str, path: Path) -> FaqEntry:
    """Parse one FAQ file; raise :class:`FaqFormatError` listing every problem found."""
    problems: list[FormatProblem] = []

    def bad(line: int, message: str) -> None:
        problems.append(FormatProblem(path, line, message))

    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise FaqFormatError(
            [FormatProblem(path, 1, "file must start with a `---` line opening the front matter")]
        )
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise FaqFormatError(
            [FormatProblem(path, 1, "front matter is never closed; add a `---` line after it")]
        ) from None

    front_lines = lines[1:end]
    key_line = _key_lines(front_lines, 2)
    try:
        meta = yaml.safe_load("\n".join(front_lines)) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = (mark.line + 2) if mark is not None else 2
        problem = getattr(exc, "problem", None) or str(exc)
        raise FaqFormatError(
            [
                FormatProblem(
                    path,
                    line,
                    f"front matter is not valid YAML ({problem}); quote values that contain ': ' or '#'",
                )
            ]
        ) from None
    if not isinstance(meta, dict):
        raise FaqFormatError([FormatProblem(path, 2, "front matter must be `key: value` lines")])

    stem = path.stem
    entry_id = meta.get("id")
    if entry_id is None:
        bad(2, f"front matter has no `id`; add `id: {stem}`")
    elif not isinstance(entry_id, str) or not ID_PATTERN.match(entry_id):
        bad(
            key_line.get("id", 2),
            f"`id: {entry_id}` must be lowercase letters, digits and dashes, e.g. `id: {stem}`",
        )

    lang = meta.get("lang")
    if lang is None:
        bad(2, "front matter has no `lang`; add `lang: en` or `lang: zh`")
    elif lang not in LANGS:
        bad(key_line.get("lang", 2), f"unknown `lang: {lang}`; use `en` or `zh`")

    questions = meta.get("questions")
    if questions is None:
        bad(2, "front matter has no `questions`; list at least one other way customers ask this")
        questions = []
    elif not isinstance(questions, list) or not all(isinstance(q, str) and q.strip() for q in questions):
        bad(key_line.get("questions", 2), "`questions` must be a list of non-empty strings (`  - ...`)")
        questions = []
    elif not questions:
        bad(key_line.get("questions", 2), "`questions` is empty; list at least one question")

    tags = meta.get("tags") or []
    if isinstance(tags, str):
        tags = [tags]
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        bad(key_line.get("tags", 2), "`tags` must be a list such as `[corrections]`")
        tags = []

    for key in meta:
        if key not in KNOWN_KEYS:
            bad(key_line.get(str(key), 2), f"unknown key `{key}`; allowed: {', '.join(sorted(KNOWN_KEYS))}")

    body = lines[end + 1 :]
    title, title_line = "", 0
    for i, raw in enumerate(body):
        if raw.strip():
            if raw.startswith("# "):
                title, title_line = raw[2:].strip(), i
            else:
                bad(end + 2 + i, "the body must start with a `# ` heading holding the question")
            break
    if not title and not any(p.message.startswith("the body must") for p in problems):
        bad(end + 2, "no `# ` title after the front matter; add a heading such as `# How do I ...?`")
    answer = "\n".join(body[title_line + 1 :]).strip() if title else ""
    if title and not answer:
        bad(end + 2 + title_line, "no answer text after the title; write the answer below the heading")
    if len(answer) > MAX_ANSWER_CHARS:
        bad(
            end + 2 + title_line,
            f"the answer has {len(answer):,} characters; the limit is {MAX_ANSWER_CHARS:,} (a customer reads it in "
            "a chat bubble): shorten it or split it into several entries",
        )

    if problems:
        raise FaqFormatError(problems)
    assert isinstance(entry_id, str) and lang in LANGS
    return FaqEntry(
        id=entry_id,
        lang=lang,
        title=title,
        questions=tuple(q.strip() for q in questions),
        answer=answer,
        tags=tuple(tags),
        path=path,
    )


def faq_files(folder: Path) -> list[Path]:
    """Every markdown file under ``folder``, in a stable order."""
    return sorted(p for p in folder.rglob("*.md") if p.is_file() and not p.name.startswith("."))


def load_faq(folder: Path) -> tuple[list[FaqEntry], list[FormatProblem]]:
    """Load every FAQ entry under ``folder``.

    Returns the valid entries and the problems of the broken files, so a caller
    can keep serving what is valid and report the rest.
    """
    entries: list[FaqEntry] = []
    problems: list[FormatProblem] = []
    if not folder.is_dir():
        return [], [FormatProblem(folder, 0, "FAQ folder does not exist; pass --faq DIR")]
    seen: dict[tuple[str, str], FaqEntry] = {}
    for path in faq_files(folder):
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                problems.append(
                    FormatProblem(path, 1, f"file is larger than {MAX_FILE_BYTES // 1024} KB; an FAQ entry is one answer")
                )
                continue
            text = path.read_text(encoding="utf-8")
            entry = parse_faq(text, path)
        except UnicodeDecodeError:
            problems.append(FormatProblem(path, 1, "file is not UTF-8 text; save it as UTF-8"))
            continue
        except FaqFormatError as exc:
            problems.extend(exc.problems)
            continue
        if entry.key in seen:
            other = seen[entry.key].path
            problems.append(
                FormatProblem(
                    path,
                    2,
                    f"duplicate entry `id: {entry.id}` with `lang: {entry.lang}` (also in {other}); "
                    "give one of them another id or language",
                )
            )
            continue
        seen[entry.key] = entry
        entries.append(entry)
    return entries, problems


def group_by_id(entries: Iterable[FaqEntry]) -> dict[str, dict[str, FaqEntry]]:
    """Translations of each entry: ``{id: {lang: entry}}``."""
    out: dict[str, dict[str, FaqEntry]] = {}
    for e in entries:
        out.setdefault(e.id, {})[e.lang] = e
    return out


def missing_translations(entries: list[FaqEntry], langs: tuple[str, ...] = ("en", "zh")) -> list[str]:
    """A warning per entry that lacks one of ``langs`` (it is answered in the other, flagged as such)."""
    have: dict[str, dict[str, FaqEntry]] = {}
    for e in entries:
        have.setdefault(e.id, {})[e.lang] = e
    out = []
    for entry_id in sorted(have):
        for lang in langs:
            if lang not in have[entry_id]:
                other = next(iter(have[entry_id].values()))
                out.append(
                    f"{other.path or entry_id}: `id: {entry_id}` has no `lang: {lang}` translation "
                    f"(customers writing in {lang} get the {other.lang} text with a note)"
                )
    return out



def render_faq(entry_id: str, lang: str, title: str, questions: Iterable[str], answer: str, tags: Iterable[str] = ()) -> str:
    """The markdown file of one entry in the format :func:`parse_faq` reads (what the editor page
    publishes): front matter written by YAML so any question is quoted as it needs, then the title and
    the answer. Raises :class:`FaqFormatError` (with the same messages an editor's file gets) when the
    result would not load."""
    front: dict[str, object] = {"id": entry_id, "lang": lang, "questions": [q.strip() for q in questions if q.strip()]}
    tag_list = [t.strip() for t in tags if t.strip()]
    text = "---\n" + yaml.safe_dump(front, allow_unicode=True, sort_keys=False, width=1000)
    if tag_list:
        text += "tags: " + yaml.safe_dump(tag_list, allow_unicode=True, default_flow_style=True, width=1000).strip() + "\n"
    text += f"---\n# {' '.join(title.split())}\n\n{answer.strip()}\n"
    parse_faq(text, Path(f"{lang}/{entry_id}.md"))
    return text
