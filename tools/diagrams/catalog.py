"""What the generator knows about resource types: which are plumbing and whom they serve, what
short name and shape a node gets. A type not listed here is drawn as a plain node."""

from __future__ import annotations

# Never drawn, never counted.
IGNORED = frozenset({"AWS::CDK::Metadata"})

# Plumbing that serves the resource named in one of these properties ("fold up").
FOLD_INTO_REFERENCED: dict[str, tuple[str, ...]] = {
    "AWS::IAM::Policy": ("Roles", "Users", "Groups"),
    "AWS::IAM::ManagedPolicy": ("Roles", "Users", "Groups"),
    "AWS::Lambda::Permission": ("FunctionName",),
    "AWS::Lambda::Version": ("FunctionName",),
    "AWS::Lambda::Alias": ("FunctionName",),
    "AWS::Lambda::Url": ("TargetFunctionArn",),
    "AWS::Lambda::EventSourceMapping": ("FunctionName",),
    "AWS::Lambda::EventInvokeConfig": ("FunctionName",),
    "AWS::SNS::Subscription": ("TopicArn",),
    "AWS::SQS::QueuePolicy": ("Queues",),
    "AWS::SNS::TopicPolicy": ("Topics",),
    "AWS::S3::BucketPolicy": ("Bucket",),
    "AWS::KMS::Alias": ("TargetKeyId",),
    "AWS::CloudWatch::Alarm": ("Dimensions", "Metrics"),
    "AWS::AutoScaling::ScalingPolicy": ("AutoScalingGroupName",),
    "AWS::AutoScaling::LifecycleHook": ("AutoScalingGroupName",),
    "AWS::AutoScaling::ScheduledAction": ("AutoScalingGroupName",),
    "AWS::ApplicationAutoScaling::ScalableTarget": ("ResourceId",),
    "AWS::ApplicationAutoScaling::ScalingPolicy": ("ScalingTargetId", "ResourceId"),
    "AWS::EC2::Subnet": ("VpcId",),
    "AWS::EC2::RouteTable": ("VpcId",),
    "AWS::EC2::Route": ("RouteTableId",),
    "AWS::EC2::SubnetRouteTableAssociation": ("SubnetId",),
    "AWS::EC2::VPCGatewayAttachment": ("VpcId",),
    "AWS::EC2::NatGateway": ("SubnetId",),
    "AWS::EC2::VPCEndpoint": ("VpcId",),
    "AWS::EC2::FlowLog": ("ResourceId",),
    "AWS::EC2::NetworkAcl": ("VpcId",),
    "AWS::EC2::SecurityGroupIngress": ("GroupId",),
    "AWS::EC2::SecurityGroupEgress": ("GroupId",),
    "AWS::ElasticLoadBalancingV2::Listener": ("LoadBalancerArn",),
    "AWS::ElasticLoadBalancingV2::ListenerRule": ("ListenerArn",),
    "AWS::ElasticLoadBalancingV2::ListenerCertificate": ("ListenerArn",),
    "AWS::RDS::DBProxyTargetGroup": ("DBProxyName",),
    "AWS::RDS::DBProxyEndpoint": ("DBProxyName",),
    "AWS::SecretsManager::SecretTargetAttachment": ("SecretId",),
    "AWS::SecretsManager::RotationSchedule": ("SecretId",),
    "AWS::SecretsManager::ResourcePolicy": ("SecretId",),
    "AWS::ApiGateway::Resource": ("RestApiId",),
    "AWS::ApiGateway::Method": ("RestApiId",),
    "AWS::ApiGateway::Deployment": ("RestApiId",),
    "AWS::ApiGateway::Stage": ("RestApiId",),
    "AWS::ApiGateway::Authorizer": ("RestApiId",),
    "AWS::ApiGateway::RequestValidator": ("RestApiId",),
    "AWS::ApiGateway::Model": ("RestApiId",),
    "AWS::ApiGateway::GatewayResponse": ("RestApiId",),
    "AWS::ApiGateway::UsagePlan": ("ApiStages",),
    "AWS::ApiGatewayV2::Route": ("ApiId",),
    "AWS::ApiGateway::UsagePlanKey": ("UsagePlanId",),
    "AWS::Cognito::UserPoolClient": ("UserPoolId",),
    "AWS::Cognito::UserPoolDomain": ("UserPoolId",),
    "AWS::Cognito::UserPoolResourceServer": ("UserPoolId",),
    "AWS::Cognito::UserPoolGroup": ("UserPoolId",),
    "AWS::CloudWatch::CompositeAlarm": ("AlarmRule",),
    "AWS::ApiGatewayV2::Integration": ("ApiId",),
    "AWS::ApiGatewayV2::Stage": ("ApiId",),
    "AWS::ApiGatewayV2::Authorizer": ("ApiId",),
    "AWS::ApiGatewayV2::Deployment": ("ApiId",),
    "AWS::WAFv2::WebACLAssociation": ("ResourceArn",),
    "AWS::Logs::MetricFilter": ("LogGroupName",),
    "AWS::Logs::SubscriptionFilter": ("LogGroupName",),
    "AWS::EC2::EIP": ("InstanceId",),
    # No reference to what they serve: folded by construct path.
    "AWS::ApiGateway::Account": (),
}

