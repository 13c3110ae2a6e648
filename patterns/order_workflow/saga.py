"""Building blocks of a saga in Step Functions: retry policies for the two kinds of step, and the
chain of compensations that a failure runs in reverse order.

Retries use exponential backoff, a cap on the delay and full jitter, so a burst of executions
that fail together does not retry together. CDK's default Lambda retry (added unless
`retry_on_service_exceptions=False`) has neither jitter nor `Lambda.TooManyRequestsException`
(aws/aws-cdk#26470): Lambda steps built here switch it off and carry this policy instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_stepfunctions as sfn

from ..shared.props import expect, whole_seconds, within

Step = sfn.TaskStateBase | sfn.Map
"""A state that can carry Retry and Catch."""

FAILURE_PATH = "$.failure"
"""Where a caught error ({Error, Cause}) is kept while compensations run."""

TRANSIENT_LAMBDA_ERRORS = (
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Lambda.Unknown",
    sfn.Errors.TIMEOUT,
)
TRANSIENT_DYNAMODB_ERRORS = (
    "DynamoDB.ProvisionedThroughputExceededException",
    "DynamoDB.RequestLimitExceeded",
    "DynamoDB.ThrottlingException",
    "DynamoDB.InternalServerErrorException",
    "DynamoDB.AmazonDynamoDBException",
    sfn.Errors.TIMEOUT,
)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff from `interval`, capped at `max_delay`, with full jitter."""

    max_attempts: int
    interval: Duration
    max_delay: Duration
    backoff_rate: float = 2.0

    def validate(self, prop: str) -> None:
        """Refuse what Step Functions refuses in a Retrier: IntervalSeconds and MaxDelaySeconds
        are whole seconds from 1 (a fraction is rounded away by CDK's to_seconds, or fails
        without naming the prop), MaxAttempts 0-99999999, BackoffRate at least 1."""
        expect(f"{prop}.max_attempts", self.max_attempts, int)
        within(f"{prop}.max_attempts", self.max_attempts, 1, 99999999)
        interval = whole_seconds(f"{prop}.interval", self.interval, low=1, high=99999999)
        whole_seconds(f"{prop}.max_delay", self.max_delay, low=interval, high=31622400)
        expect(f"{prop}.backoff_rate", self.backoff_rate, float)
        within(f"{prop}.backoff_rate", self.backoff_rate, 1, 1000)

    def apply(self, task: Step, errors: Sequence[str]) -> None:
        task.add_retry(
            errors=list(errors),
            max_attempts=self.max_attempts,
            interval=self.interval,
            max_delay=self.max_delay,
            backoff_rate=self.backoff_rate,
            jitter_strategy=sfn.JitterType.FULL,
        )


RECORD_FAILURE_PATH = "$.recordFailure"
"""Where the error of recording the order's outcome is kept, apart from why it ends this way."""

COMPENSATION_FAILURE_PATH = "$.compensationFailure"
"""Where the error of a compensation that gave up is kept (the saga carries on without it)."""


@dataclass(frozen=True)
class Compensation:
    """A compensating step, and the step that reports it when it keeps failing (e.g. a message
    to a dead-letter queue with the order and the error)."""

    step: Step
    report: sfn.TaskStateBase


class CompensationChain:
    """Compensations in the order their forward steps ran; a failure enters the chain at the
    compensation of the last step that may have had an effect and runs back to the first.

    Each compensation is retried on any error (undoing must not give up early). One that still
    fails is reported, and the chain carries on with the older compensations, so one stuck
    refund does not also keep the stock reserved. The chain then goes to `then`, where
    `COMPENSATION_FAILURE_PATH` is present if any compensation was reported.
    """

    def __init__(
        self, compensations: Sequence[Compensation], *, retry: RetryPolicy, then: sfn.IChainable
    ) -> None:
        if not compensations:
            raise ValueError("compensations: a saga needs at least one compensating step")
        self.compensations = list(compensations)
        for index, compensation in enumerate(self.compensations):
            older = self.compensations[index - 1].step if index else then
            retry.apply(compensation.step, [sfn.Errors.ALL])
            compensation.step.add_catch(
                compensation.report, errors=[sfn.Errors.ALL], result_path=COMPENSATION_FAILURE_PATH
            )
            compensation.step.next(older)
            compensation.report.next(older)

    def entry_after(self, completed_steps: int) -> sfn.IChainable:
        """Where a failure enters the chain once `completed_steps` compensable forward steps
        (counted from the first) may have taken effect."""
        if not 1 <= completed_steps <= len(self.compensations):
            raise ValueError(f"undo_up_to: {completed_steps} is outside 1..{len(self.compensations)}")
        return self.compensations[completed_steps - 1].step

    def catch_into(
        self, step: sfn.TaskStateBase | sfn.Map, *, undo_up_to: int, errors: Sequence[str]
    ) -> None:
        """Send `errors` of `step` into the chain, undoing compensable steps 1..`undo_up_to`."""
        step.add_catch(self.entry_after(undo_up_to), errors=list(errors), result_path=FAILURE_PATH)
