"""Where the kit's runtime code lives, independent of the working directory."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def lambda_dir(name: str) -> str:
    path = ROOT / "lambda" / name
    if not path.is_dir():
        raise FileNotFoundError(f"no function code at {path}")
    return str(path)


def runtime_dir(name: str) -> str:
    """Code that runs outside Lambda (e.g. on EC2 workers), shipped as an asset."""
    path = ROOT / "runtime" / name
    if not path.is_dir():
        raise FileNotFoundError(f"no runtime code at {path}")
    return str(path)
