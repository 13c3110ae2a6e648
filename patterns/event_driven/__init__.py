"""Event-driven: an EventBridge bus with an archive, content-filtered rules whose every target has
its own dead-letter queue and retry policy, EventBridge Scheduler, and S3 events into EventBridge.

construct: `construct.py` (EventRouter), `targets.py` (QueueTarget), `event_pattern.py` (pattern checks),
           `native_layer.py` (native wheels for Lambda's arm64 runtime, built without Docker)
stack:     `stacks/event_driven_stack.py`
runtime:   `lambda/thumbnail` (thumbnails of uploads), `lambda/order_report` (nightly report)
tests:     `tests/test_event_driven_*.py`
page:      `docs/event-driven.md`
"""

from .construct import EventRouter
from .event_pattern import check_pattern, to_event_pattern
from .native_layer import NativeLayer
from .targets import QueueTarget

__all__ = ["EventRouter", "NativeLayer", "QueueTarget", "check_pattern", "to_event_pattern"]
