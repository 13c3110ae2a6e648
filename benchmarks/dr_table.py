"""The disaster-recovery table: RPO, RTO and idle cost of each strategy the kit synthesizes,
computed from the synthesized templates (tools/dr_table.py), as docs/backup.md shows it."""

from __future__ import annotations

from tools.dr_table import compute


def main() -> None:
    print(compute())
