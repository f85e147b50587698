"""SSO in a real browser: the console's "Sign in with SSO" button, the provider's (npm's
oidc-provider) login and consent pages, and back in the console as that person with the role
their groups give. Screenshots go to test-output/screenshots/sso-*.png.

One `fastflow serve` (SQLite) for the module; the HTTP-level cases (state, nonce, tampered
tokens, replays, open redirects...) are in tests/integration/test_sso.py.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import EXAMPLES
from tests.support.oidc_provider import OidcProvider
from tests.support.services import passable_temp
from tests.support.ui import UiServer, shoot

expect = pytest.importorskip("playwright.sync_api").expect

LABEL = "Sign in with Example SSO"


@pytest.fixture(scope="module")
def sso_ui(
    tmp_path_factory: pytest.TempPathFactory, oidc_provider: OidcProvider
) -> Iterator[UiServer]:
    folder = passable_temp(tmp_path_factory, "sso-ui")
    shutil.copytree(EXAMPLES, folder / "pipelines")
    env = oidc_provider.env(
        FASTFLOW_OIDC_BUTTON_LABEL=LABEL,
        FASTFLOW_OIDC_SCOPES="openid email profile groups",
        FASTFLOW_OIDC_ROLE_CLAIM="groups",
        FASTFLOW_OIDC_ADMIN_GROUPS="fastflow-admins",
        FASTFLOW_OIDC_ALLOWED_DOMAINS="example.com",
    )
    server = UiServer(folder, folder / "pipelines", extra_env=env)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sso_page(browser: Any, sso_ui: UiServer) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=sso_ui.url)
    # Loopback only (the provider's page links a web font from the internet).
    context.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"), lambda route: route.abort())
    pg = context.new_page()
    yield pg
    context.close()


def _at_provider(page: Any, login: str) -> None:
    """The provider's development login form, then its consent page."""
    expect(page.locator("input[name=login]")).to_be_visible()
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("any-password")
    page.locator("button[type=submit]").click()
    expect(page.get_by_role("button", name="Continue")).to_be_visible()
    page.locator("button[type=submit]").click()


def test_sign_in_with_the_sso_button_lands_in_the_console_with_the_groups_role(
    sso_ui: UiServer, oidc_provider: OidcProvider, sso_page: Any
) -> None:
    oidc_provider.set_account("maria", groups=["fastflow-admins"], email="maria@example.com")
    page = sso_page
    page.goto("/runs")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fruns"))
    button = page.get_by_role("button", name=LABEL)
    expect(button).to_be_visible()
    expect(page.get_by_role("button", name="Log in")).to_be_visible()  # passwords still work
    shoot(page, sso_ui, "sso-login")
    button.click()
    expect(page).to_have_url(re.compile(re.escape(oidc_provider.issuer) + "/interaction/"))
    _at_provider(page, "maria")
    expect(page).to_have_url(re.compile(r"/runs$"))  # where she was going
    expect(page.get_by_text("maria (admin)", exact=True)).to_be_visible()
    shoot(page, sso_ui, "sso-landed")

    # Someone of another domain: a page saying why, not the console.
    oidc_provider.set_account("olaf", email="olaf@elsewhere.org")
    page.context.clear_cookies()
    page.goto("/")
    page.get_by_role("button", name=LABEL).click()
    _at_provider(page, "olaf")
    expect(page.get_by_text("Accounts of elsewhere.org may not sign in")).to_be_visible()
    shoot(page, sso_ui, "sso-refused")
    page.get_by_role("link", name="Back to the login page").click()
    expect(page.get_by_role("button", name=LABEL)).to_be_visible()
