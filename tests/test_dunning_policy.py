"""The [dunning] policy: the ladder as data, its fee, its grace — and clear refusals."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from crm.policies import PolicyError, parse_policies, policies_as_json
from workflows.dunning_ladder import DunningPolicy, level_title

DAY = timedelta(days=1)


def test_the_default_ladder_is_the_one_the_business_asked_for() -> None:
    policy = DunningPolicy()
    assert [(level.offset, level.actions, level.template) for level in policy.levels] == [
        (-3 * DAY, ["email"], "dunning_courtesy"),
        (7 * DAY, ["email"], "dunning_reminder"),
        (14 * DAY, ["email"], "dunning_reminder"),
        (30 * DAY, ["email", "late_fee", "task"], "dunning_formal_notice"),
        (45 * DAY, ["collections"], None),
    ]
    assert [level_title(policy.levels, n) for n in range(5)] == [
        "Courtesy notice", "Reminder 1", "Reminder 2", "Formal notice", "Collections"]
    assert policy.late_fee(Decimal("612.50")) == Decimal("30.63")  # 5 %, to the cent
    assert policy.promise_grace == 3 * DAY


def test_a_table_sets_the_ladder_with_iso_durations_and_a_fixed_fee() -> None:
    policies = parse_policies(
        '[dunning]\nlate_fee_amount = 25\npromise_grace = "P1D"\nlevels = [\n'
        '  { offset = "-P1DT12H", actions = ["email"], template = "dunning_courtesy" },\n'
        '  { offset = "P10D", actions = ["email", "late_fee"], template = "dunning_reminder" },\n'
        '  { offset = "P20D", actions = ["task", "collections"] },\n]\n')
    policy = policies.dunning
    assert [level.offset for level in policy.levels] == [-DAY * 1.5, 10 * DAY, 20 * DAY]
    assert (policy.late_fee_pct, policy.late_fee(Decimal(1000))) == (None, Decimal("25.00"))
    assert policies_as_json(policies)["dunning"]["levels"][0] == {
        "offset": "-P1DT12H", "actions": ["email"], "template": "dunning_courtesy"}


@pytest.mark.parametrize(("levels", "fees", "message"), [
    ('{ offset = "P7D", actions = ["email"] }', "",
     "a level with the email action names its template"),
    ('{ offset = "P7D", actions = ["phone"] }', "", "levels.0.actions.0: Input should be"),
    ('{ offset = "P7D", actions = ["email"], template = "hello" }', "",
     "levels.0.template: Input should be"),
    ('{ offset = "P9D", actions = ["collections"] }, '
     '{ offset = "P10D", actions = ["email"], template = "dunning_reminder" }', "",
     "collections is the last level"),
    ('{ offset = "PT12H", actions = ["collections"] }', "", "collections comes once the due "
                                                            "date has passed"),
    ('{ offset = "P9D", actions = ["task"] }, { offset = "P3D", actions = ["task"] }', "",
     "levels come in the order of their offsets"),
    ('{ offset = "P3D", actions = ["late_fee"] }, { offset = "P9D", actions = ["late_fee"] }',
     "", "a late fee is added once"),
    ('{ offset = "P3D", actions = ["task"] }', "late_fee_pct = 5\nlate_fee_amount = 20\n",
     "set late_fee_pct or late_fee_amount, not both"),
    ('{ offset = "P3D", actions = [] }', "", "a level needs at least one action"),
])
def test_a_ladder_that_cannot_work_is_refused_saying_why(
    levels: str, fees: str, message: str,
) -> None:
    with pytest.raises(PolicyError) as refused:
        parse_policies(f"[dunning]\n{fees}levels = [{levels}]\n", "policies.toml")
    assert str(refused.value).startswith("policies.toml: [dunning] ")
    assert message in str(refused.value)

