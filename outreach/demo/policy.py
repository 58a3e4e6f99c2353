"""The demo's policy file: the built-in parameters, with timers of seconds instead of days.

Written as TOML (CONTRACT.md, "Policy file") and given to the worker as ``OUTREACH_POLICY``, so
a month of cases (reminders, overdue visits, publicity) plays out in about a minute.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from outreach.policy.loader import parse_policy

__all__ = ["DEMO_POLICY", "write_demo_policy"]

DEMO_POLICY: Final = """\
# outreach demo: the built-in parameters, with the case timers shortened to seconds.
[durations]
reminder_interval = "PT4S"   # built-in: P3D
visit_sla = "PT20S"          # built-in: P7D (visits not done by then are overdue)
publicity = "PT5S"           # built-in: P7D of public disclosure
max_reminders = 2            # built-in: 3
"""


def write_demo_policy(directory: Path) -> Path:
    """Write the demo policy to ``directory/demo-policy.toml`` (checked) and return its path."""
    parse_policy(DEMO_POLICY, source="demo policy")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "demo-policy.toml"
    path.write_text(DEMO_POLICY, encoding="utf-8")
    return path
