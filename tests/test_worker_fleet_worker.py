"""The worker fleet's worker (runtime/worker_fleet), run for real against moto's SQS and S3.

Every test that takes the `aws` fixture runs twice, once on each host the worker runs on
(hosts.py): an EC2 instance of the worker fleet and an ECS task of the container workers. The
worker is the same; the host bounds its settings and decides what else may stop it.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib
import io
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import tracemalloc
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.kit import ROOT

RUNTIME = ROOT / "runtime" / "worker_fleet"
MODULES = (
    "telemetry",
    "sqs_worker",
    "instance_lifecycle",
    "demo_job",
    "settings",
    "hosts",
    "run_worker",
    "producer",
)
MAX_RECEIVES = 3


def _load() -> dict[str, ModuleType]:
    """Import the runtime's modules by their own names, as they import each other on the instance."""
    for name in MODULES:
        sys.modules.pop(name, None)
    sys.path.insert(0, str(RUNTIME))
    try:
        return {name: importlib.import_module(name) for name in MODULES}
    finally:
        sys.path.remove(str(RUNTIME))


RT = _load()
sqs_worker, demo_job, producer, hosts = RT["sqs_worker"], RT["demo_job"], RT["producer"], RT["hosts"]
# The stop timeout the ECS host is given in these tests: long enough for every drain they ask for.
ECS_STOP_TIMEOUT = 30
HOSTS = {"ec2": lambda: hosts.Ec2Host(), "ecs": lambda: hosts.EcsHost(ECS_STOP_TIMEOUT)}


class Aws:
    """One input bucket, one versioned output bucket, a job queue redriving to a DLQ."""

    def __init__(self, host: Any) -> None:
        self.host = host
        region = {"LocationConstraint": "eu-west-1"}
        self.s3, self.sqs = boto3.client("s3"), boto3.client("sqs")
        self.bodies: dict[str, str] = {}
        self.s3.create_bucket(Bucket="input", CreateBucketConfiguration=region)  # type: ignore[arg-type]
        self.s3.create_bucket(Bucket="output", CreateBucketConfiguration=region)  # type: ignore[arg-type]
        # Versioning shows every write: a job written twice would leave two versions.
        self.s3.put_bucket_versioning(Bucket="output", VersioningConfiguration={"Status": "Enabled"})
        self.dlq_url = self.sqs.create_queue(QueueName="jobs-dlq")["QueueUrl"]
        dlq_arn = self.sqs.get_queue_attributes(QueueUrl=self.dlq_url, AttributeNames=["QueueArn"])
        redrive = {"deadLetterTargetArn": dlq_arn["Attributes"]["QueueArn"], "maxReceiveCount": MAX_RECEIVES}
        self.queue_url = self.sqs.create_queue(
            QueueName="jobs", Attributes={"RedrivePolicy": json.dumps(redrive), "VisibilityTimeout": "30"}
        )["QueueUrl"]

    def submit(self, tmp: Path, name: str, content: bytes) -> str:
        path = tmp / name
        path.write_bytes(content)
        job_id = str(producer.submit(self.s3, self.sqs, bucket="input", queue_url=self.queue_url, path=path))
        self.bodies[job_id] = json.dumps(
            {"jobId": job_id, "input": {"bucket": "input", "key": f"uploads/{job_id}/{name}"}}
        )
        return job_id

    def send(self, body: str, queue_url: str | None = None) -> None:
        self.sqs.send_message(QueueUrl=queue_url or self.queue_url, MessageBody=body)

    def counts(self, queue_url: str) -> tuple[int, int]:
        """(visible, in flight) messages."""
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        found = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]  # type: ignore[arg-type]
        return int(found[names[0]]), int(found[names[1]])

    def versions(self, key: str) -> int:
        listed = self.s3.list_object_versions(Bucket="output", Prefix=key)
        return len([v for v in listed.get("Versions", []) if v["Key"] == key])

    def summary(self, job_id: str) -> dict[str, Any]:
        key = demo_job.result_keys(job_id)[1]
        return dict(json.loads(self.s3.get_object(Bucket="output", Key=key)["Body"].read()))

    def dead_letters(self) -> list[str]:
        return [m["Body"] for m in self.dead_letter_messages()]

    def dead_letter_messages(self) -> list[dict[str, Any]]:
        found = self.sqs.receive_message(
            QueueUrl=self.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        )
        return list(found.get("Messages", []))


