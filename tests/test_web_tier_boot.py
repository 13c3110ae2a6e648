"""The web instances' boot signal and dependency reporter, run for real in bash.

The user data is taken from the synthesized launch template and run with stand-ins for the
programs it calls on an instance (`curl` for the app and instance metadata, `aws`, `systemctl`,
`sleep`), which record their arguments. What CloudFormation does with a signal is documented,
not emulated (moto ignores creation and update policies): AWS CloudFormation User Guide,
"CreationPolicy attribute" and "UpdatePolicy attribute" (AutoScalingRollingUpdate,
WaitOnResourceSignals, PauseTime).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2

from patterns.multi_tier import WebTier
from tests.kit import bare_stack, one, resources, template_json
from tests.test_multi_tier_stack import imported_vpc, props, synth

INSTANCE_ID = "i-0123456789abcdef0"
GROUP_NAME = "web-group-name"
PSEUDO = {"AWS::Region": "eu-west-1", "AWS::StackName": "Bare", "AWS::AccountId": "123456789012"}
STUBS = {
    "curl": f"""#!/bin/bash
echo "curl $*" >> "$CALLS"
case "$*" in
  *api/token*) echo token ;;
  *meta-data/instance-id*) echo {INSTANCE_ID} ;;
  *autoscaling:groupName*) echo {GROUP_NAME} ;;
  *localhost*)
    polls=$(( $(cat "$STATE/polls" 2>/dev/null || echo 0) + 1 ))
    echo $polls > "$STATE/polls"
    [ "$polls" -ge "$HEALTHY_FROM_POLL" ] ;;
esac
""",
    "aws": '#!/bin/bash\necho "aws $*" >> "$CALLS"\n',
    "systemctl": '#!/bin/bash\necho "systemctl $*" >> "$CALLS"\n',
    "sleep": "#!/bin/bash\nexit 0\n",
}


def rendered(value: Any) -> str:
    """The launch template's user data as the instance receives it (pseudo parameters filled)."""
    parts = value["Fn::Base64"]
    if isinstance(parts, str):
        return parts
    out = []
    for part in parts["Fn::Join"][1]:
        if isinstance(part, str):
            out.append(part)
        elif isinstance(part, dict) and part.get("Ref") in PSEUDO:
            out.append(PSEUDO[part["Ref"]])
        else:
            raise AssertionError(f"user data holds a value this test cannot fill: {part!r}")
    return "".join(out)


def web_tier_user_data(script_body: str, **kwargs: Any) -> tuple[dict[str, Any], str]:
    """A WebTier whose app's user data is `script_body`; its template and rendered user data."""
    stack = bare_stack()
    user_data = ec2.UserData.for_linux()
    user_data.add_commands(script_body)
    WebTier(stack, "Web", vpc=imported_vpc(stack), user_data=user_data, **kwargs)
    doc = synth(stack)
    template = props(one(doc, "AWS::EC2::LaunchTemplate", "Web/LaunchTemplate"))
    return doc, rendered(template["LaunchTemplateData"]["UserData"])


def boot(tmp_path: Path, script: str, *, healthy_from_poll: int, seconds: int = 0) -> list[str]:
    """Run the user data in bash, `seconds` into its run (bash's SECONDS); the calls it made."""
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for name, body in STUBS.items():
        (stubs / name).write_text(body)
        (stubs / name).chmod(0o755)
    calls = tmp_path / "calls"
    calls.touch()
    lines = script.split("\n", 1)
    boot_script = tmp_path / "user-data.sh"
    boot_script.write_text(f"{lines[0]}\nSECONDS={seconds}\n{lines[1]}")
    env = {
        **os.environ,
        "PATH": f"{stubs}:{os.environ['PATH']}",
        "CALLS": str(calls),
        "STATE": str(tmp_path),
        "HEALTHY_FROM_POLL": str(healthy_from_poll),
    }
    subprocess.run(["bash", str(boot_script)], env=env, check=False, timeout=60, cwd=tmp_path)
    return calls.read_text().splitlines()


def signal_of(calls: list[str]) -> dict[str, str]:
    [signal] = [c for c in calls if c.startswith("aws cloudformation signal-resource")]
    words = shlex.split(signal)
    return {words[i][2:]: words[i + 1] for i in range(3, len(words) - 1, 2)}


def polls(calls: list[str]) -> list[str]:
    return [c for c in calls if c.startswith("curl") and "localhost" in c]


