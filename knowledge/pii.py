"""Personal data in customers' messages: found, redacted or masked, with offsets into the original text.

Kinds found (``PiiKind``) and the placeholder ``redact`` puts in their place, short enough to read in
a Chinese or an English sentence alike:

============  ================  ==============================================================
kind          placeholder       what counts
============  ================  ==============================================================
email         ``[email]``       ``local@domain.tld`` (also URL-encoded, ``local%40domain.tld``, and
                                written against harvesters: ``name[at]domain.com``, ``name（at）
                                domain.cn``, ``name at domain dot com`` when the local part holds a
                                digit or ``._+-``)
phone         ``[phone]``       Chinese mobile (a voice range such as ``13x``, ``15x``, ``18x`` + 8
                                digits, optional +86 / 86 / 0086,
                                3-4-4 with spaces, dashes or dots); Chinese landline (0 + area code, 7-8
                                digits, separators or parentheses, optional extension; written
                                without any separator only next to a phone word); 400 / 800
                                service numbers (written together only next to a phone word);
                                international ``+<country code>``, ``(+<country code>)`` or
                                ``00<country code>`` numbers of 8-15 digits; North American ``(415) 555-0132`` /
                                ``1-415-555-0132`` (``415 555 0132`` only next to a phone word);
                                national forms (a trunk 0 and 9-12 digits, an area code in
                                parentheses, Hong Kong / Macau / Singapore 4-4) only right after
                                a phone word, a signature's label (``T:``, ``M``) or a place
bank_card     ``[bank card]``   13-19 digits, compact or grouped as printed (a first group of 4-6
                                digits), Luhn-checked, with a card network's first digits (16-19
                                digits: any first digits next to a card word); 12-15 digits only
                                the networks that issue them (Maestro, Visa, Diners Club, Amex,
                                UATP: grouped, or next to a card word)
iban          ``[IBAN]``        country code of the SWIFT registry, the country's length, mod-97
                                check
resident_id   ``[resident id]`` 居民身份证号码: 18 characters, a real birth date, ISO 7064 MOD 11-2
                                check character (``X`` allowed); compact, 6-8-4 or 6-4-4-4
credit_code   ``[credit code]`` 统一社会信用代码: 18 characters of GB 32100-2015's alphabet, its check
                                character; compact or grouped 2-6-9-1, 8-10, 8-9-1, in fours or sixes
vat_id        ``[VAT id]``      EU VAT numbers with their country prefix (and GB, XI, CHE with its
                                MWST / TVA / IVA, NO with its MVA; a lowercase prefix written onto
                                its number, or apart from it when the prefix is no word or a VAT
                                word precedes it or the message holds another VAT id; without any
                                prefix right after its national word: P.IVA, NIP, CVR, VAT Reg No,
                                CIF / NIF, ΑΦΜ, btw-nummer, UID); the
                                country's check digits, the format alone for Spain and for the
                                personal numbers of Bulgaria, Czechia and Latvia
============  ================  ==============================================================

What is left alone, on purpose: invoice numbers and codes (8-digit 发票号码, 20-digit 数电发票号码,
10/12-digit 发票代码), order and reference numbers, amounts, dates and times, postcodes, error codes,
SKUs and versions. Checksums reject most look-alikes; a number that directly follows a word such as
发票号 / 订单号 / "invoice no." / "order" is never taken for a phone or a card, and an 18-digit
string shaped like a resident id (17 digits with a 19xx / 20xx year of birth in its middle) whose
check character or date is wrong is not taken for a card or a credit code either, unless a card or
tax word precedes it (within 24 characters).

Matching runs on a copy of the text in which full-width forms (``１３８``, ``＠``, ``（``, ``：``),
the ideographic space and dash variants are replaced one character for one character, so every
offset is an offset into the original text. Digits next to Chinese characters need no boundary
(``手机13812345678联系我``); digits or Latin letters directly next to a value do.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class PiiKind(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    BANK_CARD = "bank_card"
    IBAN = "iban"
    RESIDENT_ID = "resident_id"
    CREDIT_CODE = "credit_code"
    VAT_ID = "vat_id"


PLACEHOLDERS: dict[PiiKind, str] = {
    PiiKind.EMAIL: "[email]",
    PiiKind.PHONE: "[phone]",
    PiiKind.BANK_CARD: "[bank card]",
    PiiKind.IBAN: "[IBAN]",
    PiiKind.RESIDENT_ID: "[resident id]",
    PiiKind.CREDIT_CODE: "[credit code]",
    PiiKind.VAT_ID: "[VAT id]",
}


@dataclass(frozen=True, slots=True)
class PiiSpan:
    """``text[start:end]`` is the value, without the whitespace or punctuation around it."""

    start: int
    end: int
    kind: PiiKind

    def value(self, text: str) -> str:
        return text[self.start : self.end]


# --- normalisation: one character for one character, so offsets stay those of the original ---

# full-width ASCII forms; not the full-width solidus, which separates fields in Chinese text
# ("徐婷／65232320040509136X／5018 8606 5533 875") rather than joining a code as "ABC/123" does
_FOLD: dict[int, int] = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F) if c != 0xFF0F}
_FOLD.update({0x3000: 0x20, 0x00A0: 0x20, 0x2009: 0x20, 0x202F: 0x20, 0x2007: 0x20})  # spaces
_FOLD.update({c: 0x2D for c in (0x2010, 0x2011, 0x2012, 0x2013, 0x2014, 0x2212, 0xFE63)})  # dashes


def _fold(text: str) -> str:
    return text.translate(_FOLD)


# --- checksums ---


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def resident_id_check(body17: str) -> str:
    """ISO 7064 MOD 11-2 check character of a resident id's first 17 digits."""
    return "10X98765432"[sum(int(c) * w for c, w in zip(body17, _ID_WEIGHTS, strict=True)) % 11]


def _birth_date_ok(s: str) -> bool:
    y, m, d = int(s[:4]), int(s[4:6]), int(s[6:8])
    if not 1900 <= y <= date.today().year:
        return False
    try:
        date(y, m, d)
    except ValueError:
        return False
    return True


CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_VALUE = {c: i for i, c in enumerate(CREDIT_ALPHABET)}
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def credit_code_check(body17: str) -> str:
    """GB 32100-2015 check character of a 统一社会信用代码's first 17 characters (upper case)."""
    total = sum(_CREDIT_VALUE[c] * w for c, w in zip(body17, _CREDIT_WEIGHTS, strict=True))
    return CREDIT_ALPHABET[(31 - total % 31) % 31]


def _alnum_to_digits(s: str) -> str:
    return "".join(str(int(c, 36)) for c in s)


def iban_ok(iban: str) -> bool:
    """``iban`` compact and upper case: length of its country and mod-97 == 1."""
    return IBAN_LENGTHS.get(iban[:2]) == len(iban) and int(_alnum_to_digits(iban[4:] + iban[:4])) % 97 == 1


IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29,
    "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
    # joined the registry since 2020
    "BI": 27, "DJ": 27, "FK": 18, "HN": 28, "LY": 25, "MN": 20, "NI": 28, "OM": 23, "RU": 33, "SD": 18,
    "SO": 23, "YE": 30,
}  # fmt: skip


def _weighted(digits: str, weights: tuple[int, ...]) -> int:
    return sum(int(c) * w for c, w in zip(digits, weights, strict=False))


def _mod11_10(digits: str) -> int:
    """ISO 7064 MOD 11,10 check digit (German USt-IdNr, Croatian OIB)."""
    p = 10
    for c in digits:
        s = (int(c) + p) % 10 or 10
        p = (2 * s) % 11
    return (11 - p) % 10


def _vat_de(b: str) -> bool:
    return b[0] != "0" and _mod11_10(b[:8]) == int(b[8])


def _vat_hr(b: str) -> bool:
    return _mod11_10(b[:10]) == int(b[10])


