"""A strict reading of the Mermaid flowchart subset the diagram generator writes: every line is a
header, a node, a subgraph, an `end` or an edge; labels hold no raw double quote; every edge
joins declared nodes; ids are declared once; subgraphs are balanced."""

from __future__ import annotations

import re

HEADER = re.compile(r"flowchart (LR|TD)")
SHAPES = r"(\[\(|\(\(|\[\[|\[/|\{\{|\(\[|\(|\[|\{)\"([^\"]*)\"(\)\]|\)\)|\]\]|/\]|\}\}|\]\)|\)|\]|\})"
NODE = re.compile(rf"(?P<id>[A-Za-z0-9_]+){SHAPES}")
BARE_CIRCLE = re.compile(r"(?P<id>[A-Za-z0-9_]+)\(\((?P<label>[A-Za-z ]+)\)\)")
SUBGRAPH = re.compile(r"subgraph (?P<id>[A-Za-z0-9_]+)\[\"(?P<label>[^\"]*)\"\]")
EDGE = re.compile(
    r"(?P<source>[A-Za-z0-9_]+) (-->|-\.->|==>)(\|\"(?P<label>[^\"]*)\"\|)? (?P<target>[A-Za-z0-9_]+)"
)
OPENING = {
    "[(": ")]",
    "((": "))",
    "[[": "]]",
    "[/": "/]",
    "{{": "}}",
    "([": "])",
    "(": ")",
    "[": "]",
    "{": "}",
}


def check_flowchart(diagram: str) -> list[str]:
    """Problems found in one diagram (empty when it reads cleanly)."""
    lines = diagram.rstrip("\n").split("\n")
    problems, declared, edges, depth = [], [], [], 0
    if not HEADER.fullmatch(lines[0]):
        problems.append(f"header: {lines[0]!r}")
    for line in (raw.strip() for raw in lines[1:]):
        node, circle, group, edge = (p.fullmatch(line) for p in (NODE, BARE_CIRCLE, SUBGRAPH, EDGE))
        if node:
            if OPENING[node.group(2)] != node.group(4):
                problems.append(f"shape not closed as opened: {line!r}")
            declared.append(node.group("id"))
        elif circle or group:
            declared.append((circle or group).group("id"))  # type: ignore[union-attr]
            depth += 1 if group else 0
        elif line == "end":
            depth -= 1
            if depth < 0:
                problems.append("`end` without a subgraph")
        elif edge:
            edges.append((edge.group("source"), edge.group("target")))
        else:
            problems.append(f"unreadable line: {line!r}")
    if depth != 0:
        problems.append(f"{depth} subgraph(s) left open")
    duplicates = sorted({i for i in declared if declared.count(i) > 1})
    if duplicates:
        problems.append(f"declared twice: {duplicates}")
    undeclared = sorted({end for pair in edges for end in pair} - set(declared))
    if undeclared:
        problems.append(f"edges to undeclared ids: {undeclared}")
    return problems


def mermaid_blocks(markdown: str) -> list[str]:
    return re.findall(r"```mermaid\n(.*?)```", markdown, re.S)
