"""Decimal arithmetic for the policy rules: a fixed context and the final rounding.

Amounts are :class:`decimal.Decimal` yuan. Intermediate results keep full precision; money is
rounded to 2 decimals with ROUND_HALF_UP only when an award is produced (:func:`round_money`).

The rules run under :data:`POLICY_CONTEXT` (via :func:`fixed_context`) so that a result never
depends on whatever decimal context the calling thread happens to have: the same inputs give the
same amounts in a worker, a test or a Temporal replay.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from decimal import (
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)
from typing import ParamSpec, TypeVar

__all__ = ["CENT", "POLICY_CONTEXT", "display", "fixed_context", "round_money"]

CENT = Decimal("0.01")

POLICY_CONTEXT = Context(
    prec=34,
    rounding=ROUND_HALF_EVEN,
    traps=[InvalidOperation, DivisionByZero, Overflow],
)
"""34 significant digits (decimal128); exact for every sum and product the rules make."""

_P = ParamSpec("_P")
_R = TypeVar("_R")


def fixed_context(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``fn`` under a copy of :data:`POLICY_CONTEXT`."""

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with localcontext(POLICY_CONTEXT):
            return fn(*args, **kwargs)

    return wrapper


def round_money(amount: Decimal) -> Decimal:
    """Round a final amount to fen (0.01 yuan), half up."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def display(amount: Decimal) -> str:
    """Format a number for a human-readable explanation (2 decimals, half up).

    Only for text: the computation itself never uses the rounded value.
    """
    return str(round_money(amount))
