"""Customer-facing texts in both languages, and detection of "I want a person"."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from escalation.models import HandoffReason
from escalation.waits import Wait

_HUMAN_EN = re.compile(
    r"\b(talk|speak|chat|connect|transfer|put)\b.{0,25}\b(human|person|agent|someone|somebody|representative|"
    r"operator|real|people|staff|support team)\b"
    r"|\b(human|live|real)\s+(agent|person|support|help|being)\b"
    r"|\b(customer\s+service|support)\s+(rep|representative|agent)\b"
    r"|^\s*(agent|human|operator|representative)\s*[.!?]*\s*$",
    re.IGNORECASE,
)
_HUMAN_ZH = re.compile(
    r"转人工|人工客服|人工服务|找人工|要人工|接人工|真人|客服人员|找客服|联系客服|^\s*人工\s*[!！。?？]*\s*$"
)


def wants_human(text: str) -> bool:
    """True when the customer asks for a person, in English or Chinese."""
    return bool(_HUMAN_EN.search(text) or _HUMAN_ZH.search(text))


TEXTS: dict[str, dict[str, str]] = {
    "handoff": {
        "en": "I'm passing your question to a person on our support team.",
        "zh": "我已把您的问题转给人工客服。",
    },
    "handoff_low_confidence": {
        "en": "I'm not sure I have the right answer, and a wrong answer about invoices or tax is worse than "
        "none. I'm passing your question to a person on our support team.",
        "zh": "这个问题我没有把握给出准确答案（发票和税务问题答错比不答更糟）。我已转给人工客服。",
    },
    "handoff_policy": {
        "en": "This is something only a person on our support team can handle, so I'm passing it to them.",
        "zh": "这个问题需要人工客服处理，我已转给他们。",
    },
    "handoff_wrong_answer": {
        "en": "Sorry that wasn't what you asked. I'm passing your question to a person on our support team.",
        "zh": "抱歉，刚才的回答不是您要问的。我已把您的问题转给人工客服。",
    },
    "wait_typical": {
        "en": "You are number {position} in the queue; recently a person replied within about {minutes} minutes.",
        "zh": "您目前排在第 {position} 位；最近人工客服通常在约 {minutes} 分钟内回复。",
    },
    "wait_position": {
        "en": "You are number {position} in the queue; a person will reply here.",
        "zh": "您目前排在第 {position} 位，人工客服会在这里回复您。",
    },
    "wait_position_email": {
        "en": "You are number {position} in the queue; a person will answer this email.",
        "zh": "您目前排在第 {position} 位，人工客服会回复这封邮件。",
    },
    "wait_closed": {
        "en": "Our team is not available right now: we are back {when}.",
        "zh": "人工客服现在不在线，将于 {when} 回来。",
    },
    "wait_closed_never": {
        "en": "Our team is not available right now.",
        "zh": "人工客服现在不在线。",
    },
    "by_email": {
        "en": "You will get the answer by email at {email}.",
        "zh": "答复将通过邮件发送到 {email}。",
    },
    "leave_email": {
        "en": "Leave your email address and you will get the answer by email too.",
        "zh": "留下您的邮箱，答复也会通过邮件发给您。",
    },
    "queued": {
        "en": "Thanks, I've added this to your conversation with our support team. An agent will reply here.",
        "zh": "已收到，这条消息已加入您与人工客服的对话，客服会在这里回复您。",
    },
    "clarify": {
        "en": "I want to be sure I answer the right question. Did you mean one of these?",
        "zh": "为了准确回答，请确认您想问的是下面哪一个？",
    },
    "incident_resolved": {
        "en": "Update on the problem you wrote to us about: it has been fixed.",
        "zh": "关于您反馈的问题：现已修复。",
    },
    "untranslated": {
        "en": "(This answer is not yet available in English; here it is in Chinese.)\n\n",
        "zh": "（此条目暂无中文版本，以下为英文原文。）\n\n",
    },
}


# which text a handoff shows, by its reason
HANDOFF_TEXT: dict[str, str] = {
    HandoffReason.CUSTOMER_REQUEST: "handoff",
    HandoffReason.PROMPT_INJECTION: "handoff_policy",
    HandoffReason.OTHER_CUSTOMER_DATA: "handoff_policy",
    HandoffReason.BANK_DETAILS_CHANGE: "handoff_policy",
    HandoffReason.WRONG_ANSWER: "handoff_wrong_answer",
    HandoffReason.CLARIFY_REJECTED: "handoff_low_confidence",
}


def incident_notices(note_en: str | None, note_zh: str | None) -> dict[str, str]:
    """What each linked customer is told when an incident is resolved, by language: the fixed line and the
    resolution note in that language (else the other's)."""
    out = {}
    for lang, note, other in (("en", note_en, note_zh), ("zh", note_zh, note_en)):
        extra = (note or other or "").strip()
        out[lang] = f"{text('incident_resolved', lang)} {extra}".strip()
    return out


def text(key: str, lang: str, **kwargs: object) -> str:
    return TEXTS[key].get(lang, TEXTS[key]["en"]).format(**kwargs)


_WEEKDAYS = {
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    "zh": ["周一", "周二", "周三", "周四", "周五", "周六", "周日"],
}


def when(at: datetime, timezone: str, lang: str, now: datetime | None = None) -> str:
    """"Monday 09:00 CET" / "周一 09:00（CET）", in the team's time zone; a date beyond a week."""
    local = at.astimezone(ZoneInfo(timezone))
    today = (now or datetime.now(UTC)).astimezone(ZoneInfo(timezone)).date()
    zone = local.strftime("%Z")
    clock = local.strftime("%H:%M")
    days = (local.date() - today).days
    if lang == "zh":
        day = "今天" if days == 0 else "明天" if days == 1 else (
            _WEEKDAYS["zh"][local.weekday()] if days < 7 else f"{local.month}月{local.day}日"
        )
        return f"{day} {clock}（{zone}）"
    day = "today" if days == 0 else "tomorrow" if days == 1 else (
        _WEEKDAYS["en"][local.weekday()] if days < 7 else local.strftime("%A %d %B").replace(" 0", " ")
    )
    return f"{day} {clock} {zone}"


def wait_text(
    wait: Wait, lang: str, email: str | None, now: datetime | None = None, by_mail: bool = False
) -> str:
    """The honest wait after a handoff: the queue while the team works, its return after hours.
    ``by_mail``: the customer wrote by email (the answer comes there, nothing to leave)."""
    if wait.open_now:
        if wait.typical_minutes is not None:
            return text("wait_typical", lang, position=wait.position, minutes=wait.typical_minutes)
        return text("wait_position_email" if by_mail else "wait_position", lang, position=wait.position)
    closed = (
        text("wait_closed", lang, when=when(wait.back_at, wait.timezone, lang, now))
        if wait.back_at
        else text("wait_closed_never", lang)
    )
    follow = text("by_email", lang, email=email) if email else text("leave_email", lang)
    return f"{closed} {follow}"
