"""Edges read from the template: subscriptions, event source mappings, destinations, redrive,
listeners and target groups, security-group ingress, replicas, proxies, API integrations, state
machine tasks, and any other reference from one node to another."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from tools.diagrams import catalog
from tools.diagrams.state_machine import task_actions
from tools.diagrams.template import Template, is_import

INTERNET = "Internet"
# Policy documents grant or restrict access; they say nothing about where data flows.
POLICY_PROPERTIES = frozenset(
    {
        "KeyPolicy",
        "PolicyDocument",
        "Policies",
        "AssumeRolePolicyDocument",
        "ResourcePolicy",
        "AccessPolicies",
    }
)
ANYWHERE = frozenset({"0.0.0.0/0", "::/0"})
FLOW, FAILURE = "flow", "failure"
# Labels for references found by property name, where the name alone reads badly.
LABELS = {
    "Targets": "target",
    "Cluster": "runs in",
    "NotificationConfigurations": "notifications",
    "LoadBalancerAttributes": "access logs",
    "LoggingConfiguration": "logs",
}


@dataclass(frozen=True, order=True)
class Edge:
    source: str
    target: str
    style: str
    label: str


@dataclass(frozen=True)
class Raw:
    sources: tuple[str, ...]
    targets: tuple[str, ...]
    label: str
    style: str = FLOW


Rule = Callable[[Template, str, dict[str, Any]], Iterator[Raw]]


def _ids(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(values)))


def subscription(t: Template, i: str, p: dict[str, Any]) -> Iterator[Raw]:
    topic = _ids(t.refs_in(i, "TopicArn"))
    label = str(p.get("Protocol", "subscription")) + (" filtered" if "FilterPolicy" in p else "")
    yield Raw(topic, _ids(t.refs_in(i, "Endpoint")), label)
    yield Raw(topic, _ids(t.refs_in(i, "RedrivePolicy")), "undeliverable", FAILURE)


def event_source_mapping(t: Template, i: str, p: dict[str, Any]) -> Iterator[Raw]:
    function = _ids(t.refs_in(i, "FunctionName"))
    batch = f", batch {p['BatchSize']}" if "BatchSize" in p else ""
    yield Raw(_ids(t.refs_in(i, "EventSourceArn")), function, f"event source{batch}")
    yield Raw(function, _ids(t.refs_in(i, "DestinationConfig")), "on failure", FAILURE)


def event_invoke_config(t: Template, i: str, p: dict[str, Any]) -> Iterator[Raw]:
    function = _ids(t.refs_in(i, "FunctionName"))
    destinations = p.get("DestinationConfig", {})
    yield Raw(function, _ids(t.refs_of(destinations.get("OnFailure"))), "on failure", FAILURE)
    yield Raw(function, _ids(t.refs_of(destinations.get("OnSuccess"))), "on success")


def _listener_label(p: dict[str, Any]) -> str:
    return " ".join(str(p[k]) for k in ("Protocol", "Port") if k in p) or "listener"


def listener(t: Template, i: str, p: dict[str, Any]) -> Iterator[Raw]:
    yield Raw(_ids(t.refs_in(i, "LoadBalancerArn")), _ids(t.refs_in(i, "DefaultActions")), _listener_label(p))


def listener_rule(t: Template, i: str, p: dict[str, Any]) -> Iterator[Raw]:
    for parent in t.refs_in(i, "ListenerArn"):
        label = _listener_label(t.properties(parent)) + " rule"
        yield Raw(_ids(t.refs_in(parent, "LoadBalancerArn")), _ids(t.refs_in(i, "Actions")), label)


def proxy_target_group(t: Template, i: str, p: dict[str, Any]) -> Iterator[Raw]:
    databases = t.refs_in(i, "DBInstanceIdentifiers", "DBClusterIdentifiers")
    yield Raw(_ids(t.refs_in(i, "DBProxyName")), _ids(databases), "proxies")


def _port(t: Template, rule: dict[str, Any]) -> str:
    protocol = str(rule.get("IpProtocol", "tcp"))
    if protocol == "-1":
        return "all traffic"
    low, high = (_number(t, rule.get(k)) for k in ("FromPort", "ToPort"))
    ports = f"{low}" if low == high or high == "None" else f"{low}-{high}"
    return f"{protocol} {ports}"


def _number(t: Template, value: Any) -> str:
    """A port, or the resource whose port it is when the template computes it."""
    if isinstance(value, dict):
        found = t.refs_of(value)
        return f"{t.path(found[0])} port" if found else "port"
    return str(value)


def _ingress(t: Template, group: tuple[str, ...], rule: dict[str, Any]) -> Iterator[Raw]:
    label = "allows " + _port(t, rule)
    sources = t.refs_of(rule.get("SourceSecurityGroupId"))
    if sources:
        yield Raw(_ids(sources), group, label)
    if rule.get("CidrIp") in ANYWHERE or rule.get("CidrIpv6") in ANYWHERE:
        yield Raw((INTERNET,), group, label)


def security_group(t: Template, i: str, p: dict[str, Any]) -> Iterator[Raw]:
    for rule in p.get("SecurityGroupIngress", []):
        if isinstance(rule, dict):
            yield from _ingress(t, (i,), rule)


def security_group_ingress(t: Template, i: str, p: dict[str, Any]) -> Iterator[Raw]:
    yield from _ingress(t, _ids(t.refs_in(i, "GroupId")), p)


def _api_path(t: Template, resource: Any) -> str:
    parts: list[str] = []
    while isinstance(resource, dict) and "Ref" in resource and resource["Ref"] in t.resources:
        properties = t.properties(resource["Ref"])
        parts.insert(0, str(properties.get("PathPart", "?")))
        resource = properties.get("ParentId")
    return "/" + "/".join(parts)


def rest_method(t: Template, i: str, p: dict[str, Any]) -> Iterator[Raw]:
    integration = {k: v for k, v in p.get("Integration", {}).items() if k != "Credentials"}
    label = f"{p.get('HttpMethod', 'ANY')} {_api_path(t, p.get('ResourceId'))}"
    yield Raw(_ids(t.refs_in(i, "RestApiId")), _ids(t.refs_of(integration)), label)


def http_route(t: Template, i: str, p: dict[str, Any]) -> Iterator[Raw]:
    targets: list[str] = []
    for integration in t.refs_in(i, "Target"):
        properties = t.properties(integration)
        targets += t.refs_of({k: v for k, v in properties.items() if k not in ("ApiId", "CredentialsArn")})
    yield Raw(_ids(t.refs_in(i, "ApiId")), _ids(targets), str(p.get("RouteKey", "route")))


def authorizer(t: Template, i: str, p: dict[str, Any]) -> Iterator[Raw]:
    api = t.refs_in(i, "RestApiId", "ApiId")
    providers = t.refs_in(i, "ProviderARNs", "AuthorizerUri", "JwtConfiguration")
    yield Raw(_ids(api), _ids(providers), "authorizer")


def web_acl_association(t: Template, i: str, p: dict[str, Any]) -> Iterator[Raw]:
    yield Raw(_ids(t.refs_in(i, "WebACLArn")), _ids(t.refs_in(i, "ResourceArn")), "protects")


def bucket_notifications(t: Template, i: str, p: dict[str, Any]) -> Iterator[Raw]:
    """CDK writes S3 event notifications as a custom resource."""
    yield Raw(_ids(t.refs_in(i, "BucketName")), _ids(t.refs_in(i, "NotificationConfiguration")), "notifies")


def bucket_notifications_native(t: Template, i: str, p: dict[str, Any]) -> Iterator[Raw]:
    yield Raw((i,), _ids(t.refs_in(i, "NotificationConfiguration")), "notifies")


def queue(t: Template, i: str, p: dict[str, Any]) -> Iterator[Raw]:
    redrive = p.get("RedrivePolicy", {})
    after = f" after {redrive['maxReceiveCount']} receives" if "maxReceiveCount" in redrive else ""
    yield Raw((i,), _ids(t.refs_in(i, "RedrivePolicy")), "dead letters" + after, FAILURE)


def topic(t: Template, i: str, p: dict[str, Any]) -> Iterator[Raw]:
    for inline in p.get("Subscription", []):
        yield Raw((i,), _ids(t.refs_of(inline)), str(inline.get("Protocol", "subscription")))


def function(t: Template, i: str, p: dict[str, Any]) -> Iterator[Raw]:
    yield Raw((i,), _ids(t.refs_in(i, "DeadLetterConfig")), "dead letters", FAILURE)


def db_instance(t: Template, i: str, p: dict[str, Any]) -> Iterator[Raw]:
    yield Raw(_ids(t.refs_in(i, "SourceDBInstanceIdentifier")), (i,), "read replica")


def auto_scaling_group(t: Template, i: str, p: dict[str, Any]) -> Iterator[Raw]:
    yield Raw(_ids(t.refs_in(i, "TargetGroupARNs")), (i,), "targets")


def target_group(t: Template, i: str, p: dict[str, Any]) -> Iterator[Raw]:
    yield Raw((i,), _ids(t.refs_in(i, "Targets")), "targets")


def ecs_service(t: Template, i: str, p: dict[str, Any]) -> Iterator[Raw]:
    yield Raw(_ids(t.refs_in(i, "LoadBalancers")), (i,), "targets")


def state_machine(t: Template, i: str, p: dict[str, Any]) -> Iterator[Raw]:
    actions = task_actions(t, i)
    for target, performed in sorted(actions.items()):
        yield Raw((i,), (target,), ", ".join(sorted(performed)))
    others = t.refs_in(i, "DefinitionString", "Definition", "DefinitionSubstitutions")
    yield Raw((i,), _ids(o for o in others if o not in actions), "definition")


RULES: dict[str, tuple[Rule, tuple[str, ...]]] = {
    # type: (rule, the properties it reads, which the generic rule then skips)
    "AWS::SNS::Subscription": (subscription, ()),
    "AWS::Lambda::EventSourceMapping": (event_source_mapping, ()),
    "AWS::Lambda::EventInvokeConfig": (event_invoke_config, ()),
    "AWS::ElasticLoadBalancingV2::Listener": (listener, ()),
    "AWS::ElasticLoadBalancingV2::ListenerRule": (listener_rule, ()),
    "AWS::RDS::DBProxyTargetGroup": (proxy_target_group, ()),
    "AWS::EC2::SecurityGroup": (security_group, ()),
    "AWS::EC2::SecurityGroupIngress": (security_group_ingress, ()),
    "AWS::ApiGateway::Method": (rest_method, ()),
    "AWS::ApiGatewayV2::Route": (http_route, ()),
    "AWS::ApiGateway::Authorizer": (authorizer, ()),
    "AWS::ApiGatewayV2::Authorizer": (authorizer, ()),
    "AWS::WAFv2::WebACLAssociation": (web_acl_association, ()),
    "Custom::S3BucketNotifications": (bucket_notifications, ()),
    "AWS::S3::Bucket": (bucket_notifications_native, ("NotificationConfiguration",)),
    "AWS::SQS::Queue": (queue, ("RedrivePolicy",)),
    "AWS::SNS::Topic": (topic, ("Subscription",)),
    "AWS::Lambda::Function": (function, ("DeadLetterConfig",)),
    "AWS::RDS::DBInstance": (db_instance, ("SourceDBInstanceIdentifier", "DBClusterIdentifier")),
    "AWS::AutoScaling::AutoScalingGroup": (auto_scaling_group, ("TargetGroupARNs",)),
    "AWS::ElasticLoadBalancingV2::TargetGroup": (target_group, ("Targets",)),
    "AWS::ECS::Service": (ecs_service, ("LoadBalancers",)),
    "AWS::StepFunctions::StateMachine": (
        state_machine,
        ("DefinitionString", "Definition", "DefinitionSubstitutions"),
    ),
}


# Plumbing that carries a node's runtime configuration: what it names, the node uses.
CONFIG_CARRIERS = frozenset(
    {"AWS::EC2::LaunchTemplate", "AWS::AutoScaling::LaunchConfiguration", "AWS::ECS::TaskDefinition"}
)


def _generic(t: Template, i: str, skip: tuple[str, ...]) -> Iterator[Raw]:
    """A reference from one node's properties (or its launch template or task definition) to
    another node: it uses it."""
    for reference in t.outgoing.get(i, []):
        target = reference.target
        if not reference.where or reference.where[0] in skip or reference.where[0] in POLICY_PROPERTIES:
            continue
        if not t.is_node(target) and not is_import(target):
            continue
        if t.type_of(target) in ("AWS::KMS::Key", "AWS::EC2::VPC"):
            continue
        yield Raw(t.served_by(i), (target,), _label(t, i, reference.where))


def _label(t: Template, i: str, where: tuple[str | int, ...]) -> str:
    """The environment variable carrying a reference, or what the property is for."""
    if where[:2] == ("Environment", "Variables") and len(where) > 2:
        return str(where[2])
    if "UserData" in where:
        return "user data"
    if "Environment" in where:  # a container's [{"Name": ..., "Value": ...}]
        entry: Any = t.properties(i)
        for step in where[: where.index("Environment") + 2]:
            entry = entry[step]
        return str(entry.get("Name", "Environment"))
    return LABELS.get(str(where[0]), str(where[0]))


def raw_edges(t: Template) -> Iterator[Raw]:
    for logical_id in sorted(t.resources):
        rule, skip = RULES.get(t.type_of(logical_id), (None, ()))
        if rule is not None:
            yield from rule(t, logical_id, t.properties(logical_id))
        resource_type = t.type_of(logical_id)
        if t.is_node(logical_id) and resource_type not in catalog.NO_REFERENCE_EDGES:
            yield from _generic(t, logical_id, skip)
        elif resource_type in CONFIG_CARRIERS:
            yield from _generic(t, logical_id, ("IamInstanceProfile", "ExecutionRoleArn", "TaskRoleArn"))


def edges(t: Template) -> list[Edge]:
    """Edges between nodes, plumbing endpoints replaced by the nodes they serve; parallel edges
    of one style merged into one with their labels joined."""
    labels: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for raw in raw_edges(t):
        for source in _served(t, raw.sources):
            for target in _served(t, raw.targets):
                if source != target:
                    labels[(source, target, raw.style)].add(raw.label)
    return sorted(Edge(s, d, style, ", ".join(sorted(text))) for (s, d, style), text in labels.items())


def _served(t: Template, ids: tuple[str, ...]) -> list[str]:
    served: set[str] = set()
    for logical_id in ids:
        served |= {logical_id} if logical_id == INTERNET else set(t.served_by(logical_id))
    return sorted(served)
