"""Cold start of every Lambda function of the kit next to `import boto3`, the floor of a Python
function that calls AWS.

The functions come from the synthesized cloud assembly, not from a list: every
AWS::Lambda::Function of every stack, with its Handler, its asset folder (from the stack's
assets manifest) and its Environment (references replaced by values of the right shape: a
table's name, a state machine's ARN). A pattern added later is measured without an edit here.
Functions that are not Python (CDK's own custom-resource providers) and AWS-hosted rotation
functions are listed, not measured: their code is AWS's.

Each measurement is a fresh process started as Lambda starts one: the asset folder as working
directory and first on sys.path, the function's environment plus what Lambda sets
(AWS_LAMBDA_FUNCTION_NAME, the X-Ray daemon address, JSON log format), nothing inherited, and no
bytecode written (Lambda's /var/task is read-only and the asset ships no .pyc, so the handler's
own modules are compiled at every cold start). Inside the process the timer covers importing
the handler's module and looking up the handler, i.e. Lambda's Init phase minus the interpreter's
own start-up, which is the same for both. Rounds alternate the baseline and every function; the
figures are medians and the ratio to `import boto3` is what counts (absolute times depend on the
machine's load). Peak memory is the process's ru_maxrss. Then one `python -X importtime` run per
function, summed per top-level package, shows where the time goes.

What holds a function is shown by its floor, measured in the same rounds: `import boto3` plus
creating the boto3 clients that function creates at Init (recorded in one untimed run that
watches botocore's Session.create_client), nothing else. The rest of the function's time is
Powertools, its own modules and its settings. A function whose floor is already over the target
cannot reach it while it creates its clients at Init; deferring them to the first request would
only move that time into the request, which this benchmark does not time (so it would look
faster without being so). CDK's own Python providers (logical id `CustomCDK...`) are measured
and listed but are not ours to change.

BENCH_COLD_START_AGAINST=<git ref> also measures the kit at that ref (git archive into a temporary
folder, synthesized there), interleaved in the same rounds, so before/after come from one run.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = max(7, int(os.environ.get("BENCH_COLD_ROUNDS", "7")))
AGAINST = os.environ.get("BENCH_COLD_START_AGAINST", "").strip()
TARGET_RATIO = 1.3
REGION, ACCOUNT = "eu-west-1", "123456789012"
BASELINE = "import boto3"
# What the Lambda service sets in every function's environment (the parts Python code reads).
LAMBDA_ENVIRONMENT = {
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_SESSION_TOKEN": "bench",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_LOG_FORMAT": "JSON",
    "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
    "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
    "PYTHONDONTWRITEBYTECODE": "1",
}
PROBE = """
import importlib, json, resource, sys, time
sys.path.insert(0, {folder!r})
started = time.perf_counter()
{code}
elapsed = time.perf_counter() - started
print(json.dumps({{"seconds": elapsed, "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}}))
"""
HANDLER_CODE = "getattr(importlib.import_module({module!r}), {name!r})"
FLOOR_CODE = "import boto3\n" + "for _service in {services!r}:\n    boto3.client(_service)"
# Untimed: which clients does Init create? (botocore.session is imported first, which a timed
# run must not do.)
CLIENTS_PROBE = """
import importlib, json, sys
sys.path.insert(0, {folder!r})
import botocore.session
made = []
_create = botocore.session.Session.create_client
def _recording(self, *args, **kwargs):
    made.append(args[0] if args else kwargs["service_name"])
    return _create(self, *args, **kwargs)
botocore.session.Session.create_client = _recording
{code}
print(json.dumps(made))
"""
CDK_PROVIDER = "CustomCDK"  # CDK's singleton functions: Custom::CDK<Name> -> CustomCDK<Name>...
# Ref of these types is not a name (CloudFormation's "Return values" of each resource type).
REF_SHAPES = {
    "AWS::StepFunctions::StateMachine": "arn:aws:states:{region}:{account}:stateMachine:{id}",
    "AWS::SNS::Topic": "arn:aws:sns:{region}:{account}:{id}",
    "AWS::SQS::Queue": "https://sqs.{region}.amazonaws.com/{account}/{id}",
    "AWS::SecretsManager::Secret": "arn:aws:secretsmanager:{region}:{account}:secret:{id}",
}


@dataclass
class Function:
    label: str  # stack/logical id, with the ref it was synthesized from when not the work tree
    handler: str
    folder: Path
    environment: dict[str, str]
    seconds: list[float] = field(default_factory=list)
    maxrss_kib: list[int] = field(default_factory=list)
    services: tuple[str, ...] | None = None  # set on a floor: the clients it creates

    @property
    def code(self) -> str:
        if self.services is not None:
            return FLOOR_CODE.format(services=list(self.services))
        module, name = self.handler.rsplit(".", 1)
        return HANDLER_CODE.format(module=module, name=name)

    @property
    def ours(self) -> bool:
        return not self.label.rsplit("/", 1)[-1].startswith(CDK_PROVIDER)


def synthesize(tree: Path, outdir: Path) -> None:
    env = {**os.environ, "CDK_OUTDIR": str(outdir), "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    code = "from stacks import build_app; build_app().synth()"
    subprocess.run([sys.executable, "-c", code], cwd=tree, env=env, check=True, capture_output=True)


def _value(value: Any, resources: dict[str, Any]) -> str:
    """An environment value with its intrinsic functions replaced by a value of the right shape."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float, bool)):
        return json.dumps(value)
    (function, argument), *_ = value.items()
    if function == "Ref":
        kind = resources.get(argument, {}).get("Type", "")
        return REF_SHAPES.get(kind, "bench-{id}").format(region=REGION, account=ACCOUNT, id=argument)
    if function == "Fn::GetAtt":
        logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
        service = resources.get(logical_id, {}).get("Type", "AWS::Bench::Thing").split("::")[1].lower()
        if attribute.endswith("Arn"):
            return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{logical_id}"
        return f"bench-{logical_id}-{attribute}"
    if function == "Fn::Join":
        separator, parts = argument
        return str(separator).join(_value(part, resources) for part in parts)
    if function == "Fn::Sub":
        text = argument if isinstance(argument, str) else argument[0]
        for pseudo, real in {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
        }.items():
            text = text.replace("${" + pseudo + "}", real)
        return text
    return f"bench-{function.removeprefix('Fn::').lower()}"


def functions_in(assembly: Path, tag: str) -> tuple[list[Function], list[str]]:
    """The Python functions of every stack, and a line for each function not measured."""
    measured, skipped = [], []
    for template_path in sorted(assembly.glob("*.template.json")):
        stack = template_path.name.removesuffix(".template.json")
        resources = json.loads(template_path.read_text())["Resources"]
        assets = json.loads((assembly / f"{stack}.assets.json").read_text())["files"]
        for logical_id, resource_ in resources.items():
            properties = resource_.get("Properties", {})
            label = f"{tag}{stack}/{logical_id}"
            if (
                resource_["Type"] == "AWS::SecretsManager::RotationSchedule"
                and "HostedRotationLambda" in properties
            ):
                skipped.append(
                    f"{label}: hosted rotation function (AWS's own code, from the Serverless "
                    "Application Repository)"
                )
            if resource_["Type"] != "AWS::Lambda::Function":
                continue
            runtime = str(properties.get("Runtime", ""))
            if not runtime.startswith("python"):
                skipped.append(f"{label}: {runtime} {properties.get('Handler')} (CDK's own provider code)")
                continue
            asset_hash = str(properties["Code"]["S3Key"]).removesuffix(".zip")
            folder = assembly / assets[asset_hash]["source"]["path"]
            variables = (properties.get("Environment") or {}).get("Variables", {})
            environment = {name: _value(value, resources) for name, value in variables.items()}
            measured.append(Function(label, str(properties["Handler"]), folder, environment))
    return measured, skipped


def _clean_environment(function: Function | None) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp")}
    env.update(LAMBDA_ENVIRONMENT)
    if function is not None:
        env.update(function.environment)
        env["AWS_LAMBDA_FUNCTION_NAME"] = function.label.rsplit("/", 1)[-1]
        env["_HANDLER"] = function.handler
        env["LAMBDA_TASK_ROOT"] = str(function.folder)
    return env


def run_probe(
    function: Function | None, *extra_flags: str, probe: str = PROBE
) -> subprocess.CompletedProcess[str]:
    folder = function.folder if function else Path(tempfile.gettempdir())
    code = function.code if function else BASELINE
    script = probe.format(folder=str(folder), code=code)
    return subprocess.run(
        [sys.executable, *extra_flags, "-c", script],
        env=_clean_environment(function),
        cwd=folder,
        check=True,
        capture_output=True,
        text=True,
    )


def measure(function: Function | None, into: Function) -> None:
    result = json.loads(run_probe(function).stdout.strip().splitlines()[-1])
    into.seconds.append(result["seconds"])
    into.maxrss_kib.append(result["maxrss_kib"])


def import_profile(function: Function | None, top: int = 5) -> str:
    """Self time per top-level package from one `python -X importtime` run, largest first."""
    per_package: dict[str, int] = defaultdict(int)
    for line in run_probe(function, "-X", "importtime").stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        self_us, _, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
        if self_us.isdigit():
            per_package[name.split(".")[0]] += int(self_us)
    ranked = sorted(per_package.items(), key=lambda item: -item[1])[:top]
    return ", ".join(f"{name} {micros / 1000:.0f}" for name, micros in ranked)


def clients_at_init(function: Function) -> tuple[str, ...]:
    """The services of the boto3 clients the function creates at Init, in order."""
    return tuple(json.loads(run_probe(function, probe=CLIENTS_PROBE).stdout.strip().splitlines()[-1]))


def floors_of(functions: list[Function]) -> dict[str, Function]:
    """Per function label, its floor (one per distinct set of clients, shared)."""
    by_services: dict[tuple[str, ...], Function] = {}
    floors = {}
    for function in functions:
        services = clients_at_init(function)
        if services not in by_services:
            label = f"floor: {BASELINE} + " + (" + ".join(services) + " client(s)" if services else "nothing")
            by_services[services] = Function(label, "", Path(tempfile.gettempdir()), {}, services=services)
        floors[function.label] = by_services[services]
    return floors


def _assembly_of(ref: str, workdir: Path) -> Path:
    tree = workdir / "tree"
    tree.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(tree, filter="data")
    synthesize(tree, workdir / "out")
    return workdir / "out"


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="cold-start-") as scratch:
        synthesize(ROOT, Path(scratch) / "now")
        functions, skipped = functions_in(Path(scratch) / "now", "")
        if AGAINST:
            before, _ = functions_in(_assembly_of(AGAINST, Path(scratch) / "before"), f"{AGAINST}:")
            by_label = {f.label.split(":", 1)[1]: f for f in before}
            functions = [g for f in functions for g in (by_label.pop(f.label, None), f) if g] + list(
                by_label.values()
            )
        baseline = Function(BASELINE, "", Path(), {})
        floors = floors_of(functions)
        measured = functions + list({id(f): f for f in floors.values()}.values())
        for round_ in range(ROUNDS):
            # The baseline runs before every function and floor, and the order turns each round.
            shift = round_ % len(measured)
            for function in measured[shift:] + measured[:shift]:
                measure(None, baseline)
                measure(function, function)
        floor = statistics.median(baseline.seconds)
        floor_mib = statistics.median(baseline.maxrss_kib) / 1024
        print(f"cold start (Init: import the handler), median of {ROUNDS} fresh processes each, alternating")
        print(f"with `{BASELINE}`; target x{TARGET_RATIO}; Python {sys.version.split()[0]} here:")
        print("floor: boto3 plus the clients that function creates at Init; rest: the function's time")
        print("over its floor (Powertools, its own modules, settings)")
        header = f"{'function (stack/logical id: handler)':68} {'ms':>7} {'x boto3':>8} {'peak MiB':>9}"
        print(f"  {header} {'floor x':>8} {'rest ms':>8}")
        print(f"  {BASELINE:68} {floor * 1000:7.1f} {1:8.2f} {floor_mib:9.1f}")
        over = []
        for function in functions:
            median = statistics.median(function.seconds)
            ratio = median / floor
            mib = statistics.median(function.maxrss_kib) / 1024
            floor_of = statistics.median(floors[function.label].seconds)
            name = f"{function.label}: {function.handler}"
            flag = "" if ratio <= TARGET_RATIO else "  over" if function.ours else "  (CDK's code)"
            print(
                f"  {name:68} {median * 1000:7.1f} {ratio:8.2f} {mib:9.1f} {floor_of / floor:8.2f}"
                f" {(median - floor_of) * 1000:8.1f}{flag}"
            )
            if (
                ratio > TARGET_RATIO
                and function.ours
                and not function.label.startswith(f"{AGAINST}:" if AGAINST else "\0")
            ):
                over.append(name)
        for floor_function in {id(f): f for f in floors.values()}.values():
            median = statistics.median(floor_function.seconds)
            mib = statistics.median(floor_function.maxrss_kib) / 1024
            print(f"  {floor_function.label:68} {median * 1000:7.1f} {median / floor:8.2f} {mib:9.1f}")
        for line in skipped:
            print(f"  not measured: {line}")
        print("import time by top-level package, ms of self time (one -X importtime run each):")
        print(f"  {BASELINE}: {import_profile(None)}")
        for function in functions:
            print(f"  {function.label}: {import_profile(function)}")
        print(f"over x{TARGET_RATIO}: {', '.join(over) if over else 'none'}")


if __name__ == "__main__":
    main()
