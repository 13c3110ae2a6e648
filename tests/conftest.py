"""Test-wide settings: no AWS account, no credentials, no network."""

import os
import shutil
import uuid

import pytest

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_REGION": "eu-west-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "refarch-tests",
    }
)


def pytest_configure(config: pytest.Config) -> None:
    """On the xdist controller, fix the run's id, so that the folder where its workers share
    the synthesized app (tests/kit.py) is known here and removed at the end."""
    controller = not hasattr(config, "workerinput") and config.pluginmanager.hasplugin("xdist")
    if controller and config.getoption("testrunuid", None) is None:
        config.option.testrunuid = uuid.uuid4().hex


def pytest_unconfigure(config: pytest.Config) -> None:
    uid = getattr(config.option, "testrunuid", None)
    if not hasattr(config, "workerinput") and uid:
        from tests.kit import shared_assemblies  # here: the environment above is set first

        shutil.rmtree(shared_assemblies(uid), ignore_errors=True)