# Plumbing that serves whoever refers to it ("fold down").
FOLD_INTO_REFERRER = frozenset(
    {
        "AWS::IAM::Role",
        "AWS::IAM::InstanceProfile",
        "AWS::Logs::LogGroup",
        "AWS::EC2::LaunchTemplate",
        "AWS::AutoScaling::LaunchConfiguration",
        "AWS::EC2::SecurityGroup",
        "AWS::EC2::InternetGateway",
        "AWS::EC2::EIP",
        "AWS::RDS::DBSubnetGroup",
        "AWS::RDS::DBParameterGroup",
        "AWS::RDS::DBClusterParameterGroup",
        "AWS::RDS::OptionGroup",
        "AWS::ElastiCache::SubnetGroup",
        "AWS::ElastiCache::ParameterGroup",
        "AWS::SecretsManager::Secret",
        "AWS::Lambda::LayerVersion",
        "AWS::KMS::Key",
        "AWS::IAM::ManagedPolicy",
        "AWS::ECS::TaskDefinition",
        "AWS::ApiGateway::ApiKey",
    }
)

# Nodes whose references are not connections: a dashboard names what it charts.
NO_REFERENCE_EDGES = frozenset({"AWS::CloudWatch::Dashboard"})

# Types whose references never make them the owner of what they refer to: policies grant,
# alarms watch, ingress rules connect, key policies name principals.
NEVER_OWNS = frozenset(
    {
        "AWS::IAM::Policy",
        "AWS::IAM::ManagedPolicy",
        "AWS::SQS::QueuePolicy",
        "AWS::SNS::TopicPolicy",
        "AWS::S3::BucketPolicy",
        "AWS::SecretsManager::ResourcePolicy",
        "AWS::Lambda::Permission",
        "AWS::CloudWatch::Alarm",
        "AWS::CloudWatch::CompositeAlarm",
        "AWS::CloudWatch::Dashboard",
        "AWS::EC2::SecurityGroupIngress",
        "AWS::EC2::SecurityGroupEgress",
        "AWS::EC2::SecurityGroup",
        "AWS::KMS::Key",
        "AWS::IAM::Role",
    }
)