_FR_KEY = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def _vat_fr(b: str) -> bool:
    key, siren = b[:2], b[2:]
    if siren[:3] != "000" and not luhn_ok(siren):  # Monaco's numbers are no SIREN
        return False
    if key.isdigit():
        return int(key) == (12 + 3 * (int(siren) % 97)) % 97
    if key[0].isdigit():
        check = _FR_KEY.index(key[0]) * 24 + _FR_KEY.index(key[1]) - 10
    else:
        check = _FR_KEY.index(key[0]) * 34 + _FR_KEY.index(key[1]) - 100
    return (int(siren) + 1 + check // 11) % 11 == check % 11


def _vat_nl(b: str) -> bool:
    if int(b[:9]) == 0 or b[10:] == "00":
        return False
    mod11 = (_weighted(b[:8], (9, 8, 7, 6, 5, 4, 3, 2)) - int(b[8])) % 11 == 0
    return mod11 or int(_alnum_to_digits("NL" + b)) % 97 == 1  # sole traders since 2020: mod 97


def _vat_gb(b: str) -> bool:
    if b[:2] in ("GD", "HA"):
        return (int(b[2:]) < 500) == (b[:2] == "GD")
    total = _weighted(b[:9], (8, 7, 6, 5, 4, 3, 2, 10, 1)) % 97
    return total in ((0, 42, 55) if int(b[:3]) >= 100 else (0,))


def _vat_no(b: str) -> bool:
    r = 11 - _weighted(b[:8], (3, 2, 7, 6, 5, 4, 3, 2)) % 11
    return r != 10 and r % 11 == int(b[8])


def _vat_be(b: str) -> bool:
    b = b if len(b) == 10 else "0" + b
    return int(b) > 0 and (int(b[:8]) + int(b[8:])) % 97 == 0


def _vat_at(b: str) -> bool:
    d = [int(c) for c in b[1:]]
    s = d[0] + d[2] + d[4] + d[6] + sum((2 * x) // 10 + (2 * x) % 10 for x in (d[1], d[3], d[5]))
    return (10 - (s + 4) % 10) % 10 == d[7]


def _vat_pl(b: str) -> bool:
    r = _weighted(b[:9], (6, 5, 7, 2, 3, 4, 5, 6, 7)) % 11
    return r != 10 and r == int(b[9])


def _vat_dk(b: str) -> bool:
    return b[0] != "0" and _weighted(b, (2, 7, 6, 5, 4, 3, 2, 1)) % 11 == 0


def _vat_fi(b: str) -> bool:
    r = _weighted(b[:7], (7, 9, 10, 5, 8, 4, 2)) % 11
    return r != 1 and (0 if r == 0 else 11 - r) == int(b[7])


def _vat_se(b: str) -> bool:
    return b.endswith("01") and luhn_ok(b[:10])


def _vat_pt(b: str) -> bool:
    r = 11 - _weighted(b[:8], (9, 8, 7, 6, 5, 4, 3, 2)) % 11
    return b[0] != "0" and (0 if r >= 10 else r) == int(b[8])


def _vat_lu(b: str) -> bool:
    return int(b[:6]) % 89 == int(b[6:])


def _vat_hu(b: str) -> bool:
    return (10 - _weighted(b[:7], (9, 7, 3, 1, 9, 7, 3)) % 10) % 10 == int(b[7])


def _vat_si(b: str) -> bool:
    r = 11 - _weighted(b[:7], (8, 7, 6, 5, 4, 3, 2)) % 11
    return b[0] != "0" and r != 11 and r % 10 == int(b[7])


def _vat_el(b: str) -> bool:
    return _weighted(b[:8], (256, 128, 64, 32, 16, 8, 4, 2)) % 11 % 10 == int(b[8])


def _vat_che(b: str) -> bool:
    r = 11 - _weighted(b[:8], (5, 4, 3, 2, 7, 6, 5, 4)) % 11
    return r != 10 and r % 11 == int(b[8])


def _vat_it(b: str) -> bool:
    office = b[7:10]
    return (
        int(b[:7]) > 0 and ("001" <= office <= "100" or office in ("120", "121", "888", "999")) and luhn_ok(b)
    )


def _vat_sk(b: str) -> bool:
    if int(b) % 11:
        return False
    if b[0] != "0" and b[2] in "234789":
        return True
    month, day = int(b[2:4]) % 50, int(b[4:6])  # a person's birth number: YYMMDD (+50 / +20 in the month)
    return (1 <= month <= 12 or 21 <= month <= 32) and 1 <= day <= 31


def _vat_ee(b: str) -> bool:
    return _weighted(b, (3, 7, 1, 3, 7, 1, 3, 7, 1)) % 10 == 0


def _vat_mt(b: str) -> bool:
    return b[0] != "0" and _weighted(b, (3, 4, 6, 7, 8, 9, 10, 1)) % 37 == 0


def _vat_lt(b: str) -> bool:
    if b[-2] != "1":
        return False
    body = b[:-1]
    r = sum((1 + i % 9) * int(c) for i, c in enumerate(body)) % 11
    if r == 10:
        r = sum((1 + (i + 2) % 9) * int(c) for i, c in enumerate(body)) % 11
    return r % 10 == int(b[-1])


def _vat_ro(b: str) -> bool:
    r = 10 * _weighted(b[:-1].zfill(9), (7, 5, 3, 2, 1, 7, 5, 3, 2)) % 11 % 10
    return r == int(b[-1])


def _vat_bg(b: str) -> bool:
    if len(b) == 10:
        return True  # personal numbers: several schemes, format only
    r = sum((i + 1) * int(c) for i, c in enumerate(b[:8])) % 11
    if r == 10:
        r = sum((i + 3) * int(c) for i, c in enumerate(b[:8])) % 11
    return r % 10 == int(b[8])


def _vat_lv(b: str) -> bool:
    if b[0] > "3":  # legal entities; personal codes carry a birth date: format only
        return _weighted(b, (9, 1, 4, 8, 3, 10, 2, 5, 7, 6, 1)) % 11 == 3
    return True


_CY_ODD = (1, 0, 5, 7, 9, 13, 15, 17, 19, 21)


def _vat_cy(b: str) -> bool:
    total = sum(_CY_ODD[int(c)] for c in b[:8:2]) + sum(int(c) for c in b[1:8:2])
    return b[:2] != "12" and "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[total % 26] == b[8]


_IE_LETTERS = "WABCDEFGHIJKLMNOPQRSTUV"


def _vat_ie(b: str) -> bool:
    digits = b[:7] if b[1].isdigit() else "0" + b[2:7] + b[0]  # old style: digit, letter, 5 digits, letter
    if not digits.isdigit():
        return True
    extra = _IE_LETTERS.index(b[8]) if len(b) == 9 and b[8] in _IE_LETTERS else 0
    return _IE_LETTERS[(_weighted(digits, (8, 7, 6, 5, 4, 3, 2)) + 9 * extra) % 23] == b[7]


def _vat_cz(b: str) -> bool:
    if len(b) != 8:
        return True  # personal numbers (9-10 digits): format only
    check = (11 - _weighted(b[:7], (8, 7, 6, 5, 4, 3, 2))) % 11
    return b[0] != "9" and str((check or 1) % 10) == b[7]


_ES_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def _vat_es(b: str) -> bool:
    """Spanish NIF: DNI (8 digits + letter), NIE (X/Y/Z + 7 digits + letter), CIF (organisation
    letter + 7 digits + control digit or letter), K/L/M (letter + 7 digits + letter)."""
    if b[:8].isdigit():
        return _ES_DNI_LETTERS[int(b[:8]) % 23] == b[8]
    if b[0] in "XYZ" and b[1:8].isdigit():
        return _ES_DNI_LETTERS[int(str("XYZ".index(b[0])) + b[1:8]) % 23] == b[8]
    if b[0] in "KLM" and b[1:8].isdigit():
        return _ES_DNI_LETTERS[int(b[1:8]) % 23] == b[8]
    if b[0] in "ABCDEFGHJNPQRSUVW" and b[1:8].isdigit():
        digits = [int(c) for c in b[1:8]]
        total = sum(digits[1::2]) + sum(sum(divmod(2 * d, 10)) for d in digits[0::2])
        control = (10 - total % 10) % 10
        return b[8] in (str(control), "JABCDEFGHI"[control])
    return False


_Check = Callable[[str], bool]
# country prefix -> (body pattern without separators, check)
_VAT: dict[str, tuple[re.Pattern[str], _Check]] = {
    "AT": (re.compile(r"U\d{8}"), _vat_at),
    "BE": (re.compile(r"[01]?\d{9}"), _vat_be),
    "BG": (re.compile(r"\d{9,10}"), _vat_bg),
    "CY": (re.compile(r"\d{8}[A-Z]"), _vat_cy),
    "CZ": (re.compile(r"\d{8,10}"), _vat_cz),
    "DE": (re.compile(r"\d{9}"), _vat_de),
    "DK": (re.compile(r"\d{8}"), _vat_dk),
    "EE": (re.compile(r"\d{9}"), _vat_ee),
    "EL": (re.compile(r"\d{9}"), _vat_el),
    "GR": (re.compile(r"\d{9}"), _vat_el),
    "ES": (re.compile(r"[A-Z0-9]\d{7}[A-Z0-9]"), _vat_es),
    "FI": (re.compile(r"\d{8}"), _vat_fi),
    "FR": (re.compile(r"[0-9A-HJ-NP-Z]{2}\d{9}"), _vat_fr),
    "HR": (re.compile(r"\d{11}"), _vat_hr),
    "HU": (re.compile(r"\d{8}"), _vat_hu),
    "IE": (re.compile(r"\d{7}[A-W][A-IW]?|\d[A-Z+*]\d{5}[A-W]"), _vat_ie),
    "IT": (re.compile(r"\d{11}"), _vat_it),
    "LT": (re.compile(r"\d{9}|\d{12}"), _vat_lt),
    "LU": (re.compile(r"\d{8}"), _vat_lu),
    "LV": (re.compile(r"\d{11}"), _vat_lv),
    "MT": (re.compile(r"\d{8}"), _vat_mt),
    "NL": (re.compile(r"\d{9}B\d{2}"), _vat_nl),
    "NO": (re.compile(r"\d{9}"), _vat_no),
    "PL": (re.compile(r"\d{10}"), _vat_pl),
    "PT": (re.compile(r"\d{9}"), _vat_pt),
    "RO": (re.compile(r"[1-9]\d{1,9}"), _vat_ro),
    "SE": (re.compile(r"\d{12}"), _vat_se),
    "SI": (re.compile(r"\d{8}"), _vat_si),
    "SK": (re.compile(r"\d{10}"), _vat_sk),
    "GB": (re.compile(r"\d{9}|\d{12}|(?:GD|HA)\d{3}"), _vat_gb),
    "XI": (re.compile(r"\d{9}|\d{12}|(?:GD|HA)\d{3}"), _vat_gb),
    "CHE": (re.compile(r"\d{9}"), _vat_che),
}


# --- patterns (matched on the folded text) ---

# No ASCII letter, digit or underscore on either side, no "ABC-" / "No." / "x/" run-in before a
# number (SKUs, URLs, references), no "2026-" or "3." (dates, decimals, versions); Chinese characters
# count as a boundary.
_PRE = r"(?<![0-9A-Za-z_])(?<![A-Za-z][-./_#])(?<!\d[-.])"
_PRE_PHONE = r"(?<![0-9A-Za-z_+])(?<![A-Za-z][-./_#])(?<!\d[-.])"
_POST = r"(?![0-9A-Za-z_])(?![-.]\d)"

_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9](?:[A-Za-z0-9._%+\-]{0,63}[A-Za-z0-9_%+\-])?"
    r"(?:@|%40)(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9\-])"
)
# written so that bots do not harvest it: "name[at]domain.com", "name（at）domain.cn", "name at domain dot com"
_LOCAL = r"[A-Za-z0-9](?:[A-Za-z0-9._%+\-]{0,63}[A-Za-z0-9_%+\-])?"
_DOT = r"(?:\.|[ ]?\[dot\][ ]?|[ ]?\(dot\)[ ]?| dot )"
_OBFUSCATED_EMAIL = re.compile(
    rf"(?<![A-Za-z0-9._%+\-])(?P<local>{_LOCAL})(?P<at>[ ]?(?:\[at\]|\(at\)|【at】|\[@\]|\(@\)|【@】)[ ]?| at )"
    rf"(?P<domain>(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{{0,61}}[A-Za-z0-9])?{_DOT})+(?P<tld>[A-Za-z]{{2,24}}))(?![A-Za-z0-9\-])",
    re.IGNORECASE,
)
_FILE_SUFFIXES = frozenset(
    ["pdf", "xml", "ofd", "csv", "xls", "xlsx", "doc", "docx", "png", "jpg", "jpeg", "gif", "zip", "rar", "txt"]
    + ["json", "html", "htm", "exe"]
)
_EXT = r"(?P<ext>[ ]?(?:转|分机|ext\.?|x|#)[ ]?\d{1,5}|-\d{1,5})?"  # matched, kept out of the span
_MOBILE = re.compile(
    _PRE_PHONE
    + r"(?:(?:\(\+?86\)|\+86|0086|86)[ -]?)?1(?:3\d|4[5-9]|5[0-35-9]|6[2567]|7[0-8]|8\d|9[0-35-9])(?:(?:[ -]?\d){8}|\.\d{4}\.\d{4})"
    + _POST
)
_LANDLINE = re.compile(
    _PRE_PHONE
    + r"(?:(?P<cc>(?:(?:\+86|0086)[ -]?|86[ -])(?:\(0\)[ ]?)?)(?:10|2\d|[3-9]\d{2})"
    + r"|\(0(?:10|2\d|[3-9]\d{2})\)|0(?:10|2\d|[3-9]\d{2}))"
    + r"(?P<s1>[ -]?)[1-9]\d{2,3}(?P<s2>[ -]?)\d{4}"
    + _EXT
    + _POST,
    re.IGNORECASE,
)
# service numbers: 400 / 800 and 7 digits, grouped as a company prints them (400-820-8820,
# 400 8208820, 400-8208-820); written together only next to a phone word
_SERVICE = re.compile(_PRE_PHONE + r"(?:[48]00(?:[ -]?\d){7}|[48]00\.\d{3}\.\d{4})" + _EXT + _POST, re.IGNORECASE)
_INTERNATIONAL = re.compile(
    r"(?<![0-9A-Za-z_+])(?:(?:\+[1-9]\d{0,2}|\(\+[1-9]\d{0,2}\))(?:[ .-]?(?:\(\d{1,4}\)|\d{1,5})){1,6}"
    r"|(?<!\d[ .-])00[1-9]\d{0,2}(?:[ .-]\d{7,8}|(?:[ .-](?:\(\d{1,4}\)|\d{1,8})){2,6}))" + _EXT + _POST,
    re.IGNORECASE,
)
_NANP = re.compile(
    _PRE
    + r"(?:\([2-9]\d{2}\) ?[2-9]\d{2}[ -]\d{4}|(?:1[-. ])?[2-9]\d{2}(?P<s>[-. ])[2-9]\d{2}(?P=s)\d{4})"
    + _EXT
    + _POST,
    re.IGNORECASE,
)
_CARD = re.compile(
    _PRE_PHONE + r"(?:\d{12,19}|\d{3,6}(?P<s>[ .-]| {2})\d{1,13}(?:(?P=s)\d{1,13}){0,5})" + _POST
)
_RESIDENT = re.compile(
    _PRE
    + r"\d{6}(?:(?P<s>[ -]?)\d{8}(?P=s)|(?P<t>[ -])\d{4}(?P=t)\d{4}(?P=t))\d{3}[0-9Xx]"
    + _POST  # 6-8-4 or 6-4-4-4
)
_C = "[0-9A-HJ-NPQRTUWXY]"
# compact, or grouped as registered (2-6-9-1: department and kind, region, organisation, check) or
# in fours or sixes
_CREDIT = re.compile(
    rf"(?<![0-9A-Za-z_])(?:{_C}{{18}}|{_C}{{2}}(?P<r>[ -])\d{{6}}(?P=r){_C}{{9}}(?P=r){_C}|(?:{_C}{{4}} ){{4}}{_C}{{2}}|{_C}{{6}} {_C}{{6}} {_C}{{6}}"
    rf"|{_C}{{8}}[ -]{_C}{{10}}|{_C}{{8}}(?P<g>[ -]){_C}{{9}}(?P=g){_C})"
    r"(?![0-9A-Za-z_])",
    re.IGNORECASE,
)
_IBAN = re.compile(
    r"(?:(?<=IBAN)|(?<=iban)|(?<![0-9A-Za-z_]))[A-Z]{2}\d{2}(?:(?: {1,2}|-)?[A-Z0-9]){11,30}", re.IGNORECASE
)
_VAT_PREFIXES = (
    "CHE|AT|BE|BG|CY|CZ|DE|DK|EE|EL|GR|ES|FI|FR|HR|HU|IE|IT|LT|LU|LV|MT|NL|NO|PL|PT|RO|SE|SI|SK|GB|XI"
)
_VAT_CANDIDATE = re.compile(
    rf"(?<![0-9A-Za-z_])(?P<cc>{_VAT_PREFIXES})(?P<sep>[ -]?)(?P<body>[0-9A-Z](?:[ .-]?[0-9A-Z+*]){{1,13}})",
    re.IGNORECASE,
)
# Lower-case prefixes that are words too ("de", "it", "no", "se", "hr", "gb"): written apart from
# their number ("USt-IdNr.: de 322 896 906") they count only after a VAT word or in a message that
# holds another VAT id; "de 553695513 personnes" is French.
_WORD_PREFIXES = frozenset(
    {"AT", "BE", "DE", "EL", "ES", "IT", "NO", "SE", "SI", "PT", "MT", "HR", "GB", "IE", "CHE"}
)
_VAT_WORD = re.compile(
    r"(?<![a-z])(?:vat|tva|iva|btw|ust|mwst|moms|mva|uid|nif|cif|cui|oib|dic|dič|ddv|pvm|alv|áfa|afa|kmkr|fpa|afm|tax)"
    r"|税号|增值税|纳税人识别号|税务登记"
)
_VAT_CONTEXT = 40
# a national word right before a number names its country ("P.IVA 12345678903", "NIP 123-456-32-18")
_VAT_CUES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(rf"(?<![A-Za-z])(?:{cue})(?![A-Za-z])\s*[:：.#]?\s*(?:是|为|為)?\s*", re.IGNORECASE), cc)
    for cue, cc in (
        (r"(?:p\.?\s?iva|partita\s+iva)(?:\s*n(?:r|o)?\.?)?", "IT"),
        (r"nip", "PL"),
        (r"cvr(?:[- ]?n(?:r|ummer)\.?)?", "DK"),
        (r"vat\s+reg(?:istration)?\.?\s*(?:no|number|nr)\.?", "GB"),
        (r"cif|nif", "ES"),
        (r"(?:αφμ|afm|α\.φ\.μ)\.?", "EL"),
        (r"btw(?:-?(?:nummer|nr|id))?", "NL"),
        (r"uid", "CHE"),
        (r"uid", "AT"),  # Austria's UID-Nummer: U and 8 digits
    )
)
_UNPREFIXED = re.compile(r"[0-9A-Z](?:[ ./-]?[0-9A-Z]){6,13}", re.IGNORECASE)
# the words that belong to a number: optional for Switzerland, required for Norway ("NO 123456789"
# alone is as likely an invoice "No.")
_MVA_ALONE = re.compile(
    r"(?<![0-9A-Za-z_])(?P<n>\d{3} ?\d{3} ?\d{3})[ ]?MVA(?![0-9A-Za-z_])"
)  # "982 398 282 MVA"
_VAT_SUFFIX: dict[str, tuple[re.Pattern[str], bool]] = {
    "CHE": (re.compile(r"[ ]?(?:MWST|TVA|IVA)(?![0-9A-Za-z_])", re.IGNORECASE), False),
    "NO": (re.compile(r"[ ]?MVA(?![0-9A-Za-z_])", re.IGNORECASE), True),
}
_SIGNAL = re.compile(r"[0-9@]|at", re.IGNORECASE)  # every value holds a digit, an @ or an obfuscated "at"
_COUNTRY_CODE = re.compile(r"[A-Za-z]{2}")  # IBANs and VAT ids start with one

