"""The decision uses the parameters in force on its date (the bureau's date when it is made).

The time-skipping server's clock starts at the real current time and only moves forward, so a
decision cannot be dated 2022 there. The seed's calendar is therefore shifted: the policy under
test raises the urban standard from 620 to 650 thirty days after the server's today instead of on
2023-01-01. A case decided before the raise gets 620 (the 2022-01-01 value), one decided after
it 650; the unit tests check the seed's own dates (``tests/unit/test_policy_decision.py``).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

from temporalio.testing import WorkflowEnvironment

from outreach.events import samples as s
from outreach.policy.defaults import DEFAULT_POLICY, FIRST_EFFECTIVE
from outreach.policy.parameters import ParameterPeriod, PolicyParameters
from outreach.store.event_store import EventStore
from outreach.workflows.case_contract import VISIT_RESULT_UPDATE, Stage, UpdateAck
from outreach.workflows.clock import local_date
from tests.case_support import CaseRig, case_rig, found, new_household


def raised_on(day: date) -> PolicyParameters:
    """The default policy with the urban standard raised from 620 to 650 on ``day``."""
    urban = DEFAULT_POLICY.parameters["urban_dibao_standard"]
    shifted = replace(
        urban,
        periods=(
            ParameterPeriod(FIRST_EFFECTIVE, Decimal(620)),
            ParameterPeriod(day, Decimal(650)),
        ),
    )
    return replace(
        DEFAULT_POLICY, parameters={**DEFAULT_POLICY.parameters, "urban_dibao_standard": shifted}
    )


async def _decide_four_person_household(
    rig: CaseRig,
) -> tuple[Decimal | None, date, dict[str, str]]:
    household_id, id_number = new_household("yongding")
    trigger = await rig.agency_event(
        s.settlement_recorded(
            household_id=household_id,
            id_number=id_number,
            total_cost=200000,
            out_of_pocket=150000,
        )
    )
    handle = await rig.open_case(trigger)
    task_id = await rig.open_task(handle)
    await handle.execute_update(
        VISIT_RESULT_UPDATE, found(task_id, await rig.today(), size=4), result_type=UpdateAck
    )
    status = await rig.until(handle, lambda st: st.stage == Stage.APPROVAL)
    assert status.decision is not None
    dibao = next(a for a in status.decision.awards if a.programme == "dibao")
    events = dict(await rig.events(trigger.household_key, status.case_id))
    trace = events["EligibilityAssessed"]["trace"]
    (check,) = [c for c in trace if c["rule"] == "dibao.income_below_standard"]
    (standard,) = [p for p in check["parameters"] if p["name"] == "urban_dibao_standard"]
    await handle.terminate("decision checked")
    return dibao.monthly_amount, status.decision.decided_on, standard


async def test_decision_before_the_raise_uses_620_and_after_it_650(
    time_skipping_env: WorkflowEnvironment, store: EventStore
) -> None:
    today = local_date(await time_skipping_env.get_current_time())
    raise_day = today + timedelta(days=30)
    async with case_rig(time_skipping_env, store, policy=raised_on(raise_day)) as rig:
        amount, decided_on, standard = await _decide_four_person_household(rig)
        assert decided_on < raise_day
        assert amount == Decimal("2480.00")  # (620 - 0) x 4
        assert standard["value"] == "620"
        assert standard["effective_from"] == FIRST_EFFECTIVE.isoformat()

        await time_skipping_env.sleep(timedelta(days=31))
        amount, decided_on, standard = await _decide_four_person_household(rig)
        assert decided_on >= raise_day
        assert amount == Decimal("2600.00")  # (650 - 0) x 4
        assert standard["value"] == "650"
        assert standard["effective_from"] == raise_day.isoformat()