# Plumbing that becomes edges (drawn by tools.diagrams.edges), not a folded note.
CONNECTORS = frozenset(
    {
        "AWS::SNS::Subscription",
        "AWS::Lambda::EventSourceMapping",
        "AWS::Lambda::EventInvokeConfig",
        "AWS::ElasticLoadBalancingV2::Listener",
        "AWS::ElasticLoadBalancingV2::ListenerRule",
        "AWS::RDS::DBProxyTargetGroup",
        "AWS::EC2::SecurityGroupIngress",
        "AWS::ApiGateway::Method",
        "AWS::ApiGatewayV2::Route",
        "AWS::ApiGatewayV2::Integration",
        "AWS::ApiGateway::Authorizer",
        "AWS::ApiGatewayV2::Authorizer",
        "AWS::WAFv2::WebACLAssociation",
    }
)

CUSTOM_RESOURCE = "AWS::CloudFormation::CustomResource"
SUBNET = "AWS::EC2::Subnet"
VPC = "AWS::EC2::VPC"

# Short names for labels and folded notes; otherwise the type itself.
KIND = {
    "AWS::IAM::Role": "role",
    "AWS::IAM::Policy": "policy",
    "AWS::IAM::ManagedPolicy": "managed policy",
    "AWS::IAM::InstanceProfile": "instance profile",
    "AWS::Lambda::Permission": "invoke permission",
    "AWS::Lambda::Alias": "alias",
    "AWS::Lambda::Version": "version",
    "AWS::Lambda::EventSourceMapping": "event source mapping",
    "AWS::SNS::Subscription": "subscription",
    "AWS::Lambda::Function": "Lambda function",
    "AWS::Logs::LogGroup": "log group",
    "AWS::SQS::Queue": "SQS queue",
    "AWS::SQS::QueuePolicy": "queue policy",
    "AWS::SNS::Topic": "SNS topic",
    "AWS::SNS::TopicPolicy": "topic policy",
    "AWS::KMS::Key": "KMS key",
    "AWS::KMS::Alias": "key alias",
    "AWS::CloudWatch::Alarm": "alarm",
    "AWS::DynamoDB::Table": "DynamoDB table",
    "AWS::DynamoDB::GlobalTable": "DynamoDB table",
    "AWS::S3::Bucket": "S3 bucket",
    "AWS::S3::BucketPolicy": "bucket policy",
    "AWS::StepFunctions::StateMachine": "state machine",
    "AWS::ApiGateway::RestApi": "REST API",
    "AWS::ApiGatewayV2::Api": "HTTP API",
    "AWS::ElasticLoadBalancingV2::LoadBalancer": "load balancer",
    "AWS::ElasticLoadBalancingV2::TargetGroup": "target group",
    "AWS::AutoScaling::AutoScalingGroup": "Auto Scaling group",
    "AWS::AutoScaling::ScalingPolicy": "scaling policy",
    "AWS::EC2::LaunchTemplate": "launch template",
    "AWS::AutoScaling::LaunchConfiguration": "launch configuration",
    "AWS::EC2::SecurityGroup": "security group",
    "AWS::EC2::SecurityGroupIngress": "ingress rule",
    "AWS::EC2::SecurityGroupEgress": "egress rule",
    "AWS::EC2::Subnet": "subnet",
    "AWS::EC2::RouteTable": "route table",
    "AWS::EC2::Route": "route",
    "AWS::EC2::SubnetRouteTableAssociation": "route table association",
    "AWS::EC2::NatGateway": "NAT gateway",
    "AWS::EC2::EIP": "elastic IP",
    "AWS::EC2::InternetGateway": "internet gateway",
    "AWS::EC2::VPCGatewayAttachment": "gateway attachment",
    "AWS::EC2::VPCEndpoint": "VPC endpoint",
    "AWS::EC2::FlowLog": "flow log",
    "AWS::RDS::DBInstance": "RDS instance",
    "AWS::RDS::DBCluster": "Aurora cluster",
    "AWS::RDS::DBProxy": "RDS Proxy",
    "AWS::RDS::DBSubnetGroup": "subnet group",
    "AWS::RDS::DBParameterGroup": "parameter group",
    "AWS::ElastiCache::ReplicationGroup": "ElastiCache replication group",
    "AWS::ElastiCache::CacheCluster": "ElastiCache cluster",
    "AWS::ElastiCache::ServerlessCache": "ElastiCache serverless",
    "AWS::ElastiCache::SubnetGroup": "subnet group",
    "AWS::SecretsManager::Secret": "secret",
    "AWS::SecretsManager::SecretTargetAttachment": "secret attachment",
    "AWS::SecretsManager::RotationSchedule": "rotation schedule",
    "AWS::SecretsManager::ResourcePolicy": "secret policy",
    "AWS::Events::Rule": "EventBridge rule",
    "AWS::Events::EventBus": "event bus",
    "AWS::ApiGateway::Resource": "API resource",
    "AWS::ApiGateway::Deployment": "deployment",
    "AWS::ApiGateway::Stage": "stage",
    "AWS::ApiGateway::GatewayResponse": "gateway response",
    "AWS::ApiGateway::Model": "model",
    "AWS::ApiGateway::RequestValidator": "request validator",
    "AWS::ApiGateway::UsagePlan": "usage plan",
    "AWS::ApiGateway::UsagePlanKey": "usage plan key",
    "AWS::ApiGateway::ApiKey": "API key",
    "AWS::AutoScaling::LifecycleHook": "lifecycle hook",
    "AWS::ApiGateway::Method": "method",
    "AWS::ApiGateway::Authorizer": "authorizer",
    "AWS::ApiGatewayV2::Stage": "stage",
    "AWS::ApiGatewayV2::Route": "route",
    "AWS::ApiGatewayV2::Integration": "integration",
    "AWS::ApiGatewayV2::Authorizer": "authorizer",
    "AWS::ApiGatewayV2::Deployment": "deployment",
    "AWS::ApiGateway::Account": "API Gateway account",
    "AWS::CloudFormation::CustomResource": "custom resource",
    "AWS::Cognito::UserPool": "user pool",
    "AWS::Cognito::UserPoolClient": "user pool client",
    "AWS::Cognito::UserPoolDomain": "user pool domain",
    "AWS::WAFv2::WebACL": "web ACL",
    "AWS::CloudWatch::Dashboard": "dashboard",
    "AWS::CloudWatch::CompositeAlarm": "composite alarm",
    "AWS::ECS::Cluster": "ECS cluster",
    "AWS::ECS::Service": "ECS service",
    "AWS::ECS::TaskDefinition": "task definition",
    "AWS::ApplicationAutoScaling::ScalableTarget": "scalable target",
    "AWS::ApplicationAutoScaling::ScalingPolicy": "scaling policy",
}

# Mermaid shapes (opening, closing) by type; the default is a rectangle.
STORE = ("[(", ")]")
SHAPE = {
    "AWS::SQS::Queue": ("[/", "/]"),
    "AWS::SNS::Topic": ("{{", "}}"),
    "AWS::Events::EventBus": ("{{", "}}"),
    "AWS::Lambda::Function": ("(", ")"),
    "AWS::StepFunctions::StateMachine": ("[[", "]]"),
    "AWS::DynamoDB::Table": STORE,
    "AWS::DynamoDB::GlobalTable": STORE,
    "AWS::S3::Bucket": STORE,
    "AWS::RDS::DBInstance": STORE,
    "AWS::RDS::DBCluster": STORE,
    "AWS::ElastiCache::ReplicationGroup": STORE,
    "AWS::ElastiCache::CacheCluster": STORE,
    "AWS::ElastiCache::ServerlessCache": STORE,
}


def kind(resource_type: str) -> str:
    if resource_type.startswith("Custom::"):
        return "custom resource"
    return KIND.get(resource_type, resource_type)


def is_custom_resource(resource_type: str) -> bool:
    return resource_type == CUSTOM_RESOURCE or resource_type.startswith("Custom::")
