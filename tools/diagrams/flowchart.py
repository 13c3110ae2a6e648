"""A stack's Mermaid flowchart: one node per resource a person cares about, labelled by its
construct path, inside its VPC's subnet tier when it has one, with its plumbing as a note."""

from __future__ import annotations

from collections import Counter, defaultdict

from tools.diagrams import catalog
from tools.diagrams.edges import FAILURE, INTERNET, edges
from tools.diagrams.markup import RESERVED, slug, text
from tools.diagrams.template import IMPORT, Template, is_import

SUBNET_GROUPS = frozenset(
    {
        "AWS::RDS::DBSubnetGroup",
        "AWS::ElastiCache::SubnetGroup",
        "AWS::DAX::SubnetGroup",
        "AWS::DocDB::DBSubnetGroup",
        "AWS::Redshift::ClusterSubnetGroup",
        "AWS::RDS::DBCluster",
    }
)
ALARM = "AWS::CloudWatch::Alarm"
ALARM_ACTIONS = ("AlarmActions", "OKActions", "InsufficientDataActions")
COUNTED = ("alarm", "resource", "subnet")  # "1 alarm" reads better than "alarm"
NOTIFIED_BY = "~notified by alarms"  # sorts after the folded kinds


def plural(word: str, count: int) -> str:
    if count == 1:
        return f"{count} {word}" if word in COUNTED else word
    if word.endswith("y") and not word.endswith("ey"):
        return f"{count} {word[:-1]}ies"
    return f"{count} {word}" + ("" if word.endswith("s") else "s")


def notes(t: Template) -> dict[str, list[str]]:
    """For each node, what is folded into it (counted by kind) and what reports to it."""
    folded: dict[str, Counter[str]] = defaultdict(Counter)
    for logical_id in t.resources:
        resource_type = t.type_of(logical_id)
        if resource_type in catalog.CONNECTORS:
            continue
        if not t.is_node(logical_id):
            kind = catalog.kind(resource_type)
            if logical_id in t.custom_resource_helpers:
                kind = "custom resource function"
            for node in t.served_by(logical_id):
                folded[node][kind] += 1
        if resource_type == ALARM:
            for target in t.refs_in(logical_id, *ALARM_ACTIONS):
                for node in t.served_by(target):
                    folded[node][NOTIFIED_BY] += 1
    for node in t.nodes:
        if t.type_of(node) == "AWS::KMS::Key":
            users = t.owners(node, frozenset({node}), keys_fold=True)
            folded[node][f"encrypts {plural('resource', len(users))}"] += 1
    return {node: [_note(word, count) for word, count in sorted(c.items())] for node, c in folded.items()}


def _note(word: str, count: int) -> str:
    if word == NOTIFIED_BY:
        return f"notified by {plural('alarm', count)}"
    return word if word.startswith("encrypts") else plural(word, count)


def tiers(t: Template) -> dict[str, tuple[str, str]]:
    """Subnet id -> (VPC logical id, tier label) from the subnet tags CDK writes."""
    found = {}
    for logical_id in t.resources:
        if t.type_of(logical_id) != catalog.SUBNET:
            continue
        tags = {tag.get("Key"): tag.get("Value") for tag in t.properties(logical_id).get("Tags", [])}
        name, kind = tags.get("aws-cdk:subnet-name"), tags.get("aws-cdk:subnet-type")
        label = f"{name} subnets" if name else "subnets"
        if kind and kind != name:
            label += f" ({kind.lower()})"
        vpcs = t.refs_in(logical_id, "VpcId")
        if vpcs:
            found[logical_id] = (vpcs[0], label)
    return found


def placement(t: Template) -> dict[str, tuple[str, str]]:
    """Node -> (VPC, tier label), or (VPC, "") when it spans tiers, for nodes in subnets."""
    subnets = tiers(t)
    placed = {}
    for node in t.nodes:
        reached = set(t.refs_in(node))
        for other in list(reached):
            if t.type_of(other) in SUBNET_GROUPS:
                reached |= set(t.refs_in(other))
        spots = {subnets[s] for s in reached if s in subnets}
        if not spots:  # in a VPC, not in its subnets (a target group, an endpoint)
            spots = {(vpc, "") for vpc in t.refs_in(node, "VpcId") if t.type_of(vpc) == catalog.VPC}
        vpcs = {vpc for vpc, _ in spots}
        if len(vpcs) == 1:
            labels = {label for _, label in spots}
            placed[node] = (vpcs.pop(), labels.pop() if len(labels) == 1 else "")
    return placed


INTERNET_ID = "the_internet"  # an underscore: no logical id can take it


def lines_label(*parts: str) -> str:
    """Label lines, each escaped, joined by Mermaid line breaks."""
    return "<br/>".join(text(part) for part in parts if part)


def mermaid_ids(nodes: set[str]) -> dict[str, str]:
    """Logical ids are Mermaid ids as they are, unless Mermaid reserves the word; an imported
    value gets one from what it is; the internet its own."""
    ids = {INTERNET: INTERNET_ID}
    for node in sorted(nodes - {INTERNET}):
        if is_import(node):
            base = "import_" + slug(node.removeprefix(IMPORT))
        else:
            base = f"r_{node}" if node.lower() in RESERVED else node
        ids[node] = base if base not in ids.values() else f"{base}_{len(ids)}"
    return ids


def node_line(t: Template, node_id: str, node: str, folded: list[str]) -> str:
    opening, closing = catalog.SHAPE.get(t.type_of(node), ("[", "]"))
    notes_line = "+ " + ", ".join(folded) if folded else ""
    return (
        f'{node_id}{opening}"{lines_label(t.path(node), catalog.kind(t.type_of(node)), notes_line)}"{closing}'
    )


def flowchart(t: Template) -> str:
    folded = notes(t)
    placed = placement(t)
    links = edges(t)
    containers = sorted({vpc for vpc, _ in placed.values()})
    ids = mermaid_ids({n for link in links for n in (link.source, link.target)} | set(t.nodes))
    lines = ["flowchart LR"]
    if any(link.source == INTERNET for link in links):
        lines.append(f"  {INTERNET_ID}((Internet))")
    for imported in sorted(n for n in ids if is_import(n)):
        lines.append(f'  {ids[imported]}["{lines_label(t.path(imported), "imported")}"]')
    for node in t.nodes:
        if node not in placed and node not in containers:
            lines.append("  " + node_line(t, ids[node], node, folded.get(node, [])))
    for vpc in containers:
        notes_line = "+ " + ", ".join(folded[vpc]) if folded.get(vpc) else ""
        lines.append(f'  subgraph {ids[vpc]}["{lines_label(t.path(vpc), "VPC", notes_line)}"]')
        members = sorted((label, node) for node, (where, label) in placed.items() if where == vpc)
        for tier in sorted({label for label, _ in members}):
            inner = "    "
            if tier:
                lines.append(f'    subgraph {ids[vpc]}_{slug(tier)}["{text(tier)}"]')
                inner = "      "
            for label, node in members:
                if label == tier:
                    lines.append(inner + node_line(t, ids[node], node, folded.get(node, [])))
            if tier:
                lines.append("    end")
        lines.append("  end")
    for link in links:
        arrow = "-.->" if link.style == FAILURE else "-->"
        lines.append(f'  {ids[link.source]} {arrow}|"{text(link.label)}"| {ids[link.target]}')
    return "\n".join(lines) + "\n"