@pytest.fixture(params=sorted(HOSTS))
def aws(request: pytest.FixtureRequest) -> Iterator[Aws]:
    with mock_aws():
        yield Aws(HOSTS[request.param]())


def new_worker(aws: Aws, job: Callable[[dict[str, Any]], Any] | None = None, **settings: Any) -> Any:
    options = {
        "concurrency": 4,
        "wait_seconds": 1,
        "retry_delay_seconds": 0,
        "drain_seconds": 5.0,
        **settings,
    }
    options.setdefault("visibility_timeout_seconds", 30)
    options.setdefault("heartbeat_seconds", 10.0)
    options.setdefault("dead_letter_queue_url", aws.dlq_url)  # as the construct configures it
    telemetry = RT["telemetry"].Telemetry("test", stream=io.StringIO())
    return sqs_worker.Worker(
        aws.sqs,
        aws.host.settle(sqs_worker.Settings(queue_url=aws.queue_url, **options)),
        job or demo_job.FingerprintJob(aws.s3, "output"),
        telemetry,
        lifecycle=aws.host.lifecycle,
    )


def run_until(worker: Any, done: Callable[[], bool], timeout: float = 30) -> None:
    thread = threading.Thread(target=worker.run)
    thread.start()
    deadline = time.monotonic() + timeout
    try:
        while not done():
            assert time.monotonic() < deadline, f"gave up waiting; counters: {worker.counters}"
            time.sleep(0.05)
    finally:
        worker.stop("test over")
        thread.join(15)
    assert not thread.is_alive()


def logged(worker: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in worker.log._stream.getvalue().splitlines()]


def test_each_job_is_processed_exactly_once_even_when_delivered_twice(aws: Aws, tmp_path: Path) -> None:
    contents = {f"file{i}.txt": f"line one of {i}\nline two\n".encode() * (i + 1) for i in range(12)}
    jobs = {aws.submit(tmp_path, name, content): content for name, content in contents.items()}
    duplicated = list(jobs)[:5]
    for job_id in duplicated:  # the same job on the queue a second time, as SQS may deliver it
        aws.send(aws.bodies[job_id])
    worker = new_worker(aws)
    run_until(worker, lambda: worker.counters.succeeded == len(jobs) + len(duplicated))
    for job_id, content in jobs.items():
        content_key, summary_key = demo_job.result_keys(job_id)
        assert aws.versions(summary_key) == 1 and aws.versions(content_key) == 1, job_id
        summary = aws.summary(job_id)
        assert summary["sha256"] == hashlib.sha256(content).hexdigest()
        assert summary["lines"] == content.count(b"\n")
        body = aws.s3.get_object(Bucket="output", Key=content_key)["Body"].read()
        assert gzip.decompress(body) == content
    assert aws.counts(aws.queue_url) == (0, 0)
    assert aws.dead_letters() == []
    metrics = [r for r in logged(worker) if "_aws" in r]
    assert len(metrics) == len(jobs) + len(duplicated)
    assert {r["outcome"] for r in metrics} == {"succeeded"}


def test_a_poison_job_lands_in_the_dlq_after_the_receive_count_and_nothing_else_is_lost(
    aws: Aws, tmp_path: Path
) -> None:
    good = [aws.submit(tmp_path, f"ok{i}.txt", b"fine\n") for i in range(6)]
    poison = json.dumps({"jobId": "poison", "input": {"bucket": "input", "key": "uploads/never-uploaded"}})
    aws.send(poison)
    worker = new_worker(aws)
    run_until(worker, lambda: worker.counters.failed >= MAX_RECEIVES and worker.counters.succeeded == 6)
    # moto moves a message to the DLQ when it is received once more after the last allowed
    # receive; a short second run makes that receive.
    again = new_worker(aws)
    run_until(again, lambda: aws.counts(aws.dlq_url)[0] == 1)
    assert worker.counters.failed == MAX_RECEIVES and again.counters.failed == 0
    assert aws.dead_letters() == [poison]
    assert aws.counts(aws.queue_url) == (0, 0)
    assert all(aws.versions(demo_job.result_keys(job_id)[1]) == 1 for job_id in good)
    failures = [r for r in logged(worker) if r.get("message") == "job failed"]
    assert [r["receives"] for r in failures] == [1, 2, 3] and {r["job_id"] for r in failures} == {"poison"}


