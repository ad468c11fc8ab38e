"""A workflow definition of your own: the expression language, and every refusal of a
definition naming its step (the JSON Schema first, then the checks of what it names)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import yaml

from crm.own import reading
from crm.own.reading import Invalid
from crm.policies import Policies
from workflows.business_time import Calendar, add_working_days
from workflows.own import expressions
from workflows.own.policy import OwnWorkflowPolicy

NOW = datetime(2026, 12, 4, 14, 0, tzinfo=UTC)  # a Friday
LEAD = {"lead.country": "FR", "lead.budget": Decimal(20000), "lead.status": "new",
        "lead.created_at": datetime(2026, 11, 20, 9, 0, tzinfo=UTC), "lead.company": None}


@pytest.mark.parametrize(("source", "expected"), [
    ('lead.country == "FR" and lead.budget > 10000', True),
    ('lead.country == "FR" and lead.budget > 20000', False),
    ('lead.country in ["BE", "FR"] or lead.budget < 0', True),
    ('lead.country not in ["BE", "FR"]', False),
    ("not (lead.budget >= 20000)", False),
    ("lead.created_at + 14d <= now", True),
    ("lead.created_at + 15d <= now", False),
    ("lead.created_at < @2026-11-21", True),
    ("lead.company == null", True),
    ("lead.company > 3", False),  # a missing value never compares
    ("lead.budget == 20000.00", True),
    ("today == @2026-12-04", True),
    ("lead.created_at + 90m > lead.created_at + 1h", True),
    ("'it\\'s' == \"it's\"", True),
])
def test_the_expression_language(source: str, expected: bool) -> None:
    assert expressions.holds(expressions.parse(source), LEAD, NOW) is expected


@pytest.mark.parametrize(("source", "message"), [
    ("lead.budget >", "expected a value, found the end (at character 14)"),
    ("budget > 3", "'budget': name a field with its object, e.g. lead.budget"),
    ("lead.budget > 3 3", "unexpected '3' (at character 17)"),
    ("__import__('os').system('x')", "unexpected '.' (at character 17)"),
    ("__import__('os')", "'__import__': name a field with its object"),
    ("lead.country ; drop", "unexpected ';' (at character 14)"),
    ("(lead.budget > 3", "expected ')', found the end"),
    ("lead.x" * 100, "an expression is at most 500 characters"),
])
def test_what_cannot_be_read_is_refused_saying_where(source: str, message: str) -> None:
    with pytest.raises(expressions.ExpressionError) as refused:
        expressions.parse(source)
    assert message in str(refused.value)


def test_comparing_a_text_with_a_number_is_an_error_not_a_guess() -> None:
    with pytest.raises(expressions.ExpressionError, match="cannot compare a text < a number"):
        expressions.evaluate(expressions.parse('lead.country < 3'), LEAD, NOW)


def test_an_unknown_field_is_named_with_the_fields_there_are() -> None:
    with pytest.raises(expressions.ExpressionError) as refused:
        expressions.check("lead.size > 3", "lead", {"budget": "number", "name": "text"})
    assert str(refused.value) == "lead.size: a lead has no field 'size' (it has budget, name)"


def test_working_days_count_from_the_next_working_day() -> None:
    office = Calendar(holidays=[date(2026, 12, 25)])  # Paris, Monday to Friday, 9 to 17
    assert add_working_days(office, NOW, 2) == datetime(2026, 12, 8, 14, 0, tzinfo=UTC)
    sunday = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
    assert add_working_days(office, sunday, 2) == datetime(2026, 12, 8, 10, 0, tzinfo=UTC)
    late = datetime(2026, 12, 23, 20, 0, tzinfo=UTC)  # 21:00 in Paris, after closing
    assert add_working_days(office, late, 2) == datetime(2026, 12, 28, 16, 0, tzinfo=UTC)


GOOD = """
name: Enterprise leads in France
object: lead
trigger: {when: created, condition: 'lead.country == "FR" and lead.budget > 10000'}
goal: {condition: 'lead.status == "qualified"'}
templates:
  welcome: {subject: "Welcome, {lead.name}", body: "Hello {lead.name}."}
