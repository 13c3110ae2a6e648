"""Names that the integ apps, the runner and the leftover check share (no CDK import here, so
`make integ` can stop at once without credentials)."""

# One integration test app per stack of the kit: integ/integ_<snake_case>.py.
APPS = {
    "FanOut": "integ_fan_out",
    "WorkerFleet": "integ_worker_fleet",
    "MultiTier": "integ_multi_tier",
    "ServerlessApi": "integ_serverless_api",
    "OrderWorkflow": "integ_order_workflow",
    "ContainerWorkers": "integ_container_workers",
    "Backup": "integ_backup",
    "Streaming": "integ_streaming",
    "EventDriven": "integ_event_driven",
    "Frontend": "integ_frontend",
    "GlobalReads": "integ_global_reads",  # with GlobalReadsHome; context stacks, by example context
    "Standby": "integ_standby",  # the four Standby stacks, built with context from the environment
}
# Every resource of an integ run carries this tag; integ.leftovers looks for it after destroy.
RUN_TAG = "refarch:integ-run"
RUN_ID_ENV = "REFARCH_INTEG_RUN"
# The committed snapshots are synthesized with this run id, so that they are reproducible.
SNAPSHOT_RUN_ID = "snapshot"
STACK_NAME_PREFIX = "refarch-integ-"