def test_an_instance_signals_success_for_itself_once_the_deep_check_passes(tmp_path: Path) -> None:
    """Each new instance must signal the group resource with a unique id (its instance id):
    CloudFormation counts the signals against the creation policy's Count, and in a rolling
    update waits for one per new instance within PauseTime."""
    doc, script = web_tier_user_data("echo app installed", deep_health_path="/health/deep")
    calls = boot(tmp_path, script, healthy_from_poll=3)
    assert [c.split()[-1] for c in polls(calls)] == ["http://localhost:8080/health/deep"] * 3
    group_id, _ = one(doc, "AWS::AutoScaling::AutoScalingGroup", "Web/Instances")
    assert signal_of(calls) == {
        "region": "eu-west-1",
        "stack-name": "Bare",
        "logical-resource-id": group_id,
        "unique-id": INSTANCE_ID,
        "status": "SUCCESS",
    }
    # the reporter starts only once the instance is ready, so a booting app never reports down
    assert "systemctl enable --now web-tier-dependency-health.timer" in calls
    assert calls.index("systemctl enable --now web-tier-dependency-health.timer") < calls.index(
        next(c for c in calls if "signal-resource" in c)
    )


def test_a_failing_user_data_signals_failure_without_waiting(tmp_path: Path) -> None:
    _, script = web_tier_user_data("set -e\nfalse\necho never", deep_health_path="/health/deep")
    calls = boot(tmp_path, script, healthy_from_poll=1)
    assert polls(calls) == []
    assert signal_of(calls)["status"] == "FAILURE"
    assert not any(c.startswith("systemctl enable") for c in calls)


def test_an_app_that_never_passes_signals_failure_before_cloudformation_stops_waiting(tmp_path: Path) -> None:
    """A FAILURE signal makes CloudFormation fail the creation or roll the update back at once;
    an instance that signals nothing holds the stack until the timeout. So the instance gives
    up, and says so, before the creation policy's Timeout and the update's PauseTime end."""
    doc, script = web_tier_user_data("echo app installed", deep_health_path="/health/deep")
    give_up = int(re.search(r"while \[ \$SECONDS -lt (\d+) \]", script).group(1))  # type: ignore[union-attr]
    _, group = one(doc, "AWS::AutoScaling::AutoScalingGroup", "Web/Instances")
    for timeout in (
        group["CreationPolicy"]["ResourceSignal"]["Timeout"],
        group["UpdatePolicy"]["AutoScalingRollingUpdate"]["PauseTime"],
    ):
        minutes = re.fullmatch(r"PT(\d+)M", timeout)
        assert minutes, timeout
        # the user data starts within a minute of launch: a minute to spare after that
        assert give_up <= int(minutes.group(1)) * 60 - 120
    calls = boot(tmp_path, script, healthy_from_poll=10**6, seconds=give_up)
    assert signal_of(calls)["status"] == "FAILURE"


def test_without_a_deep_check_readiness_is_the_load_balancers_path_and_nothing_reports(
    tmp_path: Path,
) -> None:
    doc, script = web_tier_user_data("echo app installed")
    calls = boot(tmp_path, script, healthy_from_poll=1)
    assert [c.split()[-1] for c in polls(calls)] == ["http://localhost:8080/health"]
    assert signal_of(calls)["status"] == "SUCCESS"
    assert not any("dependency-health" in c for c in calls)
    assert not list(resources(doc, "AWS::CloudWatch::Alarm", "DependenciesDown"))


def test_the_reporter_publishes_what_the_alarm_watches_and_the_role_allows(tmp_path: Path) -> None:
    doc, script = web_tier_user_data("echo app installed", deep_health_path="/health/deep")
    reporter = re.search(r"<<'SCRIPT'\n(.*?)\nSCRIPT", script, re.S)
    assert reporter
    (tmp_path / "run").mkdir()
    calls = boot(tmp_path / "run", reporter.group(1), healthy_from_poll=2)  # first answer fails
    (tmp_path / "run2").mkdir()
    calls += boot(tmp_path / "run2", reporter.group(1), healthy_from_poll=1)
    published = [shlex.split(c) for c in calls if c.startswith("aws cloudwatch put-metric-data")]
    assert [words[words.index("--value") + 1] for words in published] == ["0", "1"]
    words = published[0]
    namespace = words[words.index("--namespace") + 1]
    metric = words[words.index("--metric-name") + 1]
    assert words[words.index("--dimensions") + 1] == f"AutoScalingGroupName={GROUP_NAME}"
    alarm = props(one(doc, "AWS::CloudWatch::Alarm", "Web/DependenciesDown"))
    group_id, _ = one(doc, "AWS::AutoScaling::AutoScalingGroup", "Web/Instances")
    assert (alarm["Namespace"], alarm["MetricName"]) == (namespace, metric)
    assert alarm["Dimensions"] == [{"Name": "AutoScalingGroupName", "Value": {"Ref": group_id}}]
    assert alarm["ComparisonOperator"] == "LessThanThreshold" and alarm["Threshold"] == 1
    assert alarm["AlarmActions"]
    # the metric lands only if the role may put it in that namespace
    metrics = props(one(doc, "AWS::IAM::Policy", "Web/InstanceRole/Metrics"))
    [statement] = metrics["PolicyDocument"]["Statement"]
    assert statement["Condition"] == {"StringEquals": {"cloudwatch:namespace": namespace}}
    # the group's name comes from instance metadata tags, which the launch template must expose
    template = props(one(doc, "AWS::EC2::LaunchTemplate", "Web/LaunchTemplate"))
    assert template["LaunchTemplateData"]["MetadataOptions"]["InstanceMetadataTags"] == "enabled"


