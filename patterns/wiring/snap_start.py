"""A SnapStart function invoked by its unqualified name runs Init cold every time.

Lambda snapshots a function only when a version is published, and restores from the snapshot
only when that version (or an alias pointing to it) is invoked: "You can use SnapStart only on
published function versions and aliases that point to versions. You can't use SnapStart on a
function's unpublished version ($LATEST)" (Lambda developer guide, "Improving startup
performance with Lambda SnapStart"). An invoker that names the function itself therefore pays a
full Init on every cold start while the account pays for the snapshot's cache. CDK warns about
this only on the function (`snapStartRequirePublish`), not on whoever invokes it, and the kit's
PythonFunction acknowledges that warning because it publishes the `live` alias: this rule checks
the invokers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .core import Settings, Violation, rule
from .model import Model, Resource

FUNCTION = "AWS::Lambda::Function"
# Where each invoker names the function it invokes.
INVOKING_PROPERTIES = {
    "AWS::Lambda::EventSourceMapping": ("FunctionName",),
    "AWS::SNS::Subscription": ("Endpoint",),
    "AWS::Events::Rule": ("Targets",),
    "AWS::S3::Bucket": ("NotificationConfiguration",),
    "Custom::S3BucketNotifications": ("NotificationConfiguration",),
    "AWS::Scheduler::Schedule": ("Target",),
    "AWS::Pipes::Pipe": ("Target",),
    "AWS::ApiGateway::Method": ("Integration",),
    "AWS::ApiGatewayV2::Integration": ("IntegrationUri",),
    "AWS::StepFunctions::StateMachine": ("DefinitionString", "Definition"),
    "AWS::ElasticLoadBalancingV2::TargetGroup": ("Targets",),
    "AWS::Cognito::UserPool": ("LambdaConfig",),
    "AWS::AppSync::DataSource": ("LambdaConfig",),
    "AWS::Lambda::Url": ("TargetFunctionArn",),
}
SOURCE = "https://docs.aws.amazon.com/lambda/latest/dg/snapstart.html"


def _snapshotted(function: Resource) -> bool:
    return (function.properties.get("SnapStart") or {}).get("ApplyOn") == "PublishedVersions"


def _expressions(value: Any) -> Iterator[Any]:
    """Each intrinsic (or string built by one) inside a property, whole."""
    if isinstance(value, dict):
        if len(value) == 1 and (next(iter(value)).startswith("Fn::") or "Ref" in value):
            yield value
            return
        for inner in value.values():
            yield from _expressions(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _expressions(inner)


def _unqualified(model: Model, invoker: Resource, value: Any) -> Iterator[Resource]:
    """The SnapStart functions `value` names without a qualifier (`name:alias`, `arn:...:7`), or
    with `:$LATEST`."""
    for expression in _expressions(value):
        rendered = model.render(expression, invoker.stack)
        for index, token in enumerate(rendered.tokens):
            target = model.target(token, invoker.stack)
            if not target or target.resource.type != FUNCTION or not _snapshotted(target.resource):
                continue
            placeholder = f"${{Token[{index}]}}"
            after = rendered.text.split(placeholder, 1)[1] if placeholder in rendered.text else ""
            if not after.startswith(":") or after.startswith(":$LATEST"):
                yield target.resource


@rule(
    "SnapStartInvokedUnqualified",
    doc="An invoker of a SnapStart function names a published version or an alias, never the "
    "function itself: Lambda restores from the snapshot only for published versions, so the "
    "unqualified function ($LATEST) runs its whole Init on every cold start.",
    source=SOURCE,
)
def snap_start_invoked_unqualified(model: Model, settings: Settings) -> Iterator[Violation]:
    for invoker in model.of_type(*INVOKING_PROPERTIES):
        if invoker.type == "AWS::Lambda::Url" and invoker.properties.get("Qualifier") not in (
            None,
            "$LATEST",
        ):
            continue
        for prop in INVOKING_PROPERTIES[invoker.type]:
            reported: set[Resource] = set()
            for function in _unqualified(model, invoker, invoker.properties.get(prop)):
                if function in reported:
                    continue
                reported.add(function)
                yield Violation(
                    "SnapStartInvokedUnqualified",
                    invoker,
                    f"invokes {function.path}, which has SnapStart, by its unqualified name: "
                    "$LATEST never restores from a snapshot, so every cold start runs the whole "
                    "Init.",
                    "Invoke the published version or an alias of it (PythonFunction's `invocable`, "
                    "the `live` alias), or turn SnapStart off for this function.",
                    f"Properties/{prop}",
                )
