"""The portals in a real browser: headless Debian Chromium driven by Playwright.

Run by crates/gantry/tests/portal.rs against a fresh `gantry up`; it passes
GANTRY_CP (control-plane base URL), GANTRY_ADMIN_PASSWORD, ECHO_URL (an echo upstream),
CHROMIUM (the browser binary) and SCREENSHOT_DIR. Screenshots are written only when
GANTRY_SCREENSHOTS is set, so a CI run does not change the tree.

The flow is the one a WSO2 user knows: an admin creates, publishes and deploys an API in
the Publisher; a developer signs up in the Developer Portal, creates an application,
subscribes, generates keys, gets a test token and calls the API with "Try it".
"""

import os
import re
import unittest

from playwright.sync_api import expect, sync_playwright

CP = os.environ.get("GANTRY_CP", "https://localhost:9443").rstrip("/")
ADMIN_PASSWORD = os.environ.get("GANTRY_ADMIN_PASSWORD", "")
ECHO_URL = os.environ.get("ECHO_URL", "http://127.0.0.1:9")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SHOTS = os.environ.get("SCREENSHOT_DIR", "docs/screenshots")
TAKE_SHOTS = bool(os.environ.get("GANTRY_SCREENSHOTS"))
# CI machines are small and busy: give every expectation the same patience as actions.
expect.set_options(timeout=15_000)
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def shot(page, name):
    if TAKE_SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        page.screenshot(path=os.path.join(SHOTS, name + ".png"), full_page=True)


def sign_in(page, username, password):
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def sign_out(page):
    page.locator("details.menu summary").click()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


