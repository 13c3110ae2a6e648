"""Multi-tier: a VPC (`network.py`), a web tier behind an ALB (`web_tier.py`, `web_tier_boot.py`,
`alb_access_logs.py`; its WAF from `../shared/web_acl.py`), a data tier of RDS PostgreSQL
behind RDS Proxy (`data_tier.py`) and a Valkey cache (`valkey_cache.py`); `provider_logs.py`
owns the log groups of CDK's provider functions.

constructs:Network, WebTier, DataTier, ValkeyCache
stack:     `stacks/multi_tier_stack.py`
runtime:   your app, started by user data; the demo is `runtime/web_app/`
tests:     `tests/test_multi_tier_*.py`, `tests/test_data_tier.py`, `tests/test_web_tier_boot.py`
page:      `docs/multi-tier.md`
"""

from .data_tier import DataTier
from .network import Network
from .valkey_cache import CacheEndpoint, ValkeyCache
from .web_tier import WebTier

__all__ = ["CacheEndpoint", "DataTier", "Network", "ValkeyCache", "WebTier"]
