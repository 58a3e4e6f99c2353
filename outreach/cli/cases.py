"""``outreach cases|tasks|history``: the caseworkers' and ops' surface on the command line.

The CLI runs on a trusted host with the database's and Temporal's credentials, so it acts as the
local operator (``access.local_operator()``: every district, every action); reading a case's
personal fields is recorded in the access log under ``cli:<user>`` with channel ``cli``.

Reads go through :mod:`outreach.cases.views` and actions through
:mod:`outreach.cases.commands`, as the API and the web page do. ``--json`` prints one JSON
document on stdout and nothing else: while a command runs, anything printed goes to stderr
(logs go there anyway). Exit codes: 0 done, 1 refused or unknown (the reason on stderr), 2 bad
arguments (nothing sent).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from pydantic import ValidationError

from outreach.infra.log import get_logger
from outreach.infra.settings import Settings

if TYPE_CHECKING:  # the modules below load Temporal's client and asyncpg: only when used, so
    # `outreach --help` and the other subcommands do not pay for them at start
    import asyncpg

    from outreach.cases import views as case_views
    from outreach.store.event_store import EventStore

__all__ = ["register", "visit_body"]

log = get_logger(__name__)


@dataclass
class _Io:
    """Where a command's result goes (the real stdout) and whether it is JSON."""

    out: TextIO
    as_json: bool

    def json(self, value: Any) -> None:
        self.out.write(json.dumps(value, ensure_ascii=False, indent=2) + "\n")
        self.out.flush()

    def text(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()


def _fail(command: str, message: str, code: int = 1) -> int:
    print(f"outreach {command}: {message}", file=sys.stderr)
    return code


Body = Callable[[Settings, argparse.Namespace, _Io], Awaitable[int]]


def _command(body: Body) -> Callable[[Settings, argparse.Namespace], Awaitable[int]]:
    """A handler whose result alone reaches stdout (stray prints go to stderr meanwhile)."""

    async def handler(settings: Settings, args: argparse.Namespace) -> int:
        io = _Io(sys.stdout, bool(getattr(args, "json", False)))
        with contextlib.redirect_stdout(sys.stderr):
            return await body(settings, args, io)

    handler.__doc__ = body.__doc__
    return handler


@contextlib.asynccontextmanager
async def _pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    from outreach.store.database import open_pool

    pool = await open_pool(settings, min_size=1, max_size=2)
    try:
        yield pool
    finally:
        await pool.close()


def _store(settings: Settings, pool: asyncpg.Pool) -> EventStore:
    from outreach.store.event_store import EventStore
    from outreach.store.personal_data import load_keyring

    return EventStore(pool, load_keyring(settings), notify=False)


# -- cases -------------------------------------------------------------------------------------


async def _cases_list(settings: Settings, args: argparse.Namespace, io: _Io) -> int:
    """Cases, newest first."""
    from outreach.cases import text as case_text
    from outreach.cases import views as case_views
    from outreach.cases.access import local_operator

    household = None
    if args.household_id:
        from outreach.store.personal_data import load_keyring

        household = load_keyring(settings).stream_key(args.household_id)
    async with _pool(settings) as pool:
        rows = await case_views.list_cases(
            pool,
            local_operator(),
            status=args.status,
            district=args.district,
            household=household,
            stage=args.stage,
            limit=args.limit,
        )
    if io.as_json:
        io.json([r.to_dict() for r in rows])
    else:
        io.text(case_text.cases_table(rows))
    return 0


async def _case_detail(
    settings: Settings, case_id: str, *, personal: bool
) -> case_views.CaseDetail | None:
    from outreach.cases import views as case_views
    from outreach.cases.access import local_operator

    async with _pool(settings) as pool:
        return await case_views.case_detail(
            pool,
            _store(settings, pool),
            local_operator(),
            case_id,
            channel="cli",
            personal=personal,
        )


async def _cases_show(settings: Settings, args: argparse.Namespace, io: _Io) -> int:
    """A case: summary, visit tasks, decision trace, timeline."""
    from outreach.cases import text as case_text
    from outreach.infra.temporal import workflow_ui_url

    detail = await _case_detail(settings, args.case_id, personal=not args.no_personal)
    if detail is None:
        return _fail("cases show", f"no case {args.case_id}")
    link = workflow_ui_url(settings.temporal_ui, settings.temporal_namespace, detail.workflow_id)
    if io.as_json:
        io.json({**detail.to_dict(), "workflow_url": link})
    else:
        io.text(case_text.case_text(detail, workflow_link=link))
    return 0


async def _history(settings: Settings, args: argparse.Namespace, io: _Io) -> int:
    """A case's timeline: its domain events and triggering agency events, oldest first."""
    from outreach.cases import text as case_text

    detail = await _case_detail(settings, args.case_id, personal=not args.no_personal)
    if detail is None:
        return _fail("history", f"no case {args.case_id}")
    if io.as_json:
        io.json([e.to_dict() for e in detail.timeline])
    else:
        io.text("\n".join(case_text.timeline_lines(detail.timeline)))
    return 0


# -- tasks -------------------------------------------------------------------------------------


async def _tasks_list(settings: Settings, args: argparse.Namespace, io: _Io) -> int:
    """Visit tasks, soonest due first."""
    from outreach.cases import text as case_text
    from outreach.cases import views as case_views
    from outreach.cases.access import local_operator

    async with _pool(settings) as pool:
        rows = await case_views.list_tasks(
            pool,
            local_operator(),
            status=None if args.status == "all" else args.status,
            district=args.district,
            case_id=args.case_id,
            overdue_only=args.overdue,
            limit=args.limit,
        )
    if io.as_json:
        io.json([r.to_dict() for r in rows])
    else:
        io.text(case_text.tasks_table(rows))
    return 0


_VISIT_FLAGS: dict[str, str] = {
    "visited_on": "--visited-on",
    "found": "--found/--not-found",
    "household_size": "--household-size",
    "monthly_income_total": "--monthly-income",
    "labor_capacity": "--labor-capacity",
    "consent_to_check": "--consent/--no-consent",
    "has_supporter": "--has-supporter/--no-supporter",
    "notes": "--notes",
    "assets.vehicles": "--vehicles",
    "assets.homes": "--homes",
    "assets.business_premises": "--business-premises",
    "assets.financial_assets": "--financial-assets",
}
_ASSET_FLAGS = ("vehicles", "homes", "business_premises", "financial_assets")
_VALUE_FLAGS = ("household_size", "monthly_income", "labor_capacity", "consent", "has_supporter")


class BadArguments(ValueError):
    """Arguments that do not make a visit result (exit 2, nothing sent)."""


def visit_body(args: argparse.Namespace) -> dict[str, Any]:
    """The ``VisitResultIn`` fields (the API's JSON body) from ``tasks complete``'s flags.

    ``--labor-capacity`` is comma-separated, one entry per member; a single value with
    ``--household-size N`` stands for every member.
    """
    given_flags = [
        name
        for name in (*_VALUE_FLAGS, *_ASSET_FLAGS, "visited_on", "found", "notes")
        if getattr(args, name, None) is not None
    ]
    if args.from_json is not None:
        if given_flags:
            flags = ", ".join("--" + n.replace("_", "-") for n in given_flags)
            raise BadArguments(f"--from-json takes the whole result; drop {flags}")
        return _read_json(args.from_json)
    if args.visited_on is None or args.found is None:
        raise BadArguments("--visited-on and one of --found/--not-found are required")
    body: dict[str, Any] = {"visited_on": args.visited_on, "found": args.found}
    if args.household_size is not None:
        body["household_size"] = args.household_size
    if args.monthly_income is not None:
        body["monthly_income_total"] = args.monthly_income
    if args.labor_capacity is not None:
        capacities = [c.strip() for c in args.labor_capacity.split(",") if c.strip()]
        if len(capacities) == 1 and args.household_size and args.household_size.isdigit():
            capacities = capacities * int(args.household_size)
        body["labor_capacity"] = capacities
    if args.consent is not None:
        body["consent_to_check"] = args.consent
    if args.has_supporter is not None:
        body["has_supporter"] = args.has_supporter
    if args.notes is not None:
        body["notes"] = args.notes
    assets = {k: getattr(args, k) for k in _ASSET_FLAGS if getattr(args, k) is not None}
    if assets:
        body["assets"] = assets
    return body


def _read_json(source: str) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise BadArguments(f"cannot read {source}: {exc.strerror or exc}") from exc
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadArguments(f"{source} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise BadArguments(f"{source} must hold a JSON object (the visit result)")
    return value


def validation_text(exc: ValidationError, *, flags: bool) -> str:
    """Pydantic's errors, one a line, named by the CLI flag (or the JSON field).

    For a field that is a union (``labor_capacity``: a list or one value) only the errors of
    the alternative that got furthest are shown.
    """
    errors = exc.errors()
    deepest: dict[str, int] = {}
    for error in errors:
        field = _field(error["loc"])
        deepest[field] = max(deepest.get(field, 0), len(error["loc"]))
    lines = []
    for error in errors:
        loc = error["loc"]
        field = _field(loc)
        if len(loc) < deepest[field] and any(_is_type_tag(p) for p in loc):
            continue
        name = (_VISIT_FLAGS.get(field, field) if flags else field) or "input"
        index = [p for p in loc if isinstance(p, int)]
        if index:
            name += f" (entry {index[0] + 1})"
        given = error.get("input")
        shown = "" if isinstance(given, dict) else f" (got {given!r})"
        lines.append(f"  {name}: {error['msg']}{shown}")
    return "\n".join(dict.fromkeys(lines))


def _is_type_tag(part: str | int) -> bool:
    """A union alternative in an error's location, like ``list[str-enum[LaborCapacity]]``."""
    return isinstance(part, str) and "[" in part


def _field(loc: tuple[str | int, ...]) -> str:
    return ".".join(p for p in loc if isinstance(p, str) and not _is_type_tag(p))


async def _tasks_complete(settings: Settings, args: argparse.Namespace, io: _Io) -> int:
    """Record a home-visit result (a Temporal update on the case; the case's validator decides)."""
    from outreach.cases import commands as case_commands
    from outreach.cases import views as case_views
    from outreach.cases.access import local_operator
    from outreach.cases.commands import VisitResultIn

    command = "tasks complete"
    try:
        body = VisitResultIn.model_validate(visit_body(args))
    except BadArguments as exc:
        return _fail(command, str(exc), 2)
    except ValidationError as exc:
        text = validation_text(exc, flags=args.from_json is None)
        return _fail(command, f"invalid visit result, nothing sent:\n{text}", 2)
    from outreach.infra.temporal import connect

    client = await connect(settings)
    async with _pool(settings) as pool:
        try:
            ack = await case_commands.complete_task(
                client, _store(settings, pool), local_operator(), args.task_id, body
            )
        except case_commands.CommandRejected as exc:
            return _fail(command, f"rejected by the case: {exc}")
        except case_commands.CommandError as exc:
            return _fail(command, str(exc))
    log.info("visit result recorded", task_id=args.task_id, case_id=ack.case_id, stage=ack.stage)
    if io.as_json:
        io.json(case_views.jsonable(dataclasses.asdict(ack)))
    else:
        text = f"task {args.task_id} completed: case {ack.case_id} is now at stage {ack.stage}"
        if ack.detail:
            text += f" ({ack.detail})"
        if ack.task_id:
            text += f"\nnew visit task: {ack.task_id}"
        io.text(text)
    return 0


# -- parser ------------------------------------------------------------------------------------


def _json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output (stdout)")


def _personal_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-personal",
        action="store_true",
        help="leave out personal fields (names, ID numbers, notes); nothing is access-logged",
    )


def _switch(parser: argparse.ArgumentParser, dest: str, on: str, off: str, help: str) -> None:
    """``--x`` / ``--no-x``: True, False, or None when neither is given."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(on, dest=dest, action="store_const", const=True, help=help)
    group.add_argument(off, dest=dest, action="store_const", const=False)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def register(sub: Any) -> None:
    """Add ``cases``, ``tasks`` and ``history`` to the ``outreach`` parser's subparsers."""
    cases = sub.add_parser("cases", help="outreach cases (one per household at a time)")
    cases_sub = cases.add_subparsers(dest="action", required=True, metavar="ACTION")

    listing = cases_sub.add_parser("list", help="cases, newest first")
    listing.add_argument("--status", choices=("open", "closed"))
    listing.add_argument("--district")
    listing.add_argument("--household-id", help="the agency's household id")
    listing.add_argument("--stage", help="screening, notify, visit, verify, decide, approval ...")
    listing.add_argument("--limit", type=_positive, default=200, help="at most N (default 200)")
    _json_flag(listing)
    listing.set_defaults(handler=_command(_cases_list))

    show = cases_sub.add_parser("show", help="a case: summary, visit tasks, decision, timeline")
    show.add_argument("case_id", metavar="CASE_ID")
    _personal_flag(show)
    _json_flag(show)
    show.set_defaults(handler=_command(_cases_show))

    history = sub.add_parser("history", help="a case's timeline, one line per event")
    history.add_argument("case_id", metavar="CASE_ID")
    _personal_flag(history)
    _json_flag(history)
    history.set_defaults(handler=_command(_history))

    tasks = sub.add_parser("tasks", help="home-visit tasks")
    tasks_sub = tasks.add_subparsers(dest="action", required=True, metavar="ACTION")

    tasks_list = tasks_sub.add_parser("list", help="visit tasks, soonest due first")
    tasks_list.add_argument("--district")
    tasks_list.add_argument(
        "--status", choices=("open", "completed", "cancelled", "all"), default="open"
    )
    tasks_list.add_argument("--overdue", action="store_true", help="only open tasks past due")
    tasks_list.add_argument("--case-id", help="only this case's tasks")
    tasks_list.add_argument("--limit", type=_positive, default=500, help="at most N (default 500)")
    _json_flag(tasks_list)
    tasks_list.set_defaults(handler=_command(_tasks_list))

    complete = tasks_sub.add_parser(
        "complete",
        help="record a home-visit result",
        description="Record a home-visit result. Values are checked as the API checks them;"
        " invalid input exits 2 and nothing is sent. Notes must not repeat names, ID numbers,"
        " phones or addresses.",
    )
    complete.add_argument("task_id", metavar="TASK_ID")
    complete.add_argument("--visited-on", metavar="YYYY-MM-DD")
    _switch(complete, "found", "--found", "--not-found", "was anyone reached?")
    complete.add_argument("--household-size", metavar="N")
    complete.add_argument("--monthly-income", metavar="YUAN", help="the household's, per month")
    complete.add_argument(
        "--labor-capacity",
        metavar="LIST",
        help="full/partial/none per member, comma-separated (one value: every member)",
    )
    _switch(complete, "consent", "--consent", "--no-consent", "consent to the economic check")
    _switch(
        complete,
        "has_supporter",
        "--has-supporter",
        "--no-supporter",
        "someone obliged and able to support the household (unknown counts as yes)",
    )
    complete.add_argument("--vehicles", metavar="N")
    complete.add_argument("--homes", metavar="N")
    complete.add_argument("--business-premises", metavar="N")
    complete.add_argument("--financial-assets", metavar="YUAN")
    complete.add_argument("--notes", metavar="TEXT")
    complete.add_argument(
        "--from-json",
        metavar="FILE",
        help="the visit result as the API's JSON body (- for stdin) instead of the flags",
    )
    _json_flag(complete)
    complete.set_defaults(handler=_command(_tasks_complete))