def test_a_malformed_job_goes_to_the_dlq_at_once_and_the_worker_goes_on(aws: Aws, tmp_path: Path) -> None:
    malformed = ["this is not json", json.dumps({"jobId": 42}), json.dumps({"jobId": "no-input"})]
    for body in malformed:
        aws.send(body)
    good = [aws.submit(tmp_path, f"ok{i}.txt", b"fine\n") for i in range(4)]
    worker = new_worker(aws)
    run_until(worker, lambda: worker.counters.malformed == 3 and worker.counters.succeeded == 4)
    assert sorted(aws.dead_letters()) == sorted(malformed)
    assert aws.counts(aws.queue_url) == (0, 0)
    reports = [r for r in logged(worker) if r.get("message") == "malformed job"]
    assert [r["receives"] for r in reports] == [1, 1, 1]  # no retry spent on them
    reasons = {r["reason"] for r in reports}
    assert any("not JSON" in reason for reason in reasons)
    assert any("jobId" in reason for reason in reasons)
    assert any("input" in reason for reason in reasons)
    assert all(r["level"] == "ERROR" and r["message_id"] for r in reports)
    assert all(aws.versions(demo_job.result_keys(job_id)[1]) == 1 for job_id in good)
    assert {r["outcome"] for r in logged(worker) if "_aws" in r} == {"succeeded", "malformed"}


def test_without_a_dead_letter_queue_url_a_malformed_job_is_left_to_the_redrive_policy(aws: Aws) -> None:
    aws.send("this is not json")
    worker = new_worker(aws, dead_letter_queue_url=None)
    # moto's redrive moves it on the receive after the last allowed one, as in the poison test
    run_until(worker, lambda: aws.counts(aws.dlq_url)[0] == 1)
    [dead] = aws.dead_letter_messages()
    assert dead["Body"] == "this is not json" and "MessageAttributes" not in dead
    reports = [r for r in logged(worker) if r.get("message") == "malformed job"]
    assert [r["receives"] for r in reports] == list(range(1, MAX_RECEIVES + 1))


def test_an_upload_over_the_maximum_is_refused_unread_and_sent_to_the_dlq_without_retries(
    aws: Aws, tmp_path: Path
) -> None:
    big = aws.submit(tmp_path, "big.bin", b"x" * 4096)
    small = [aws.submit(tmp_path, f"ok{i}.txt", b"fine\n") for i in range(3)]
    reads: list[str] = []
    real_get = aws.s3.get_object

    def counted_get(**kwargs: Any) -> Any:
        reads.append(kwargs["Key"])
        return real_get(**kwargs)

    aws.s3.get_object = counted_get  # type: ignore[method-assign]
    job = demo_job.FingerprintJob(aws.s3, "output", max_object_bytes=4095)
    worker = new_worker(aws, job)
    run_until(worker, lambda: worker.counters.refused == 1 and worker.counters.succeeded == 3)

    [dead] = aws.dead_letter_messages()
    assert dead["Body"] == aws.bodies[big]
    assert "4096 bytes" in dead["MessageAttributes"]["failure"]["StringValue"]
    assert aws.counts(aws.queue_url) == (0, 0)
    assert not any(big in key for key in reads)  # sized with HeadObject, never read
    assert aws.versions(demo_job.result_keys(big)[1]) == 0
    assert all(aws.versions(demo_job.result_keys(job_id)[1]) == 1 for job_id in small)
    [refusal] = [r for r in logged(worker) if r.get("message") == "job refused"]
    assert (refusal["job_id"], refusal["receives"], refusal["level"]) == (big, 1, "ERROR")
    assert worker.counters.failed == 0


