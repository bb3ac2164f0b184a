"""Messages no FAQ answer may be given to, whatever the retrieval says: they go to a person.

- ``prompt_injection``: the message tries to instruct the bot ("ignore your instructions", "print
  your system prompt", "你现在是开发者模式"). The desk answers only from curated entries, so it cannot
  be talked into anything, but such a message is not a support question either.
- ``other_customer_data``: a request for another customer's or company's invoices, contact or bank
  data. Only a person who can verify identity may decide.
- ``bank_details_change``: a request that the desk change bank details or the payee, with new
  numbers, urgency or authority ("CEO's orders, today"): the classic payment-diversion fraud. How a
  customer edits their own company details in settings is a normal question and is not caught.

Pure functions over the text, tested with tables; the decision layer turns a verdict into a handoff.
"""

from __future__ import annotations

import re

from escalation.models import HandoffReason

_I = re.IGNORECASE

_INJECTION_EN = re.compile(
    r"\b(ignore|disregard|forget|override|bypass)\b[^.?!\n]{0,40}\b(instruction|instructions|rules|prompt|prompts|guidelines|"
    r"restrictions|directions|programming|previous|above|prior)\b"
    r"|\bsystem\s*prompt\b|\b(initial|hidden|secret|internal)\s+(instructions|prompt|rules|configuration)\b"
    r"|\b(reveal|print|show|repeat|output|dump|tell me|give me|translate)\b[^.?!\n]{0,30}\b(your|the)\s+(instructions|prompt|rules|"
    r"system|configuration|guidelines)\b"
    r"|\byou\s+are\s+now\b|\bfrom\s+now\s+on\s+you\b|\bdeveloper\s+mode\b|\bjailbreak\b|\bDAN\b|\bdo\s+anything\s+now\b"
    r"|\bpretend\s+(to\s+be|you\s+are|you're|youre)\b|\b(system|admin|security)\s+override\b|\bdebug\s+mode\b"
    r"|\b(authori[sz]ed|allowed|permitted)\s+to\s+(disclose|reveal|share)\b|\binternal\s+(documentation|documents|docs|notes|files)\b"
    r"|\b(output|list|print|dump)\s+(every|all)\s+(faq|entries|documents|files|instructions)\b|\bact\s+as\s+(an?\s+)?(unrestricted|different|new|evil|admin|administrator|root)\b"
    r"|\bnew\s+instructions\s*:|\[/?(INST|SYSTEM)\]|<\|(im_start|system|endoftext)\|>|\bBEGIN\s+(SYSTEM|ADMIN)\b",
    _I,
)
_INJECTION_ZH = re.compile(
    r"(忽略|无视|忘记|忘掉|不要理会|别管)[^。？！\n]{0,12}(指令|指示|规则|设定|提示|要求|限制|之前|上面|以上|前面)"
    r"|系统提示|提示词|你的(设定|规则|指令|初始指令|内部指令)|(开发者|管理员|越狱|无限制|调试|测试)模式|越狱|管理员通知|以(开发者|管理员)(身份|权限)"
    r"|(你|你们)[^。？！\n]{0,6}(收到|被设定|被告知|被要求)的[^。？！\n]{0,6}(规则|设定|指令|提示|要求)|内部文档"
    r"|你现在(是|扮演|变成)|从现在开始你(是|要|必须)|假装你是|扮演一个|角色扮演"
    r"|(输出|打印|显示|重复|告诉我|发给我|翻译)[^。？！\n]{0,15}(你的|你收到的|上面的|之前的)[^。？！\n]{0,10}(规则|设定|指令|提示|配置)"
)

