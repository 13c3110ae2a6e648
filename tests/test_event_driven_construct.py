"""EventRouter's props: a pattern or setting EventBridge would refuse (or accept and never
match) fails at synth naming the prop. Grammar: AWS, "Content filtering in Amazon EventBridge
event patterns"; limits: the PutRule and PutTargets API references."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import Duration
from aws_cdk.assertions import Template

from patterns.event_driven import EventRouter, check_pattern
from patterns.shared.props import PropError
from tests.kit import bare_stack


@pytest.mark.parametrize(
    ("pattern", "complaint"),
    [
        ({}, "non-empty object"),
        ({"source": "aws.s3"}, r"wrap it in \[ \]"),
        ({"orderId": ["1"]}, "not a field of the event envelope"),
        ({"detail": {"total": []}}, "empty list matches no event"),
        ({"detail": {"total": [{"numeric": [">", "5"]}]}}, "is not a comparison"),
        ({"detail": {"total": [{"numeric": ["<", 5, ">", 10]}]}}, "lower bound"),
        ({"detail": {"total": [{"numeric": [">", 10, "<", 5]}]}}, "never matches"),
        ({"detail": {"id": [{"exists": "yes"}]}}, "true or false"),
        ({"detail": {"id": [{"prefix": 5}]}}, "takes a string"),
        ({"detail": {"id": [{"startswith": "a"}]}}, "unknown operator"),
        ({"detail": {"id": [{"prefix": "a", "suffix": "b"}]}}, "one operator"),
        ({"detail": {"ip": [{"cidr": "10.0.0.0/33"}]}}, "IP range"),
        ({"detail": {"id": [{"anything-but": []}]}}, "non-empty list"),
    ],
)
def test_a_pattern_eventbridge_would_refuse_fails_naming_the_prop(pattern: Any, complaint: str) -> None:
    with pytest.raises(PropError, match=complaint) as raised:
        check_pattern("pattern", pattern)
    assert raised.value.prop == "pattern"


@pytest.mark.parametrize(
    "pattern",
    [
        {"source": [{"prefix": "refarch."}], "detail": {"total": [{"numeric": [">=", 0, "<", 100]}]}},
        {"detail": {"customer": [{"anything-but": {"prefix": "guest-"}}], "id": [{"exists": False}]}},
        {"detail": {"ip": [{"cidr": "10.0.0.0/24"}], "name": [{"equals-ignore-case": "x"}, None, 3]}},
    ],
)
def test_the_filters_eventbridge_documents_pass(pattern: Any) -> None:
    check_pattern("pattern", pattern)


@pytest.mark.parametrize(
    ("props", "prop"),
    [
        ({"allowed_accounts": ["12345"]}, "allowed_accounts"),
        ({"allowed_organizations": ["org-1"]}, "allowed_organizations"),
        ({"retry_attempts": 186}, "retry_attempts"),
        ({"max_event_age": Duration.seconds(30)}, "max_event_age"),
        ({"archive_retention": Duration.hours(3)}, "archive_retention"),
    ],
)
def test_out_of_range_props_fail_naming_the_prop(props: dict[str, Any], prop: str) -> None:
    with pytest.raises(PropError) as raised:
        EventRouter(bare_stack(), "Events", **props)
    assert raised.value.prop == prop


def test_an_existing_bus_and_a_new_bus_name_are_exclusive() -> None:
    stack = bare_stack()
    existing = EventRouter(stack, "First").event_bus
    with pytest.raises(PropError, match="event_bus_name") as raised:
        EventRouter(stack, "Second", event_bus=existing, event_bus_name="orders")
    assert raised.value.prop == "event_bus"


def test_a_rule_without_targets_or_with_an_unknown_target_is_refused() -> None:
    router = EventRouter(bare_stack(), "Events")
    with pytest.raises(PropError, match="no target"):
        router.add_rule("Empty", pattern={"source": ["x"]}, targets=[])
    with pytest.raises(PropError, match="not a queue"):
        router.add_rule("Odd", pattern={"source": ["x"]}, targets=["arn:aws:sqs:::q"])  # type: ignore[list-item]


def test_organizations_are_admitted_by_org_id_only() -> None:
    stack = bare_stack()
    EventRouter(stack, "Events", allowed_accounts=["111122223333"], allowed_organizations=["o-abcdefghij"])
    statements = [
        r["Properties"]["Statement"]
        for r in Template.from_stack(stack).to_json()["Resources"].values()
        if r["Type"] == "AWS::Events::EventBusPolicy"
    ]
    anyone = [s for s in statements if s.get("Principal") in ("*", {"AWS": "*"})]
    assert anyone and all(
        s["Condition"]["StringEquals"]["aws:PrincipalOrgID"] == "o-abcdefghij" for s in anyone
    )
    assert any("111122223333" in str(s.get("Principal")) for s in statements)