# A number right after one of these words is an invoice / order / reference number, not a phone or a
# card ("发票号 13812345678", "order no. 4111111111111111").
_NOT_PII_BEFORE = re.compile(
    r"(?:发票号码?|发票代码|票号|数电票号码?|全电发票号码?|订单号?|订单编号|单号|编号|流水号|交易号|批次号|工单号?|"
    r"合同号|凭证号|序列号|版本号?|错误码|错误代码|税控盘号|机器编号|金额|价税合计|合计|税额|快递单?号?|运单号?|物流单号?|"
    r"顺丰|中通|圆通|申通|韵达|(?<![a-z])(?:zto|yto|sto|sf|ems|dhl|ups|fedex|awb)|"
    r"(?<![a-z])(?:invoice|order|ref(?:erence)?|ticket|tracking|serial|sku|batch|case|transaction|po|error|"
    r"receipt|shipment|item|product|model|build|version|amount|total|sum)(?:\s*(?:no|nr|num|number|code|id|#))?)"
    r"\s*[.#:]*\s*(?:是|为|為)?\s*:?\s*$"
)
_PHONE_WORD = re.compile(
    r"手机|电话|座机|联系|致电|打|拨|热线|传真|号码|微信|(?<![a-z])(?:call|phone|tel|mobile|mob|cell|fax|landline|dial|ring|contact|reach|whatsapp|wechat)"
)
_BANK_CARD_WORD = re.compile(
    r"卡号|银行卡|信用卡|借记卡|储蓄卡|(?<![a-z])(?:bank|credit|debit|visa|master ?card|amex|unionpay)[ -]?card|card (?:no|number|#)"
)
_CARD_WORD = re.compile(
    r"卡号|银行卡|信用卡|借记卡|储蓄卡|账号|帐号|账户|帐户|(?<![a-z])(?:card|account|acct|a/c)"
)
_CREDIT_WORD = re.compile(r"信用代码|税号|识别号|营业执照|(?<![a-z])(?:uscc|tax|credit code|taxpayer)")
_CONTEXT = 24


