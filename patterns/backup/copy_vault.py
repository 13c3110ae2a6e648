"""`CopyVault`: the vault in a second Region that the Backup plan copies recovery points to,
with a key of that Region found by its alias."""

from __future__ import annotations

from aws_cdk import aws_backup as backup
from aws_cdk import aws_kms as kms
from constructs import Construct

from ..shared.defaults import Profile, encryption_key
from ..shared.props import expect
from .construct import COPY_KEY_ALIAS


class CopyVault(Construct):
    """A named vault and its key, so the plan in the first Region addresses both by name.

    Attributes:
        vault: the destination vault.
        key: its customer-managed key (a key belongs to one Region: this one).
    """

    vault: backup.BackupVault
    key: kms.Key

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        profile: Profile,
        vault_name: str,
        key_alias: str = COPY_KEY_ALIAS,
    ) -> None:
        """Build the key, its alias and the vault.

        Args:
            profile: the key's and the vault's removal policy; production also blocks the
                deletion of recovery points.
            vault_name: the vault's name, which the first Region's `copy_vault_arn` names.
            key_alias: the alias the first Region's backup role may use the key by; give
                `BackupProtection` the same `copy_key_alias`. Default: the kit's
                `alias/refarch-backup-copy`.
        """
        super().__init__(scope, construct_id)
        expect("vault_name", vault_name, str)
        expect("key_alias", key_alias, str)
        self.key = encryption_key(
            self, "Key", profile=profile, description=f"Encrypts recovery points copied into {vault_name}"
        )
        self.key.add_alias(key_alias)
        self.vault = backup.BackupVault(
            self,
            "Vault",
            backup_vault_name=vault_name,
            encryption_key=self.key,
            block_recovery_point_deletion=profile.is_production,
            removal_policy=profile.removal_policy,
        )
