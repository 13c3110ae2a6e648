"""Global reads: the MultiTier app's reads served in a second Region. A cross-Region read
replica of the home writer (`cross_region_replica.py`), a read-only web tier in front of it
(MultiTier's `WebTier` running `runtime/web_app` in its read Region mode), and Route 53
latency records with health checks for both Regions' load balancers (`latency_record.py`).

constructs:CrossRegionReplica, LatencyRecord
stack:     `stacks/global_reads_stack.py` (`GlobalReadsHome`, `GlobalReads`)
runtime:   `runtime/web_app/regions.py` (writes forwarded home, read-your-writes by WAL position)
tests:     `tests/test_global_reads_*.py`
page:      `docs/global-reads.md`
"""

from .cross_region_replica import CrossRegionReplica
from .latency_record import LatencyRecord

__all__ = ["CrossRegionReplica", "LatencyRecord"]
