"""DynamoDB tables with the kit's defaults: on-demand, encrypted, point-in-time recovery, and in
production retained with deletion protection."""

from __future__ import annotations

from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from .defaults import Profile


def on_demand_table(
    scope: Construct,
    construct_id: str,
    *,
    profile: Profile,
    partition_key: str,
    sort_key: str | None = None,
    time_to_live_attribute: str | None = None,
) -> dynamodb.TableV2:
    string = dynamodb.AttributeType.STRING
    return dynamodb.TableV2(
        scope,
        construct_id,
        partition_key=dynamodb.Attribute(name=partition_key, type=string),
        sort_key=dynamodb.Attribute(name=sort_key, type=string) if sort_key else None,
        billing=dynamodb.Billing.on_demand(),
        encryption=dynamodb.TableEncryptionV2.aws_managed_key(),
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        time_to_live_attribute=time_to_live_attribute,
        deletion_protection=profile.deletion_protection,
        removal_policy=profile.removal_policy,
    )


def idempotency_table(scope: Construct, construct_id: str, *, profile: Profile) -> dynamodb.TableV2:
    """The table Powertools' idempotency utility expects: key `id`, TTL on `expiration`."""
    return on_demand_table(
        scope, construct_id, profile=profile, partition_key="id", time_to_live_attribute="expiration"
    )
