"""X-Ray tracing of the orders API, without the X-Ray SDK at cold start unless asked for.

Lambda's active tracing (the function's TracingConfig, which the construct sets) records every
sampled invocation with no code in the function: the AWS::Lambda service segment and the
AWS::Lambda::Function segment with its Initialization (the cold start), Invocation and Overhead
subsegments, errors and faults included. botocore adds the invocation's trace header
(X-Amzn-Trace-Id, which Lambda puts in _X_AMZN_TRACE_ID) to every AWS call it makes in Lambda,
so a downstream service that traces joins the same trace.

What the X-Ray SDK would add is a subsegment per DynamoDB call (operation, table, latency,
throttles) and per route (`## create_order`), with the ColdStart and Service annotations.
Importing it costs more than boto3's own import at every cold start, so it is off by default;
TRACE_AWS_CALLS=true turns it on (Powertools' Tracer, only botocore patched).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

Handler = TypeVar("Handler", bound=Callable[..., Any])


class Tracing:
    """`capture_method` and `capture_lambda_handler` decorators: Powertools' when enabled,
    the function unchanged when not."""

    def __init__(self, *, aws_calls: bool) -> None:
        self.enabled = aws_calls
        self._tracer: Any = None
        if aws_calls:
            from aws_lambda_powertools import Tracer

            self._tracer = Tracer(patch_modules=("botocore",))

    def capture_method(self, method: Handler) -> Handler:
        return method if self._tracer is None else self._tracer.capture_method(method)

    def capture_lambda_handler(self, handler: Handler) -> Handler:
        return handler if self._tracer is None else self._tracer.capture_lambda_handler(handler)
