"""Text made safe for Mermaid."""

from __future__ import annotations

import re


def text(value: str) -> str:
    """A label safe inside Mermaid double quotes."""
    return value.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def slug(value: str) -> str:
    """An identifier Mermaid accepts, from any name."""
    return re.sub(r"[^A-Za-z0-9]+", "_", value).strip("_")


# Words Mermaid's flowchart grammar reserves: never usable as a node id.
RESERVED = frozenset(
    {"end", "subgraph", "graph", "flowchart", "style", "class", "classdef", "click", "default"}
)
