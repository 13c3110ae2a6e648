"""Pilot light and warm standby in the DR table, from the synthesized Standby templates: the
seed's question ("which has the lower RTO, pilot light or warm standby?") answered by the kit."""

from __future__ import annotations

import dataclasses

import pytest

from stacks.standby_stack import PILOT_LIGHT, WARM_STANDBY
from tests.kit import PROFILES
from tools import standby_recovery as recovery
from tools import standby_synth


@pytest.mark.parametrize("profile", PROFILES)
def test_warm_standby_recovers_sooner_than_pilot_light_at_the_same_idle_cost(profile: str) -> None:
    """A serverless standby bills per request: throttling it saves nothing at idle, and the
    promote step (and the person who decides to run it) is what pilot light adds to the RTO."""
    pilot = recovery.facts(standby_synth.templates(profile, PILOT_LIGHT))
    warm = recovery.facts(standby_synth.templates(profile, WARM_STANDBY))
    assert pilot.pilot_light and not warm.pilot_light
    (pilot_row,) = recovery.rows(profile, pilot)
    (warm_row,) = recovery.rows(profile, warm)
    assert _minutes(warm_row.rto) < _minutes(pilot_row.rto)
    assert recovery.idle_cost(pilot) == recovery.idle_cost(warm)


def _minutes(rto: str) -> float:
    value, unit = rto.split(" (")[0].split()
    return float(value) / (60 if unit == "s" else 1)


def test_detection_is_the_health_checks_interval_times_its_threshold() -> None:
    """Route 53 calls an endpoint unhealthy after `FailureThreshold` failed checks in a row, one
    every `RequestInterval` seconds ("How Route 53 determines whether a health check is healthy")."""
    facts = recovery.facts(standby_synth.templates("sandbox", WARM_STANDBY))
    slower = dataclasses.replace(facts, failure_threshold=facts.failure_threshold * 2)
    ttl, _ = recovery.ASSUMPTIONS["dns_ttl_seconds"]
    for case in (facts, slower):
        (row,) = recovery.rows("sandbox", case)
        assert f"{case.request_interval * case.failure_threshold} s detect" in row.rto
        assert _minutes(row.rto) * 60 == case.request_interval * case.failure_threshold + ttl


def test_the_idle_cost_counts_the_health_checks_keys_and_alarms_of_the_templates() -> None:
    facts = recovery.facts(standby_synth.templates("sandbox"))
    assert facts.health_checks == 1 and facts.https_health_checks == 1
    assert facts.keys >= 3  # the replica's, the primary table's, the standby's logs
    more = dataclasses.replace(facts, health_checks=2, https_health_checks=2)
    added = recovery.HEALTH_CHECK_MONTH + recovery.HEALTH_CHECK_HTTPS_MONTH
    assert recovery.idle_cost(more) == pytest.approx(recovery.idle_cost(facts) + added)


def test_production_pays_for_the_standbys_web_acl() -> None:
    sandbox = recovery.facts(standby_synth.templates("sandbox"))
    production = recovery.facts(standby_synth.templates("production"))
    assert sandbox.web_acl_rules == [] and len(production.web_acl_rules) == 1


@pytest.mark.parametrize("strategy", [PILOT_LIGHT, WARM_STANDBY])
def test_the_standby_rows_say_what_fails_over_by_itself_and_what_users_lose(strategy: str) -> None:
    """Route 53 fails over on what its health check sees; the kit's health route answers without
    reading the table (tests/test_standby_stacks.py: the health path touches no table), so a
    DynamoDB impairment keeps the check healthy ("How Amazon Route 53 determines whether a
    health check is healthy": only the endpoint's answer counts). Cognito user pools are
    regional: a user of the standby's pool has another `sub` ("User pool attributes", Cognito DG:
    `sub` is unique within a user pool). Both rows must say so, not only 'automatic'."""
    (row,) = recovery.rows("sandbox", recovery.facts(standby_synth.templates("sandbox", strategy)))
    assert "[a]" in row.rto and "[b]" in row.strategy
    assert "DynamoDB" in recovery.NOTES["a"] and "runbook" in recovery.NOTES["a"]
    assert "`sub`" in recovery.NOTES["b"] and "sign in again" in recovery.NOTES["b"]
