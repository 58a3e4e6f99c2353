"""The case's domain events as typed immutable values, with the exact JSON ``data`` they store."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from datetime import date, datetime
from decimal import Decimal
from types import NoneType, UnionType
from typing import (
    Any,
    ClassVar,
    Final,
    Self,
    TypeAlias,
    Union,
    get_args,
    get_origin,
    get_type_hints,
)

__all__ = [
    "EVENT_TYPES",
    "ApprovalRecorded",
    "ApprovalRequested",
    "AssetFigures",
    "Award",
    "CaseClosed",
    "CaseEvent",
    "CaseOpened",
    "CaseWithdrawn",
    "Certificate",
    "Circumstances",
    "EconomicStatusChecked",
    "EligibilityAssessed",
    "EnrollmentFinalized",
    "EnrollmentReviewed",
    "InvalidDomainEvent",
    "NoticeSent",
    "ObjectionRaised",
    "PublicityEnded",
    "PublicityStarted",
    "ReminderSent",
    "TriggerJoined",
    "TriggerRef",
    "VisitCancelled",
    "VisitCompleted",
    "VisitFigures",
    "VisitOverdue",
    "VisitScheduled",
    "parse",
]

JsonObject: TypeAlias = Mapping[str, Any]
"""Opaque JSON (a decision-trace check, ``outreach.policy.trace``): passed through as stored."""

PERSONAL: Final = "personal"  # the member the event store encrypts (its PERSONAL)


class InvalidDomainEvent(ValueError):
    """Stored data without what every reader needs (``case_id``; a visit event's ``task_id``)."""


# -- field options: the few places where today's stored shape is not the plain one -------------


def _personal(key: str, *, omit_empty: bool = False) -> Any:
    """A text stored under ``data["personal"][key]`` (encrypted); None when not in clear."""
    return field(default=None, metadata={"personal": key, "omit_empty": omit_empty})


def _fallback(default: Any) -> Any:
    """Like the projections' ``data.get(key) or default``: a falsy stored value reads as default."""
    return field(default=default, metadata={"or_default": True})


def _read_with(read: Callable[[Any], Any], default: Any) -> Any:
    return field(default=default, metadata={"read": read})


def _names(value: Any) -> tuple[str, ...]:
    # programme names; the cases projection also takes award objects here
    if not isinstance(value, list | tuple):
        return ()
    return tuple(str(v.get("programme")) if isinstance(v, Mapping) else str(v) for v in value)


def _date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(value) if isinstance(value, str) and value else None


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    # a date-only string reads as midnight, as in the visit_tasks projection
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


# -- the codec: field order is the stored key order; types say how values are stored -----------


@dataclass(frozen=True)
class _Value:
    """Generic ``to_data`` / ``from_data`` for the frozen dataclasses below."""

    def to_data(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        personal: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if "personal" in f.metadata:
                if value is not None and (value or not f.metadata["omit_empty"]):
                    personal[f.metadata["personal"]] = value
            elif f.metadata.get("flat"):
                out.update({} if value is None else value.to_data())
            elif value is not None or f.metadata.get("null"):
                out[f.name] = _encode(value)
            elif f.metadata.get("empty_object"):
                out[f.name] = {}
        if personal:
            out[PERSONAL] = personal
        return out

    @classmethod
    def from_data(cls, data: Any) -> Self:
        return cls(**_decode_fields(cls, data if isinstance(data, Mapping) else {}))


def _encode(value: Any) -> Any:
    if isinstance(value, _Value):
        return value.to_data()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):  # datetime too
        return value.isoformat()
    if isinstance(value, tuple):
        return [_encode(v) for v in value]
    if isinstance(value, Mapping):
        return dict(value)
    return value


_HINTS: Final[dict[type[_Value], dict[str, Any]]] = {}


def _hints(cls: type[_Value]) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = get_type_hints(cls)
    return _HINTS[cls]


def _decode_fields(cls: type[_Value], data: JsonObject) -> dict[str, Any]:
    try:
        return _read_fields(cls, data)
    except (ValueError, TypeError, ArithmeticError) as exc:  # a malformed value, e.g. a date
        if isinstance(exc, InvalidDomainEvent):
            raise
        raise InvalidDomainEvent(f"{getattr(cls, 'type', cls.__name__)}: {exc}") from exc


def _read_fields(cls: type[_Value], data: JsonObject) -> dict[str, Any]:
    hints = _hints(cls)
    out: dict[str, Any] = {}
    for f in fields(cls):
        meta = f.metadata
        if "personal" in meta:
            personal = data.get(PERSONAL)
            text = personal.get(meta["personal"]) if isinstance(personal, Mapping) else None
            out[f.name] = text if isinstance(text, str) else None  # shredded, sealed or absent
            continue
        tp = hints[f.name]
        if meta.get("flat"):
            inner = _optional(tp)
            present = {g.name for g in fields(inner)} & data.keys()
            out[f.name] = inner.from_data(data) if present else None
            continue
        raw = data.get(f.name)
        if "read" in meta:
            out[f.name] = f.default if raw is None else meta["read"](raw)
        elif raw is None or (meta.get("or_default") and not raw):
            if f.default is MISSING and f.default_factory is MISSING:
                raise InvalidDomainEvent(f"{getattr(cls, 'type', cls.__name__)} without {f.name}")
        elif tp is str and f.default is MISSING:
            if not isinstance(raw, str) or (meta.get("non_empty") and not raw):
                raise InvalidDomainEvent(f"{getattr(cls, 'type', cls.__name__)}: bad {f.name}")
            out[f.name] = raw
        else:
            out[f.name] = _decode(tp, raw)
    return out


def _optional(tp: Any) -> Any:
    if get_origin(tp) in (Union, UnionType):
        return next(a for a in get_args(tp) if a is not NoneType)
    return tp


def _decode(tp: Any, raw: Any) -> Any:
    inner = _optional(tp)
    if inner is not tp:  # X | None: an empty or non-object nested value reads as None
        if isinstance(inner, type) and issubclass(inner, _Value):
            return inner.from_data(raw) if isinstance(raw, Mapping) and raw else None
        return _decode(inner, raw)
    origin = get_origin(tp)
    if origin is tuple:
        if not isinstance(raw, list | tuple):
            return ()
        item = get_args(tp)[0]
        if get_origin(item) is Mapping:  # opaque JSON objects: skip anything else
            return tuple(v for v in raw if isinstance(v, Mapping))
        return tuple(_decode(item, v) for v in raw)
    if origin is Mapping or tp is Any:
        return raw
    if isinstance(tp, type) and issubclass(tp, _Value):
        return tp.from_data(raw)
    if tp is datetime:
        return _time(raw)
    if tp is date:
        return _date(raw)
    if tp is Decimal:
        return Decimal(str(raw))
    if tp is bool:
        return bool(raw)
    if tp is int:
        return int(raw)
    return str(raw)


# -- nested values -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class TriggerRef(_Value):
    """The agency event that opened or joined the case: its type and event-store id."""

    type: str = ""
    event_id: str = ""  # test fixtures and the views tolerate a ref without it


@dataclass(frozen=True, kw_only=True)
class AssetFigures(_Value):
    vehicles: int = 0
    homes: int = 0
    business_premises: int = 0
    financial_assets: Decimal = Decimal(0)


@dataclass(frozen=True, kw_only=True)
class Award(_Value):
    """One programme awarded (``AwardLine.to_dict``): a monthly or a one-off amount."""

    programme: str = ""
    monthly_amount: Decimal | None = None
    one_off_amount: Decimal | None = None
    effective_from: date | None = None  # None only in minimal old shapes ({"programme": ...})

    @classmethod
    def from_data(cls, data: Any) -> Self:
        # a bare programme name, as the cases projection takes
        return super().from_data(data) if isinstance(data, Mapping) else cls(programme=str(data))


@dataclass(frozen=True, kw_only=True)
class Certificate(_Value):
    category: str
    grade: int


@dataclass(frozen=True, kw_only=True)
class Circumstances(_Value):
    """The figures a decision used (``circumstances_dict``); defaults as the annual review's."""

    district: str = ""
    urban: bool = True
    household_size: int = 1
    monthly_income_total: Decimal = Decimal(0)
    labor_capacities: tuple[str, ...] = ()
    has_supporter: bool = True
    assets: AssetFigures = AssetFigures()
    disability_certificates: tuple[Certificate, ...] = ()
    medical_out_of_pocket: tuple[Decimal, ...] = ()
    existing_benefits: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class VisitFigures(_Value):
    """What a visit that found the household recorded (flat keys in the event's data)."""

    household_size: int = 1
    monthly_income_total: Decimal = Decimal(0)
    labor_capacity: tuple[str, ...] = ()
    consent_to_check: bool = False
    has_supporter: bool | None = field(default=None, metadata={"null": True})  # null: unknown
    assets: AssetFigures = AssetFigures()


_FLAT: Final = {"flat": True}
_EMPTY_OBJECT: Final = {"empty_object": True}  # None is stored as {} (Assessment's default)


# -- the events --------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class _Event(_Value):
    type: ClassVar[str]
    case_id: str = field(metadata={"non_empty": True})  # projections skip events without it


@dataclass(frozen=True, kw_only=True)
class _StagedEvent(_Event):
    # the stage the cases projection assumes when ``stage`` is missing ("" where it keeps it)
    default_stage: ClassVar[str] = ""
    stage: str

    @classmethod
    def from_data(cls, data: Any) -> Self:
        data = data if isinstance(data, Mapping) else {}
        stage = str(data.get("stage") or cls.stage_if_missing(data))
        return super().from_data({**data, "stage": stage})

    @classmethod
    def stage_if_missing(cls, data: JsonObject) -> str:
        return cls.default_stage


@dataclass(frozen=True, kw_only=True)
class CaseOpened(_StagedEvent):
    type = "CaseOpened"
    default_stage = "screening"
    district: str = ""
    urban: bool = False
    trigger: TriggerRef | None = None
    programmes: tuple[str, ...] = _read_with(_names, ())  # empty when screened out
    screening: tuple[str, ...] = ()  # screening's reasons


@dataclass(frozen=True, kw_only=True)
class TriggerJoined(_StagedEvent):
    type = "TriggerJoined"
    trigger: TriggerRef | None = None
    reconsidered: bool = False
    programmes: tuple[str, ...] | None = _read_with(_names, None)  # stored only if reconsidered


@dataclass(frozen=True, kw_only=True)
class NoticeSent(_StagedEvent):
    type = "NoticeSent"
    channel: str = ""
    template: str = "notice"


@dataclass(frozen=True, kw_only=True)
class ReminderSent(_StagedEvent):
    type = "ReminderSent"
    default_stage = "notify"
    channel: str = ""  # sms / phone / letter
    attempt: int = _fallback(1)


@dataclass(frozen=True, kw_only=True)
class VisitScheduled(_StagedEvent):
    type = "VisitScheduled"
    default_stage = "visit"
    task_id: str
    kind: str = _fallback("visit")  # visit / reverify
    attempt: int = _fallback(1)
    district: str = _fallback("")
    due_at: datetime | None = None  # None: the visit_tasks projection takes occurred_at


@dataclass(frozen=True, kw_only=True)
class VisitOverdue(_StagedEvent):
    type = "VisitOverdue"
    task_id: str
    due_at: datetime | None = None
    escalated_to: str = "supervisor"


@dataclass(frozen=True, kw_only=True)
class VisitCompleted(_StagedEvent):
    type = "VisitCompleted"
    default_stage = "verify"
    task_id: str
    found: bool = False
    attempt: int = _fallback(1)
    visited_on: date | None = None
    figures: VisitFigures | None = field(default=None, metadata=_FLAT)  # only when found
    notes: str | None = _personal("notes", omit_empty=True)

    @classmethod
    def stage_if_missing(cls, data: JsonObject) -> str:
        return cls.default_stage if data.get("found") else "visit"  # nobody found: visit again


@dataclass(frozen=True, kw_only=True)
class VisitCancelled(_StagedEvent):
    type = "VisitCancelled"
    task_id: str
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class EconomicStatusChecked(_StagedEvent):
    type = "EconomicStatusChecked"
    facts_used: tuple[str, ...] = ()  # kinds of the household's facts
    monthly_income_total: Decimal = Decimal(0)
    assets: AssetFigures = AssetFigures()
    existing_benefits: tuple[str, ...] = ()
    discrepancies: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class EligibilityAssessed(_StagedEvent):
    type = "EligibilityAssessed"
    default_stage = "decide"
    decision_id: str = ""
    decided_on: date | None = None
    eligible: bool = False
    programmes: tuple[Award, ...] = ()  # the new awards
    already_receiving: tuple[str, ...] = ()
    summary: str = ""
    circumstances: Circumstances | None = field(default=None, metadata=_EMPTY_OBJECT)
    trace: tuple[JsonObject, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ApprovalRequested(_StagedEvent):
    type = "ApprovalRequested"
    default_stage = "approval"
    decision_id: str = ""
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class ApprovalRecorded(_StagedEvent):
    type = "ApprovalRecorded"
    decision_id: str = ""
    approved: bool = False
    supervisor: str = ""
    comment: str = ""


@dataclass(frozen=True, kw_only=True)
class PublicityStarted(_StagedEvent):
    type = "PublicityStarted"
    default_stage = "publicity"
    decision_id: str = ""
    ends_at: datetime | None = None
    round: int = 1


@dataclass(frozen=True, kw_only=True)
class ObjectionRaised(_StagedEvent):
    type = "ObjectionRaised"
    default_stage = "verify"
    objection_id: str = ""
    reason: str = ""
    received_on: date | None = None
    summary: str | None = _personal("summary")


@dataclass(frozen=True, kw_only=True)
class PublicityEnded(_StagedEvent):
    type = "PublicityEnded"
    decision_id: str = ""


@dataclass(frozen=True, kw_only=True)
class CaseWithdrawn(_StagedEvent):
    type = "CaseWithdrawn"
    recorded_by: str = ""
    reason: str | None = _personal("reason")


@dataclass(frozen=True, kw_only=True)
class EnrollmentFinalized(_StagedEvent):
    type = "EnrollmentFinalized"
    default_stage = "enrol"
    district: str = _fallback("")
    urban: bool = False
    decision_id: str = ""
    decided_at: datetime | None = None
    programmes: tuple[Award, ...] = ()
    circumstances: Circumstances | None = field(default=None, metadata=_EMPTY_OBJECT)
    next_review_on: date | None = None  # None: the enrolments projection takes occurred_at


@dataclass(frozen=True, kw_only=True)
class EnrollmentReviewed(_Event):
    """The annual review's result, recorded outside the case workflow: no ``stage``."""

    type = "EnrollmentReviewed"
    due_on: date | None = None
    reviewed_on: date | None = None
    status: str = "active"  # active / terminated
    programmes: tuple[Award, ...] = ()  # the awards that continue
    ended: tuple[str, ...] = ()  # programmes no longer awarded
    next_review_on: date | None = field(default=None, metadata={"null": True})  # terminated
    reason: str = ""
    circumstances: Circumstances | None = field(default=None, metadata=_EMPTY_OBJECT)
    trace: tuple[JsonObject, ...] = ()


@dataclass(frozen=True, kw_only=True)
class CaseClosed(_StagedEvent):
    type = "CaseClosed"
    default_stage = "closed"
    outcome: str = ""  # enrolled / not_eligible / declined / unreachable / withdrawn
    reason: str = ""


CaseEvent: TypeAlias = (
    CaseOpened
    | TriggerJoined
    | NoticeSent
    | ReminderSent
    | VisitScheduled
    | VisitOverdue
    | VisitCompleted
    | VisitCancelled
    | EconomicStatusChecked
    | EligibilityAssessed
    | ApprovalRequested
    | ApprovalRecorded
    | PublicityStarted
    | ObjectionRaised
    | PublicityEnded
    | CaseWithdrawn
    | EnrollmentFinalized
    | EnrollmentReviewed
    | CaseClosed
)

EVENT_TYPES: Final[Mapping[str, type[CaseEvent]]] = {
    cls.type: cls
    for cls in (
        CaseOpened,
        TriggerJoined,
        NoticeSent,
        ReminderSent,
        VisitScheduled,
        VisitOverdue,
        VisitCompleted,
        VisitCancelled,
        EconomicStatusChecked,
        EligibilityAssessed,
        ApprovalRequested,
        ApprovalRecorded,
        PublicityStarted,
        ObjectionRaised,
        PublicityEnded,
        CaseWithdrawn,
        EnrollmentFinalized,
        EnrollmentReviewed,
        CaseClosed,
    )
}
"""Stored type name -> class, for every domain event of a case."""


def parse(type_: str, data: Mapping[str, Any]) -> CaseEvent | None:
    """The typed event for a stored ``(type, data)``; None for a type that is not a case's
    domain event (agency feed events share the stream). Raises :class:`InvalidDomainEvent`
    (a ``ValueError``) where the projections skip: no ``case_id``, a visit event's ``task_id``."""
    cls = EVENT_TYPES.get(type_)
    return None if cls is None else cls.from_data(data)
