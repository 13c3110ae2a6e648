"""Reusable constructs, one package per pattern, plus what they share.

Every import inside this folder is relative, so it works under any name: installed, it is
`refarch` (`pip install <repo>`; see pyproject.toml); copied into another app, copy
`shared/` and the pattern's package (the wiring checks in `wiring/` stand alone).

| package | constructs | page |
| --- | --- | --- |
| `fan_out/` | FanOut | docs/fan-out.md |
| `worker_fleet/` | WorkerFleet | docs/worker-fleet.md |
| `multi_tier/` | Network, WebTier, DataTier, ValkeyCache | docs/multi-tier.md |
| `serverless_api/` | ServerlessApi | docs/serverless-api.md |
| `order_workflow/` | OrderWorkflow | docs/order-workflow.md |
| `shared/` | PythonFunction, defaults, tables, buckets, acknowledgements | README.md |
| `wiring/` | WiringChecks (cross-resource checks; needs only aws-cdk-lib) | README.md |
"""
