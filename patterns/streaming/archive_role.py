"""The Firehose delivery role of an archive, with exactly what delivery from a Kinesis stream to
S3 uses (AWS, "Controlling access with Amazon Data Firehose": "Grant Firehose access to an
Amazon S3 destination" and "... to a Kinesis data stream as the source").

CDK's S3Bucket destination grants its role the bucket's whole read-write set (including
s3:DeleteObject*) and every kms:* data action on the key; Firehose needs neither, so the
delivery stream is given this role wrapped with `without_policy_updates()`, which drops CDK's
grants, and the policy below is the role's only one.
"""

from __future__ import annotations

from aws_cdk import Aws
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from ..shared.defaults import acknowledge
from ..shared.nag_findings import wildcard_resource

OBJECTS_REASON = (
    "Firehose writes objects under keys it generates from the prefix and the time, so it is "
    "granted PutObject (and multipart clean-up) on this one archive bucket's objects."
)


def delivery_role(
    scope: Construct,
    construct_id: str,
    *,
    stream: kinesis.IStream,
    bucket: s3.IBucket,
    key: kms.IKey,
    group: logs.LogGroup,
) -> tuple[iam.Role, iam.Policy]:
    """The role, and its policy (the delivery stream must be created after the policy: Firehose
    checks its access when it starts)."""
    role = iam.Role(scope, construct_id, assumed_by=iam.ServicePrincipal("firehose.amazonaws.com"))
    objects = bucket.arn_for_objects("*")
    statements = [
        iam.PolicyStatement(
            actions=["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
            resources=[bucket.bucket_arn],
        ),
        iam.PolicyStatement(
            actions=["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"], resources=[objects]
        ),
        iam.PolicyStatement(
            actions=["kms:GenerateDataKey", "kms:Decrypt"],
            resources=[key.key_arn],
            conditions={"StringEquals": {"kms:ViaService": f"s3.{Aws.REGION}.amazonaws.com"}},
        ),
        iam.PolicyStatement(
            actions=[
                "kinesis:DescribeStream",
                "kinesis:GetShardIterator",
                "kinesis:GetRecords",
                "kinesis:ListShards",
            ],
            resources=[stream.stream_arn],
        ),
        iam.PolicyStatement(
            actions=["logs:PutLogEvents"],
            resources=[group.log_group_arn],  # the group's ARN ends in :*, its streams
        ),
    ]
    if stream.encryption_key is not None:
        # An encrypted source stream: Firehose reads it with this role, which must decrypt.
        statements.append(
            iam.PolicyStatement(actions=["kms:Decrypt"], resources=[stream.encryption_key.key_arn])
        )
    policy = iam.Policy(scope, f"{construct_id}Policy", statements=statements, roles=[role])
    acknowledge(policy, wildcard_resource(scope, objects), OBJECTS_REASON)
    return role, policy
