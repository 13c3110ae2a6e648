"""Helpers the tests share: synthesize the app once per profile, find resources by construct
path (never by generated logical id), load handler code by file path."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import aws_cdk as cdk
from aws_cdk import cx_api
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from patterns.wiring import WiringChecks
from stacks import EXAMPLE_CONTEXT, build_app
from stacks.serverless_api_stack import KIT_PRODUCTION_CONTEXT

ROOT = Path(__file__).resolve().parent.parent
PROFILES = ("sandbox", "production")
PATH_METADATA = {"aws:cdk:enable-path-metadata": True}
# The feature flags and defaults `cdk synth` reads from cdk.json: without them the in-process
# templates would differ from what the CLI synthesizes and deploys.
CDK_JSON_CONTEXT: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]


@functools.cache
def assembly(profile: str) -> cx_api.CloudAssembly:
    """The whole app, synthesized once per test run and profile, security gate included:
    an unacknowledged nag finding raises here.

    Under pytest-xdist the workers of one run share each profile's cloud assembly: the first
    worker to ask synthesizes it, under a lock, into a folder of the run (cleaned up by
    tests/conftest.py); a worker kept waiting for one profile synthesizes the other meanwhile.
    The others read the folder (the tests use only the templates and metadata files).
    """
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if run is None:
        return _synthesize(profile, Path(tempfile.mkdtemp(prefix=f"cdk.out.{profile}.")))
    with _claimed(profile, blocking=False) as mine:
        if mine:
            return _ready(profile)
    for other in PROFILES:
        if other != profile:
            with _claimed(other, blocking=False) as free:
                if free:
                    _ready(other)
    with _claimed(profile, blocking=True):
        return _ready(profile)


def shared_assemblies(run: str | None = None) -> Path:
    """The folder where the workers of one xdist run share their cloud assemblies."""
    return Path(tempfile.gettempdir()) / f"refarch-tests-{run or os.environ['PYTEST_XDIST_TESTRUNUID']}"


@contextlib.contextmanager
def _claimed(profile: str, *, blocking: bool) -> Iterator[bool]:
    shared_assemblies().mkdir(exist_ok=True)
    with (shared_assemblies() / f"{profile}.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _ready(profile: str) -> cx_api.CloudAssembly:
    """The run's assembly of `profile`, synthesized now if no worker has yet (hold its lock)."""
    done = shared_assemblies() / profile
    if not done.is_dir():
        partial = shared_assemblies() / f"{profile}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        _synthesize(profile, partial)
        partial.rename(done)  # atomic: a folder is there complete or not at all
    return cx_api.CloudAssembly(str(done))


def _synthesize(profile: str, outdir: Path) -> cx_api.CloudAssembly:
    # Production needs the API's sign-in URLs; the kit passes its never-resolving .test ones.
    sign_in = KIT_PRODUCTION_CONTEXT if profile == "production" else {}
    context = {**CDK_JSON_CONTEXT, "profile": profile, **sign_in, **PATH_METADATA}
    app = cdk.App(context=context, outdir=str(outdir))
    return build_app(app).synth()


@functools.cache
def example_assembly(profile: str) -> cx_api.CloudAssembly:
    """The whole app with `stacks.EXAMPLE_CONTEXT`, which adds the stacks built only by context
    (GlobalReadsHome, GlobalReads), security gate included; synthesized once per process."""
    sign_in = KIT_PRODUCTION_CONTEXT if profile == "production" else {}
    context = {**CDK_JSON_CONTEXT, "profile": profile, **sign_in, **PATH_METADATA, **EXAMPLE_CONTEXT}
    outdir = Path(tempfile.mkdtemp(prefix=f"cdk.out.examples.{profile}."))
    return build_app(cdk.App(context=context, outdir=str(outdir))).synth()


def template_json(stack: str, profile: str) -> dict[str, Any]:
    return assembly(profile).get_stack_by_name(stack).template


def template(stack: str, profile: str) -> Template:
    return Template.from_json(template_json(stack, profile))


def bare_stack(context: dict[str, Any] | None = None) -> cdk.Stack:
    """A fresh App with the security gate (cdk-nag and the wiring checks, which follow the
    `profile` context), and one empty Stack to build a construct in.

    Like a user's app made by `cdk init`, it carries cdk.json's feature flags."""
    app = cdk.App(context={**CDK_JSON_CONTEXT, **PATH_METADATA, **(context or {})})
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app), WiringChecks())
    return cdk.Stack(app, "Bare")


def path_of(resource: dict[str, Any]) -> str:
    return str(resource.get("Metadata", {}).get("aws:cdk:path", ""))


def resources(
    document: dict[str, Any], resource_type: str, path_contains: str = ""
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(logical id, resource) of a type, optionally whose construct path contains a fragment."""
    for logical_id, resource in document["Resources"].items():
        if resource["Type"] == resource_type and path_contains in path_of(resource):
            yield logical_id, resource


def one(document: dict[str, Any], resource_type: str, path_contains: str) -> tuple[str, dict[str, Any]]:
    found = list(resources(document, resource_type, path_contains))
    assert len(found) == 1, f"expected one {resource_type} at *{path_contains}*, found {len(found)}"
    return found[0]


def resolve_ref(document: dict[str, Any], value: Any) -> str:
    """The logical id a {"Ref": ...} or {"Fn::GetAtt": [...]} points to."""
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return str(value["Fn::GetAtt"][0])
    raise AssertionError(f"not a reference: {value!r}")


def cross_stack_name(value: Any) -> str | None:
    """The output a value reads from another stack (Fn::ImportValue, or Fn::GetStackOutput,
    which CDK writes under the recommended flags), or None for a value of this stack."""
    if isinstance(value, dict) and "Fn::ImportValue" in value:
        return str(value["Fn::ImportValue"])
    if isinstance(value, dict) and "Fn::GetStackOutput" in value:
        return str(value["Fn::GetStackOutput"]["OutputName"])
    return None


def load_module(function_dir: str | Path, module: str, alias: str = "") -> ModuleType:
    """Import `lambda/<function_dir>/<module>.py` (or `<function_dir>/<module>.py` for a folder
    given as a path, e.g. a runtime folder inside a pattern package) under a unique name (lambda
    is a keyword); `alias` gives a second, independent copy (e.g. one per function sharing the code).

    The function's folder goes first on sys.path while it loads, as in the Lambda runtime, so
    its sibling modules import as they would there.
    """
    folder = function_dir if isinstance(function_dir, Path) else ROOT / "lambda" / function_dir
    unique = f"lambda_{folder.name}_{module}{'_' + alias if alias else ''}"
    spec = importlib.util.spec_from_file_location(unique, folder / f"{module}.py")
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[unique] = loaded  # as an import would: a dataclass in the module looks itself up there
    sys.path.insert(0, str(folder))
    try:
        for name in [n for n in sys.modules if n in _siblings(folder)]:
            del sys.modules[name]  # a sibling of another function's folder with the same name
        spec.loader.exec_module(loaded)
    finally:
        sys.path.remove(str(folder))
    return loaded


def _siblings(folder: Path) -> set[str]:
    return {path.stem for path in folder.glob("*.py")}