def _before(folded: str, start: int) -> str:
    return folded[max(0, start - _CONTEXT) : start].lower()


def _not_pii_here(folded: str, start: int) -> bool:
    return _NOT_PII_BEFORE.search(_before(folded, start)) is not None


def _digits(s: str) -> str:
    return "".join(c for c in s if c.isdigit())


def _part_of_longer_run(text: str, start: int, end: int) -> bool:
    """A number grouped with spaces whose groups go on beyond the match (``2531 2000 0000 1234 5678``
    holds no 16-digit card). A neighbour longer than any group (another number of a pasted list) is
    no continuation."""
    if " " not in text[start:end]:
        return False
    longest = max(len(g) for g in text[start:end].split(" "))

    def group_at(i: int, step: int) -> int:
        n = 0
        while 0 <= i < len(text) and text[i].isdigit():
            n, i = n + 1, i + step
        if step < 0 and 0 <= i < len(text) and text[i].isascii() and text[i].isalpha():
            return 0  # the end of a code ("…BAG78 (0512) 3697 0276"), no group of this number
        return n

    after = group_at(end + 1, 1) if text[end : end + 1] == " " else 0
    before = group_at(start - 2, -1) if text[start - 1 : start] == " " and start >= 2 else 0
    return 0 < after <= longest or 0 < before <= longest


