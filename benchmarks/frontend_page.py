"""The orders web app's cold load: how many requests and how many bytes a first visit costs.

A fresh browser context (empty cache) of Debian's Chromium loads the page signed in (the token
the test harness issues is put in sessionStorage before the page runs) from the local edge of
tests/frontend_harness.py, which serves the built site and the real handler on moto. Counted:
every request the page makes until its first list is shown, and the bytes on the wire (headers
and bodies, as Chromium reports them). The edge here does not compress; CloudFront does
(`compress=True` on the site's behaviours), so the gzip size of each text body is printed too.

Budget: at most 5 requests (the page, its stylesheet and script, config.json, one API call for
the first page of orders) and 40 KB uncompressed. 40 KB is what a phone on a slow 3G link
(~400 kbit/s, the throttling profile browsers' developer tools call "Slow 3G") receives in under
a second, and it leaves a framework-free app room to grow; each extra request costs a round
trip that no bandwidth makes up on such a link.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import sys
from typing import Any

from moto import mock_aws
from playwright.sync_api import expect, sync_playwright

from patterns.frontend import build_site
from stacks.paths import runtime_dir
from tests.frontend_harness import CHROMIUM, FLAGS, Edge, FakeCognito, issue_token
from tests.test_orders_api import start_api, table_definition

BUDGET_REQUESTS = 5
BUDGET_BYTES = 40 * 1024


ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "bench",
}


def measure() -> dict[str, Any]:
    os.environ.update(ENVIRONMENT)
    site = build_site(runtime_dir("orders_web"))
    definition = table_definition()
    with mock_aws():
        api = start_api(definition)
        cognito = FakeCognito().start()
        edge = Edge(site=site, handler=api.module.handler, sign_in_origin=cognito.origin).start()
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
                context = browser.new_context()
                token = issue_token("bench-user", "bench@example.com")
                session = json.dumps({"idToken": token})
                context.add_init_script(f"sessionStorage.setItem('orders.session', {json.dumps(session)})")
                page = context.new_page()
                finished: list[Any] = []
                page.on("requestfinished", lambda request: finished.append(request))
                page.goto(edge.origin + "/")
                expect(page.get_by_text("You have no orders yet.")).to_be_visible()
                page.wait_for_load_state("networkidle")
                rows = []
                for request in finished:
                    sizes = request.sizes()
                    response = request.response()
                    body = response.body() if response else b""
                    rows.append(
                        {
                            "url": request.url.removeprefix(edge.origin),
                            "bytes": sizes["responseHeadersSize"] + sizes["responseBodySize"],
                            "gzip": len(gzip.compress(body)) + sizes["responseHeadersSize"],
                        }
                    )
                browser.close()
        finally:
            edge.stop()
            cognito.stop()
            shutil.rmtree(site, ignore_errors=True)
    return {"rows": rows}


def main() -> None:
    rows = measure()["rows"]
    total = sum(r["bytes"] for r in rows)
    compressed = sum(r["gzip"] for r in rows)
    for row in rows:
        print(f"  {row['url']:<40} {row['bytes']:>7} B   gzip {row['gzip']:>6} B")
    print(
        f"cold load: {len(rows)} requests (budget {BUDGET_REQUESTS}), {total / 1024:.1f} KB "
        f"(budget {BUDGET_BYTES // 1024} KB), {compressed / 1024:.1f} KB as CloudFront compresses it"
    )
    if len(rows) > BUDGET_REQUESTS or total > BUDGET_BYTES:
        print("over budget", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
