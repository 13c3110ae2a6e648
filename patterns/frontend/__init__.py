"""Frontend: a static site at the edge (private S3 bucket, CloudFront with origin access
control, security headers, SPA routes) with an API behind the same domain.

construct: `construct.py` (StaticSite), `policies.py` (cache and header policies, the CSP),
           `build.py` (content-hashed asset names), `spa_routes.js` (the CloudFront Function)
stack:     `stacks/frontend_stack.py`
runtime:   the orders web app in `runtime/orders_web/`
tests:     `tests/test_frontend_*.py`
page:      `docs/frontend.md`
"""

from .build import build_site
from .construct import StaticSite
from .policies import content_security_policy

__all__ = ["StaticSite", "build_site", "content_security_policy"]
