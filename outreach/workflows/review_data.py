"""Data of the annual review (``AnnualReview`` and its activities)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

__all__ = [
    "DueEnrolment",
    "DueRequest",
    "ReviewOutcome",
    "ReviewRequest",
    "ReviewRun",
    "ReviewSummary",
]


@dataclass(frozen=True)
class ReviewRun:
    """Input of one review run (a schedule starts it empty; continue-as-new carries the rest).

    ``as_of``: the review date (default: the bureau's date when the run starts); enrolments
    whose ``next_review_on`` is on or before it are reviewed, in case-id order after
    ``after_case_id``.
    """

    as_of: date | None = None
    after_case_id: str = ""
    reviewed: int = 0
    continued: int = 0
    terminated: int = 0
    batch_size: int = 50


@dataclass(frozen=True)
class ReviewSummary:
    as_of: date
    reviewed: int
    continued: int
    terminated: int


@dataclass(frozen=True)
class DueRequest:
    as_of: date
    after_case_id: str
    limit: int


@dataclass(frozen=True)
class DueEnrolment:
    case_id: str
    household_key: str
    due_on: date


@dataclass(frozen=True)
class ReviewRequest:
    case_id: str
    household_key: str
    due_on: date
    as_of: date
    at: datetime


@dataclass(frozen=True)
class ReviewOutcome:
    """``status``: ``active`` (every recurring programme continues, or some do), ``terminated``
    (none does), or ``skipped`` (reviewed already, or no longer active)."""

    case_id: str
    status: str
    continued: tuple[str, ...] = ()
    ended: tuple[str, ...] = ()