class PortalFlow(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.playwright = sync_playwright().start()
        cls.browser = cls.playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=ARGS)

    @classmethod
    def tearDownClass(cls):
        cls.browser.close()
        cls.playwright.stop()

    def new_page(self, width=1280, height=860):
        context = self.browser.new_context(
            ignore_https_errors=True, viewport={"width": width, "height": height})
        self.addCleanup(context.close)
        page = context.new_page()
        page.set_default_timeout(15000)
        # Destructive actions ask first; the test says yes.
        page.on("dialog", lambda dialog: dialog.accept())
        return page

    def test_publish_deploy_sign_up_subscribe_keys_token_and_try_it(self):
        page = self.new_page()

        # Publisher: anonymous visitors are sent to sign in, then back.
        page.goto(CP + "/publisher")
        expect(page).to_have_url(re.compile(r"/portal/login\?next="))
        shot(page, "login")
        sign_in(page, "admin", "wrong password")
        expect(page.get_by_role("alert")).to_contain_text("Wrong username or password")
        sign_in(page, "admin", ADMIN_PASSWORD)
        expect(page.get_by_role("heading", name="APIs", exact=True)).to_be_visible()

        # Create an API in front of the echo upstream; a bad context is explained first.
        page.get_by_role("link", name="Create API").first.click()
        page.get_by_label("Name").fill("EchoAPI")
        page.get_by_label("Version").fill("1.0.0")
        # (a context without its leading "/" is taken as WSO2 does; one with a query is not a context)
        page.get_by_label("Context").fill("echo?x=1")
        page.get_by_label("Endpoint URL").fill(ECHO_URL)
        page.get_by_label("Description").fill("Echoes every request back as JSON.")
        page.get_by_label("Tags").fill("demo, echo")
        page.get_by_label("Operations").fill("GET /hello\nPOST /orders")
        page.get_by_label("Gold").check()
        page.get_by_role("button", name="Create API").click()
        expect(page.locator(".field-error")).to_be_visible()
        page.get_by_label("Context").fill("/echo")
        page.get_by_role("button", name="Create API").click()
        expect(page.get_by_role("heading", name=re.compile("EchoAPI"))).to_be_visible()
        expect(page.locator(".badge.big")).to_have_text("CREATED")

        # Lifecycle: only allowed actions are offered.
        expect(page.get_by_role("button", name="Block")).to_have_count(0)
        page.get_by_role("button", name="Publish", exact=True).click()
        expect(page.locator(".badge.big")).to_have_text("PUBLISHED")

        # Revision, then deploy to Default.
        page.get_by_label("Description").fill("first cut")
        page.get_by_role("button", name="Create revision").click()
        expect(page.get_by_role("status")).to_contain_text("Revision 1 created")
        page.get_by_role("button", name="Deploy", exact=True).click()
        expect(page.get_by_role("status")).to_contain_text("Deployed to Default")
        expect(page.locator(".gateway-status")).to_be_visible()
        shot(page, "publisher-api")
        page.goto(CP + "/publisher")
        shot(page, "publisher-apis")
        sign_out(page)

        # Developer portal: sign up (errors next to the fields first).
        page.goto(CP + "/devportal/signup")
        page.get_by_label("Username").fill("dana!")
        page.get_by_label("Password", exact=True).fill("dana-secret-1")
        page.get_by_label("Password again").fill("dana-secret-2")
        page.get_by_role("button", name="Create account").click()
        expect(page.locator("#username-error")).to_contain_text("letters, digits")
        expect(page.locator("#password-error")).to_contain_text("differ")
        page.get_by_label("Username").fill("dana")
        page.get_by_label("Password", exact=True).fill("dana-secret-1")
        page.get_by_label("Password again").fill("dana-secret-1")
        page.get_by_role("button", name="Create account").click()
        expect(page.get_by_role("status")).to_contain_text("Welcome")
        card = page.locator("a.api-card", has_text="EchoAPI")
        expect(card).to_contain_text("Echoes every request back")
        expect(card).to_contain_text("echo")
        shot(page, "devportal-apis")

        # An application, from the empty state.
        page.get_by_role("link", name="Applications", exact=True).click()
        expect(page.get_by_text("No applications yet")).to_be_visible()
        page.get_by_label("Name").fill("DanaApp")
        page.get_by_label("Throttling tier").select_option("Unlimited")
        page.get_by_role("button", name="Create application").click()
        expect(page.get_by_role("heading", name="DanaApp")).to_be_visible()

        # Keys: the secret is shown once.
        page.get_by_role("button", name="Generate production keys").click()
        expect(page.locator("#new-consumer-secret")).to_be_visible()
        self.assertTrue(page.locator("#new-consumer-key").inner_text().strip())
        shot(page, "devportal-keys")

        # Subscribe from the API's page.
        page.goto(CP + "/devportal")
        page.locator("a.api-card", has_text="EchoAPI").click()
        page.get_by_label("Application").select_option(label="DanaApp")
        page.get_by_label("Tier").select_option("Gold")
        page.get_by_role("button", name="Subscribe").click()
        expect(page.get_by_role("status")).to_contain_text("subscribed with the Gold tier")

        # A test token, then "Try it" with it.
        page.get_by_role("link", name="DanaApp").first.click()
        page.get_by_role("button", name="Get a test token").click()
        expect(page.get_by_role("status")).to_contain_text("Test token issued")
        token = page.locator("#test-token").input_value()
        self.assertEqual(token.count("."), 2, "a JWT")
        page.get_by_role("link", name=re.compile("Try EchoAPI")).click()
        expect(page.get_by_label("Access token")).to_have_value(token)
        page.get_by_label("Operation").select_option("GET /hello")
        page.get_by_label("Path").fill("/hello?from=portal")
        page.get_by_role("button", name="Send").click()
        expect(page.locator("#try-status")).to_have_text(re.compile(r"^200"))
        expect(page.locator("#try-body")).to_contain_text("/hello")
        page.locator("#try").scroll_into_view_if_needed()
        shot(page, "devportal-try-it")

        # Without the token the gateway refuses, and the page says so.
        page.get_by_label("Access token").fill("")
        page.get_by_role("button", name="Send").click()
        expect(page.locator("#try-status")).to_have_text(re.compile(r"^401"))

        # A subscriber does not get into the Admin portal.
        page.goto(CP + "/admin")
        expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
        page.goto(CP + "/devportal")
        sign_out(page)

        # Admin: environments, policies, keys, users.
        page.goto(CP + "/admin")
        sign_in(page, "admin", ADMIN_PASSWORD)
        expect(page.get_by_role("heading", name="Gateway environments")).to_be_visible()
        page.get_by_role("button", name="Rotate signing keys").click()
        expect(page.get_by_role("status")).to_contain_text("Signing keys rotated")
        shot(page, "admin")
        page.get_by_role("link", name="Users and roles").click()
        expect(page.locator("table.users")).to_contain_text("dana")
        shot(page, "admin-users")

    def test_then_pages_fit_a_phone(self):
        page = self.new_page(width=390, height=844)
        page.goto(CP + "/devportal")
        sign_in(page, "admin", ADMIN_PASSWORD)
        expect(page.get_by_role("heading", name="APIs", exact=True)).to_be_visible()
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        self.assertLessEqual(scroll_width, 390, "no horizontal scrolling on a phone")
        shot(page, "devportal-phone")


if __name__ == "__main__":
    unittest.main()
