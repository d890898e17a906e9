"""Single sign-on through a real OpenID provider (oidc_provider.mjs, the oidc-provider package) in
a real headless Chromium, for node/tests/node/web_sso.rs. Usage: sso.py SCENARIO JSON-ARGS.
Prints JSON lines ({"event": ...}) on stdout and waits for a line on stdin where the Rust test
acts between two steps. Any failed expectation raises (non-zero exit, the reason on stderr)."""

import json
import sys

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from portal import WAIT, Portal, browser, say, totp  # noqa: E402


def wait_stdin():
    sys.stdin.readline()


class Sso(Portal):
    def until(self, what, check):
        try:
            return WebDriverWait(self.d, WAIT).until(lambda _d: check())
        except Exception as e:
            text = self.d.find_element(By.TAG_NAME, "body").text[:2000]
            raise AssertionError(f"timed out waiting for {what} at {self.d.current_url}; "
                                 f"the page shows: {text}") from e

    def provider_login(self, login):
        """At the provider's development login page: any password; then its consent page
        (shown the first time a user signs in to the client)."""
        self.until("the provider's login page",
                   lambda: self.d.find_elements(By.NAME, "login") or None)
        self.d.find_element(By.NAME, "login").send_keys(login)
        self.d.find_element(By.NAME, "password").send_keys("any password the provider takes")
        self.d.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        self.until("the consent page or the bastion",
                   lambda: "/web/" in self.d.current_url or
                   self.d.find_elements(By.CSS_SELECTOR, "input[value=consent]") or None)
        if "/web/" not in self.d.current_url:
            self.d.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        self.until("the way back to the bastion", lambda: "/web/" in self.d.current_url)

    def sign_in(self, base, login, page="/web/"):
        """A fresh browser session (no bastion or provider cookies) signing in as `login`
        from `page`'s button."""
        # The provider's cookies are Secure: visible, and deleted, from its own https pages.
        self.d.get(self.provider + "/.well-known/openid-configuration")
        self.d.delete_all_cookies()
        self.d.get(base + page)
        self.d.delete_all_cookies()
        self.d.get(base + page)
        self.visible("sso")
        button = self.el("sso-login")
        say_words = button.text
        button.click()
        self.provider_login(login)
        return say_words

    def failure(self):
        self.until("the failure page", lambda: self.d.find_elements(By.ID, "sso-error") or None)
        return self.el("sso-error").text


def sso(args):
    p = Sso(browser(), args.get("screens"))
    p.provider = args["provider"]
    base = args["base"]
    try:
        # alice: the button, the provider, and back in the portal as alice.
        words = p.sign_in(base, "alice")
        p.portal()
        cookie = p.cookie()
        listing = p.listing()
        url = p.d.current_url
        # The pending login's cookie is scoped to /web/api/oidc: looked for there.
        p.d.get(base + "/web/api/oidc/config")
        pending = [c["name"] for c in p.d.get_cookies() if c["name"].startswith("portunus_sso")]
        say("alice", button=words, listing=listing, url=url, cookie=cookie, pending=pending)
        # A name the bastion does not know: refused, nothing created.
        p.sign_in(base, "mallory")
        say("unknown", error=p.failure(), cookie=p.cookie())
        wait_stdin()  # the test turns automatic creation on
        p.sign_in(base, "erin")
        p.portal()
        say("created", listing=p.listing())
        # Another account of the provider claiming erin's name: refused.
        p.sign_in(base, "erin~impostor")
        say("impostor", error=p.failure(), cookie=p.cookie())
        # A locked user is refused.
        p.sign_in(base, "dave")
        say("locked", error=p.failure(), cookie=p.cookie())
        # bob has two-factor on: the provider's word is not enough, the code is asked for.
        p.sign_in(base, "bob")
        p.visible("code-form")
        p.code(totp(args["bob_totp"]))
        p.portal()
        say("bob", listing=p.listing())
        # The console's button brings an administrator back to the console.
        p.sign_in(base, "alice", "/web/console/")
        p.until("the console", lambda: p.el("console-view").is_displayed() or None)
        say("console", url=p.d.current_url, who=p.el("who").text)
    finally:
        p.d.quit()


if __name__ == "__main__":
    {"sso": sso}[sys.argv[1]](json.loads(sys.argv[2]))
