"""Dates of the bureau's calendar.

A decision, a visit date or a review date is a date in China (UTC+8, no daylight saving): a
case decided at 23:30 UTC on 31 December is decided on 1 January. Workflows take the moment
from ``workflow.now()`` (deterministic) and turn it into a local date here.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Final

__all__ = ["LOCAL_TZ", "local_date"]

LOCAL_TZ: Final = timezone(timedelta(hours=8), "Asia/Shanghai")


def local_date(moment: datetime) -> date:
    """The bureau's calendar date at ``moment`` (an aware datetime)."""
    return moment.astimezone(LOCAL_TZ).date()
