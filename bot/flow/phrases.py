"""Customer-facing texts in both languages, and detection of "I want a person"."""

from __future__ import annotations

import re

from escalation.models import HandoffReason

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
        "en": "I'm passing your question to a person on our support team. You can keep writing here; "
        "a support agent usually replies within {minutes} minutes.",
        "zh": "我已把您的问题转给人工客服。您可以继续在这里补充信息，客服通常会在 {minutes} 分钟内回复。",
    },
    "handoff_low_confidence": {
        "en": "I'm not sure I have the right answer, and a wrong answer about invoices or tax is worse than "
        "none. I'm passing your question to a person on our support team; they usually reply within "
        "{minutes} minutes.",
        "zh": "这个问题我没有把握给出准确答案（发票和税务问题答错比不答更糟）。我已转给人工客服，"
        "通常会在 {minutes} 分钟内回复您。",
    },
    "handoff_policy": {
        "en": "This is something only a person on our support team can handle, so I'm passing it to them. "
        "They usually reply within {minutes} minutes.",
        "zh": "这个问题需要人工客服处理，我已转给他们，通常会在 {minutes} 分钟内回复您。",
    },
    "handoff_wrong_answer": {
        "en": "Sorry that wasn't what you asked. I'm passing your question to a person on our support team; "
        "they usually reply within {minutes} minutes.",
        "zh": "抱歉，刚才的回答不是您要问的。我已把您的问题转给人工客服，通常会在 {minutes} 分钟内回复您。",
    },
    "queued": {
        "en": "Thanks, I've added this to your conversation with our support team. An agent will reply here.",
        "zh": "已收到，这条消息已加入您与人工客服的对话，客服会在这里回复您。",
    },
    "clarify": {
        "en": "I want to be sure I answer the right question. Did you mean one of these?",
        "zh": "为了准确回答，请确认您想问的是下面哪一个？",
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


def text(key: str, lang: str, **kwargs: object) -> str:
    return TEXTS[key].get(lang, TEXTS[key]["en"]).format(**kwargs)
