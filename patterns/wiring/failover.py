"""A Route 53 failover record whose PRIMARY carries no health check never fails over.

Route 53 treats a record without a health check as healthy ("How Amazon Route 53 chooses records
when health checking is configured"), so it keeps answering with the primary whatever happens to
it. An alias that evaluates target health is not enough for an API Gateway domain: it turns
unhealthy only when API Gateway is unavailable in the Region, not when the API fails ("Configure
custom health checks for DNS failover for an API Gateway API").
"""

from __future__ import annotations

from collections.abc import Iterator

from .core import Settings, Violation, rule
from .model import Model

SOURCE = (
    "https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/"
    "health-checks-how-route-53-chooses-records.html; "
    "https://docs.aws.amazon.com/apigateway/latest/developerguide/dns-failover.html"
)


@rule(
    "FailoverPrimaryHealthCheck",
    doc="A Route 53 failover record marked PRIMARY carries a health check (without one Route 53 "
    "treats it as always healthy and never answers with the SECONDARY).",
    source=SOURCE,
)
def failover_primary_health_check(model: Model, settings: Settings) -> Iterator[Violation]:
    for record in model.of_type("AWS::Route53::RecordSet"):
        if record.properties.get("Failover") != "PRIMARY" or record.properties.get("HealthCheckId"):
            continue
        yield Violation(
            "FailoverPrimaryHealthCheck",
            record,
            f"{record.path} is the PRIMARY of a failover pair without a health check: Route 53 "
            "treats it as healthy forever and never answers with the SECONDARY.",
            "Give the record a HealthCheckId (route53.HealthCheck of the primary's health path).",
        )
