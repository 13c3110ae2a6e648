"""Give CDK's own custom-resource provider functions a log group the stack owns.

Some L2 features (a bucket's `auto_delete_objects`, a VPC's default security group lockdown)
add a singleton provider function that CDK writes as a bare `AWS::Lambda::Function` with no
logging configuration, so Lambda would create `/aws/lambda/<name>` itself on first run and
`cdk destroy` would leave it behind. CDK offers no prop for it, hence the property override.
"""

from __future__ import annotations

from aws_cdk import CfnResource, Stack
from constructs import IConstruct

from ..shared.defaults import Profile, log_group

LOG_GROUP_ID = "OwnLogGroup"


def own_provider_logs(scope: IConstruct, profile: Profile) -> None:
    """Attach a log group to every provider function of `scope`'s stack that has none yet.

    Call it after the feature that adds the provider; it is idempotent.
    """
    stack = Stack.of(scope)
    for child in stack.node.children:
        handler = child.node.try_find_child("Handler")
        if not isinstance(handler, CfnResource) or handler.cfn_resource_type != "AWS::Lambda::Function":
            continue
        if child.node.try_find_child(LOG_GROUP_ID) is not None:
            continue
        group = log_group(child, LOG_GROUP_ID, profile=profile)  # type: ignore[arg-type]
        handler.add_property_override("LoggingConfig.LogGroup", group.log_group_name)