def _resident_shaped(compact: str) -> bool:
    """17 digits with a year of birth where a resident id has one: a resident id, maybe mistyped."""
    return len(compact) == 18 and compact[:17].isdigit() and compact[6:8] in ("19", "20")


def _resident_valid(compact: str) -> bool:
    return (
        len(compact) == 18
        and compact[:17].isdigit()
        and _birth_date_ok(compact[6:14])
        and resident_id_check(compact[:17]) == compact[17].upper()
    )


def _card_prefix_ok(d: str) -> bool:
    if not 12 <= len(d) <= 19:
        return False
    if d[:4] == "9792":  # Troy
        return len(d) == 16
    if len(d) <= 15 and (
        d[:2] in ("50", "56", "57", "58") or d[:4] in ("6304", "6759", "6761", "6762", "6763")
    ):
        return True  # Maestro (and Laser), 12 to 19 digits
    if len(d) == 12:
        return False
    if len(d) == 13:  # Visa's old numbers, Maestro
        return d[0] in "46" or d[:2] in ("50", "56", "57", "58")
    if len(d) == 15:  # American Express, UATP (airline travel cards)
        return d[:2] in ("34", "37") or d[0] == "1"
    if len(d) == 14:  # Diners Club
        return d[:2] in ("36", "38") or "300" <= d[:3] <= "305"
    return (
        d[0] in "3456"
        or 2200 <= int(d[:4]) <= 2204
        or 2221 <= int(d[:4]) <= 2720
        or d[:4] in ("9558", "9559")
    )


# Candidates carry a rank: on overlap the lower rank wins, then the longer span.
_Cand = tuple[int, int, int, PiiKind]


def _emails(text: str) -> list[_Cand]:
    plain: list[_Cand] = [(0, m.start(), m.end(), PiiKind.EMAIL) for m in _EMAIL.finditer(text)]
    return plain + _scan(_OBFUSCATED_EMAIL, text, _obfuscated_email_in)


def _obfuscated_email_in(text: str, m: re.Match[str]) -> _Cand | None:
    spelled = m.group("at") == " at "  # "look at invoice.pdf" is no address: the local part must look like one
    if spelled and (m.group("tld").lower() in _FILE_SUFFIXES or not re.search(r"[0-9._+\-]", m.group("local"))):
        return None
    return (0, m.start(), m.end(), PiiKind.EMAIL)


def _scan(
    pattern: re.Pattern[str], text: str, found_in: Callable[[str, re.Match[str]], _Cand | None]
) -> list[_Cand]:
    """Every value ``found_in`` finds in a candidate match; a candidate that holds none may still
    overlap one, so the search goes on from its next character ("… and GBP to GB90 …",
    "NL VAT NL448578530B01"), not from its end."""
    out: list[_Cand] = []
    pos = 0
    while (m := pattern.search(text, pos)) is not None:
        found = found_in(text, m)
        if found is not None:
            out.append(found)
        pos = found[2] if found is not None else m.start() + 1
    return out


def _ibans(text: str) -> list[_Cand]:
    return _scan(_IBAN, text, _iban_in)


def _iban_in(text: str, m: re.Match[str]) -> _Cand | None:
    want = IBAN_LENGTHS.get(m.group()[:2].upper())
    if want is None:
        return None
    n, end = 0, m.start()
    for i in range(m.start(), m.end()):
        if text[i].isalnum():
            n += 1
            if n == want:
                end = i + 1
                break
    if n != want or (end < len(text) and text[end].isascii() and text[end].isalnum()):
        return None
    compact = "".join(c for c in text[m.start() : end] if c.isalnum())
    if (compact.isupper() or compact.islower()) and iban_ok(compact.upper()):
        return (1, m.start(), end, PiiKind.IBAN)
    return None


def _vats(text: str) -> list[_Cand]:
    alone = [
        (2, m.start(), m.end(), PiiKind.VAT_ID)
        for m in _MVA_ALONE.finditer(text)
        if _vat_no(m.group("n").replace(" ", ""))
    ]
    found = _scan(_VAT_CANDIDATE, text, lambda t, m: _vat_in(t, m, among_vat_ids=False)) + alone
    if found:  # a list of VAT ids: "LT142166613, LU85336230, mt 1238 5990"
        found = _scan(_VAT_CANDIDATE, text, lambda t, m: _vat_in(t, m, among_vat_ids=True)) + alone
    return found + _unprefixed_vats(text)


def _unprefixed_vats(text: str) -> list[_Cand]:
    out: list[_Cand] = []
    for cue, cc in _VAT_CUES:
        for c in cue.finditer(text):
            m = _UNPREFIXED.match(text, c.end())  # right after the word and its punctuation ("NIP: 123…")
            if m is None:
                continue
            end = _vat_end(text, m.start(), m.end(), cc, lower=False)
            if end is not None:
                out.append((2, m.start(), end, PiiKind.VAT_ID))
    return out


def _vat_end(text: str, start: int, stop: int, cc: str, lower: bool) -> int | None:
    """Where the longest valid number of ``cc`` starting at ``start`` ends (cut where a group ends)."""
    pattern, check = _VAT[cc]
    for end in reversed([i + 1 for i in range(start, stop) if i + 1 == len(text) or not (text[i + 1].isascii() and text[i + 1].isalnum())]):
        raw = "".join(c for c in text[start:end] if c.isalnum())
        letters = "".join(c for c in raw if c.isalpha())
        if letters and not (letters.isupper() or (lower and letters.islower())):
            continue
        if pattern.fullmatch(raw.upper()) and check(raw.upper()):
            return end
    return None


