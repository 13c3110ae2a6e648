"""RDS Proxy clients use the port the proxy listens on: the engine's default port."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from .core import Settings, Violation, rule
from .model import Model, Rendered, Resource, as_list

DEFAULT_PORTS = {"POSTGRESQL": 5432, "MYSQL": 3306, "SQLSERVER": 1433}
ENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.M)
HOST_SUFFIXES = ("_HOST", "_ENDPOINT", "_ADDRESS", "HOST", "ENDPOINT", "ADDRESS")


def _proxies(model: Model) -> dict[Resource, int]:
    ports = {}
    for proxy in model.of_type("AWS::RDS::DBProxy"):
        port = DEFAULT_PORTS.get(str(proxy.properties.get("EngineFamily", "")).upper())
        if port:
            ports[proxy] = port
    return ports


def _port(model: Model, value: Any, stack: str) -> int | None:
    """A port number, following a GetAtt of a database's Endpoint.Port to its Port property."""
    literal = model.literal(value, stack)
    if literal is None:
        target = model.target(value, stack)
        if target and target.attribute == "Endpoint.Port":
            literal = model.literal(target.resource.properties.get("Port"), target.resource.stack)
    try:
        return int(literal) if literal is not None else None
    except (TypeError, ValueError):
        return None


@rule(
    "ProxyClientPort",
    doc="Security-group rules into an RDS Proxy and endpoint settings naming it use the engine's "
    "default port (5432 PostgreSQL, 3306 MySQL, 1433 SQL Server), whatever port the database uses.",
    source="https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy.html (Limitations: "
    "the proxy listens on the engine's default port); aws/aws-cdk discussion #28321",
)
def proxy_client_port(model: Model, settings: Settings) -> Iterator[Violation]:
    proxies = _proxies(model)
    if not proxies:
        return
    yield from _security_group_rules(model, proxies)
    yield from _environments(model, proxies)


def _security_group_rules(model: Model, proxies: dict[Resource, int]) -> Iterator[Violation]:
    groups: dict[Resource, tuple[Resource, int]] = {}
    for proxy, port in proxies.items():
        for group in model.targets_of_type(
            proxy.properties.get("VpcSecurityGroupIds"), proxy.stack, "AWS::EC2::SecurityGroup"
        ):
            groups[group] = (proxy, port)
    rules: list[tuple[Resource, str, dict[str, Any], Resource | None]] = []
    for ingress in model.of_type("AWS::EC2::SecurityGroupIngress"):
        rules.append(
            (
                ingress,
                "Properties",
                ingress.properties,
                model.one_target(ingress.properties.get("GroupId"), ingress.stack, "AWS::EC2::SecurityGroup"),
            )
        )
    for egress in model.of_type("AWS::EC2::SecurityGroupEgress"):
        destination = egress.properties.get("DestinationSecurityGroupId")
        rules.append(
            (
                egress,
                "Properties",
                egress.properties,
                model.one_target(destination, egress.stack, "AWS::EC2::SecurityGroup"),
            )
        )
    for group in model.of_type("AWS::EC2::SecurityGroup"):
        for index, inline in enumerate(as_list(group.properties.get("SecurityGroupIngress"))):
            rules.append((group, f"Properties/SecurityGroupIngress/{index}", inline, group))
        for index, inline in enumerate(as_list(group.properties.get("SecurityGroupEgress"))):
            destination = inline.get("DestinationSecurityGroupId")
            rules.append(
                (
                    group,
                    f"Properties/SecurityGroupEgress/{index}",
                    inline,
                    model.one_target(destination, group.stack, "AWS::EC2::SecurityGroup"),
                )
            )
    for holder, location, props, target in rules:
        if target is None or target not in groups or props.get("IpProtocol") in ("-1", -1):
            continue
        proxy, port = groups[target]
        low, high = (
            _port(model, props.get("FromPort"), holder.stack),
            _port(model, props.get("ToPort"), holder.stack),
        )
        if low is None or high is None or low <= port <= high:
            continue
        yield Violation(
            "ProxyClientPort",
            holder,
            f"opens port {low if low == high else f'{low}-{high}'} towards the RDS Proxy {proxy.path}, "
            f"which listens only on {port}: clients on that port cannot connect.",
            f"Allow port {port} (e.g. connections.allow_from(client, ec2.Port.tcp({port}))); "
            "the database's own port is only for the proxy's connections to it.",
            location,
        )


