"""What a worker instance runs at boot: fetch the worker code (an S3 asset), install it as a
systemd service, and ship its log file (JSON lines and EMF metrics) to CloudWatch Logs."""

from __future__ import annotations

import json
from collections.abc import Mapping

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3_assets as s3_assets

SERVICE = "worker-fleet"
CODE_DIR = "/opt/worker"
LOG_FILE = f"/var/log/{SERVICE}/worker.log"
ENV_FILE = f"/etc/{SERVICE}/worker.env"
AGENT_CONFIG = "/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json"


def _unit(command: str, stop_timeout_seconds: int) -> str:
    # systemd sends SIGTERM on stop and waits TimeoutStopSec for the worker to drain.
    return f"""[Unit]
Description=SQS job worker ({SERVICE})
After=network-online.target
Wants=network-online.target

[Service]
User={SERVICE}
EnvironmentFile={ENV_FILE}
WorkingDirectory={CODE_DIR}
ExecStart={command}
KillSignal=SIGTERM
TimeoutStopSec={stop_timeout_seconds}
Restart=on-failure
RestartSec=5
StandardOutput=append:{LOG_FILE}
StandardError=append:{LOG_FILE}
NoNewPrivileges=true
ProtectSystem=strict
ProtectHome=true
PrivateTmp=true
ReadWritePaths=/var/log/{SERVICE}

[Install]
WantedBy=multi-user.target
"""


def _agent_config(log_group: logs.ILogGroup) -> str:
    return json.dumps(
        {
            "logs": {
                "logs_collected": {
                    "files": {
                        "collect_list": [
                            {
                                "file_path": LOG_FILE,
                                "log_group_name": log_group.log_group_name,
                                "log_stream_name": "{instance_id}",
                            }
                        ]
                    }
                }
            }
        },
        indent=1,
    )


def worker_user_data(
    *,
    code: s3_assets.Asset,
    command: str,
    environment: Mapping[str, str],
    log_group: logs.ILogGroup,
    stop_timeout_seconds: int,
) -> ec2.UserData:
    for name, value in environment.items():
        if "\n" in value or "=" in name:
            raise ValueError(f"worker_environment: {name!r} cannot go into an environment file")
    user_data = ec2.UserData.for_linux()
    user_data.add_commands(
        "set -euo pipefail",
        "dnf install -y python3-boto3 amazon-cloudwatch-agent unzip",
        f"useradd --system --no-create-home --shell /sbin/nologin {SERVICE}",
        f"install -d -o {SERVICE} -m 0755 /var/log/{SERVICE}",  # the CloudWatch agent reads it
        f"install -d -m 0755 /etc/{SERVICE} {CODE_DIR}",
    )
    archive = user_data.add_s3_download_command(
        bucket=code.bucket, bucket_key=code.s3_object_key, local_file="/tmp/worker-code.zip"
    )
    user_data.add_commands(
        f"unzip -o {archive} -d {CODE_DIR}",
        f"cat > {ENV_FILE} <<'ENVIRONMENT'",
        *(f"{name}={value}" for name, value in environment.items()),
        "ENVIRONMENT",
        f"cat > {AGENT_CONFIG} <<'AGENT'",
        _agent_config(log_group),
        "AGENT",
        "/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl "
        f"-a fetch-config -m ec2 -s -c file:{AGENT_CONFIG}",
        f"cat > /etc/systemd/system/{SERVICE}.service <<'UNIT'",
        _unit(command, stop_timeout_seconds),
        "UNIT",
        "systemctl daemon-reload",
        f"systemctl enable --now {SERVICE}",
    )
    return user_data
