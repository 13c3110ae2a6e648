"""BackupProtection in an app of your own: your table joins the plan by its tag, and every
recovery point is copied to a CopyVault in a second Region."""

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from patterns.backup import BackupProtection, CopyVault  # where you copied it, e.g. myapp.constructs.backup
from patterns.shared.backup import mark_for_backup
from patterns.shared.defaults import profile_of

COPY_REGION = "eu-central-1"
COPY_VAULT_NAME = "shop-backup-copy"

app = cdk.App()
cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
profile = profile_of(app)  # sandbox, or production with -c profile=production

# The second Region's vault: its own stack, deployed there. The two meet by name.
copies = cdk.Stack(app, "ShopBackupCopy", env=cdk.Environment(region=COPY_REGION))
copy_vault = CopyVault(copies, "CopyVault", profile=profile, vault_name=COPY_VAULT_NAME)
cdk.CfnOutput(copies, "CopyVaultArn", value=copy_vault.vault.backup_vault_arn)

stack = cdk.Stack(app, "Shop", env=cdk.Environment(region="eu-west-1"))
customers = dynamodb.TableV2(
    stack,
    "Customers",
    partition_key=dynamodb.Attribute(name="customerId", type=dynamodb.AttributeType.STRING),
    point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
        point_in_time_recovery_enabled=True
    ),
)
mark_for_backup(customers)  # tagged refarch:backup=daily: the plan selects it

protection = BackupProtection(
    stack,
    "Backup",
    profile=profile,
    copy_vault_arn=stack.format_arn(
        service="backup",
        region=COPY_REGION,
        resource="backup-vault",
        resource_name=COPY_VAULT_NAME,
        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
    ),
)
cdk.CfnOutput(stack, "AlarmTopicArn", value=protection.alarm_topic.topic_arn)

app.synth()