def _vat_in(text: str, m: re.Match[str], among_vat_ids: bool) -> _Cand | None:
    prefix = m.group("cc")
    if not (prefix.isupper() or prefix.islower()):
        return None  # "De", "It": a word at the start of a sentence
    cc = prefix.upper()
    pattern, check = _VAT[cc]
    start = m.start("body")
    apart = prefix.islower() and m.group("sep") != ""
    after_vat_word = _VAT_WORD.search(text[max(0, m.start() - _VAT_CONTEXT) : m.start()].lower()) is not None
    suffix_re, required = _VAT_SUFFIX.get(cc, (None, False))
    swiss = suffix_re is not None and suffix_re.search(text, start, min(len(text), m.end() + 6)) is not None
    if apart and cc in _WORD_PREFIXES and not among_vat_ids and not after_vat_word and not swiss:
        return None  # "che-126.953.882 iva" is Swiss by its suffix
    # cut where a group ends (the next character is no letter or digit), longest first
    cuts = [
        i + 1
        for i in range(start, m.end())
        if i + 1 == len(text)
        or not (text[i + 1].isascii() and text[i + 1].isalnum())
        or (suffix_re is not None and suffix_re.match(text, i + 1) is not None)  # "NO123456785MVA"
    ]
    for end in reversed(cuts):
        raw = "".join(c for c in text[start:end] if c.isalnum() or c in "+*")
        letters = "".join(c for c in raw if c.isalpha())
        if letters and not (letters.isupper() or (prefix.islower() and letters.islower())):
            continue  # the case of a number's letters is the case of its prefix (or upper)
        if apart and len(raw) < 8:
            continue
        body = raw.upper()
        if pattern.fullmatch(body) and check(body):
            suffix = suffix_re.match(text, end) if suffix_re is not None else None
            if suffix is None and required:
                return None
            return (2, m.start(), suffix.end() if suffix else end, PiiKind.VAT_ID)
    return None


def _ids(folded: str) -> list[_Cand]:
    out: list[_Cand] = []
    for m in _RESIDENT.finditer(folded):
        compact = "".join(c for c in m.group() if c.isalnum()).upper()
        if _part_of_longer_run(folded, m.start(), m.end()):
            continue
        if _resident_valid(compact):
            out.append((3, m.start(), m.end(), PiiKind.RESIDENT_ID))
    for m in _CREDIT.finditer(folded):
        code = m.group().replace(" ", "").replace("-", "")
        letters = [c for c in code if c.isalpha()]
        if letters and not (code.isupper() or code.islower()):
            continue
        code = code.upper()
        if sum(c.isdigit() for c in code) < 2 or credit_code_check(code[:17]) != code[17]:
            continue
        context = _CREDIT_WORD.search(_before(folded, m.start())) is not None
        if _resident_shaped(code) and not context:
            continue  # a resident id with a wrong check character is no credit code
        out.append((2 if context else 4, m.start(), m.end(), PiiKind.CREDIT_CODE))
    return out


def _cards(folded: str) -> list[_Cand]:
    out: list[_Cand] = []
    for m in _CARD.finditer(folded):
        d = _digits(m.group())
        if (
            not 12 <= len(d) <= 19
            or not luhn_ok(d)
            or _not_pii_here(folded, m.start())
            or _part_of_longer_run(folded, m.start(), m.end())
        ):
            continue
        context = _CARD_WORD.search(_before(folded, m.start())) is not None
        if len(d) < 16 and not _card_prefix_ok(d):
            continue  # 12 to 15 digits: only the networks that issue them, whatever the context
        if d[0] == "1" and m.group() == d and not context:
            continue  # 15 digits from a 1 written together may be an old 纳税人识别号; a UATP card is grouped
        if len(d) == 12 and m.group() == d and _CARD_WORD.search(_before(folded, m.start())) is None:
            continue  # 12 digits written together are a card only after a card word
        if _resident_valid(d) and _BANK_CARD_WORD.search(_before(folded, m.start())) is None:
            continue  # a valid resident id ("ID card 330102...") is a card only after a bank-card word
        if not context and (not _card_prefix_ok(d) or _resident_shaped(d)):
            continue
        # an all-digit string valid both as a card and as a credit code is a card when it has a
        # card network's first digits, a credit code when a tax word says so
        out.append((2 if context else 3, m.start(), m.end(), PiiKind.BANK_CARD))
    return out


def _phones(folded: str) -> list[_Cand]:
    out: list[_Cand] = []
    for m in _MOBILE.finditer(folded):
        if not _not_pii_here(folded, m.start()) and not _part_of_longer_run(folded, m.start(), m.end()):
            out.append((5, m.start(), m.end(), PiiKind.PHONE))
    for m in _LANDLINE.finditer(folded):
        end = _number_end(m)
        if _not_pii_here(folded, m.start()) or _part_of_longer_run(folded, m.start(), end):
            continue
        plain = m.group("cc") is None and not m.group("s1") and not m.group("s2") and "(" not in m.group()
        if (
            plain
            and _PHONE_WORD.search(_before(folded, m.start())) is None
            and not _alone_on_line(folded, m.start(), end)
        ):
            continue  # 01065521234 alone may be a 发票代码 or any other number
        out.append((5, m.start(), end, PiiKind.PHONE))
    for m in _SERVICE.finditer(folded):
        end = _number_end(m)
        if _not_pii_here(folded, m.start()) or _part_of_longer_run(folded, m.start(), end):
            continue
        if folded[m.start() : end].isdigit() and _PHONE_WORD.search(_before(folded, m.start())) is None:
            continue  # 4001138852 alone may be any number
        out.append((5, m.start(), end, PiiKind.PHONE))
    for m in _INTERNATIONAL.finditer(folded):
        end = _trim_international(folded, m.start(), _number_end(m))
        if end and not _not_pii_here(folded, m.start()):
            out.append((6, m.start(), end, PiiKind.PHONE))
    for m in _NANP.finditer(folded):
        if m.group("s") == " " and _PHONE_WORD.search(_before(folded, m.start())) is None:
            continue  # 415 555 0132 alone may be any three numbers
        end = _number_end(m)
        if not _not_pii_here(folded, m.start()) and not _part_of_longer_run(folded, m.start(), end):
            out.append((6, m.start(), end, PiiKind.PHONE))
    return out


