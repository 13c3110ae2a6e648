"""The orders web app in a real browser (Debian's Chromium, driven by Playwright), served as the
distribution serves it, against the real orders API handler on moto's DynamoDB.

How sign-in is replaced: tests/frontend_harness.py. The page runs its real PKCE code against a
stand-in for the hosted UI, which checks the verifier and issues a token the test signs; the
edge plays the Cognito authorizer with that key. Every wait is on a condition (Playwright's
expect), never a sleep. Screenshots of the main screens go to build/artifacts/frontend/.
"""

from __future__ import annotations

import json
import re
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from playwright.sync_api import Browser, Page, expect, sync_playwright

from patterns.frontend import build_site
from stacks.paths import runtime_dir
from tests.frontend_harness import CHROMIUM, FLAGS, Edge, FakeCognito, issue_token
from tests.test_orders_api import start_api, table_definition

# Playwright's assertions retry until their timeout (5 s by default); a passing test never waits
# for it, but on a loaded CI machine Chromium can take longer than 5 s to render a view.
expect.set_options(timeout=20_000)

ARTIFACTS = Path(__file__).resolve().parent.parent / "build" / "artifacts" / "frontend"
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def world() -> Iterator[dict[str, Any]]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: `make bootstrap` installs Debian's chromium (apt-get)")
    definition = table_definition()
    site = build_site(runtime_dir("orders_web"))
    with mock_aws():
        api = start_api(definition)
        cognito = FakeCognito().start()
        edge = Edge(site=site, handler=api.module.handler, sign_in_origin=cognito.origin).start()
        with sync_playwright() as playwright:
            # Playwright gives each launch a fresh profile folder of its own (it refuses
            # --user-data-dir in launch()), which is the fresh --user-data-dir Chromium needs here.
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            try:
                yield {"edge": edge, "cognito": cognito, "browser": browser, "api": api}
            finally:
                browser.close()
                edge.stop()
                cognito.stop()
                shutil.rmtree(site, ignore_errors=True)


