"""Drives the O&M portal in a real headless Chromium (selenium + chromedriver), for the Rust
tests in node/tests/node/web_portal.rs. Usage: portal.py SCENARIO JSON-ARGS. Each scenario prints
JSON lines ({"event": ...}) on stdout; the terminal scenario waits for a line on stdin before
its last step. Any failed expectation raises (non-zero exit, the reason on stderr)."""

import base64
import hashlib
import hmac
import json
import struct
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

WAIT = 20


def say(event, **fields):
    print(json.dumps({"event": event, **fields}), flush=True)


def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    # The tests' nodes serve TLS with a self-signed certificate.
    # Every page the tests open is on loopback; other names fail at once instead of waiting on
    # a resolver this machine may not reach (the OpenID provider's pages ask for web fonts).
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1200,900", "--ignore-certificate-errors",
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


def totp(secret_b32, at=None):
    """RFC 6238: 6 digits, 30 s steps, HMAC-SHA-1."""
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    step = int((at or time.time()) // 30)
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    code = (struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{code:06d}"


class Portal:
    def __init__(self, driver, screens=None):
        self.d = driver
        self.screens = screens

    def shot(self, name):
        """Saves a screenshot when asked to (for docs/screenshots)."""
        if self.screens:
            self.d.save_screenshot(f"{self.screens}/{name}.png")

    def el(self, id_):
        return self.d.find_element(By.ID, id_)

    def until(self, what, check):
        try:
            return WebDriverWait(self.d, WAIT).until(lambda _d: check())
        except Exception as e:
            seen = {i: self.el(i).text for i in
                    ("login-error", "portal-error", "terminal-status", "terminal-title")}
            logs = self.d.get_log("browser")
            raise AssertionError(f"timed out waiting for {what}; the page shows {seen}; console: {logs}") from e

    def visible(self, id_):
        self.until(f"#{id_} to show", lambda: self.el(id_).is_displayed())

    def open(self, base):
        self.d.get(base + "/web/")
        self.until("the page to choose a view",
                   lambda: self.el("login-view").is_displayed() or self.el("portal-view").is_displayed())

    def error_after(self, submit):
        self.d.execute_script("document.getElementById('login-error').textContent = ''")
        submit()
        return self.until("a refusal", lambda: self.el("login-error").text.strip() or None)

    def password(self, user, password):
        self.visible("login-form")
        for id_, value in (("login-user", user), ("login-password", password)):
            self.el(id_).clear()
            self.el(id_).send_keys(value)
        self.el("login-submit").click()

    def code(self, code):
        self.visible("code-form")
        self.el("code-input").clear()
        self.el("code-input").send_keys(code)
        self.el("code-submit").click()

    def portal(self):
        self.visible("portal-view")
        self.until("the asset tables", lambda: self.el("who").text.strip() or None)

    def listing(self):
        rows = lambda table: [r.get_attribute("data-asset") for r in
                              self.d.find_elements(By.CSS_SELECTOR, f"#{table} tbody tr[data-asset]")]
        return {"user": self.el("who").text, "hosts": rows("hosts"), "databases": rows("databases")}

    def token(self, database, account, shot=lambda _name: None, renew=False):
        self.el("tab-databases").click()
        self.visible("databases-pane")
        shot("portal-databases")
        button = self.d.find_element(
            By.CSS_SELECTOR, f"#databases tr[data-asset='{database}'] button.apply-token[data-account='{account}']")
        button.click()
        self.until("the token dialog", lambda: self.el("token-dialog").is_displayed())
        shot("token-dialog")
        fields = {k: self.el(f"tok-{k}").text for k in
                  ("address", "port", "user", "token", "expire", "uses", "ssh", "client", "renew-status")}
        if renew and self.el("tok-renew").is_displayed():
            # Renewed from the dialog: the expiry moves and the renewals left count down.
            self.el("tok-renew").click()
            self.until("the renewal", lambda: self.el("tok-renew-status").text.startswith("Renewed") or None)
            fields["renewed"] = {"expire": self.el("tok-expire").text, "status": self.el("tok-renew-status").text}
        self.el("tok-close").click()
        return fields

    def logout(self):
        self.el("logout").click()
        self.visible("login-form")

    def cookie(self):
        c = self.d.get_cookie("portunus_web")
        return c and {k: c.get(k) for k in ("value", "httpOnly", "sameSite", "path")}

    def screen(self):
        return self.d.execute_script("""
            const b = window.portunusTerminal.buffer.active; let s = '';
            for (let i = 0; i < b.length; i++) { const l = b.getLine(i); if (l) s += l.translateToString(true) + '\\n'; }
            return s;""")

    def type(self, text):
        self.d.find_element(By.CSS_SELECTOR, ".xterm-helper-textarea").send_keys(text)


def logins(args):
    """Refusals (wrong password, unknown user, absent and wrong codes), a two-factor login, the
    listing, a token, and a cookie from node A used and ended on node B."""
    p = Portal(browser(), args.get("screens"))
    try:
        p.open(args["a"])
        p.shot("login")
        wrong = p.error_after(lambda: p.password("alice", "not-her-password"))
        unknown = p.error_after(lambda: p.password("nobody", "whatever-Passw0rd"))
        say("refused", wrong_password=wrong, unknown_user=unknown, cookie=p.cookie())
        p.password("bob", args["bob_password"])
        p.visible("code-form")
        p.shot("login-code")
        absent = p.error_after(lambda: p.code(""))
        wrong_code = p.error_after(lambda: p.code("000000" if totp(args["bob_totp"]) != "000000" else "111111"))
        say("codes_refused", absent=absent, wrong=wrong_code, portal=p.el("portal-view").is_displayed())
        p.code(totp(args["bob_totp"]))
        p.portal()
        say("bob", **p.listing())
        p.logout()
        p.password("alice", args["alice_password"])
        p.portal()
        p.shot("portal-hosts")
        listed = p.listing()
        # The server searches the host list: a search matching nothing says so, one matching
        # a part of the name in another case finds the host.
        searches = {}
        for words in ("no-such-host", "WEB-0"):
            p.d.execute_script("arguments[0].value = arguments[1];", p.el("hosts-q"), words)
            p.d.find_element(By.CSS_SELECTOR, "#hosts-search button[type=submit]").click()
            p.until(f"the search for {words}", lambda: (
                p.d.find_elements(By.CSS_SELECTOR, "#hosts tbody td.empty")
                if words == "no-such-host" else p.listing()["hosts"]) or None)
            searches[words] = {"rows": p.listing()["hosts"],
                               "empty": [td.text for td in p.d.find_elements(By.CSS_SELECTOR, "#hosts tbody td.empty")]}
        say("alice", cookie=p.cookie(), searches=searches, **listed)
        say("token", **p.token(args["database"], args["account"], p.shot, renew=True))
        p.el("tab-keys").click()
        p.visible("key-form")
        p.el("key-comment").send_keys("deploy script")
        p.el("key-create").click()
        p.visible("key-new")
        p.until("the new key listed",
                lambda: p.d.find_elements(By.CSS_SELECTOR, "#keys tbody tr[data-key]") or None)
        p.shot("portal-keys")
        rows = [r.get_attribute("data-key") for r in
                p.d.find_elements(By.CSS_SELECTOR, "#keys tbody tr[data-key]")]
        say("key", id=p.el("key-new-id").text, secret=p.el("key-new-secret").text, rows=rows)
        # Device settings, then "Open in local client" on the host account: the link the page
        # hands to the browser for the launcher (read here: headless Chromium has no launcher).
        p.el("tab-device").click()
        p.visible("device-form")
        p.shot("portal-device")
        p.el("tab-hosts").click()
        p.d.execute_script("window.portunusOpen = (url) => { window.portunusLaunch = url; };")
        p.d.find_element(By.CSS_SELECTOR, "#hosts tr[data-asset='web-01'] button.launch[data-account='root']").click()
        url = p.until("the launch link", lambda: p.d.execute_script("return window.portunusLaunch || null"))
        say("launch", url=url, device=p.el("client-mysql").get_attribute("value"))
        p.open(args["b"])
        p.portal()
        say("on_b", **p.listing())
        p.logout()
        p.open(args["a"])
        say("after_logout", login=p.el("login-form").is_displayed(), portal=p.el("portal-view").is_displayed())
    finally:
        p.d.quit()


def terminal(args):
    """A web terminal on a host account: a command, a resize, then (when told) the end, as the
    page shows it."""
    p = Portal(browser(), args.get("screens"))
    try:
        p.open(args["a"])
        p.password("alice", args["alice_password"])
        p.portal()
        p.el("tab-hosts").click()
        p.d.find_element(
            By.CSS_SELECTOR, f"#hosts tr[data-asset='{args['host']}'] button.open-terminal[data-account='{args['account']}']"
        ).click()
        p.until("the shell", lambda: "connected (session" in p.el("terminal-status").text)
        session = int(p.el("terminal-status").text.split("session ")[1].rstrip(")"))
        p.type("echo web''-terminal-ok\n")
        p.until("the command's output", lambda: "web-terminal-ok" in p.screen().replace("web''-terminal-ok", ""))
        p.d.set_window_size(800, 600)
        p.until("the terminal to shrink", lambda: p.d.execute_script("return window.portunusTerminal.cols") < 90)
        cols, rows = p.d.execute_script("return [window.portunusTerminal.cols, window.portunusTerminal.rows]")
        p.type("stty size\n")
        p.until("the target's terminal size", lambda: f"{rows} {cols}" in p.screen())
        p.shot("terminal")
        cookie = p.d.get_cookie("portunus_web")
        say("ran", session=session, cols=cols, rows=rows, cookie=cookie["value"],
            secure=cookie.get("secure"))
        sys.stdin.readline()
        p.until("the end of the session",
                lambda: p.el("terminal-status").text.startswith(("ended:", "disconnected:")) or None)
        say("ended", status=p.el("terminal-status").text, screen=p.screen())
    finally:
        p.d.quit()


def refused(args):
    """A command the control policy denies, typed in the web terminal, then another."""
    p = Portal(browser(), args.get("screens"))
    try:
        p.open(args["a"])
        p.password("alice", args["alice_password"])
        p.portal()
        p.el("tab-hosts").click()
        p.d.find_element(
            By.CSS_SELECTOR, f"#hosts tr[data-asset='{args['host']}'] button.open-terminal[data-account='{args['account']}']"
        ).click()
        p.until("the shell", lambda: "connected (session" in p.el("terminal-status").text)
        p.type(args["denied"] + "\n")
        p.until("the refusal's notice", lambda: "portunus:" in p.screen())
        p.type("echo after''-refusal\n")
        p.until("the next command's output", lambda: "after-refusal" in p.screen().replace("after''-refusal", ""))
        say("refused", screen=p.screen())
    finally:
        p.d.quit()


def read_results(p):
    """What the console shows after a run: the error, the notices, and each result (its count
    or tag, its columns and the rows of its current page)."""
    out = []
    for box in p.d.find_elements(By.CSS_SELECTOR, "#sql-results .sql-result"):
        grid = box.find_elements(By.CSS_SELECTOR, "table.sql-grid")
        if not grid:
            out.append({"tag": box.find_element(By.CSS_SELECTOR, ".sql-tag").text})
            continue
        pager = box.find_elements(By.CSS_SELECTOR, ".pager span")
        out.append({
            "count": box.find_element(By.CSS_SELECTOR, ".sql-count").text,
            "columns": [th.text for th in grid[0].find_elements(By.CSS_SELECTOR, "thead th")],
            "rows": [[td.text for td in tr.find_elements(By.TAG_NAME, "td")]
                     for tr in grid[0].find_elements(By.CSS_SELECTOR, "tbody tr")],
            "page": pager[0].text if pager else None,
        })
    return {"error": p.el("sql-error").text,
            "notices": [li.text for li in p.d.find_elements(By.CSS_SELECTOR, "#sql-notices li")],
            "results": out}


def run_sql(p, statement):
    p.d.execute_script("arguments[0].value = arguments[1]; document.getElementById('sql-status').textContent = '';",
                       p.el("sql-text"), statement)
    p.el("sql-run").click()
    p.until(f"the answer to {statement!r}",
            lambda: p.el("sql-status").text.startswith(("done in", "ended:", "disconnected:")) or None)
    return read_results(p)


def sql(args):
    """The web database console on a database account: each statement of args["statements"]
    run in turn and what the page showed; the last result's next page when it has one; then
    (when told) the end of the session as the page shows it."""
    p = Portal(browser(), args.get("screens"))
    try:
        p.open(args["a"])
        p.password("alice", args["alice_password"])
        p.portal()
        p.el("tab-databases").click()
        p.d.find_element(
            By.CSS_SELECTOR, f"#databases tr[data-asset='{args['database']}'] button.open-sql[data-account='{args['account']}']"
        ).click()
        p.visible("sql-open-form")
        asks_password = p.el("sql-password-label").is_displayed()
        if args.get("password"):
            p.el("sql-password").send_keys(args["password"])
        if args.get("schema"):
            p.el("sql-schema").send_keys(args["schema"])
        p.el("sql-connect").click()
        p.until("the console", lambda: p.el("sql-status").text.startswith(("connected (session", "ended:")) or None)
        status = p.el("sql-status").text
        if not status.startswith("connected"):
            say("refused", status=status, error=p.el("sql-error").text, asks_password=asks_password)
            return
        session = int(status.split("session ")[1].rstrip(")"))
        runs = [run_sql(p, s) for s in args["statements"]]
        paged = None
        nxt = p.d.find_elements(By.CSS_SELECTOR, "#sql-results .sql-result .pager button.next")
        if nxt:
            nxt[-1].click()
            paged = read_results(p)["results"][-1]
        p.d.execute_script("window.scrollTo(0, 0)")
        p.shot(f"portal-sql-{args['shot']}" if args.get("shot") else "portal-sql")
        say("ran", session=session, asks_password=asks_password, runs=runs, paged=paged)
        if sys.stdin.readline().strip() == "run-and-leave":
            # A statement that runs long, and the page closed while it runs.
            p.d.execute_script("arguments[0].value = arguments[1];", p.el("sql-text"), args["then_run"])
            p.el("sql-run").click()
            p.until("the statement to run", lambda: p.el("sql-status").text.startswith("running") or None)
            say("running")
            return
        p.until("the end of the session",
                lambda: p.el("sql-status").text.startswith(("ended:", "disconnected:")) or None)
        say("ended", status=p.el("sql-status").text)
    finally:
        p.d.quit()


def language(args):
    """The page before logging on (the browser's language) and after (the user's)."""
    p = Portal(browser(), args.get("screens"))
    try:
        p.open(args["a"])
        seen = lambda: {"title": p.d.title, "lang": p.d.execute_script("return document.documentElement.lang"),
                        "logon": p.el("login-submit").text, "hosts_tab": p.el("tab-hosts").text,
                        "logout": p.el("logout").text,
                        "hosts_header": [th.text for th in p.d.find_elements(By.CSS_SELECTOR, "#hosts thead th")]}
        before = seen()
        p.password("alice", args["alice_password"])
        p.portal()
        p.shot("portal-zh-cn")
        after = seen()
        # Every tab drawn in the user's language: the words the script wrote all translated.
        for tab in ("databases", "keys", "device", "hosts"):
            p.el(f"tab-{tab}").click()
            p.visible(f"{tab}-pane")
        say("language", before=before, after=after,
            untranslated=p.d.execute_script("return Array.from(untranslated);"),
            empty_hosts=[td.text for td in p.d.find_elements(By.CSS_SELECTOR, "#hosts tbody td.empty")])
    finally:
        p.d.quit()


def survivor(args):
    """Logs on through node A; when told (the test has SIGKILLed node A), opens node B with the
    same cookie: the portal must show the user's assets there, never the logon form. Answers
    that fail while the survivors elect a leader are tried again."""
    p = Portal(browser(), args.get("screens"))
    try:
        p.open(args["a"])
        p.password(args["user"], args["password"])
        p.portal()
        say("in", **p.listing())
        sys.stdin.readline()
        deadline = time.time() + 30
        tries = []
        while True:
            p.open(args["b"])
            if p.el("login-view").is_displayed():
                raise AssertionError(f"node B asked to log on again: {p.el('login-error').text!r}")
            shown = p.until("an answer", lambda: (p.el("who").text.strip() or p.el("portal-error").text.strip()) or None)
            if p.el("who").text.strip():
                break
            tries.append(shown)
            if time.time() > deadline:
                raise AssertionError(f"node B never showed the portal: {tries}")
            time.sleep(0.5)
        say("after", tries=tries, **p.listing())
    finally:
        p.d.quit()


if __name__ == "__main__":
    {"logins": logins, "terminal": terminal, "refused": refused, "sql": sql,
     "language": language, "survivor": survivor}[sys.argv[1]](json.loads(sys.argv[2]))