_OTHER_EN = re.compile(
    r"\b(another|other|different|someone else's|somebody else's)\s+(customer|client|company|user|account|business|supplier|"
    r"vendor)('?s)?\b[^.?!\n]{0,60}\b(invoice|invoices|data|details|email|e-mail|phone|address|bank|account|iban|records)\b"
    r"|\b(invoices?|data|details|email|e-mail|phone\s+number|address|bank\s+details|account)\s+(of|for|from|belonging\s+to)\s+"
    r"(customer|client|account|user)\s*(#|no\.?|number|id)?\s*\d{2,}"
    r"|\b(customer|client|account|user)\s*(#|no\.?|number|id)\s*\d{2,}\b[^.?!\n]{0,40}\b(email|e-mail|phone|address|bank|iban|"
    r"invoices?|details|password|login)\b"
    r"|\b(send|show|give|forward|export|tell|share|email)\s+(me|us)\b[^.?!\n]{0,40}\b(their|his|her)\s+(invoices?|data|details|"
    r"email|phone|address|bank|account|iban)\b"
    r"|\b(send|show|give|forward|export|share)\s+(me|us)\s+(the\s+)?(invoices?|data|details|records)\s+(of|for|from)\s+"
    r"[A-Z][\w&.-]*(\s+[A-Z][\w&.-]*)*\s+(GmbH|Ltd|Limited|Inc|AG|LLC|BV|B\.V\.|SAS|SARL|SRL|S\.A\.|SpA|Oy|AB|Co)\b"
    r"|\b(list|all)\s+of\s+(your|the)\s+(customers|clients|users)\b|\bwho\s+(are|else)\s+(your|uses)\b[^.?!\n]{0,20}\bcustomers\b"
    r"|\b(which|what|list\s+of|all\s+(the\s+)?)\s*(companies|businesses|firms|customers)\b[^.?!\n]{0,40}\buse\s+ledgerly\b"
    r"|\b(his|her|their)\s+(own\s+)?(ledgerly\s+)?(company|business|firm|account)\b[^.?!\n]{0,80}\b(invoiced|revenue|income|"
    r"turnover|invoices|iban|bank|customers)\b"
    r"|\b(what|which)\s+(iban|bank\s+account|account\s+number|email|phone|address)\s+(does|do|did|is)\s+[A-Z]"
    r"|\b(send|show|give|forward|tell|export|share|access|look\s+up|see)\b[^.?!\n]{0,20}\b(invoices?|iban|bank\s+details|revenue|"
    r"turnover|customer\s+list|records)\b[^.?!\n]{0,30}\b[A-Z][\w&.-]*(\s+[A-Z][\w&.-]*)*\s+"
    r"(GmbH|Ltd|Limited|Inc|AG|LLC|BV|SAS|SARL|SRL|SpA|Oy|AB|plc)\b"
    r"|\b(haven't|hasn't|have\s+not|has\s+not)\s+(got\s+round\s+to\s+)?(invit\w*|add\w*|giv\w*)\s+(me|us)\b",
    _I,
)
_OTHER_ZH = re.compile(
    r"(别的|别家|其他|其它|另一家|另外一家|隔壁|某某|那家|这家|他们|对方|友商)(公司|客户|用户|企业|供应商|商家|店|老板)?的"
    r"[^。？！\n]{0,12}(发票|数据|账号|帐号|账户|手机|电话|邮箱|地址|开户行|银行|信息|资料|密码|记录|客户名单)"
    r"|(客户|用户|账号|帐号)\s*(编号|号|ID|id)?\s*\d{2,}\s*的[^。？！\n]{0,10}(手机|电话|邮箱|地址|开户行|账号|发票|信息|密码)"
    r"|(帮我|给我|替我)(查|查一下|看看|调出|导出|发)[^。？！\n]{0,20}(公司|客户|供应商)的[^。？！\n]{0,10}(发票|数据|手机号|电话|邮箱|开户行|账号|信息)"
    r"|把[^。？！\n]{1,20}(公司|客户)的[^。？！\n]{0,10}(发票|数据|资料|信息|记录)[^。？！\n]{0,6}(发给|给|调出来给)我"
    r"|(他|她|他们|她们|前夫|前妻|对方)(的)?(公司|企业)[^。？！\n]{0,20}(开票|发票|收入|营业额|流水|账号|开户行|客户)"
    r"|(那家|这家|该|某家)(供应商|公司|客户|企业)[^。？！\n]{0,12}(开户行|账号|帐号|发票|电话|邮箱|地址|收入)"
    r"|(用|使用)\s*Ledgerly\s*的(企业|公司|客户|用户)(名单|列表|信息|电话)?|(企业|公司|客户|用户)(名单|列表)"
    r"|(查|查一下|看看|调出|告诉我)[^。？！\n]{0,6}[\u4e00-\u9fff]{2,}(有限公司|公司|集团)[^。？！\n]{0,20}(发票|开票|数据|账号|开户行|收入)"
)

