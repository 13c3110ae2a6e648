"""What every pattern shares: profiles and secure defaults (`defaults`), acknowledgements of
cdk-nag findings (`defaults.acknowledge`, `nag_findings`), the kit's Lambda function
(`python_function`), tables, buckets, the instance role of EC2 fleets (`instance_fleet`) and
new VPCs that need no AZ lookup (`vpc`).

Each pattern package imports from here; copy this folder with any pattern.
"""

from .defaults import PRODUCTION, PROFILES, SANDBOX, Profile, acknowledge, profile_of
from .python_function import PythonFunction

__all__ = ["PRODUCTION", "PROFILES", "SANDBOX", "Profile", "PythonFunction", "acknowledge", "profile_of"]
