"""The home app's heartbeat: a commit on the writer at least every HEARTBEAT_EVERY seconds.

RDS for PostgreSQL reports a replica's ReplicaLag as the age of the last transaction it
replayed, `now() - pg_last_xact_replay_timestamp()` on the replica (RDS User Guide, "Monitoring
and tuning the replication process"): while nothing commits at the source it grows without
bound, and a lag alarm would sit in ALARM every quiet night. The heartbeat commits a one-row
update (table `heartbeat`, created with the schema), so an idle source still sends a commit every
HEARTBEAT_EVERY seconds and an idle replica's lag stays under it (plus the time to ship it).

Many instances beat at once: the update only touches a row older than half the interval, so
the fleet commits at most about twice per interval whatever its size (an UPDATE that matches no
row takes no transaction id and writes no commit record). The heartbeat has its own connection
and its own view of the writer: a failure is logged, and never marks the writer down for
requests nor touches the health checks. A read Region never beats (its database is a replica).
"""

from __future__ import annotations

import logging
import threading

from routing import ReadRouter

logger = logging.getLogger(__name__)
HEARTBEAT_EVERY = 10.0
"""Seconds between beats: the longest an idle replica's ReplicaLag grows (plus shipping time),
well under the lag alarms' 30 s threshold."""
BEAT = "UPDATE heartbeat SET at = now() WHERE at < now() - make_interval(secs => %s) RETURNING true"


class Heartbeat:
    """`run` beats every `every` seconds until `stop` is set; `commits` counts the beats that
    updated the row (another instance's recent beat makes one a no-op), `failures` the failed."""

    def __init__(self, writer: ReadRouter, every: float = HEARTBEAT_EVERY):
        self.writer = writer
        """A router of its own (the writer only), so its failures are not the requests'."""
        self.every = every
        self.stop = threading.Event()
        self.commits = 0
        self.failures = 0

    def beat(self) -> bool:
        """Whether the writer answered (whether or not the row needed updating)."""
        try:
            if self.writer.write(BEAT, (self.every / 2,)):
                self.commits += 1
            return True
        except Exception as error:  # never lets the thread die: the next beat tries again
            self.failures += 1
            logger.warning("heartbeat not written: %s", error)
            return False

    def run(self) -> None:
        while not self.stop.is_set():
            self.beat()
            self.stop.wait(self.every)
