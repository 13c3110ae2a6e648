"""`ReplicaKey`: the customer-managed key of a global table's replica, created in the replica's
Region before the table, and named by an alias so the table's stack in the primary Region names
it by that alias ARN instead of a cross-Region reference (aws/aws-cdk#27902)."""

from __future__ import annotations

import re

from aws_cdk import Stack
from aws_cdk import aws_kms as kms
from constructs import Construct

from ..shared.defaults import Profile, encryption_key
from ..shared.props import PropError, expect

# KMS alias names: `alias/` then letters, digits, /_- ; `alias/aws/` is reserved for AWS keys.
ALIAS_NAME = re.compile(r"^alias/[A-Za-z0-9/_-]{1,250}$")


def check_alias_name(prop: str, value: str) -> str:
    expect(prop, value, str)
    if not ALIAS_NAME.fullmatch(value) or value.startswith("alias/aws/"):
        raise PropError(prop, f"{value!r} is not a KMS alias name such as alias/orders (alias/aws/ is AWS's)")
    return value


def alias_arn(scope: Construct, *, region: str, alias_name: str) -> str:
    """The ARN of alias `alias_name` in `region` of this stack's account: DynamoDB accepts an
    alias ARN wherever it takes a replica's key (ReplicaSSESpecification.KMSMasterKeyId)."""
    return Stack.of(scope).format_arn(service="kms", region=region, resource=alias_name)


class ReplicaKey(Construct):
    """A rotating customer-managed key for a table replica in this Region, and its alias.

    Attributes:
        key: the key (rotation on; removed with the stack in sandbox, retained in production).
        alias: the alias the primary Region's stack names the key by.
    """

    key: kms.Key
    alias: kms.Alias

    def __init__(self, scope: Construct, construct_id: str, *, profile: Profile, alias_name: str) -> None:
        """Create the key and its alias.

        Args:
            profile: sandbox or production: whether the key goes with `cdk destroy` (a
                replica cannot be read without it, so production retains it).
            alias_name: the alias, `alias/<name>`, that the table's replica names the key by.
        """
        super().__init__(scope, construct_id)
        expect("profile", profile, Profile)
        check_alias_name("alias_name", alias_name)
        self.key = encryption_key(
            self, "Key", profile=profile, description=f"Encrypts the table replica {alias_name}"
        )
        self.alias = kms.Alias(self, "Alias", alias_name=alias_name, target_key=self.key)