def test_sigterm_mid_batch_leaves_no_message_unfinished_and_invisible(aws: Aws, tmp_path: Path) -> None:
    """Some jobs finish, the slow ones are still running when SIGTERM comes: after the drain
    every message is either deleted with its result written, or visible on the queue again."""
    fast = [aws.submit(tmp_path, f"fast{i}.txt", b"quick\n") for i in range(3)]
    slow = [aws.submit(tmp_path, f"slow{i}.txt", b"slow\n") for i in range(3)]
    real_job = demo_job.FingerprintJob(aws.s3, "output")
    gate, started = threading.Event(), threading.Semaphore(0)

    def job(body: dict[str, Any]) -> Any:
        if body["jobId"] in slow:
            started.release()
            gate.wait(30)
        return real_job(body)

    worker = new_worker(aws, job, concurrency=6, drain_seconds=0.5)

    def terminate_when_slow_jobs_run() -> None:
        for _ in slow:
            assert started.acquire(timeout=20)
        while worker.counters.succeeded < len(fast):
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGTERM)

    previous = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    hosts.stop_on_signals(worker)  # as run_worker.main does on both hosts
    killer = threading.Thread(target=terminate_when_slow_jobs_run)
    try:
        killer.start()
        assert worker.run() == 0
    finally:
        signal.signal(signal.SIGTERM, previous[0])
        signal.signal(signal.SIGINT, previous[1])
        gate.set()
        killer.join(10)
    assert worker.stop_reason == "SIGTERM"
    visible, invisible = aws.counts(aws.queue_url)
    assert (visible, invisible) == (len(slow), 0)
    assert worker.counters.released == len(slow)
    assert all(aws.versions(demo_job.result_keys(job_id)[1]) == 1 for job_id in fast)
    waiting = aws.sqs.receive_message(QueueUrl=aws.queue_url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(json.loads(m["Body"])["jobId"] for m in waiting) == sorted(slow)


def test_the_heartbeat_keeps_a_long_job_invisible_to_other_receives(aws: Aws, tmp_path: Path) -> None:
    job_id = aws.submit(tmp_path, "long.txt", b"long\n")
    real_job = demo_job.FingerprintJob(aws.s3, "output")
    runs: list[str] = []

    def long_job(body: dict[str, Any]) -> Any:
        runs.append(body["jobId"])
        time.sleep(5)  # 2.5 x the visibility timeout; free slots keep polling meanwhile
        return real_job(body)

    worker = new_worker(aws, long_job, visibility_timeout_seconds=2, heartbeat_seconds=0.5)
    run_until(worker, lambda: worker.counters.succeeded == 1)
    # Had the message become visible mid-job, a free slot would have started it a second time.
    assert runs == [job_id]
    assert aws.versions(demo_job.result_keys(job_id)[1]) == 1
    assert aws.counts(aws.queue_url) == (0, 0)


class FakeInstance(BaseHTTPRequestHandler):
    """IMDSv2 and the Auto Scaling query API on loopback (moto 5.2.5 has no
    CompleteLifecycleAction): records what the worker sends."""

    target_state = "InService"
    completions: list[dict[str, str]] = []  # noqa: RUF012

    def log_message(self, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: str, content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.end_headers()
        self.wfile.write(body.encode())

    def do_PUT(self) -> None:
        self._reply(200, "token-123") if self.path == "/latest/api/token" else self._reply(404, "")

    def do_GET(self) -> None:
        if self.headers.get("X-aws-ec2-metadata-token") != "token-123":
            return self._reply(401, "")
        answers = {
            "/latest/meta-data/autoscaling/target-lifecycle-state": type(self).target_state,
            "/latest/meta-data/instance-id": "i-0123456789abcdef0",
            "/latest/meta-data/tags/instance/aws:autoscaling:groupName": "fleet-group",
        }
        path = urllib.parse.unquote(self.path)
        self._reply(200, answers[path]) if path in answers else self._reply(404, "")

    def do_POST(self) -> None:
        form = self.rfile.read(int(self.headers["Content-Length"])).decode()
        type(self).completions.append(dict(urllib.parse.parse_qsl(form)))
        body = '<CompleteLifecycleActionResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/">'
        body += "<CompleteLifecycleActionResult/><ResponseMetadata><RequestId>1</RequestId>"
        body += "</ResponseMetadata></CompleteLifecycleActionResponse>"
        self._reply(200, body, "text/xml")


def test_scale_in_drains_then_completes_the_lifecycle_action(aws: Aws, tmp_path: Path) -> None:
    if aws.host.name == "ecs":
        pytest.skip("an ECS task has no lifecycle hook: SIGTERM alone stops it (the SIGTERM tests)")
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeInstance)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    FakeInstance.target_state, FakeInstance.completions = "InService", []
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        env = {
            "QUEUE_URL": aws.queue_url,
            "OUTPUT_BUCKET": "output",
            "WAIT_SECONDS": "1",
            "LIFECYCLE_HOOK_NAME": "drain-workers",
            "IMDS_URL": url,
        }
        session = boto3.session.Session()
        autoscaling = session.client("autoscaling", endpoint_url=url)
        worker = RT["run_worker"].build(env, session=session)
        worker.lifecycle.autoscaling = autoscaling  # the fake endpoint; SQS and S3 stay on moto
        worker.settings = sqs_worker.Settings(**{**worker.settings.__dict__, "lifecycle_poll_seconds": 0.1})
        worker.log._stream = io.StringIO()
        job_id = aws.submit(tmp_path, "a.txt", b"a\n")
        thread = threading.Thread(target=worker.run)
        thread.start()
        deadline = time.monotonic() + 20
        while worker.counters.succeeded < 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert FakeInstance.completions == []
        FakeInstance.target_state = "Terminated"
        thread.join(15)
        assert not thread.is_alive() and worker.stop_reason == "scale-in"
    finally:
        server.shutdown()
        server.server_close()
    [call] = FakeInstance.completions
    assert call["Action"] == "CompleteLifecycleAction"
    assert call["LifecycleHookName"] == "drain-workers"
    assert call["AutoScalingGroupName"] == "fleet-group"
    assert call["InstanceId"] == "i-0123456789abcdef0"
    assert call["LifecycleActionResult"] == "CONTINUE"
    assert aws.versions(demo_job.result_keys(job_id)[1]) == 1
    assert "lifecycle action completed" in [r.get("message") for r in logged(worker)]


def test_settings_refuse_a_heartbeat_slower_than_the_visibility_timeout() -> None:
    with pytest.raises(ValueError, match="heartbeat_seconds"):
        sqs_worker.Settings(queue_url="q", visibility_timeout_seconds=10, heartbeat_seconds=10)
    with pytest.raises(ValueError, match="concurrency"):
        sqs_worker.Settings(queue_url="q", concurrency=0)


@pytest.fixture
def s3_server(tmp_path: Path) -> Iterator[Any]:
    """moto's S3 in a process of its own, so that tracemalloc in this process counts the job's
    allocations and not the emulator's copy of the object."""
    # It binds a port the system picks (port 0) and reports it: a port probed free here and
    # bound there later could be taken by anything else meanwhile.
    server = subprocess.Popen(
        [sys.executable, "-c", MOTO_SERVER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        port = server.stdout.readline().strip()  # type: ignore[union-attr]
        assert port.isdigit(), f"moto server did not start (exit code {server.poll()})"
        yield boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}")
    finally:
        server.terminate()
        server.wait(10)


MOTO_SERVER = """
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer("127.0.0.1", 0, verbose=False)
server.start()  # returns once the socket listens
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()  # until the test closes it or ends the process
"""


def test_the_demo_job_streams_an_object_many_times_its_chunk_size_in_bounded_memory(
    s3_server: Any, tmp_path: Path
) -> None:
    chunk, size = 256 * 1024, 48 * 1024 * 1024  # the object is 192 chunks
    upload, digest, generator = tmp_path / "large.bin", hashlib.sha256(), random.Random(7)
    newlines = 0
    with upload.open("wb") as out:
        for _ in range(size // chunk):  # incompressible: the gzip is as large as the object
            block = generator.randbytes(chunk - 1) + b"\n"
            digest.update(block)
            newlines += block.count(b"\n")
            out.write(block)
    for bucket in ("input", "output"):
        s3_server.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3_server.upload_file(str(upload), "input", "uploads/j-1/large.bin")
    job = demo_job.FingerprintJob(s3_server, "output", max_object_bytes=size, chunk_bytes=chunk)

    tracemalloc.start()
    try:
        summary = job({"jobId": "j-1", "input": {"bucket": "input", "key": "uploads/j-1/large.bin"}})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert (summary["bytes"], summary["sha256"]) == (size, digest.hexdigest())
    assert summary["lines"] == newlines
    assert peak < size / 8, f"peak {peak} bytes for a {size}-byte object"
    result = s3_server.get_object(Bucket="output", Key=demo_job.result_keys("j-1")[0])["Body"]
    unzipped, inflate = hashlib.sha256(), zlib.decompressobj(wbits=31)
    for part in result.iter_chunks(chunk):
        unzipped.update(inflate.decompress(part))
    assert unzipped.hexdigest() == digest.hexdigest()


def test_on_ecs_a_drain_longer_than_the_stop_timeout_is_cut_so_every_message_is_released_first(
    tmp_path: Path,
) -> None:
    """ECS kills the container `stopTimeout` after SIGTERM: jobs that would outlast it are
    released while there is still time, and the worker returns 0 before the SIGKILL would land."""
    stop_timeout = hosts.RELEASE_MARGIN_SECONDS + 2
    with mock_aws():
        aws = Aws(hosts.EcsHost(stop_timeout))
        stuck = [aws.submit(tmp_path, f"stuck{i}.txt", b"stuck\n") for i in range(4)]
        gate, started = threading.Event(), threading.Semaphore(0)

        def job(body: dict[str, Any]) -> Any:
            started.release()
            gate.wait(60)

        worker = new_worker(aws, job, drain_seconds=600.0)  # what the EC2 fleet might allow
        thread = threading.Thread(target=worker.run)
        thread.start()
        try:
            for _ in stuck:
                assert started.acquire(timeout=20)
            stopped_at = time.monotonic()
            worker.stop("SIGTERM")
            thread.join(stop_timeout)
            took = time.monotonic() - stopped_at
            assert not thread.is_alive(), "still draining when ECS would have sent SIGKILL"
        finally:
            gate.set()
            thread.join(10)
        assert took < stop_timeout
        assert aws.counts(aws.queue_url) == (len(stuck), 0)
        assert worker.counters.released == len(stuck)


def test_on_ecs_sigterm_during_a_long_poll_still_releases_every_message_before_the_kill(
    tmp_path: Path,
) -> None:
    """SIGTERM usually lands while the receiver long-polls (free slots, a quiet queue: scale-in).
    SQS holds that receive up to WaitTimeSeconds (20 s), so on ECS the poll is capped by the
    drain budget and the budget runs from SIGTERM: the stuck job's message is released and the
    worker returns before `stopTimeout`, when ECS sends SIGKILL."""
    stop_timeout = hosts.RELEASE_MARGIN_SECONDS + 2
    with mock_aws():
        aws = Aws(hosts.EcsHost(stop_timeout))
        aws.submit(tmp_path, "stuck.txt", b"stuck\n")
        gate, started = threading.Event(), threading.Semaphore(0)

        def job(body: dict[str, Any]) -> Any:
            started.release()
            gate.wait(60)

        worker = new_worker(aws, job, wait_seconds=20, drain_seconds=600.0)
        assert worker.settings.wait_seconds <= stop_timeout - hosts.RELEASE_MARGIN_SECONDS
        thread = threading.Thread(target=worker.run)
        thread.start()
        try:
            assert started.acquire(timeout=20)
            time.sleep(0.5)  # let the receiver enter its long poll for the three free slots
            stopped_at = time.monotonic()
            worker.stop("SIGTERM")
            thread.join(stop_timeout)
            took = time.monotonic() - stopped_at
            assert not thread.is_alive(), "still polling or draining when ECS would have sent SIGKILL"
        finally:
            gate.set()
            thread.join(10)
        assert took < stop_timeout
        assert aws.counts(aws.queue_url) == (1, 0)
        assert worker.counters.released == 1


def test_the_entry_point_on_ecs_drains_and_exits_0_on_sigterm(tmp_path: Path) -> None:
    """run_worker.py as the container runs it, a real process against a moto server: it
    processes the jobs, and ECS's SIGTERM makes it drain and exit 0 (not 143, which ECS reports
    as a task killed mid-work)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(port=0, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{server._server.server_port}"  # type: ignore[union-attr]
    credentials = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    # The server serves this process's moto backends, which outlive it: emptied before (a
    # server test that ran here earlier left its buckets and queues) and after.
    reset = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(reset).close()
    try:
        saved = {name: os.environ.get(name) for name in [*credentials, "AWS_ENDPOINT_URL"]}
        os.environ.update({**credentials, "AWS_ENDPOINT_URL": endpoint})
        try:
            aws = Aws(hosts.EcsHost(ECS_STOP_TIMEOUT))
            jobs = [aws.submit(tmp_path, f"job{i}.txt", b"to do\n") for i in range(3)]
        finally:
            for name, value in saved.items():
                os.environ.pop(name, None) if value is None else os.environ.__setitem__(name, value)
        env = {
            "PATH": os.environ["PATH"],
            **credentials,
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_REGION": "eu-west-1",
            "AWS_DEFAULT_REGION": "eu-west-1",
            "QUEUE_URL": aws.queue_url,
            "DEAD_LETTER_QUEUE_URL": aws.dlq_url,
            "OUTPUT_BUCKET": "output",
            "WAIT_SECONDS": "1",
            "DRAIN_SECONDS": "300",
            "WORKER_HOST": "ecs",
            "STOP_TIMEOUT_SECONDS": "30",
        }
        process = subprocess.Popen(
            [sys.executable, "run_worker.py"],
            cwd=RUNTIME,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 30
            while not all(aws.versions(demo_job.result_keys(job_id)[1]) == 1 for job_id in jobs):
                assert process.poll() is None, process.communicate()[1]
                assert time.monotonic() < deadline
                time.sleep(0.1)
            process.send_signal(signal.SIGTERM)
            code = process.wait(ECS_STOP_TIMEOUT)
        finally:
            if process.poll() is None:
                process.kill()
            output, errors = process.communicate()
        assert code == 0, errors
        records = [json.loads(line) for line in output.splitlines()]
        [stopped] = [r for r in records if r.get("message") == "worker stopped"]
        assert stopped["succeeded"] == len(jobs)
        assert [r["reason"] for r in records if r.get("message") == "draining"] == ["SIGTERM"]
        assert aws.counts(aws.queue_url) == (0, 0)
    finally:
        urllib.request.urlopen(reset).close()
        server.stop()


def test_the_host_is_named_and_bounded_by_the_environment() -> None:
    settings = RT["settings"].WorkerSettings.from_environ({"QUEUE_URL": "q", "OUTPUT_BUCKET": "b"})
    error = RT["settings"].SettingsError
    with pytest.raises(error, match="WORKER_HOST"):
        hosts.host_for({"WORKER_HOST": "lambda"}, settings, lambda: None)
    with pytest.raises(error, match="STOP_TIMEOUT_SECONDS"):  # over Fargate's 120 s maximum
        hosts.host_for({"WORKER_HOST": "ecs", "STOP_TIMEOUT_SECONDS": "300"}, settings, lambda: None)
    ecs = hosts.host_for({"WORKER_HOST": "ecs", "STOP_TIMEOUT_SECONDS": "60"}, settings, lambda: None)
    assert ecs.lifecycle is None
    assert ecs.settle(settings.worker).drain_seconds == 60 - hosts.RELEASE_MARGIN_SECONDS
