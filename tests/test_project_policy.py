"""The [project] policy and project templates: defaults, clear refusals, shares to the cent,
and the pure rules of reminders and invoicing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from crm.policies import PolicyError, parse_policies, policies_as_json
from crm.project_templates import (
    BUILT_IN,
    MemberRole,
    MilestonePlan,
    ProjectTemplate,
    TaskPlan,
    problems,
)
from crm.projects import shares
from workflows import project_plan
from workflows.contracts import Person
from workflows.project_types import MilestoneProgress, PlannedMilestone

DAY = timedelta(days=1)


def test_the_policy_has_defaults_and_refuses_what_it_cannot_use() -> None:
    policies = parse_policies('[project]\nmilestone_reminder = "P1D"\ninvoicing = "schedule"\n'
                              'payment_terms = "P14D"\n')
    assert (policies.project.milestone_reminder, policies.project.invoicing,
            policies.project.payment_terms, policies.project.default_template) == (
        DAY, "schedule", 14 * DAY, "standard")
    assert policies_as_json(policies)["project"]["payment_terms"] == "P14D"
    with pytest.raises(PolicyError, match=r"\[project\] invoicing:"):
        parse_policies('[project]\ninvoicing = "monthly"\n')
    with pytest.raises(PolicyError, match="milestone_reminder must be a positive duration"):
        parse_policies('[project]\nmilestone_reminder = "PT0S"\n')


def test_the_built_in_template_is_usable_and_a_bad_one_is_refused_field_by_field() -> None:
    assert problems(BUILT_IN) == []
    bad = ProjectTemplate(
        name="bad",
        members=[MemberRole("project_manager", "sales_manager"), MemberRole("coach", "robot")],
        milestones=[MilestonePlan("Go", 5, Decimal(60), owner_role="pilot"),
                    MilestonePlan("Go", 9, Decimal(30))],
        tasks=[TaskPlan("Fly", "pilot", 1)],
    )
    assert [field for field, _ in problems(bad)] == [
        "members.0.role", "members.1.crm_role", "milestones.0.name",
        "milestones.0.owner_role", "milestones.1.name", "tasks.0.role", "milestones"]
    assert dict(problems(bad))["milestones"] == (
        "the billable shares must add up to 100 %, not 90 %")


@pytest.mark.parametrize(("amount", "percentages", "split"), [
    ("10000.00", ["20", "30", "20", "30"], ["2000.00", "3000.00", "2000.00", "3000.00"]),
    ("10.00", ["33.33", "33.33", "33.34"], ["3.33", "3.33", "3.34"]),
    ("0.05", ["50", "50", "0"], ["0.03", "0.02", "0.00"]),
    ("100.00", ["0", "0"], ["0.00", "0.00"]),
])
def test_shares_split_the_sale_to_the_cent(amount: str, percentages: list[str],
                                           split: list[str]) -> None:
    parts = shares(Decimal(amount), [Decimal(p) for p in percentages])
    assert parts == [Decimal(s) for s in split]


def test_reminders_go_to_the_owner_then_the_manager_too_one_per_period() -> None:
    alice, maria = Person(1, "Alice", "a@x"), Person(2, "Maria", "m@x")
    design = PlannedMilestone(7, "Design", date(2026, 12, 1), alice, Decimal(0))
    progress = MilestoneProgress(7)

    def at(day: int, hour: int = 9) -> datetime:
        return datetime(2026, 12, day, hour, tzinfo=UTC)

    assert project_plan.overdue_at(design) == datetime(2026, 12, 2, tzinfo=UTC)
    assert project_plan.reminder_due(design, progress, at(1, 23), DAY) == 0  # due that day
    assert project_plan.reminder_due(design, progress, at(2), DAY) == 1
    progress.reminders_sent = 1
    assert project_plan.reminder_due(design, progress, at(2, 23), DAY) == 0
    assert project_plan.reminder_due(design, progress, at(6), DAY) == 5  # after an outage
    assert project_plan.reminded(design, 1, maria) == [alice]
    assert project_plan.reminded(design, 2, maria) == [alice, maria]
    assert project_plan.reminded(design, 2, alice) == [alice]  # she manages it too
    progress.completed_at = at(3)
    assert project_plan.reminder_due(design, progress, at(9), DAY) == 0