# A number as a country writes it at home ("069 33590099", "07 82 05 22 58", "(02) 8805-0919",
# "2135-0126"), taken only right after a phone word, a signature's label ("T:", "M ") or a place
# ("Berlin:", "SG", "香港"); never a date, an IP address or a number a reference word claims.
_NATIONAL = re.compile(
    _PRE_PHONE + r"(?:\(\+?\d{1,4}\)[ ]?)?\d{1,12}(?:(?:[ ./-]|/ )\d{1,8}){0,5}" + _EXT + _POST, re.IGNORECASE
)
_PHONE_LABEL = re.compile(r"(?:^|[\s|/,;(])(?:t|m|d|f|p|ph|tel|mob|hp|o)\s*[.:：]?\s*$")
_PLACE = re.compile(
    r"香港|澳门|澳門|新加坡|台湾|台灣|日本|韩国|韓國|德国|法国|英国|美国|(?<![a-z])(?:hong kong|singapore|macau|macao|"
    r"taiwan|taipei|japan|tokyo|osaka|korea|seoul|berlin|munich|hamburg|paris|lyon|london|manchester|"
    r"madrid|barcelona|rome|milan|sydney|melbourne|"
    r"office|desk|line|hotline|switchboard|toll-free|hk|sg|mo|tw|jp|kr|uk|us|de|fr|es|au|"
    r"(?:my|new|our|your|the) number|number is)(?![a-z])"
)
_DATE_LIKE = re.compile(r"(?:19|20)\d{2}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./](?:19|20)\d{2}")
_IP_LIKE = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")


_NATIONAL_SHAPES = re.compile(
    r"\(\+?\d{1,4}\)[ ]?\d.*"  # an area code or a country code in parentheses
    r"|0[1-9][\d ./-]*"  # a trunk 0, then the area code or mobile prefix
    r"|[2-9]\d{3}[ -]?\d{4}"  # Hong Kong, Macau, Singapore: 4-4
    r"|[6-9]\d{2} \d{2} \d{2} \d{2}"  # Spain: 3-2-2-2
    r"|(?:852|853|65)[ -][2-9]\d{3}[ -]\d{4}"  # their country code without the +
)


def _national_shape(number: str) -> bool:
    d = _digits(number)
    if not _NATIONAL_SHAPES.fullmatch(number):
        return False
    if number.startswith("0"):
        return 10 <= len(d) <= 12 if number.isdigit() else 9 <= len(d) <= 12
    return 8 <= len(d) <= 13


def _national_phones(folded: str) -> list[_Cand]:
    out: list[_Cand] = []
    for m in _NATIONAL.finditer(folded):
        end = _number_end(m)
        number = folded[m.start() : end]
        if not _national_shape(number) or _DATE_LIKE.match(number) or _IP_LIKE.fullmatch(number):
            continue
        if _not_pii_here(folded, m.start()):
            continue
        before = _before(folded, m.start())
        word, place = _PHONE_WORD.search(before) is not None, _PLACE.search(before) is not None
        if not (word or place or _PHONE_LABEL.search(before)):
            continue
        if number.isdigit() and len(number) == 8 and not (word and place):
            continue  # 8 digits together ("电话66966875") only with a phone word and a place: else any number
        out.append((7, m.start(), end, PiiKind.PHONE))
    return out


def _number_end(m: re.Match[str]) -> int:
    """Where the number ends: an extension (转8012, ext. 12, -123) is matched but is not personal data."""
    return m.start("ext") if m.group("ext") else m.end()


def _alone_on_line(text: str, start: int, end: int) -> bool:
    """The number is all its line holds (a signature's phone line), and the message has other lines."""
    before, after = text.rfind("\n", 0, start), text.find("\n", end)
    line = text[before + 1 : after if after >= 0 else len(text)]
    return (before >= 0 or after >= 0) and line.strip() == text[start:end]


def _trim_international(text: str, start: int, end: int) -> int:
    """Drop trailing groups past E.164's 15 digits; 0 when fewer than 8 digits remain."""
    while len(_digits(text[start:end])) > 15:
        cut = max(text.rfind(" ", start, end), text.rfind("-", start, end), text.rfind(".", start, end))
        if cut <= start:
            return 0
        end = cut
    return end if len(_digits(text[start:end])) >= 8 else 0


def find_pii(text: str) -> list[PiiSpan]:
    """Personal data in ``text``: sorted, non-overlapping spans into the original string."""
    folded = _fold(text)
    if not _SIGNAL.search(folded):
        return []
    cands = _emails(folded) if "@" in folded or "%40" in folded or "at" in folded.lower() else []
    if _COUNTRY_CODE.search(folded):
        cands += _ibans(folded) + _vats(folded)
    else:
        cands += _unprefixed_vats(folded)  # "Α.Φ.Μ.: 094014201"
    cands += _ids(folded) + _cards(folded) + _phones(folded) + _national_phones(folded)
    cands.sort(key=lambda c: (c[0], c[1] - c[2], c[1]))
    taken: list[_Cand] = []
    for c in cands:
        if all(c[2] <= t[1] or c[1] >= t[2] for t in taken):
            taken.append(c)
    return [PiiSpan(s, e, k) for _, s, e, k in sorted(taken, key=lambda c: c[1])]


def _replace(text: str, spans: list[PiiSpan], by: Callable[[PiiSpan], str]) -> str:
    parts: list[str] = []
    last = 0
    for s in spans:
        parts.append(text[last : s.start])
        parts.append(by(s))
        last = s.end
    parts.append(text[last:])
    return "".join(parts)


def redact(text: str) -> str:
    """``text`` with each value replaced by its kind's placeholder (``PLACEHOLDERS``)."""
    return _replace(text, find_pii(text), lambda s: PLACEHOLDERS[s.kind])


def mask_value(value: str, kind: PiiKind) -> str:
    """One value kept recognisable for an agent: ``****1234`` (last 4 letters or digits); an email
    keeps its first character and its domain (``j***@example.com``)."""
    if kind is PiiKind.EMAIL:
        local, _, domain = value.partition("@")
        return f"{local[:1]}***@{domain}"
    tail = [c for c in value if c.isalnum()][-4:]
    return "****" + "".join(tail)


def mask(text: str) -> str:
    """``text`` with each value masked by ``mask_value`` (for retention: recognisable, not usable)."""
    return _replace(text, find_pii(text), lambda s: mask_value(s.value(text), s.kind))