def test_the_role_may_signal_only_its_own_stack() -> None:
    doc, _ = web_tier_user_data("true")
    policy = props(one(doc, "AWS::IAM::Policy", "Web/InstanceRole/DefaultPolicy"))
    signal = [
        s for s in policy["PolicyDocument"]["Statement"] if s["Action"] == "cloudformation:SignalResource"
    ]
    assert [s["Resource"] for s in signal] == [{"Ref": "AWS::StackId"}]


@pytest.mark.parametrize("profile", ["sandbox", "production"])
def test_creation_waits_for_as_many_signals_as_the_group_launches(profile: str) -> None:
    """CreationPolicy ResourceSignal Count: CloudFormation marks the group complete only after
    Count success signals. With no DesiredCapacity the group launches MinSize instances, so a
    Count above MinSize could never be met, and below it would let unready instances through.
    Rolling updates wait for each new instance's signal (WaitOnResourceSignals) and keep
    MinInstancesInService serving; MinInstancesInService must be below MaxSize."""
    _, group = one(template_json("MultiTier", profile), "AWS::AutoScaling::AutoScalingGroup", "Web/Instances")
    p = group["Properties"]
    assert "DesiredCapacity" not in p
    assert group["CreationPolicy"]["ResourceSignal"]["Count"] == int(p["MinSize"])
    rolling = group["UpdatePolicy"]["AutoScalingRollingUpdate"]
    assert rolling["WaitOnResourceSignals"] is True
    assert rolling["MaxBatchSize"] == 1
    assert int(p["MinSize"]) == rolling["MinInstancesInService"] < int(p["MaxSize"])
    # scaling and health replacement must not act on the group while CloudFormation replaces it
    assert {"AlarmNotification", "ReplaceUnhealthy", "HealthCheck"} <= set(rolling["SuspendProcesses"])


def test_the_stack_boots_instances_only_after_the_proxy_can_reach_the_writer() -> None:
    """The deep check needs the writer through the proxy; CloudFormation creates in parallel
    whatever does not depend on each other, so the group must depend on the proxy's target
    group (not just the proxy: the endpoint answers only once the writer is registered)."""
    doc = template_json("MultiTier", "sandbox")
    group_id, _ = one(doc, "AWS::AutoScaling::AutoScalingGroup", "Web/Instances")
    needed = {logical for logical, _ in resources(doc, "AWS::RDS::DBProxyTargetGroup")}
    needed |= {logical for logical, _ in resources(doc, "AWS::ElastiCache::ReplicationGroup")}
    assert needed and needed <= depends_on(doc, group_id)


def depends_on(doc: dict[str, Any], logical_id: str) -> set[str]:
    """Every resource `logical_id` waits for in CloudFormation: DependsOn, Ref and GetAtt."""
    seen: set[str] = set()
    todo = [logical_id]
    while todo:
        resource = doc["Resources"][todo.pop()]
        text = json.dumps(resource)
        direct = set(re.findall(r'"Ref": "([A-Za-z0-9]+)"', text))
        direct |= set(re.findall(r'"Fn::GetAtt": \["([A-Za-z0-9]+)"', text))
        listed = resource.get("DependsOn", [])
        direct |= set([listed] if isinstance(listed, str) else listed)
        for found in direct & set(doc["Resources"]) - seen:
            seen.add(found)
            todo.append(found)
    return seen


def test_boot_timeout_outside_cloudformations_limits_fails_naming_the_prop() -> None:
    for timeout in (cdk.Duration.minutes(2), cdk.Duration.hours(13)):
        stack = bare_stack()
        with pytest.raises(ValueError, match="boot_timeout: must be between 5 minutes and 12 hours"):
            WebTier(
                stack,
                "Web",
                vpc=imported_vpc(stack),
                user_data=ec2.UserData.for_linux(),
                boot_timeout=timeout,
            )


def test_a_deep_check_on_the_load_balancers_path_fails_naming_the_prop() -> None:
    stack = bare_stack()
    with pytest.raises(ValueError, match="deep_health_path: must differ from health_check_path"):
        WebTier(
            stack,
            "Web",
            vpc=imported_vpc(stack),
            user_data=ec2.UserData.for_linux(),
            deep_health_path="/health",
        )
