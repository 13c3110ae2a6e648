"""The tag by which AWS Backup selects what to protect.

Every pattern marks its stateful resources (tables, databases, buckets that hold data, file
systems) with `mark_for_backup`; the `Backup` stack's plan selects resources by this tag, so a
user's own resources join the plan by carrying the same tag.
"""

from __future__ import annotations

from aws_cdk import Tags
from constructs import IConstruct

BACKUP_TAG_KEY = "refarch:backup"
BACKUP_TAG_VALUE = "daily"


def mark_for_backup(resource: IConstruct) -> None:
    """Tag `resource` (and what it contains) so the Backup stack's plan selects it."""
    Tags.of(resource).add(BACKUP_TAG_KEY, BACKUP_TAG_VALUE)