@pytest.fixture
def page(world: dict[str, Any], request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser context (no session), signed in as a user of this test alone."""
    world["cognito"].sub = f"user-{request.node.name}"
    world["edge"].faults.clear()
    browser: Browser = world["browser"]
    context = browser.new_context(viewport=PHONE if "phone" in request.node.name else None)
    page = context.new_page()
    # Every CSP violation and every uncaught script error fails the test that caused it.
    page.csp_errors = []  # type: ignore[attr-defined]
    page.on(
        "console",
        lambda message: (
            page.csp_errors.append(message.text)  # type: ignore[attr-defined]
            if "Content Security Policy" in message.text
            else None
        ),
    )
    page.on("pageerror", lambda error: page.csp_errors.append(f"uncaught: {error}"))  # type: ignore[attr-defined]
    yield page
    assert page.csp_errors == [], page.csp_errors  # type: ignore[attr-defined]
    context.close()


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(page: Page, world: dict[str, Any]) -> None:
    page.goto(world["edge"].origin + "/")
    expect(page.get_by_text("Sign in to see and place your orders.")).to_be_visible()
    # The list view shows its heading before its GET /orders returns: wait for the answer, or a
    # test's next step (a fault, a DELETE from another window) races the list's first load.
    with page.expect_response(lambda response: "/v1/orders?" in response.url):
        page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="My orders")).to_be_visible()


def call_api(
    world: dict[str, Any], method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> Any:
    token = issue_token(world["cognito"].sub, "ana@example.com")
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"{world['edge'].origin}/v1{path}",
        data=data,
        method=method,
        headers={"Authorization": token, "Content-Type": "application/json", **(headers or {})},
    )
    with urllib.request.urlopen(request) as response:
        text = response.read()
        return json.loads(text) if text else None


def seed(world: dict[str, Any], count: int) -> list[dict[str, Any]]:
    return [
        call_api(
            world,
            "POST",
            "/orders",
            {"items": [{"sku": f"SEED-{n}", "quantity": 1, "unitPriceCents": 100 * (n + 1)}]},
            {"Idempotency-Key": f"seed-key-{world['cognito'].sub}-{n}"},
        )
        for n in range(count)
    ]


def fill_line(page: Page, sku: str, quantity: str, price: str, index: int = 0) -> None:
    page.get_by_label("Product code (SKU)").nth(index).fill(sku)
    page.get_by_label("Quantity").nth(index).fill(quantity)
    page.get_by_label("Unit price (cents)").nth(index).fill(price)


def error_box(page: Page) -> Any:
    return page.get_by_role("alert")


def test_sign_in_runs_the_code_flow_with_pkce_and_shows_the_user(page: Page, world: dict[str, Any]) -> None:
    """The hosted UI gets an S256 code_challenge and the token endpoint the matching verifier
    (the stand-in refuses a mismatch: RFC 7636 section 4.6); the code leaves the address bar."""
    page.goto(world["edge"].origin + "/")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    shot(page, "1-signed-out")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Signed in as ana@example.com")).to_be_visible()
    expect(page.get_by_text("You have no orders yet.")).to_be_visible()
    assert "code=" not in page.url
    assert world["cognito"].challenges == {}  # the one code issued was redeemed


def test_a_tampered_verifier_is_refused_and_the_user_is_told(page: Page, world: dict[str, Any]) -> None:
    """A code redeemed with another verifier gets no token (what PKCE is for): the page says
    sign-in failed and stays signed out."""
    page.goto(world["edge"].origin + "/")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    page.route(
        re.compile(r".*/oauth2/token$"),
        lambda route: route.continue_(
            post_data=re.sub(r"code_verifier=[^&]+", "code_verifier=forged", route.request.post_data or "")
        ),
    )
    page.get_by_role("button", name="Sign in").click()
    expect(error_box(page)).to_contain_text("Sign-in could not be completed")
    expect(page.get_by_text("Sign in to see and place your orders.")).to_be_visible()


def test_create_sends_an_idempotency_key_and_the_order_is_listed(page: Page, world: dict[str, Any]) -> None:
    sign_in(page, world)
    page.get_by_role("link", name="New order").click()
    expect(page.get_by_role("heading", name="New order")).to_be_focused()
    fill_line(page, "BOOK-1", "2", "1250")
    page.get_by_role("button", name="Add an item").click()
    fill_line(page, "PEN-9", "1", "100", index=1)
    page.get_by_label("Ship this order").check()
    shot(page, "2-new-order")
    with page.expect_request(lambda r: r.method == "POST" and "/v1/orders" in r.url) as sent:
        page.get_by_role("button", name="Place order").click()
    expect(page.get_by_role("status")).to_contain_text("was placed")
    item = page.get_by_role("listitem")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("2 x BOOK-1 at 12.50, 1 x PEN-9 at 1.00")
    expect(item).to_contain_text("Total 26.00 · version 1 · to be shipped")
    key = sent.value.headers["idempotency-key"]
    assert re.fullmatch(r"[0-9a-f-]{36}", key)
    markers = [i for i in world["api"].stored() if i.get("kind") != "order" and key in str(i.get("id"))]
    assert len(markers) == 1, "the handler recorded the page's Idempotency-Key"


def test_orders_are_listed_in_pages_until_there_are_no_more(page: Page, world: dict[str, Any]) -> None:
    seed(world, 7)
    sign_in(page, world)
    expect(page.get_by_role("listitem")).to_have_count(5)
    page.get_by_role("button", name="Show more orders").click()
    expect(page.get_by_role("listitem")).to_have_count(7)
    expect(page.get_by_role("button", name="Show more orders")).to_be_hidden()
    expect(page.get_by_role("status")).to_have_text("Showing 7 orders.")
    texts = page.get_by_role("listitem").all_inner_texts()
    assert [re.search(r"SEED-\d", t).group(0) for t in texts] == [f"SEED-{n}" for n in range(7)]  # type: ignore[union-attr]


def test_on_a_phone_the_list_fits_the_screen(page: Page, world: dict[str, Any]) -> None:
    seed(world, 3)
    sign_in(page, world)
    expect(page.get_by_role("listitem")).to_have_count(3)
    shot(page, "3-list-phone")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_an_edit_on_a_stale_version_shows_the_409_and_a_reload_recovers(
    page: Page, world: dict[str, Any]
) -> None:
    (order,) = seed(world, 1)
    sign_in(page, world)
    page.get_by_role("link", name=f"Edit order {order['id'][:8]}").click()
    expect(page.get_by_text("You are editing version 1.")).to_be_visible()
    # Someone else saves first (another tab, another device): the order is at version 2.
    call_api(
        world,
        "PUT",
        f"/orders/{order['id']}",
        {"version": 1, "items": order["items"], "requiresShipping": True},
    )
    page.get_by_label("Quantity").fill("5")
    page.get_by_role("button", name="Save changes").click()
    expect(error_box(page)).to_contain_text("This order was changed by someone else since you opened it.")
    expect(error_box(page)).to_contain_text("the order is at version 2")
    shot(page, "4-edit-conflict")
    page.get_by_role("button", name="Reload the order").click()
    expect(page.get_by_text("You are editing version 2.")).to_be_visible()
    expect(page.get_by_label("Ship this order")).to_be_checked()
    page.get_by_label("Quantity").fill("5")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status")).to_contain_text("was saved (version 3)")
    expect(page.get_by_role("listitem")).to_contain_text("5 x SEED-0")


def test_cancel_removes_the_order_here_and_in_the_table(page: Page, world: dict[str, Any]) -> None:
    first, second = seed(world, 2)
    sign_in(page, world)
    page.get_by_role("button", name=f"Cancel order {first['id'][:8]}").click()
    expect(page.get_by_role("status")).to_have_text(f"Order {first['id'][:8]} was cancelled.")
    expect(page.get_by_role("listitem")).to_have_count(1)
    ids = {i["id"] for i in world["api"].orders()}
    assert first["id"] not in ids and second["id"] in ids


def test_keyboard_alone_places_an_order(page: Page, world: dict[str, Any]) -> None:
    """Every control is reachable and usable with Tab, typing and Enter (WCAG 2.1.1)."""
    sign_in(page, world)
    page.get_by_role("link", name="New order").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="New order")).to_be_focused()
    for text in ("KEY-1", "3", "250"):
        page.keyboard.press("Tab")
        page.keyboard.type(text)
    page.get_by_label("Unit price (cents)").press("Enter")  # Enter in a field submits the form
    expect(page.get_by_role("status")).to_contain_text("was placed")
    expect(page.get_by_role("listitem")).to_contain_text("3 x KEY-1 at 2.50")


# Errors: each one the API documents, as the user sees it. "real" ones come from the handler or
# the authorizer stand-in; the others API Gateway or WAF send before any handler runs.
def test_a_400_names_the_problem(page: Page, world: dict[str, Any]) -> None:
    sign_in(page, world)
    page.get_by_role("link", name="New order").click()
    fill_line(page, "not a sku!", "1", "100")
    page.get_by_role("button", name="Place order").click()
    expect(error_box(page)).to_contain_text("The order was not accepted. Correct it and try again.")
    expect(error_box(page)).to_contain_text("Details: ")
    expect(error_box(page)).to_contain_text("sku")
    expect(error_box(page)).to_contain_text("Reference: ")
    shot(page, "5-error-400")
    assert world["api"].orders() == [] or all(
        o["ownerId"] != world["cognito"].sub for o in world["api"].orders()
    )


def test_an_expired_token_is_a_401_that_asks_to_sign_in_again(page: Page, world: dict[str, Any]) -> None:
    world["cognito"].token_lifetime = -1  # the hosted UI issues a token already past its expiry
    try:
        page.goto(world["edge"].origin + "/")
        page.get_by_role("button", name="Sign in").click()
        expect(error_box(page)).to_contain_text("Your session has ended. Sign in again to continue.")
    finally:
        world["cognito"].token_lifetime = 900
    page.get_by_role("button", name="Sign in again").click()
    expect(page.get_by_role("heading", name="My orders")).to_be_visible()
    expect(error_box(page)).to_be_hidden()


def test_a_404_says_the_order_is_gone(page: Page, world: dict[str, Any]) -> None:
    (order,) = seed(world, 1)
    sign_in(page, world)
    call_api(world, "DELETE", f"/orders/{order['id']}")  # cancelled in another window
    page.get_by_role("link", name=f"Edit order {order['id'][:8]}").click()
    expect(error_box(page)).to_contain_text("This order no longer exists")


def test_a_retry_with_changed_contents_is_a_422(page: Page, world: dict[str, Any]) -> None:
    """The first create lands but its answer is lost (a 504 after the handler ran); the form keeps
    its Idempotency-Key, so the user's retry with other contents is refused, not a second order."""
    sign_in(page, world)
    page.get_by_role("link", name="New order").click()
    fill_line(page, "BOOK-1", "1", "100")
    world["edge"].fail_next(
        "POST", 504, "INTEGRATION_TIMEOUT", "Endpoint request timed out", after_handler=True
    )
    page.get_by_role("button", name="Place order").click()
    expect(error_box(page)).to_contain_text("The service failed (error 504)")
    page.get_by_label("Quantity").fill("2")
    page.get_by_role("button", name="Place order").click()
    expect(error_box(page)).to_contain_text("This order was already placed with different contents.")
    mine = [o for o in world["api"].orders() if o["ownerId"] == world["cognito"].sub]
    assert len(mine) == 1


@pytest.mark.parametrize(
    ("status", "code", "shown"),
    [
        (403, "WAF_FILTERED", "The request was blocked by the site's firewall."),
        (429, "THROTTLED", "Too many requests right now. Wait a moment, then try again."),
        (413, "REQUEST_ENTITY_TOO_LARGE", "The order is too large to send."),
        (415, "UNSUPPORTED_MEDIA_TYPE", "The page sent the order in a form the service does not accept."),
        (409, "CONFLICT", "changed by someone else"),
        (502, "BAD_GATEWAY", "The service failed (error 502). Try again in a few minutes."),
    ],
)
def test_errors_before_or_beside_the_handler_are_explained(
    page: Page, world: dict[str, Any], status: int, code: str, shown: str
) -> None:
    sign_in(page, world)
    page.get_by_role("link", name="New order").click()
    fill_line(page, "BOOK-1", "1", "100")
    world["edge"].fail_next("POST", status, code, "as API Gateway words it")
    page.get_by_role("button", name="Place order").click()
    expect(error_box(page)).to_contain_text(shown)
    expect(error_box(page)).to_contain_text("Details: as API Gateway words it")


def test_an_unreachable_service_is_explained(page: Page, world: dict[str, Any]) -> None:
    sign_in(page, world)
    page.route(re.compile(r".*/v1/orders\?.*"), lambda route: route.abort())
    page.get_by_role("link", name="New order").click()
    page.get_by_role("link", name="Back to my orders").click()
    expect(error_box(page)).to_contain_text(
        "Could not reach the service. Check your connection and try again."
    )


def test_a_missing_asset_stays_an_error_while_routes_get_the_page(world: dict[str, Any]) -> None:
    """The edge answers extensionless routes with index.html and files as they are."""
    origin = world["edge"].origin
    with urllib.request.urlopen(f"{origin}/edit/00000000-0000-0000-0000-000000000000") as response:
        assert b"<title>Orders</title>" in response.read()
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"{origin}/assets/app.0000000000.js")
    assert missing.value.code == 403
    boto3.client("dynamodb")  # the world still runs under moto
