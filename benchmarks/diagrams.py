"""How diagram generation scales with template size: a stack of N queue-fed functions (each with
its role, policy, log group, event source mapping; one key shared by all queues), up to the 500
resources CloudFormation allows in one template, timed in one run; the figure is the time per
resource at each size relative to the smallest (1.0 means linear)."""

from __future__ import annotations

import statistics
import time
from typing import Any

from tools.diagrams.flowchart import flowchart
from tools.diagrams.template import Template

SIZES = (8, 40, 80)  # 49, 241 and 481 resources
ROUNDS = 5


def stack(functions: int) -> dict[str, Any]:
    resources: dict[str, Any] = {"Key": {"Type": "AWS::KMS::Key", "Properties": {}}}
    for i in range(functions):
        arn = {"Fn::GetAtt": [f"Queue{i}", "Arn"]}
        resources |= {
            f"Queue{i}": {"Type": "AWS::SQS::Queue", "Properties": {"KmsMasterKeyId": {"Ref": "Key"}}},
            f"Role{i}": {"Type": "AWS::IAM::Role", "Properties": {}},
            f"Policy{i}": {
                "Type": "AWS::IAM::Policy",
                "Properties": {"Roles": [{"Ref": f"Role{i}"}], "PolicyDocument": {"Resource": [arn]}},
            },
            f"Logs{i}": {"Type": "AWS::Logs::LogGroup", "Properties": {}},
            f"Function{i}": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Role": {"Fn::GetAtt": [f"Role{i}", "Arn"]},
                    "LoggingConfig": {"LogGroup": {"Ref": f"Logs{i}"}},
                },
            },
            f"Mapping{i}": {
                "Type": "AWS::Lambda::EventSourceMapping",
                "Properties": {"EventSourceArn": arn, "FunctionName": {"Ref": f"Function{i}"}},
            },
        }
    return {"Resources": resources}


def main() -> None:
    rows = []
    for size in SIZES:
        document = stack(size)
        times = []
        for _ in range(ROUNDS):
            started = time.perf_counter()
            flowchart(Template("Bench", document))
            times.append(time.perf_counter() - started)
        rows.append((len(document["Resources"]), statistics.median(times)))
    base = rows[0][1] / rows[0][0]
    print(f"diagram of one stack, median of {ROUNDS} runs:")
    for resources, seconds in rows:
        per_resource = seconds / resources
        print(
            f"  {resources:5d} resources: {seconds * 1000:8.1f} ms, per resource x{per_resource / base:5.2f}"
        )
