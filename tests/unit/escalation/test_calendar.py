"""The team calendar: hours in a time zone, holidays, China's make-up working days, DST changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.flow import phrases
from escalation.calendar import CalendarError, TeamCalendar

BERLIN = ZoneInfo("Europe/Berlin")
SHANGHAI = ZoneInfo("Asia/Shanghai")
WEEKDAYS = {"timezone": "Europe/Berlin", "hours": {"mon-fri": "09:00-18:00"}}


def local(tz: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=tz)  # type: ignore[misc]


def test_friday_night_is_closed_and_the_team_is_back_monday_morning() -> None:
    cal = TeamCalendar.parse(WEEKDAYS)
    friday_22 = local(BERLIN, 2026, 12, 4, 22, 0)
    assert not cal.is_open(friday_22)
    back = cal.next_open(friday_22)
    assert back == local(BERLIN, 2026, 12, 7, 9, 0)
    assert phrases.when(back, cal.timezone, "en", now=friday_22) == "Monday 09:00 CET"
    assert phrases.when(back, cal.timezone, "zh", now=friday_22) == "周一 09:00（CET）"
    assert cal.is_open(local(BERLIN, 2026, 12, 7, 9, 0)) and not cal.is_open(local(BERLIN, 2026, 12, 7, 18, 0))


def test_business_time_skips_nights_and_weekends() -> None:
    cal = TeamCalendar.parse(WEEKDAYS)
    start = local(BERLIN, 2026, 12, 4, 17, 30)  # Friday 17:30
    assert cal.add_business(start, 3600) == local(BERLIN, 2026, 12, 7, 9, 30)  # Monday 09:30
    assert cal.business_seconds(start, local(BERLIN, 2026, 12, 7, 9, 30)) == 3600
    assert cal.business_seconds(local(BERLIN, 2026, 12, 5, 10, 0), local(BERLIN, 2026, 12, 6, 10, 0)) == 0


def test_holidays_of_the_country_are_closed() -> None:
    cal = TeamCalendar.parse({**WEEKDAYS, "holidays": "DE"})
    christmas = local(BERLIN, 2026, 12, 25, 10, 0)  # a Friday
    assert not cal.is_open(christmas)
    assert cal.next_open(christmas) == local(BERLIN, 2026, 12, 28, 9, 0)
    company = TeamCalendar.parse({**WEEKDAYS, "closed": ["2026-12-24"], "open": ["2026-12-27"]})
    assert not company.is_open(local(BERLIN, 2026, 12, 24, 10, 0))
    assert company.is_open(local(BERLIN, 2026, 12, 27, 10, 0))  # an extra working Sunday


def test_chinese_make_up_working_day_is_open_and_the_holiday_closed() -> None:
    cal = TeamCalendar.parse({"timezone": "Asia/Shanghai", "hours": {"mon-fri": "09:00-18:00"}, "holidays": "CN"})
    # Spring Festival 2026: Saturday 14 February and Saturday 28 February are 调休 working days
    assert date(2026, 2, 14).weekday() == 5
    assert cal.is_open(local(SHANGHAI, 2026, 2, 14, 10, 0))
    assert cal.is_open(local(SHANGHAI, 2026, 2, 28, 10, 0))
    # ... and the Monday of the festival week is a holiday
    assert not cal.is_open(local(SHANGHAI, 2026, 2, 16, 10, 0))
    # a Friday night before a make-up Saturday: back on Saturday, not Monday
    assert cal.next_open(local(SHANGHAI, 2026, 2, 13, 20, 0)) == local(SHANGHAI, 2026, 2, 14, 9, 0)
    # National Day week: 1 October (Thursday) closed, Saturday 10 October a make-up day
    assert not cal.is_open(local(SHANGHAI, 2026, 10, 1, 10, 0))
    assert cal.is_open(local(SHANGHAI, 2026, 10, 10, 10, 0))
    # without CN holidays the make-up Saturday would be closed
    plain = TeamCalendar.parse({"timezone": "Asia/Shanghai", "hours": {"mon-fri": "09:00-18:00"}})
    assert not plain.is_open(local(SHANGHAI, 2026, 2, 14, 10, 0))


def test_a_dst_change_changes_the_length_of_the_day_not_the_hours() -> None:
    # a team working around the clock on Sunday 29 March 2026, when Berlin moves from CET to CEST at 02:00
    cal = TeamCalendar.parse({"timezone": "Europe/Berlin", "hours": {"mon-sun": "00:00-24:00"}})
    sunday = local(BERLIN, 2026, 3, 29, 0, 0)
    monday = local(BERLIN, 2026, 3, 30, 0, 0)
    assert cal.business_seconds(sunday, monday) == 23 * 3600
    office = TeamCalendar.parse(WEEKDAYS)
    # Friday 17:00 CET + 2 business hours = Monday 10:00 CEST: the clock reads 10:00 after the change
    due = office.add_business(local(BERLIN, 2026, 3, 27, 17, 0), 2 * 3600)
    assert due is not None and due.astimezone(BERLIN).hour == 10 and due.astimezone(BERLIN).utcoffset() == timedelta(hours=2)
    assert phrases.when(local(BERLIN, 2026, 3, 30, 9, 0), office.timezone, "en", now=local(BERLIN, 2026, 3, 28, 12, 0)) == "Monday 09:00 CEST"
    # the autumn change: Sunday 25 October 2026 has 25 hours
    assert cal.business_seconds(local(BERLIN, 2026, 10, 25, 0, 0), local(BERLIN, 2026, 10, 26, 0, 0)) == 25 * 3600


def test_unset_calendar_is_always_open_and_bad_ones_are_refused() -> None:
    always = TeamCalendar.parse(None)
    now = datetime.now(UTC)
    assert always.is_open(now) and always.next_open(now) == now
    for bad, problem in [
        ({"timezone": "Mars/Olympus", "hours": {"mon": "09:00-17:00"}}, "time zone"),
        ({"hours": {"mon": "9-17"}}, "HH:MM"),
        ({"hours": {"funday": "09:00-17:00"}}, "day"),
        ({"hours": {"mon": "18:00-09:00"}}, "end before"),
        ({"hours": {"mon": "09:00-17:00"}, "holidays": "XX"}, "country"),
        ({"hours": {"mon": "09:00-17:00"}, "weekends": True}, "unknown"),
    ]:
        with pytest.raises(CalendarError, match=problem):
            TeamCalendar.parse(bad)
