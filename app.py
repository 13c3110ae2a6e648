#!/usr/bin/env python3
"""Entry point for `cdk synth`/`cdk deploy`. Choose a profile with `-c profile=production`."""

from stacks import build_app

build_app().synth()
