"""The kit installs: a wheel built from this repository, installed into a fresh virtual
environment, gives the constructs as `refarch` with the runtime folders they load themselves,
and synthesizes one of them with no `patterns` folder on the path."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import venv
import zipfile
from pathlib import Path

from tests.kit import ROOT

# In a fresh folder, so neither this repository nor its `patterns` is importable.
SYNTH_ONE = textwrap.dedent(
    """
    import json, sys
    import aws_cdk as cdk
    from aws_cdk import aws_lambda as lambda_
    try:
        import patterns
    except ImportError:
        pass
    else:
        sys.exit(f"patterns importable from {patterns.__file__}: the test proves nothing")
    import refarch
    from refarch.order_workflow import OrderWorkflow
    from refarch.shared import SANDBOX, PythonFunction

    app = cdk.App(outdir="cdk.out")
    stack = cdk.Stack(app, "Installed")
    functions = {
        name: PythonFunction(
            stack, name, code_dir=sys.argv[1], handler=handler, profile=SANDBOX, service_name="demo"
        ).function
        for name, handler in [
            ("payment_function", "payment.charge"),
            ("refund_function", "payment.refund"),
            ("shipment_function", "shipment.arrange"),
        ]
    }
    OrderWorkflow(stack, "Workflow", **functions)
    template = app.synth().get_stack_by_name("Installed").template
    print(json.dumps({"kit": refarch.__file__, "resources": template["Resources"]}))
    """
)


def _wheel(tmp: Path) -> Path:
    """Built from what a `pip install <repo>` reads: pyproject.toml and patterns/."""
    source = tmp / "source"
    shutil.copytree(ROOT / "patterns", source / "patterns", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", source)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            tmp,
            source,
        ],
        check=True,
        capture_output=True,
    )
    return next(tmp.glob("refarch-*.whl"))


def test_the_wheel_carries_every_package_and_runtime_folder(tmp_path: Path) -> None:
    names = set(zipfile.ZipFile(_wheel(tmp_path)).namelist())
    for package in (ROOT / "patterns").rglob("__init__.py"):
        assert (
            f"refarch/{package.parent.relative_to(ROOT / 'patterns').as_posix()}/__init__.py".replace(
                "refarch/./", "refarch/"
            )
            in names
        ), package
    for code in (ROOT / "patterns").glob("*/*_function/*.py"):
        assert f"refarch/{code.relative_to(ROOT / 'patterns').as_posix()}" in names, code


def test_a_construct_synthesizes_from_the_installed_kit(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path)
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            python,
            "install",
            "--quiet",
            "--no-index",
            "--no-deps",
            wheel,
        ],
        check=True,
        capture_output=True,
    )
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    # The kit's dependencies (aws-cdk-lib, constructs) from this environment, with no network:
    # a .pth line puts this environment's site-packages after the fresh one's.
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    work = tmp_path / "app"
    work.mkdir()
    result = subprocess.run(
        [python, "-c", SYNTH_ONE, str(ROOT / "lambda" / "order_saga")],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.splitlines()[-1])
    assert Path(report["kit"]).is_relative_to(site), report["kit"]
    assert any(r["Type"] == "AWS::StepFunctions::StateMachine" for r in report["resources"].values())
    # The starter function's asset is the installed package's starter_function/, staged by CDK.
    staged = [path.read_text() for path in (work / "cdk.out").glob("asset.*/starter.py")]
    assert staged == [(ROOT / "patterns" / "order_workflow" / "starter_function" / "starter.py").read_text()]