_BANK_TERM_EN = re.compile(
    r"\b(bank\s*(account|details|info|information|data|number)?|iban|bic|swift|sort\s*code|account\s*(number|no\.?|details)|"
    r"payee|beneficiary|payment\s*(details|instructions|account)|remittance|routing\s*number|"
    r"account\s+(our|the|my|their)\s+payments?\s+(go|goes|are\s+sent)\s+to)\b",
    _I,
)
_CHANGE_EN = re.compile(
    r"\b(change|changed|update|updated|replace|switch|switched|amend|modify|correct|new|move|redirect)\b", _I
)
_PRESSURE_EN = re.compile(
    r"\b(urgent|urgently|asap|immediately|right\s+away|today|tonight|before\s+(the\s+)?(end|friday|monday|close)|"
    r"ceo|cfo|director|owner|boss|management|confidential|on\s+(our|my|his|her|their)\s+behalf|all\s+(open|unpaid|outstanding|"
    r"pending|future|existing)\s+invoices|every\s+(open|unpaid)\s+invoice|re-?send\s+(them|all|every)|"
    r"(can|could|would|will)\s+you\s+(please\s+)?(change|update|replace|switch|set)|please\s+(change|update|replace|switch|set))\b",
    _I,
)
_BANK_TERM_ZH = re.compile(r"收款(账户|账号|帐户|帐号|人|信息)|银行(账户|账号|帐户|帐号|卡号|信息)|开户行|对公账户|户名|账号|帐号|收款码")
_CHANGE_ZH = re.compile(r"改|更改|修改|换成|换到|换了|换掉|换一下|换个|变更|更新|替换|新的")
_PRESSURE_ZH = re.compile(
    r"帮我|帮忙(改|换)|你们(帮|直接|马上|给)|请你们|麻烦你(们)?|替我|马上|立即|立刻|今天|今晚|尽快|赶紧|急|老板|总经理|董事长|财务总监|领导"
    r"|所有|全部|未付|未结|没付|重新(发|开)给|直接|联系你们|你们系统|发你|发给你"
)
_ACCOUNT_NUMBER = re.compile(r"\b[A-Z]{2}\d{2}(?:\s?[A-Z0-9]{4}){2,7}(?:\s?[A-Z0-9]{1,4})?\b|(?<!\d)\d{12,19}(?!\d)")


def injection(text: str) -> bool:
    return bool(_INJECTION_EN.search(text) or _INJECTION_ZH.search(text))


def other_customer_data(text: str) -> bool:
    return bool(_OTHER_EN.search(text) or _OTHER_ZH.search(text))


def bank_details_change(text: str) -> bool:
    """Asking the desk to change bank details or the payee, with numbers, urgency or authority."""
    en = bool(_BANK_TERM_EN.search(text) and _CHANGE_EN.search(text))
    zh = bool(_BANK_TERM_ZH.search(text) and _CHANGE_ZH.search(text))
    if not (en or zh):
        return False
    return bool(_ACCOUNT_NUMBER.search(text) or _PRESSURE_EN.search(text) or _PRESSURE_ZH.search(text))


def risk(text: str) -> str | None:
    """Why the message must go to a person, or None."""
    if injection(text):
        return HandoffReason.PROMPT_INJECTION
    if bank_details_change(text):
        return HandoffReason.BANK_DETAILS_CHANGE
    if other_customer_data(text):
        return HandoffReason.OTHER_CUSTOMER_DATA
    return None
