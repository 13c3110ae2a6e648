"""What a web instance adds to its user data: tell CloudFormation whether it is ready, and, once
in service, report every minute whether its dependencies answer.

- Readiness: when the user data exits (a bash EXIT trap, so it also runs when a command fails),
  the instance polls its app's readiness URL until it answers 200 or the user data has run
  for `give_up_after_seconds`, then sends CloudFormation SUCCESS or FAILURE for itself
  (`signal-resource` with its own instance id). A creation or a rolling update proceeds only on
  SUCCESS, so a release that cannot serve stops at its first instance and rolls back.
- Dependency health: a systemd timer asks the app's deep check every minute and publishes 1
  (answers) or 0 as a CloudWatch metric per Auto Scaling group, which an alarm watches. The
  load balancer's own health check stays shallow: a database failover must not make every
  instance unhealthy at once.
"""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2

REPORTER = "web-tier-dependency-health"
DEPENDENCY_METRIC = "DependenciesHealthy"
IMDS = "http://169.254.169.254/latest"
_IMDS_TOKEN = f"token=$(curl -sf -X PUT {IMDS}/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 60')"


def signal_when_ready(
    user_data: ec2.UserData,
    *,
    readiness_url: str,
    give_up_after_seconds: int,
    stack_name: str,
    logical_id: str,
    region: str,
    start_when_ready: str | None = None,
) -> None:
    """On exit of the user data: wait for `readiness_url`, then signal `logical_id`; once
    ready, start the systemd unit `start_when_ready` if given."""
    on_ready = (
        [
            'if [ "$status" = SUCCESS ]; then systemctl daemon-reload; '
            f"systemctl enable --now {start_when_ready}; fi"
        ]
        if start_when_ready
        else []
    )
    user_data.add_on_exit_commands(
        "set +eu",  # the app's own commands may have set -eu; this part must always signal
        _IMDS_TOKEN,
        f'instance_id=$(curl -sf -H "X-aws-ec2-metadata-token: $token" {IMDS}/meta-data/instance-id)',
        "status=FAILURE",
        'if [ "$exitCode" -eq 0 ]; then',
        # SECONDS: how long this user data has run, which starts within a minute of launch.
        f"  while [ $SECONDS -lt {give_up_after_seconds} ]; do",
        f"    if curl -sf --max-time 5 -o /dev/null {readiness_url}; then status=SUCCESS; break; fi",
        "    sleep 5",
        "  done",
        "fi",
        'echo "boot: user data exited with $exitCode, readiness $status"',
        *on_ready,
        f"aws cloudformation signal-resource --region {region} --stack-name {stack_name} "
        f'--logical-resource-id {logical_id} --unique-id "$instance_id" --status "$status" '
        # An instance launched by scaling, not by a creation or an update, is expected by no one.
        '|| echo "boot: CloudFormation expects no signal from this instance"',
    )


def report_dependency_health(
    user_data: ec2.UserData, *, deep_health_url: str, namespace: str, region: str
) -> str:
    """Install the timer that publishes the deep check's result; returns its unit name, to
    start once the instance is ready (before that, a booting app would report itself down)."""
    script = "\n".join(
        [
            "#!/bin/bash",
            _IMDS_TOKEN,
            f'group=$(curl -sf -H "X-aws-ec2-metadata-token: $token" '
            f"{IMDS}/meta-data/tags/instance/aws:autoscaling:groupName)",
            f"if curl -sf --max-time 5 -o /dev/null {deep_health_url}; then value=1; else value=0; fi",
            f"exec aws cloudwatch put-metric-data --region {region} --namespace {namespace} "
            f'--metric-name {DEPENDENCY_METRIC} --unit Count --value "$value" '
            '--dimensions "AutoScalingGroupName=$group"',
        ]
    )
    service = "\n".join(
        [
            "[Unit]",
            "Description=Publish whether the app's dependencies answer its deep health check",
            "[Service]",
            "Type=oneshot",
            f"ExecStart=/usr/local/bin/{REPORTER}",
            "DynamicUser=yes",
            "NoNewPrivileges=yes",
        ]
    )
    timer = "\n".join(
        [
            "[Unit]",
            f"Description=Every minute: {REPORTER}",
            "[Timer]",
            "OnActiveSec=1min",
            "OnUnitActiveSec=1min",
            "AccuracySec=5s",
            "[Install]",
            "WantedBy=timers.target",
        ]
    )
    user_data.add_commands(
        f"cat > /usr/local/bin/{REPORTER} <<'SCRIPT'\n{script}\nSCRIPT",
        f"chmod 0755 /usr/local/bin/{REPORTER}",
        f"cat > /etc/systemd/system/{REPORTER}.service <<'UNIT'\n{service}\nUNIT",
        f"cat > /etc/systemd/system/{REPORTER}.timer <<'UNIT'\n{timer}\nUNIT",
    )
    return f"{REPORTER}.timer"