steps:
  - {id: welcome, send_email: {template: welcome}}
  - {id: pause, wait: {for: 2d, calendar: office}}
  - {id: call, task: {title: "Call {lead.name}", assign: least_loaded, due: 1d}}
  - {id: done, end: {}}
"""


def changed(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(GOOD)
    data.update(changes)
    return data


def refusals(data: dict[str, Any], policies: Policies | None = None) -> list[str]:
    with pytest.raises(Invalid) as refused:
        reading.definition(data, policies or Policies())
    return [str(p) for p in refused.value.problems]


def with_step(index: int, step: dict[str, Any]) -> dict[str, Any]:
    data = changed()
    data["steps"][index] = step
    return data


def test_a_good_definition_is_read() -> None:
    definition = reading.definition(changed(), Policies())
    assert [s.kind for s in definition.steps] == ["send_email", "wait", "task", "end"]
    assert definition.steps[1].duration == timedelta(days=2)


@pytest.mark.parametrize(("data", "refusal"), [
    (with_step(1, {"id": "pause", "wait": {"for": "2 days"}}),
     "step 'pause': steps.1.wait.for: '2 days' is not a duration (write 90m, 5h, 2d or 1w)"),
    (with_step(1, {"id": "pause", "sleep": {"for": "2d"}}),
     "step 'pause': steps.1: a step has an id and exactly one kind"),
    (with_step(2, {"id": "call", "task": {"title": "x", "colour": "red"}}),
     "step 'call': steps.2.task: Additional properties are not allowed ('colour' was "
     "unexpected)"),
    (changed(object="opportunity"), "object: 'opportunity' is not one of"),
    (changed(trigger={"when": "schedule", "at": "9h", "condition": "lead.budget > 0"}),
     "trigger.at: '9h' is not a time of day (write 09:00)"),
    (changed(trigger={"when": "schedule", "at": "09:00", "days": ["funday"],
                      "condition": "lead.budget > 0"}),
     "trigger.days.0: 'funday' is not one of"),
    (with_step(2, {"id": "ok", "approval": {"approvers": "sales_manager",
                                            "template": "welcome", "timeout": "5d",
                                            "on_timeout": "shrug"}}),
     "step 'ok': steps.2.approval.on_timeout: 'shrug' is not one of"),
    (with_step(2, {"id": "ok", "approval": {"approvers": "sales_manager",
                                            "template": "welcome"}}),
     "step 'ok': steps.2.approval: 'timeout' is a required property"),
])
def test_the_schema_refuses_a_shape_naming_the_step(data: dict[str, Any],
                                                    refusal: str) -> None:
    assert any(r.startswith(refusal) for r in refusals(data)), refusals(data)


UNREACHABLE = with_step(3, {"id": "done", "end": {}})
UNREACHABLE["steps"].insert(3, {"id": "stop", "end": {}})


@pytest.mark.parametrize(("data", "refusal"), [
    (with_step(0, {"id": "welcome", "send_email": {"template": "hello"}}),
     "step 'welcome': template: no template 'hello' in this definition (it has welcome)"),
    (with_step(2, {"id": "call", "task": {"title": "Call {lead.phone_number}"}}),
     "step 'call': title: {lead.phone_number}: a lead has no such field"),
    (with_step(2, {"id": "call", "task": {"title": "Call", "role": "astronaut"}}),
     "step 'call': role: no role 'astronaut'"),
    (with_step(1, {"id": "pause", "wait": {"for": "2d", "calendar": "moon"}}),
     "step 'pause': calendar: no calendar 'moon' (calendars: office)"),
    (with_step(1, {"id": "pause", "wait": {"for": "400d"}}),
     "step 'pause': for: 400 days is longer than the longest wait the policy allows "
     "(365 days)"),
    (with_step(1, {"id": "pause", "wait": {"until": "lead.name"}}),
     "step 'pause': until: lead.name is not a date field of a lead"),
    (UNREACHABLE, "step 'done': no step leads here: it can never run"),
    (with_step(3, {"id": "done", "go_to": {"step": "call", "times": 3}}),
     "step 'call': the loop call → done → call has no wait in it"),
    (with_step(3, {"id": "done", "go_to": {"step": "welcome", "times": 50}}),
     "step 'done': times: a go_to is bounded: it goes back 1 to 10 times"),
    (with_step(3, {"id": "done", "branch": {"if": "lead.size > 3", "then": "welcome"}}),
     "step 'done': if: lead.size: a lead has no field 'size'"),
    (with_step(3, {"id": "done", "branch": {"if": "lead.budget >", "then": "nowhere"}}),
     "step 'done': then: no step 'nowhere'"),
    (with_step(3, {"id": "done", "wait_for": {"event": "paid", "timeout": "2d"}}),
     "step 'done': no event 'paid' reaches a lead (events: content_downloaded, "
     "demo_requested, marketing_response, unsubscribed)"),
    (with_step(2, {"id": "ok", "approval": {"approvers": "pilot", "template": "welcome",
                                            "timeout": "5d"}}),
     "step 'ok': approvers: no role 'pilot'"),
    (with_step(2, {"id": "ok", "approval": {"approvers": "sales_manager",
                                            "template": "nope", "timeout": "5d"}}),
     "step 'ok': template: no template 'nope' in this definition"),
    (with_step(2, {"id": "ok", "approval": {"approvers": "sales_manager",
                                            "template": "welcome", "timeout": "5d",
                                            "remind_every": "5d"}}),
     "step 'ok': remind_every: a reminder every 5 days never comes within the 5 days"),
    (with_step(2, {"id": "ok", "approval": {"approvers": "sales_manager",
                                            "template": "welcome", "timeout": "400d"}}),
     "step 'ok': timeout: 400 days is longer than the longest wait the policy allows"),
    (with_step(2, {"id": "ok", "approval": {"approvers": "sales_manager",
                                            "template": "welcome", "timeout": "5d",
                                            "on_reject": "elsewhere"}}),
     "step 'ok': on_reject: no step 'elsewhere'"),
    (with_step(2, {"id": "lead", "approval": {"approvers": "sales_manager",
                                              "template": "welcome", "timeout": "5d"}}),
     "step 'lead': an approval step is not named after an object"),
    (with_step(3, {"id": "done", "branch": {"if": "ok.approved", "then": "welcome"}}),
     "step 'done': if: ok.approved"),
    (changed(trigger={"when": "schedule", "at": "09:00"}),
     "trigger.condition: a scheduled trigger enrols the objects that meet its condition"),
    (changed(trigger={"when": "schedule", "at": "09:00", "calendar": "moon",
                      "condition": "lead.budget > 0"}),
     "trigger.calendar: no calendar 'moon' (calendars: office)"),
    (changed(trigger={"when": "manual", "at": "09:00"}),
     "trigger.at: only a scheduled trigger (when: schedule) has at"),
    (changed(trigger={"when": "schedule", "condition": "lead.budget > 0"}),
     "trigger.at: a scheduled trigger runs at a time of day (at: 09:00)"),
    (changed(trigger={"when": "status", "status": "sold"}),
     "trigger.status: a lead has no status 'sold'"),
    (changed(roles={"enrol": ["sales_manager", "pilot"]}), "roles: no role 'pilot'"),
    (with_step(3, {"id": "done", "set_status": {"status": "won"}}),
     "step 'done': status: a step may ask a lead's process for qualified or disqualified, "
     "not 'won'"),
    (with_step(3, {"id": "done", "set_status": {"status": "qualified",
                                                "on_refused": "nowhere"}}),
     "step 'done': on_refused: no step 'nowhere'"),
    (with_step(3, {"id": "done", "set_status": {"status": "qualified",
                                                "reason": "{lead.mood}"}}),
     "step 'done': reason: {lead.mood}: a lead has no such field"),
    (with_step(3, {"id": "done", "set_field": {"field": "status", "value": "won"}}),
     "step 'done': field: a step may set a lead's need, budget, company, not "
     "'status'"),
    (with_step(3, {"id": "done", "set_field": {"field": "budget", "value": "a lot"}}),
     "step 'done': value: budget is a number; 'a lot' is not"),
    (with_step(3, {"id": "done", "set_field": {"field": "budget", "value": True}}),
     "step 'done': value: budget is a number; True is not"),
    (with_step(3, {"id": "done", "set_field": {"field": "company", "value": "x" * 201}}),
     "step 'done': value: company holds at most 200 characters"),
    (with_step(3, {"id": "done", "set_field": {"field": "need"}}),
     "step 'done': steps.3.set_field: 'value' is a required property"),
    (with_step(3, {"id": "done", "start_process": {"process": "lead_to_sale",
                                                   "subject": "x"}}),
     "step 'done': steps.3.start_process.process: 'lead_to_sale' is not one of"),
    (with_step(3, {"id": "done", "start_process": {"process": "support_ticket",
                                                   "subject": "x", "category": "gossip"}}),
     "step 'done': category: no ticket category 'gossip' (billing, complaint, general, "
     "legal, technical)"),
    (with_step(3, {"id": "done", "start_process": {"process": "support_ticket",
                                                   "subject": "Hi {lead.shoe_size}"}}),
     "step 'done': subject: {lead.shoe_size}: a lead has no such field"),
    (changed(trigger={"when": "field_set", "field": "shoe_size"}),
     "trigger.field: a lead has no field 'shoe_size'"),
    (changed(trigger={"when": "created", "field": "budget"}),
     "trigger.field: only a field_set trigger names a field"),
    (changed(goal={"condition": "lead.status = 'won'"}),
     "goal.condition: unexpected '=' (at character 13)"),
])
def test_every_refusal_names_its_step(data: dict[str, Any], refusal: str) -> None:
    assert any(r.startswith(refusal) for r in refusals(data)), refusals(data)


def test_more_steps_than_the_policy_allows_is_refused() -> None:
    data = changed()
    data["steps"] = [{"id": f"pause_{n}", "wait": {"for": "1d"}} for n in range(6)]
    policies = Policies(own_workflows=OwnWorkflowPolicy(max_steps=5))
    assert refusals(data, policies) == [
        "steps: 6 steps, more than the 5 the policy allows"]


def test_an_email_to_an_object_without_an_address_is_refused() -> None:
    data = changed(object="quote", trigger={"when": "manual"}, goal=None)
    data.pop("goal")
    data["templates"] = {"welcome": {"subject": "Quote {quote.id}", "body": "Hello"}}
    data["steps"][2] = {"id": "call", "task": {"title": "Call", "assign": "owner"}}
    assert refusals(data) == [
        "step 'welcome': a quote has no email address of its own: notify its owner instead"]


def test_statuses_and_fields_of_objects_no_step_may_set_are_refused() -> None:
    data = changed(object="quote", trigger={"when": "manual"})
    data.pop("goal")
    data["templates"] = {}
    data["steps"] = [{"id": "lock", "set_status": {"status": "approved"}},
                     {"id": "more", "set_field": {"field": "discount_pct", "value": 30}},
                     {"id": "help", "start_process": {"process": "support_ticket",
                                                        "subject": "Quote {quote.id}"}}]
    assert refusals(data) == [
        "step 'lock': status: a quote's statuses are its process's own: no step sets them",
        "step 'more': field: a quote's fields are its process's own: no step sets them",
        "step 'help': a quote has no person of its own to open a ticket for (it follows "
        "lead, account, ticket)"]
