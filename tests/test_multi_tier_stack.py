"""The multi-tier constructs, each built alone, and the MultiTier stack, in both profiles."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import Duration
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_ec2 as ec2
from aws_cdk.assertions import Template

from patterns.multi_tier import DataTier, Network, ValkeyCache, WebTier
from tests.kit import PROFILES, bare_stack, one, path_of, resources, template_json
from tests.local_servers import load_web_app

CERTIFICATE = "arn:aws:acm:eu-west-1:123456789012:certificate/11111111-2222-3333-4444-555555555555"


def profile_context(profile: str) -> dict[str, Any]:
    return {"profile": profile}


def imported_vpc(stack: cdk.Stack) -> ec2.IVpc:
    """An existing VPC (nothing created), as a user who has one would pass it."""
    zones = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    return ec2.Vpc.from_vpc_attributes(
        stack,
        "Existing",
        vpc_id="vpc-12345678",
        vpc_cidr_block="10.1.0.0/16",
        availability_zones=zones,
        public_subnet_ids=["subnet-0a00000000000001", "subnet-0a00000000000002", "subnet-0a00000000000003"],
        private_subnet_ids=["subnet-0b00000000000001", "subnet-0b00000000000002", "subnet-0b00000000000003"],
        isolated_subnet_ids=["subnet-0c00000000000001", "subnet-0c00000000000002", "subnet-0c00000000000003"],
    )


def synth(stack: cdk.Stack) -> dict[str, Any]:
    """The template, through the security gate (an unacknowledged finding raises)."""
    return Template.from_stack(stack).to_json()


def props(resource: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    return resource[1]["Properties"]


# -- Network ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("profile", "zones", "nats"), [("sandbox", 2, 1), ("production", 3, 3)])
def test_network_spreads_three_subnet_tiers_over_the_profiles_azs(
    profile: str, zones: int, nats: int
) -> None:
    stack = bare_stack(profile_context(profile))
    Network(stack, "Network")
    doc = synth(stack)
    subnets = [r for _, r in resources(doc, "AWS::EC2::Subnet")]
    assert len(subnets) == 3 * zones
    assert {json.dumps(s["Properties"]["AvailabilityZone"]) for s in subnets} == {
        json.dumps({"Fn::Select": [i, {"Fn::GetAZs": ""}]}) for i in range(zones)
    }
    assert len(list(resources(doc, "AWS::EC2::NatGateway"))) == nats
    isolated_routes = [
        r for _, r in resources(doc, "AWS::EC2::Route", "/IsolatedSubnet")
    ]  # isolated subnets: no route out at all
    assert isolated_routes == []
    flow_log = props(one(doc, "AWS::EC2::FlowLog", "Network/Vpc/FlowLog"))
    assert flow_log["TrafficType"] == "ALL"
    endpoints = [props((i, r)) for i, r in resources(doc, "AWS::EC2::VPCEndpoint")]
    services = {json.dumps(e["ServiceName"]) for e in endpoints}
    interface = [e for e in endpoints if e["VpcEndpointType"] == "Interface"]
    assert len(interface) == 5
    assert all(len(e["SubnetIds"]) == (zones if profile == "production" else 1) for e in interface)
    for name in ("ssm", "ssmmessages", "ec2messages", "secretsmanager", "logs", "s3"):
        assert any(f".{name}" in s for s in services), name
    for _, group in resources(doc, "AWS::EC2::SecurityGroup", "Network/Vpc/"):
        for rule in group["Properties"].get("SecurityGroupIngress", []):
            assert rule["CidrIp"] == "10.0.0.0/16" and rule["FromPort"] == 443


def test_network_refuses_one_az_and_more_nat_gateways_than_azs() -> None:
    with pytest.raises(ValueError, match=r"az_count: must be between 2 and 6"):
        Network(bare_stack(), "Network", az_count=1)
    with pytest.raises(ValueError, match=r"nat_gateways: must be between 1 and 2, got 3"):
        Network(bare_stack(), "Network", nat_gateways=3)


# -- WebTier ------------------------------------------------------------------------------------


def web_tier(profile: str, **kwargs: Any) -> tuple[cdk.Stack, WebTier]:
    stack = bare_stack(profile_context(profile))
    tier = WebTier(stack, "Web", vpc=imported_vpc(stack), user_data=ec2.UserData.for_linux(), **kwargs)
    return stack, tier


def test_web_tier_sandbox_without_certificate_serves_plain_http_only() -> None:
    stack, _ = web_tier("sandbox")
    doc = synth(stack)
    listeners = [props(r) for r in resources(doc, "AWS::ElasticLoadBalancingV2::Listener")]
    assert [(listener["Port"], listener["Protocol"]) for listener in listeners] == [(80, "HTTP")]
    bucket = one(doc, "AWS::S3::Bucket", "Web/AccessLogs")
    assert bucket[1]["DeletionPolicy"] == "Delete"
    assert list(resources(doc, "Custom::S3AutoDeleteObjects")), "sandbox buckets empty themselves on destroy"


def test_web_tier_with_a_certificate_serves_https_and_redirects_http() -> None:
    stack = bare_stack(profile_context("production"))
    certificate = acm.Certificate.from_certificate_arn(stack, "Certificate", CERTIFICATE)
    WebTier(
        stack, "Web", vpc=imported_vpc(stack), user_data=ec2.UserData.for_linux(), certificate=certificate
    )
    doc = synth(stack)
    listeners = {
        listener["Port"]: listener
        for listener in map(props, resources(doc, "AWS::ElasticLoadBalancingV2::Listener"))
    }
    assert listeners[443]["Protocol"] == "HTTPS"
    assert listeners[443]["Certificates"] == [{"CertificateArn": CERTIFICATE}]
    assert listeners[80]["DefaultActions"][0]["Type"] == "redirect"
    assert listeners[80]["DefaultActions"][0]["RedirectConfig"]["Protocol"] == "HTTPS"
    assert one(doc, "AWS::S3::Bucket", "Web/AccessLogs")[1]["DeletionPolicy"] == "Retain"


def test_web_tier_production_without_a_certificate_fails_naming_the_prop() -> None:
    with pytest.raises(ValueError, match="certificate: the production profile serves HTTPS only"):
        web_tier("production")


def test_web_tier_load_balancer_drops_invalid_headers_and_logs_to_an_sse_s3_bucket() -> None:
    stack, _ = web_tier("sandbox")
    doc = synth(stack)
    attributes = {
        a["Key"]: a["Value"]
        for a in props(one(doc, "AWS::ElasticLoadBalancingV2::LoadBalancer", "Web/LoadBalancer"))[
            "LoadBalancerAttributes"
        ]
    }
    assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"
    assert attributes["access_logs.s3.enabled"] == "true"
    bucket = props(one(doc, "AWS::S3::Bucket", "Web/AccessLogs"))
    encryption = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    policy = json.dumps(props(one(doc, "AWS::S3::BucketPolicy", "Web/AccessLogs")))
    assert "logdelivery.elasticloadbalancing.amazonaws.com" in policy
    assert "ElbLogAccounts" in policy  # the regional ELB account, chosen at deploy time
    accounts = next(m for name, m in doc["Mappings"].items() if "ElbLogAccounts" in name)
    assert accounts["eu-west-1"] == {"account": "156460612806"}  # AWS's documented ELB account
    assert "il-central-1" not in accounts  # newer regions: the log-delivery service principal
    group = props(one(doc, "AWS::ElasticLoadBalancingV2::TargetGroup", "Web/LoadBalancer/Http/AppGroup"))
    assert group["HealthCheckPath"] == "/health"
    # The app answers /health within its own deadline, with time to spare before the ALB gives up.
    assert group["HealthCheckTimeoutSeconds"] >= load_web_app()["server"].HEALTH_TIMEOUT + 2
    assert {"Key": "deregistration_delay.timeout_seconds", "Value": "30"} in group["TargetGroupAttributes"]


def test_web_tier_instances_are_private_imdsv2_encrypted_and_reachable_only_from_the_alb() -> None:
    stack, tier = web_tier("sandbox", min_capacity=2, max_capacity=4)
    doc = synth(stack)
    template = props(one(doc, "AWS::EC2::LaunchTemplate", "Web/LaunchTemplate"))["LaunchTemplateData"]
    assert template["MetadataOptions"]["HttpTokens"] == "required"
    assert all(d["Ebs"]["Encrypted"] for d in template["BlockDeviceMappings"])
    _, group = one(doc, "AWS::AutoScaling::AutoScalingGroup", "Web/Instances")
    assert group["Properties"]["VPCZoneIdentifier"] == [
        "subnet-0b00000000000001",
        "subnet-0b00000000000002",
        "subnet-0b00000000000003",
    ]
    assert group["Properties"]["HealthCheckType"] == "ELB"
    assert group["Properties"]["HealthCheckGracePeriod"] == 300
    assert (group["Properties"]["MinSize"], group["Properties"]["MaxSize"]) == ("2", "4")
    rolling = group["UpdatePolicy"]["AutoScalingRollingUpdate"]
    assert (rolling["MaxBatchSize"], rolling["MinInstancesInService"]) == (1, 2)
    scaling = props(
        one(doc, "AWS::AutoScaling::ScalingPolicy", "Web/Instances/ScalingPolicyRequestsPerTarget")
    )
    metric = scaling["TargetTrackingConfiguration"]["PredefinedMetricSpecification"]
    assert metric["PredefinedMetricType"] == "ALBRequestCountPerTarget"
    instance_group = stack.resolve(tier.security_group.security_group_id)["Fn::GetAtt"][0]
    ingress = [
        props(r)
        for r in resources(doc, "AWS::EC2::SecurityGroupIngress")
        if props(r)["GroupId"] == {"Fn::GetAtt": [instance_group, "GroupId"]}
    ]
    assert len(ingress) == 1 and ingress[0]["FromPort"] == 8080
    assert "Web/LoadBalancer/SecurityGroup" in path_of(
        doc["Resources"][ingress[0]["SourceSecurityGroupId"]["Fn::GetAtt"][0]]
    )
    assert "SecurityGroupIngress" not in doc["Resources"][instance_group]["Properties"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_capacity": 0}, "min_capacity: must be at least 1"),
        ({"min_capacity": 2, "max_capacity": 2}, r"max_capacity: must be above min_capacity \(2\)"),
        ({"app_port": 80}, "app_port: must be an unprivileged port"),
        ({"health_check_path": "health"}, "health_check_path: must start with '/'"),
        ({"deregistration_delay": Duration.hours(2)}, "deregistration_delay: ALB accepts 0 to 3600"),
        # checked in sandbox too, where no web ACL is built: the prop must not pass silently
        ({"waf_rate_limit_per_ip": 5}, "waf_rate_limit_per_ip: WAF allows 10 or more, got 5"),
        ({"deep_health_path": "health/deep"}, "deep_health_path: must start with '/'"),
    ],
)
def test_web_tier_rejects_contradictory_props(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        web_tier("sandbox", **kwargs)


# -- DataTier -----------------------------------------------------------------------------------


def data_tier(profile: str, **kwargs: Any) -> cdk.Stack:
    stack = bare_stack(profile_context(profile))
    DataTier(stack, "Data", vpc=imported_vpc(stack), **kwargs)
    return stack


@pytest.mark.parametrize("profile", PROFILES)
def test_data_tier_writer_is_encrypted_isolated_iam_enabled_on_a_non_default_port(profile: str) -> None:
    doc = synth(data_tier(profile))
    production = profile == "production"
    writer = one(doc, "AWS::RDS::DBInstance", "Data/Writer/")
    p = writer[1]["Properties"]
    assert p["Engine"] == "postgres" and p["EngineVersion"].count(".") == 1
    assert (p["Port"], p["StorageEncrypted"], p["EnableIAMDatabaseAuthentication"]) == ("5438", True, True)
    assert p["PubliclyAccessible"] is False
    assert p["MultiAZ"] is True  # both profiles: the sandbox shows the failover too
    assert p["DeletionProtection"] is production
    assert p["BackupRetentionPeriod"] == (14 if production else 1)
    assert writer[1]["DeletionPolicy"] == ("Snapshot" if production else "Delete")
    subnets = props(one(doc, "AWS::RDS::DBSubnetGroup", "Data/Writer/"))["SubnetIds"]
    assert subnets == ["subnet-0c00000000000001", "subnet-0c00000000000002", "subnet-0c00000000000003"]
    parameters = props(one(doc, "AWS::RDS::DBParameterGroup", "Data/Parameters"))["Parameters"]
    assert parameters["rds.force_ssl"] == "1"
    rotation = props(one(doc, "AWS::SecretsManager::RotationSchedule", "Data/Writer/Secret"))
    assert rotation["HostedRotationLambda"]["RotationType"] == "PostgreSQLSingleUser"
    assert rotation["RotationRules"]["ScheduleExpression"] == "rate(30 days)"
    # the transform's rotation function logs to a group this stack owns
    _, group = one(doc, "AWS::Logs::LogGroup", "Data/RotationLogs")
    function_name = rotation["HostedRotationLambda"]["RotationLambdaName"]
    assert group["Properties"]["LogGroupName"] == f"/aws/lambda/{function_name}"
    assert group["DeletionPolicy"] == ("Retain" if production else "Delete")
    proxy = props(one(doc, "AWS::RDS::DBProxy", "Data/Writer/Proxy"))
    assert proxy["RequireTLS"] is True and proxy["EngineFamily"] == "POSTGRESQL"
    proxy_group = props(one(doc, "AWS::EC2::SecurityGroup", "Data/ProxySecurityGroup"))
    assert [(e["CidrIp"], e["FromPort"]) for e in proxy_group["SecurityGroupEgress"]] == [
        ("10.1.0.0/16", 443)
    ]
    secret = one(doc, "AWS::SecretsManager::Secret", "Data/Writer/Secret")[1]
    assert secret["DeletionPolicy"] == ("Retain" if production else "Delete")


@pytest.mark.parametrize(("profile", "count"), [("sandbox", 1), ("production", 2)])
def test_data_tier_read_replicas_follow_the_writer_and_are_monitored(profile: str, count: int) -> None:
    doc = synth(data_tier(profile))
    writer_id, _ = one(doc, "AWS::RDS::DBInstance", "Data/Writer/")
    replicas = [r for _, r in resources(doc, "AWS::RDS::DBInstance", "Data/Replica")]
    assert len(replicas) == count
    for index, replica in enumerate(replicas, start=1):
        p = replica["Properties"]
        assert writer_id in json.dumps(p["SourceDBInstanceIdentifier"])
        assert p["Port"] == "5438"
        # enhanced monitoring (into the account-wide RDSOSMetrics group) only in production
        assert p.get("MonitoringInterval") == (60 if profile == "production" else None)
        if profile == "production":
            assert p["AvailabilityZone"] == ["eu-west-1a", "eu-west-1b", "eu-west-1c"][index % 3]
        # a copy of the writer: deleted with the stack even in production (the writer's
        # final snapshot keeps the data), so no replica is left billing
        assert replica["DeletionPolicy"] == "Delete"
    lag_alarms = [props(r) for r in resources(doc, "AWS::CloudWatch::Alarm", "Lag")]
    assert len(lag_alarms) == count and all(a["MetricName"] == "ReplicaLag" for a in lag_alarms)


@pytest.mark.parametrize("profile", PROFILES)
def test_data_tier_cache_is_encrypted_authenticated_and_fails_over_in_production(profile: str) -> None:
    doc = synth(data_tier(profile))
    production = profile == "production"
    cache_id, cache = one(doc, "AWS::ElastiCache::ReplicationGroup", "Data/Cache")
    p = cache["Properties"]
    assert p["Engine"] == "valkey" and p["Port"] == 6380
    assert (p["AtRestEncryptionEnabled"], p["TransitEncryptionEnabled"]) == (True, True)
    assert "AuthToken" not in p and len(p["UserGroupIds"]) == 1  # IAM auth: see tests/test_data_tier.py
    assert p["AutomaticFailoverEnabled"] is production and p["MultiAZEnabled"] is production
    assert p["NumCacheClusters"] == (3 if production else 1)
    assert cache.get("DeletionPolicy", "Delete") == ("Snapshot" if production else "Delete")
    evictions = [props(r) for r in resources(doc, "AWS::CloudWatch::Alarm", "Evictions")]
    assert len(evictions) == p["NumCacheClusters"]
    assert all(cache_id in json.dumps(a["Dimensions"]) for a in evictions)


def test_data_tier_alarms_watch_cpu_storage_lag_and_evictions() -> None:
    doc = synth(data_tier("sandbox", read_replicas=2))
    metrics = sorted(props(r)["MetricName"] for r in resources(doc, "AWS::CloudWatch::Alarm", "Data/"))
    assert metrics == sorted(
        ["CPUUtilization"] * 3 + ["FreeStorageSpace", "ReplicaLag", "ReplicaLag", "Evictions"]
    )
    for _, alarm in resources(doc, "AWS::CloudWatch::Alarm", "Data/"):
        assert alarm["Properties"]["AlarmActions"], path_of(alarm)


def test_data_tier_allow_from_opens_the_proxy_replicas_and_cache_to_one_peer_only_never_the_writer() -> None:
    stack = bare_stack()
    vpc = imported_vpc(stack)
    tier = DataTier(stack, "Data", vpc=vpc)
    app_group = ec2.SecurityGroup(stack, "App", vpc=vpc)
    tier.allow_from(app_group)
    doc = synth(stack)
    app_id = stack.resolve(app_group.security_group_id)["Fn::GetAtt"][0]
    opened = sorted(
        (path_of(doc["Resources"][props(r)["GroupId"]["Fn::GetAtt"][0]]).split("/")[2], props(r)["FromPort"])
        for r in resources(doc, "AWS::EC2::SecurityGroupIngress")
        if props(r).get("SourceSecurityGroupId") == {"Fn::GetAtt": [app_id, "GroupId"]}
    )
    assert opened == [
        ("Cache", 6380),
        ("ProxySecurityGroup", 5432),  # RDS Proxy's port: see tests/test_data_tier.py
        ("ReplicaSecurityGroup", 5438),
    ]
    writer_group, _ = one(doc, "AWS::EC2::SecurityGroup", "Data/DatabaseSecurityGroup/")
    writer_sources = sorted(
        path_of(doc["Resources"][props(r)["SourceSecurityGroupId"]["Fn::GetAtt"][0]]).split("/")[2]
        for r in resources(doc, "AWS::EC2::SecurityGroupIngress")
        if props(r)["GroupId"] == {"Fn::GetAtt": [writer_group, "GroupId"]}
    )
    assert writer_sources == ["ProxySecurityGroup", "RotationSecurityGroup"]


@pytest.mark.parametrize(
    ("profile", "kwargs", "message"),
    [
        ("sandbox", {"database_port": 5432}, "database_port: 5432 is PostgreSQL's default port"),
        ("sandbox", {"cache_port": 6379}, "cache_port: 6379 is Valkey's default port"),
        ("sandbox", {"read_replicas": 16}, "read_replicas: must be between 0 and 15"),
        ("sandbox", {"backup_retention": Duration.hours(1)}, "backup_retention: must be whole days"),
        ("sandbox", {"rotation": Duration.days(400)}, "rotation: must be between 1 and 365 days"),
        ("sandbox", {"max_allocated_storage_gib": 20}, "max_allocated_storage_gib: must be above"),
        ("production", {"multi_az": False}, "multi_az: the production profile keeps the writer Multi-AZ"),
        ("production", {"cache_replicas": 0}, "cache_replicas: the production profile needs at least one"),
    ],
)
def test_data_tier_rejects_contradictory_props(profile: str, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        data_tier(profile, **kwargs)


def test_valkey_cache_alone_creates_its_own_key_and_alarm_topic() -> None:
    stack = bare_stack()
    ValkeyCache(stack, "Cache", vpc=imported_vpc(stack))
    doc = synth(stack)
    group = props(one(doc, "AWS::ElastiCache::ReplicationGroup", "Cache/ReplicationGroup"))
    key_id, _ = one(doc, "AWS::KMS::Key", "Cache/Key")
    assert group["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    subnets = props(one(doc, "AWS::ElastiCache::SubnetGroup", "Cache/Subnets"))["SubnetIds"]
    assert subnets == ["subnet-0c00000000000001", "subnet-0c00000000000002", "subnet-0c00000000000003"]
    alarm = props(one(doc, "AWS::CloudWatch::Alarm", "Cache/Node1Evictions"))
    topic_id, _ = one(doc, "AWS::SNS::Topic", "Cache/AlarmTopic")
    assert alarm["AlarmActions"] == [{"Ref": topic_id}]


@pytest.mark.parametrize(
    ("profile", "kwargs", "message"),
    [
        ("sandbox", {"port": 6379}, "port: 6379 is Valkey's default port"),
        ("sandbox", {"replicas": 6}, "replicas: must be between 0 and 5"),
        ("production", {"replicas": 0}, "replicas: the production profile needs at least one"),
    ],
)
def test_valkey_cache_rejects_contradictory_props(profile: str, kwargs: dict[str, Any], message: str) -> None:
    stack = bare_stack(profile_context(profile))
    with pytest.raises(ValueError, match=message):
        ValkeyCache(stack, "Cache", vpc=imported_vpc(stack), **kwargs)


# -- the MultiTier stack ------------------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_stack_wires_web_instances_to_the_data_tier_and_installs_the_app(profile: str) -> None:
    doc = template_json("MultiTier", profile)
    template = json.dumps(props(one(doc, "AWS::EC2::LaunchTemplate", "Web/LaunchTemplate")))
    for setting in ("DB_WRITER_HOST=", "DB_READER_HOSTS=", "DB_SECRET_ARN=", "CACHE_HOST=", "CACHE_TLS=1"):
        assert setting in template, setting
    assert "systemctl enable --now web_app.service" in template
    role_policy = json.dumps(props(one(doc, "AWS::IAM::Policy", "Web/InstanceRole/DefaultPolicy")))
    assert "s3:GetObject" in role_policy and "secretsmanager:GetSecretValue" in role_policy
    assert "s3:*" not in role_policy and '"Resource": "*"' not in role_policy
    assert set(doc["Outputs"]) >= {
        "Url",
        "AlarmTopicArn",
        "ScalingNotificationsTopicArn",
        "WriterProxyEndpoint",
        "AutoScalingGroupName",
    }


@pytest.mark.parametrize("profile", PROFILES)
def test_stack_load_balancer_asks_the_shallow_check_and_boot_waits_for_the_deep_one(profile: str) -> None:
    """AWS Builders' Library, "Implementing health checks": a load balancer's check that follows
    a shared dependency takes every instance out at once when that dependency fails (a Multi-AZ
    failover lasts 60-120 s), and the group then replaces them all; the check must report the
    instance and fail open on dependencies. Dependencies are checked where failing is safe:
    before a new instance signals ready, and by the per-instance metric."""
    doc = template_json("MultiTier", profile)
    group = props(one(doc, "AWS::ElasticLoadBalancingV2::TargetGroup", "Web/LoadBalancer/"))
    boot = json.dumps(props(one(doc, "AWS::EC2::LaunchTemplate", "Web/LaunchTemplate")))
    assert group["HealthCheckPath"] == "/health"
    assert "localhost:8080/health/deep; then status=SUCCESS" in boot
    assert "localhost:8080/health/deep; then value=1" in boot
    _, asg = one(doc, "AWS::AutoScaling::AutoScalingGroup", "Web/Instances")
    assert asg["Properties"]["HealthCheckType"] == "ELB"
    alarms = {path_of(r).split("/")[-2] for _, r in resources(doc, "AWS::CloudWatch::Alarm", "Web/")}
    assert {"UnhealthyHosts", "DependenciesDown"} <= alarms


def test_stack_asks_for_a_certificate_in_production_only() -> None:
    assert "CertificateArn" in template_json("MultiTier", "production")["Parameters"]
    assert "CertificateArn" not in template_json("MultiTier", "sandbox")["Parameters"]
    https = [
        props(r)
        for r in resources(template_json("MultiTier", "production"), "AWS::ElasticLoadBalancingV2::Listener")
        if props(r)["Port"] == 443
    ]
    assert https and https[0]["Certificates"] == [{"CertificateArn": {"Ref": "CertificateArn"}}]


def test_stack_alarms_cover_hosts_errors_latency_and_every_data_signal() -> None:
    doc = template_json("MultiTier", "production")
    names = {path_of(r).split("/")[-2] for _, r in resources(doc, "AWS::CloudWatch::Alarm")}
    assert {
        "UnhealthyHosts",
        "ServerErrorRate",
        "TargetResponseTime",
        "WriterCpu",
        "WriterFreeStorage",
    } <= names
    assert {"Replica1Lag", "Replica2Lag", "Node1Evictions", "Node3Evictions"} <= names
    error_rate = props(one(doc, "AWS::CloudWatch::Alarm", "Web/ServerErrorRate"))
    expression = next(m["Expression"] for m in error_rate["Metrics"] if "Expression" in m)
    assert "target5xx" in expression and "elb5xx" in expression


@pytest.mark.parametrize("profile", PROFILES)
def test_the_deep_check_answers_only_on_the_instance_and_its_silence_is_an_alarm(profile: str) -> None:
    """ALB listener rules are evaluated in priority order before the default action
    (Elastic Load Balancing User Guide, "Listener rules"): a fixed-response rule for the deep
    path keeps what is down from anyone on the internet, while the instances ask it on
    localhost. CloudWatch treats a period without data as the alarm's TreatMissingData says
    (CloudWatch User Guide, "Configuring how alarms treat missing data"): with notBreaching, a
    fleet where no instance is ready to report would look healthy."""
    doc = template_json("MultiTier", profile)
    rules = [r["Properties"] for _, r in resources(doc, "AWS::ElasticLoadBalancingV2::ListenerRule", "Web/")]
    [hidden] = [
        rule
        for rule in rules
        if any("/health/deep" in c.get("PathPatternConfig", {}).get("Values", []) for c in rule["Conditions"])
    ]
    assert hidden["Actions"][0]["Type"] == "fixed-response"
    assert hidden["Actions"][0]["FixedResponseConfig"]["StatusCode"] == "404"
    assert {v for c in hidden["Conditions"] for v in c["PathPatternConfig"]["Values"]} == {
        "/health/deep",
        "/health/deep/*",
    }
    assert "/health" not in json.dumps(hidden["Conditions"]).replace("/health/deep", "")
    _, alarm = one(doc, "AWS::CloudWatch::Alarm", "Web/DependenciesDown")
    assert alarm["Properties"]["TreatMissingData"] == "breaching"