def _environments(model: Model, proxies: dict[Resource, int]) -> Iterator[Violation]:
    for holder, variables in _variables(model):
        for name, rendered in variables.items():
            proxy = next((p for p in _proxies_named(model, rendered) if p in proxies), None)
            if proxy is None:
                continue
            port = proxies[proxy]
            inline = re.search(r"\$\{Token\[\d+\]\}:(\d+)", rendered.text)
            if inline and int(inline.group(1)) != port:
                yield _env_violation(holder, name, int(inline.group(1)), proxy, port)
                continue
            named = _port_variable(name, variables)
            if named:
                value = _rendered_port(model, variables[named])
                if value is not None and value != port:
                    yield _env_violation(holder, named, value, proxy, port)


def _env_violation(holder: Resource, name: str, value: int, proxy: Resource, port: int) -> Violation:
    return Violation(
        "ProxyClientPort",
        holder,
        f"{name} gives port {value} for the RDS Proxy {proxy.path}, which listens only on {port}.",
        f"Give the proxy's clients port {port}; keep the database's port for direct connections.",
    )


def _proxies_named(model: Model, rendered: Rendered) -> Iterator[Resource]:
    for index, token in enumerate(rendered.tokens):
        if f"${{Token[{index}]}}" not in rendered.text:
            continue
        target = model.target(token, rendered.stack)
        if target and target.resource.type == "AWS::RDS::DBProxy":
            yield target.resource
        elif target and target.resource.type == "AWS::RDS::DBProxyEndpoint":
            proxy = model.one_target(
                target.resource.properties.get("DBProxyName"), target.resource.stack, "AWS::RDS::DBProxy"
            )
            if proxy:
                yield proxy


def _port_variable(host: str, variables: dict[str, Rendered]) -> str | None:
    """The most specific PORT variable for a host variable: DB_WRITER_PORT over DB_PORT."""
    stem = host.upper()
    for suffix in HOST_SUFFIXES:
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    best: str | None = None
    best_length = -1
    for name in variables:
        upper = name.upper()
        if not upper.endswith("PORT"):
            continue
        prefix = upper[: -len("PORT")].rstrip("_")
        if stem.rstrip("_").startswith(prefix) and len(prefix) > best_length:
            best, best_length = name, len(prefix)
    return best


def _rendered_port(model: Model, rendered: Rendered) -> int | None:
    text = rendered.text.strip().strip("'\"")
    if text.isdigit():
        return int(text)
    token = rendered.token_at(text)
    return _port(model, token, rendered.stack) if token is not None else None


def _variables(model: Model) -> Iterator[tuple[Resource, dict[str, Rendered]]]:
    """Every set of environment values in the app: functions, containers, instance user data."""
    for function in model.of_type("AWS::Lambda::Function"):
        env = (function.properties.get("Environment") or {}).get("Variables") or {}
        yield function, {name: model.render(value, function.stack) for name, value in env.items()}
    for task in model.of_type("AWS::ECS::TaskDefinition"):
        for container in as_list(task.properties.get("ContainerDefinitions")):
            env = {e.get("Name"): e.get("Value") for e in as_list(container.get("Environment"))}
            yield task, {str(n): model.render(v, task.stack) for n, v in env.items() if n}
    for holder in model.of_type(
        "AWS::EC2::LaunchTemplate", "AWS::EC2::Instance", "AWS::AutoScaling::LaunchConfiguration"
    ):
        props = holder.properties
        user_data = (props.get("LaunchTemplateData") or {}).get("UserData") or props.get("UserData")
        if user_data is None:
            continue
        script = model.render(user_data, holder.stack)
        yield (
            holder,
            {
                name: Rendered(value, script.tokens, holder.stack)
                for name, value in ENV_LINE.findall(script.text)
            },
        )
