"""A Lambda layer of native wheels for the kit's runtime (Python 3.14, arm64), built without
Docker: pip downloads the manylinux aarch64 wheels named in a hash-pinned requirements file
(`pip install --platform ... --only-binary=:all:`), so no compiler and no emulation are needed.

The layer is built at synth into `<cache>/<digest>/` (the digest covers the requirements and the
target platform; the cache is `$REFARCH_LAYER_CACHE`, by default `refarch-layers` in the temporary
folder), once: later synths reuse it, and a lock lets parallel synths wait for the first.
The first build needs the package registry; the pins make every build the same bytes.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from ..shared.props import PropError
from ..shared.python_function import ARCHITECTURE, RUNTIME

BUILD_DIR = Path(os.environ.get("REFARCH_LAYER_CACHE") or Path(tempfile.gettempdir()) / "refarch-layers")
PYTHON_VERSION = RUNTIME.name.removeprefix("python")  # "3.14"
# Lambda's arm64 runtimes run Amazon Linux 2023 (glibc 2.34): manylinux2014 and 2_28 wheels fit.
PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_28_aarch64")


def pip_command(requirements: Path, target: Path) -> list[str]:
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    command += ["--require-hashes", "--no-deps", "--only-binary=:all:", "--no-compile"]
    for platform in PLATFORMS:
        command += ["--platform", platform]
    abi = f"cp{PYTHON_VERSION.replace('.', '')}"
    command += ["--implementation", "cp", "--python-version", PYTHON_VERSION, "--abi", abi]
    return [*command, "--target", str(target), "-r", str(requirements)]


def layer_dir(requirements: Path) -> Path:
    """The built layer folder (its packages under `python/`), built now if it is not yet."""
    if not requirements.is_file():
        raise PropError("requirements", f"no requirements file at {requirements}")
    digest = hashlib.sha256(requirements.read_bytes() + " ".join((*PLATFORMS, PYTHON_VERSION)).encode())
    done = BUILD_DIR / digest.hexdigest()[:16]
    if done.is_dir():
        return done
    with _locked(BUILD_DIR / f"{done.name}.lock"):
        if done.is_dir():  # another synth built it while this one waited
            return done
        partial = BUILD_DIR / f"{done.name}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        run = subprocess.run(pip_command(requirements, partial / "python"), capture_output=True, text=True)
        if run.returncode != 0:
            raise RuntimeError(f"building the layer of {requirements} failed:\n{run.stdout}{run.stderr}")
        partial.rename(done)  # atomic: the folder is there complete or not at all
    return done


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class NativeLayer(Construct):
    """A layer of the wheels pinned (with hashes) in `requirements`, for arm64 Python 3.14.

    Attributes:
        layer: the layer version; add it to a function's `layers`.
        directory: the built folder the layer's asset is made from.
    """

    layer: lambda_.LayerVersion
    directory: Path

    def __init__(self, scope: Construct, construct_id: str, *, requirements: Path, description: str) -> None:
        """Build the layer at synth (or reuse the cached build) and make its layer version.

        Args:
            requirements: a requirements file whose every line pins a version and a hash (pip
                runs with `--require-hashes`); refused when the file does not exist. Each
                requirement is installed without its dependencies, so pin those too.
            description: what the layer holds (shown in the Lambda console).
        """
        super().__init__(scope, construct_id)
        self.directory = layer_dir(Path(requirements))
        self.layer = lambda_.LayerVersion(
            self,
            "Layer",
            code=lambda_.Code.from_asset(str(self.directory)),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description=description,
        )
