"""Editor API (the ``editor`` role): content gaps, FAQ drafts, preview and publication of entries.

The content-gap loop: ``GET /api/content/gaps`` groups the questions the desk missed, each group
with its questions, the agents' resolutions and an extractive draft; an editor edits a draft (one
built from a group, or one an agent proposed when resolving), previews it against the group and the
recent traffic, and publishes it into the FAQ folder, where hot reload picks it up at once.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from bot.content.editorial import Proposal
from bot.content.gaps import DraftEntry
from bot.web.deps import MAX_ID, AgentAuth, AgentPerson, RowId, ServicesDep, require
from bot.web.errors import ApiError, responses
from escalation.accounts import Role
from escalation.models import FaqDraft
from knowledge.errors import FaqFormatError

router = APIRouter(
    prefix="/api/content",
    tags=["content"],
    dependencies=[AgentAuth, require(Role.EDITOR)],
    responses=responses(401, 403, 429),
)
ClusterKey = Annotated[str, Path(pattern=r"^g-[0-9a-f]{12}$", description="A gap cluster's key.")]


class EntryIn(BaseModel):
    """One translation of an FAQ entry, in the fields of the markdown format."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(..., min_length=1, max_length=80, description="Lowercase letters, digits and dashes.")
    lang: Literal["en", "zh"]
    title: str = Field(..., max_length=300, description="The question the entry answers (its `# ` heading).")
    questions: list[Annotated[str, Field(max_length=500)]] = Field(..., max_length=30)
    answer: str = Field(..., max_length=8000, description="Markdown.")
    tags: list[Annotated[str, Field(max_length=40)]] = Field(default_factory=list, max_length=10)

    def draft(self) -> DraftEntry:
        return DraftEntry(self.id, self.lang, self.title, list(self.questions), self.answer, list(self.tags))


class ProposalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    translations: list[EntryIn] = Field(..., min_length=1, max_length=2, description="One entry per language.")
    cluster_key: str | None = Field(None, pattern=r"^g-[0-9a-f]{12}$", description="The gap cluster it answers.")
    draft_id: int | None = Field(None, ge=1, le=MAX_ID, description="The draft it comes from (marked published).")

    def proposal(self) -> Proposal:
        return Proposal(tuple(t.draft() for t in self.translations), self.cluster_key, self.draft_id)


class DraftIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entry_id: str | None = Field(None, max_length=80)
    lang: Literal["en", "zh"]
    title: str = Field(..., max_length=300)
    questions: list[Annotated[str, Field(max_length=500)]] = Field(..., max_length=30)
    answer: str = Field(..., max_length=8000)


def _invalid(exc: FaqFormatError) -> ApiError:
    details = [{"field": str(p.path), "line": p.line, "problem": p.message} for p in exc.problems]
    return ApiError(422, "invalid_entry", "The entry would not load: " + "; ".join(p.message for p in exc.problems), details)


@router.get("/gaps")
def gaps(
    services: ServicesDep,
    days: Annotated[int, Query(ge=1, le=365, description="How far back to look.")] = 30,
) -> dict[str, Any]:
    """Groups of questions the desk did not answer well (handed off for want of an answer, "none of
    these", "not what I asked", thumbs down) in the last ``days``, the largest first; per group its
    size, languages, reasons, channels, first and last seen, and how many the desk answers today."""
    clusters = services.gaps.clusters(days)
    return {
        "days": days,
        "model": services.gaps.model,
        "threshold": services.gaps.threshold,
        "questions": sum(len(c.questions) for c in clusters),
        "clusters": [c.public(full=False) for c in clusters],
    }


@router.get("/gaps/{cluster_key}", responses=responses(404, 422))
def gap(
    cluster_key: ClusterKey,
    services: ServicesDep,
    days: Annotated[int, Query(ge=1, le=365)] = 30,
) -> dict[str, Any]:
    """One group: its questions (personal data redacted) with what the desk would do with each today,
    the agents' resolutions, and a draft FAQ entry built from them."""
    cluster = services.gaps.find(cluster_key, days)
    if cluster is None:
        raise ApiError(404, "not_found", f"no gap cluster {cluster_key} (the questions changed; reload the list)")
    return cluster.public()


@router.get("/drafts", response_model=list[FaqDraft])
def drafts(
    services: ServicesDep,
    status: Annotated[Literal["open", "published", "dismissed"] | None, Query()] = "open",
) -> list[FaqDraft]:
    """FAQ drafts (agents propose them when resolving), oldest first; ``status`` filters (default open)."""
    return services.storage.drafts.all(status)


@router.put("/drafts/{draft_id}", response_model=FaqDraft, responses=responses(404, 409, 422))
def edit_draft(draft_id: RowId, body: DraftIn, services: ServicesDep, person: AgentPerson) -> FaqDraft:
    """Save an editor's changes to an open draft (409 once it is published or dismissed)."""
    return services.storage.drafts.update(
        draft_id, person.username, lang=body.lang, title=body.title, questions=list(body.questions),
        answer=body.answer, entry_id=body.entry_id,
    )


@router.post("/drafts/{draft_id}/dismiss", response_model=FaqDraft, responses=responses(404, 409, 422))
def dismiss_draft(draft_id: RowId, services: ServicesDep, person: AgentPerson) -> FaqDraft:
    """Close a draft without publishing it."""
    return services.storage.drafts.set_status(draft_id, "dismissed", person.username)


@router.post("/preview", responses=responses(409, 422))
def preview(body: ProposalIn, services: ServicesDep) -> dict[str, Any]:
    """What the entry would change, with the current calibration: per question of its cluster and of
    the recent traffic, the decision before and after (answer from which entry, clarify, hand off);
    how many it would newly answer, take from other entries, or no longer answer. Nothing is written."""
    try:
        return services.editorial.preview(body.proposal())
    except FaqFormatError as exc:
        raise _invalid(exc) from None


@router.post("/publish", status_code=201, responses=responses(409, 422))
def publish(body: ProposalIn, services: ServicesDep, person: AgentPerson) -> dict[str, Any]:
    """Write the entry into the FAQ folder (one file per language; a missing translation is flagged),
    reload the knowledge at once, and record the cluster's coverage before and after, measured on the
    live desk. 409 if the id exists (or a colleague published it first); the 409s of both routes
    (entry_exists, cluster_changed, not_published) come from the app's exception map (bot.web.errors)."""
    try:
        return services.editorial.publish(body.proposal(), person.username)
    except FaqFormatError as exc:
        raise _invalid(exc) from None


@router.get("/publications")
def publications(services: ServicesDep) -> list[dict[str, Any]]:
    """Entries published from the editor page, newest first, with their clusters' coverage before and after."""
    return services.storage.content.publications()
