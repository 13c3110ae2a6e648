"""The home app's heartbeat against a real PostgreSQL primary and a streaming replica.

RDS for PostgreSQL's ReplicaLag is the replica's `now() - pg_last_xact_replay_timestamp()` (RDS
User Guide, "Monitoring and tuning the replication process",
USER_PostgreSQL.Replication.ReadReplicas.Monitor): the age of the last transaction replayed.
With nothing committed at the source it grows until the next commit, and the replica-lag alarms
(GlobalReads' LagAlarm, MultiTier's Data/Replica*Lag: 30 s) would fire on every idle night.
The app is started as the service starts it (main.start); intervals are shortened to keep the
test short, the ratio of threshold to interval (3) is the deployed one (30 s to 10 s).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import aws_cdk as cdk
import psycopg
import pytest

from patterns.shared.props import PropError
from stacks.global_reads_stack import READ_STACK_ID
from tests.kit import one, resources, template_json
from tests.local_servers import CACHE_ADMIN, Cluster, closed_port, cluster, load_web_app
from tests.test_global_reads_construct import read_stack, replica
from tests.test_global_reads_stack import template as global_reads_template

pytestmark = pytest.mark.servers
app = load_web_app()
settings_module = app["settings"]
EVERY = 2.0
THRESHOLD = 3 * EVERY
"""As deployed: the alarms' 30 s threshold is three heartbeat intervals of 10 s."""
LAG = "SELECT EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8"


@pytest.fixture(scope="module")
def servers() -> Iterator[Cluster]:
    with cluster(standbys=1) as servers:
        yield servers


def home_settings(servers: Cluster, **overrides: Any) -> Any:
    user, password = CACHE_ADMIN
    values: dict[str, Any] = {
        "db_writer_host": servers.proxy.host,
        "db_writer_port": servers.proxy.port,
        "db_name": "postgres",
        "db_credentials": settings_module.DatabaseLogin("postgres", ""),
        "cache_host": "127.0.0.1",
        "cache_port": servers.valkey_port,
        "cache_auth": settings_module.CachePasswordAuth(user, password),
        "db_sslmode": "disable",
        "app_port": 0,  # bound by the server itself
        "region": "us-east-1",
    }
    return settings_module.Settings(**{**values, **overrides})


def max_lag_over(servers: Cluster, seconds: float, until_above: float = float("inf")) -> float:
    """The largest ReplicaLag the replica reports, sampled every 50 ms for `seconds` (or until it
    passes `until_above`)."""
    worst = 0.0
    deadline = time.monotonic() + seconds
    with psycopg.connect(servers.standbys[0].dsn, autocommit=True) as replica:
        while time.monotonic() < deadline and worst <= until_above:
            lag = replica.execute(LAG).fetchone()[0]  # type: ignore[index]
            worst = max(worst, lag or 0.0)
            time.sleep(0.05)
    return worst


def heartbeat_row(servers: Cluster) -> Any:
    with psycopg.connect(servers.primary.dsn, autocommit=True) as primary:
        return primary.execute("SELECT at FROM heartbeat").fetchone()


def test_an_idle_home_app_keeps_the_replicas_lag_under_the_alarm_threshold(servers: Cluster) -> None:
    server, heartbeat = app["main"].start(home_settings(servers), host="127.0.0.1", heartbeat_every=EVERY)
    try:
        deadline = time.monotonic() + 10
        while heartbeat.commits < 2:  # the schema (with the heartbeat's row) is created first
            assert time.monotonic() < deadline, f"no heartbeat committed ({heartbeat.failures} failures)"
            time.sleep(0.05)
        assert max_lag_over(servers, 5 * EVERY) < THRESHOLD
    finally:
        heartbeat.stop.set()
        server.server_close()
    # The control: the same idle source without its heartbeat, and the lag passes the threshold.
    assert max_lag_over(servers, 3 * THRESHOLD, until_above=THRESHOLD) > THRESHOLD


def test_many_instances_commit_about_once_per_half_interval_in_all(servers: Cluster) -> None:
    app["catalog"].Catalog(app["main"].heartbeat_for(home_settings(servers)).writer, None).create_schema()
    beats = [app["main"].heartbeat_for(home_settings(servers), every=EVERY) for _ in range(4)]
    threads = [threading.Thread(target=beat.run, daemon=True) for beat in beats]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(4 * EVERY)
    for beat in beats:
        beat.stop.set()
    for thread in threads:
        thread.join(timeout=5)
    elapsed = time.monotonic() - started
    commits = sum(beat.commits for beat in beats)
    assert 1 <= commits <= elapsed / (EVERY / 2) + 1, commits
    assert sum(beat.failures for beat in beats) == 0


def test_a_writer_that_does_not_answer_is_logged_and_the_heartbeat_keeps_trying(
    servers: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    with closed_port() as dead:
        heartbeat = app["main"].heartbeat_for(home_settings(servers, db_writer_port=dead), every=0.1)
        thread = threading.Thread(target=heartbeat.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while heartbeat.failures < 3:
            assert thread.is_alive() and time.monotonic() < deadline, "the heartbeat stopped trying"
            time.sleep(0.05)
        heartbeat.stop.set()
        thread.join(timeout=5)
    assert "heartbeat not written" in caplog.text


def test_a_read_region_app_writes_no_heartbeat(servers: Cluster) -> None:
    """Its database is a replica; here its only endpoint points at the primary itself, so that
    any heartbeat it wrote would land and show."""
    app["catalog"].Catalog(app["main"].heartbeat_for(home_settings(servers)).writer, None).create_schema()
    before = heartbeat_row(servers)
    with closed_port() as home_port:  # never asked: nothing here is forwarded
        settings = home_settings(
            servers,
            db_writer_host=servers.primary.host,
            db_writer_port=servers.primary.port,
            home_url=f"http://127.0.0.1:{home_port}",
            region="ap-northeast-1",
        )
        server, heartbeat = app["main"].start(settings, host="127.0.0.1", heartbeat_every=0.1)
        try:
            assert heartbeat is None
            time.sleep(1.0)
            assert heartbeat_row(servers) == before
        finally:
            server.server_close()


def test_the_lag_alarms_sit_above_the_lag_of_a_replica_whose_idle_source_beats() -> None:
    """At idle the replica's ReplicaLag climbs to one heartbeat interval between commits; a
    minute's Maximum sees that peak, so every lag alarm's threshold must stay above it (with the
    margin the test above measures: three intervals)."""
    every = app["heartbeat"].HEARTBEAT_EVERY
    alarms = [
        one(
            global_reads_template(READ_STACK_ID, "production"), "AWS::CloudWatch::Alarm", "/Replica/LagAlarm/"
        )[1],
        *[
            alarm
            for _, alarm in resources(
                template_json("MultiTier", "production"), "AWS::CloudWatch::Alarm", "Lag"
            )
        ],
    ]
    assert len(alarms) >= 2
    for alarm in alarms:
        props = alarm["Properties"]
        assert (props["MetricName"], props["Statistic"], props["Period"]) == ("ReplicaLag", "Maximum", 60)
        assert props["Threshold"] >= 3 * every


def test_a_replica_lag_bound_an_idle_source_would_cross_fails_naming_the_prop() -> None:
    with pytest.raises(PropError, match=r"^max_lag:"):
        replica(read_stack(), max_lag=cdk.Duration.seconds(int(app["heartbeat"].HEARTBEAT_EVERY)))
