"""Drives the administrator console in a real headless Chromium (selenium + chromedriver), for
node/tests/node/web_console.rs. Usage: console.py SCENARIO JSON-ARGS. Prints JSON lines
({"event": ...}) on stdout and waits for a line on stdin where the Rust test acts between two
steps. Any failed expectation raises (non-zero exit, the reason on stderr)."""

import json
import sys

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from portal import WAIT, browser, say  # noqa: E402


class Console:
    def __init__(self, driver, screens=None):
        self.d = driver
        self.screens = screens

    def shot(self, name):
        if self.screens:
            self.d.save_screenshot(f"{self.screens}/{name}.png")

    def el(self, id_):
        return self.d.find_element(By.ID, id_)

    def css(self, selector):
        return self.d.find_elements(By.CSS_SELECTOR, selector)

    def text(self, id_):
        found = self.d.find_elements(By.ID, id_)
        return found[0].text if found else ""

    def until(self, what, check, wait=WAIT):
        try:
            # Tables are redrawn as answers arrive: an element gone stale is looked up again.
            return WebDriverWait(self.d, wait, ignored_exceptions=[StaleElementReferenceException]).until(
                lambda _d: check())
        except Exception as e:
            seen = {i: self.text(i) for i in ("login-error", "status", "error", "verify-result", "replay-status")}
            seen["tables"] = {t.get_attribute("id"): [r.text for r in t.find_elements(By.CSS_SELECTOR, "tbody tr")]
                              for t in self.css("table")}
            logs = self.d.get_log("browser")
            self.d.save_screenshot("/tmp/console-failed.png")
            if self.d.find_elements(By.ID, "player"):
                seen["player"] = self.d.execute_script(
                    "return document.getElementById('player').innerHTML.slice(0, 3000)")
            raise AssertionError(f"timed out waiting for {what}; the page shows {seen}; console: {logs}") from e

    def visible(self, id_):
        self.until(f"#{id_} to show", lambda: self.d.find_elements(By.ID, id_) and self.el(id_).is_displayed())

    def fill(self, values):
        for id_, value in values.items():
            e = self.el(id_)
            if e.tag_name == "select":
                Select(e).select_by_value(value)
            else:
                # Set as the user would paste it (a private key is long).
                self.d.execute_script("arguments[0].value = arguments[1];", e, value)

    def submit(self, form_id):
        self.el(f"{form_id}-submit").click()

    def login(self, user, password):
        self.visible("login-form")
        self.fill({"login-user": user, "login-password": password})
        self.el("login-submit").click()

    def go(self, view, ready):
        self.d.execute_script("location.hash = arguments[0];", f"#{view}")
        self.visible(ready)

    def click_first(self, selector):
        """Clicks the first element `selector` finds, finding it again if the page redrew it
        between the lookup and the click."""
        self.until(f"{selector} to take a click",
                   lambda: (found := self.css(selector)) and (found[0].click() or True))

    def rows(self, table):
        return [r.text for r in self.css(f"#{table} tbody tr")]

    def live_screen(self):
        """What the live view's terminal shows, line by line."""
        return self.d.execute_script("""
            if (!window.portunusLive) return '';
            const b = window.portunusLive.buffer.active; let s = '';
            for (let i = 0; i < b.length; i++) { const l = b.getLine(i); if (l) s += l.translateToString(true) + '\\n'; }
            return s;""")

    def verify(self, account):
        self.d.execute_script("document.getElementById('verify-result').textContent = '';")
        self.click_first(f"#accounts-table button.act-verify[data-account='{account}']")
        return self.until(f"the verification of {account}",
                          lambda: (t := self.text("verify-result")).startswith(f"{account}:") and t)


def setup(c, args):
    """The administrator's steps of seed 001 in the console: a host and its accounts (verified),
    a user, an authorization; the overview's O&M address."""
    c.go("overview", "members-table")
    c.until("the instance id", lambda: c.text("ov-instance"))
    say("overview", instance=c.text("ov-instance"), address=c.text("ov-address"),
        ssh_port=c.text("ov-ssh-port"), ssh=c.text("ov-ssh"), members=c.rows("members-table"))
    c.shot("console-overview")

    c.go("assets", "host-create")
    c.fill({"new-host-name": args["host"], "new-host-address": "127.0.0.1", "new-host-port": str(args["host_port"]),
            "new-host-rdp-port": "13389"})
    c.submit("host-create")
    c.until("the new host's details", lambda: c.text("host-detail-title") == f"Host {args['host']}")
    c.fill({"new-account-name": "root", "new-account-auth": "key", "new-account-key": args["key"]})
    c.submit("account-create")
    c.until("the key account", lambda: c.css("#accounts-table button[data-account='root']"))
    c.fill({"new-account-name": "nobody", "new-account-auth": "password", "new-account-password": "not-the-Passw0rd"})
    c.submit("account-create")
    c.until("the password account", lambda: c.css("#accounts-table button[data-account='nobody']"))
    unpinned = c.verify("root")
    c.el("trust-key").click()
    c.until("the verification after the pin", lambda: (t := c.text("verify-result")).startswith("root: OK") and t)
    good = c.text("verify-result")
    bad = c.verify("nobody")
    c.shot("console-assets")
    say("assets", hosts=c.rows("hosts-table"), accounts=c.rows("accounts-table"), unpinned=unpinned,
        fingerprint=c.text("host-fingerprint"),
        verify_root=good, verify_nobody=bad)

    c.go("users", "user-create")
    c.fill({"new-user-name": args["engineer"], "new-user-display": "Carol Engineer",
            "new-user-password": args["engineer_password"], "new-user-email": "carol@example.com"})
    c.submit("user-create")
    c.until("the new user", lambda: c.css(f"#users-table button[data-user='{args['engineer']}']"))
    c.shot("console-users")
    row = f"#users-table button[data-user='{args['engineer']}']"
    c.click_first(f"{row}.act-lock")
    c.until("the lock", lambda: c.css(f"{row}.act-unlock"))
    locked = c.rows("users-table")
    c.click_first(f"{row}.act-unlock")
    c.until("the unlock", lambda: c.css(f"{row}.act-lock"))
    c.click_first(f"{row}.act-edit")
    c.visible("key-create")
    c.fill({"new-key-name": "laptop", "new-key-text": args["public_key"]})
    c.submit("key-create")
    c.until("the public key", lambda: any("laptop" in r for r in c.rows("keys-table")))
    say("users", users=c.rows("users-table"), locked=locked, keys=c.rows("keys-table"))

    # A database and its hosted account (seed 001's database steps), and a host group holding
    # the host.
    c.go("assets", "db-create")
    c.fill({"new-db-name": "orders", "new-db-type": "MySQL", "new-db-address": "127.0.0.1", "new-db-port": "3306"})
    c.submit("db-create")
    c.until("the database", lambda: c.css("#databases-table button.act-db-accounts[data-database='orders']"))
    c.click_first("#databases-table button.act-db-accounts[data-database='orders']")
    c.visible("db-account-create")
    c.fill({"new-dba-name": "app", "new-dba-password": "app-Db-Passw0rd"})
    c.submit("db-account-create")
    c.until("the database account", lambda: any(r.startswith("app ") for r in c.rows("db-accounts-table")))
    db_accounts = c.rows("db-accounts-table")
    c.fill({"new-group-name": "prod"})
    c.submit("group-create")
    c.until("the host group", lambda: c.css("#groups-table button.act-group-add[data-group='prod']"))
    c.d.execute_script("arguments[0].closest('tr').querySelector('input.add-host').value = arguments[1];",
                       c.css("#groups-table button.act-group-add[data-group='prod']")[0], args["host"])
    c.click_first("#groups-table button.act-group-add[data-group='prod']")
    c.until("the host in the group", lambda: "added to prod" in c.text("status"))
    say("databases", accounts=db_accounts, databases=c.rows("databases-table"), group=c.text("status"))
    c.go("users", "users-table")
    c.click_first(f"#users-table button.act-authorize[data-user='{args['engineer']}']")
    c.until("the user's authorization", lambda: f"user {args['engineer']} " in c.text("authz-title"))
    c.until("the host list", lambda: c.rows("authz-hosts-table"))
    before = c.rows("authz-hosts-table")
    c.el("grant-host-q").send_keys("web-0\n")
    c.until("the host search", lambda: "1 found" in c.el("grant-host").text)
    Select(c.el("grant-host")).select_by_visible_text(args["host"])
    c.until("the host's accounts", lambda: c.css("#grant-accounts input[data-name='root']"))
    c.click_first("#grant-accounts input[data-name='root']")
    c.submit("grant-host-form")
    c.until("the authorized account", lambda: any("root" in r for r in c.rows("authz-hosts-table")))
    # The other account, through a rule whose validity period is over: listed, not in force.
    Select(c.el("grant-host")).select_by_visible_text(args["host"])
    c.until("the host's accounts", lambda: c.css("#grant-accounts input[data-name='nobody']"))
    c.click_first("#grant-accounts input[data-name='nobody']")
    c.fill({"grant-from": "2020-01-01T00:00", "grant-until": "2021-01-01T00:00"})
    c.submit("grant-host-form")
    c.until("the rule", lambda: any("2020-01-01" in r for r in c.rows("authz-rules-table")))
    # The database account, authorized directly.
    Select(c.el("grant-db")).select_by_visible_text("orders")
    c.until("the database's accounts", lambda: [o for o in c.css("#grant-dba option") if o.text == "app"])
    Select(c.el("grant-dba")).select_by_visible_text("app")
    c.submit("grant-db-form")
    c.until("the authorized database", lambda: any(r.startswith("orders ") for r in c.rows("authz-databases-table")))
    c.d.execute_script("document.getElementById('authz-hosts').scrollIntoView();")
    c.shot("console-authz")
    say("authorized", before=before, after=c.rows("authz-hosts-table"), rules=c.rows("authz-rules-table"),
        databases=c.rows("authz-databases-table"))


def audit(c, args):
    """The engineer's session found by user, replayed with its command list, and exported."""
    c.go("audit", "session-search")
    c.fill({"f-user": args["engineer"]})
    c.submit("session-search")
    c.until("the engineer's session", lambda: c.css("#sessions-table button.act-replay"))
    # The table may be redrawn between finding a row and reading it: read again then.
    rows = c.until("the session rows", lambda: c.rows("sessions-table"))
    c.click_first("#sessions-table button.act-replay")
    c.until("the recording's state", lambda: c.text("replay-status"))
    c.until("the command list", lambda: c.css("#commands li.event-command"))
    commands = [e.text for e in c.css("#commands li")]
    c.until("the player", lambda: c.d.execute_script("return !!window.portunusPlayer"))
    c.click_first("#commands li.event-command.seekable")
    c.until("the replayed output", lambda: args["marker"] in c.el("player").text)
    c.shot("console-audit")
    fetch = "return fetch(arguments[0], {credentials: 'same-origin'}).then((r) => r.text());"
    csv = c.d.execute_script(fetch, c.el("export-csv").get_attribute("href"))
    jsonl = c.d.execute_script(fetch, c.el("export-jsonl").get_attribute("href"))
    say("audit", rows=rows, status=c.text("replay-status"), commands=commands,
        screen=c.el("player").text, csv=csv, jsonl=jsonl)


def replay(args):
    """An engineer's session (the web terminal's) found by user in the audit page and replayed:
    its command list, and the output at a command's time in the player."""
    c = Console(browser(), args.get("screens"))
    try:
        c.d.get(args["a"] + "/web/console/")
        c.login(args["admin"], args["admin_password"])
        c.visible("console-view")
        c.go("audit", "session-search")
        c.fill({"f-user": args["engineer"]})
        c.submit("session-search")
        c.until("the engineer's session", lambda: c.css(f"#sessions-table button.act-replay[data-session='{args['session']}']"))
        c.click_first(f"#sessions-table button.act-replay[data-session='{args['session']}']")
        c.until("the command list", lambda: c.css("#commands li.event-command"))
        c.until("the player", lambda: c.d.execute_script("return !!window.portunusPlayer"))
        commands = [e.text for e in c.css("#commands li.event-command")]
        c.click_first("#commands li.event-command.seekable")
        c.until("the replayed output", lambda: args["marker"] in c.el("player").text)
        say("replayed", title=c.text("replay-title"), status=c.text("replay-status"), commands=commands)
    finally:
        c.d.quit()


def late_answer(c, args):
    """A list's answer that arrives after a later search's answer does not draw over it: the
    unfiltered list is held back in the page until a search matching nothing has drawn."""
    c.go("audit", "session-search")
    c.until("the first list", lambda: c.css("#sessions-table"))
    c.d.execute_script("""
      window.__realApi = window.api;
      window.__release = null;
      window.api = (action, params) => {
        const answer = window.__realApi(action, params);
        if (action !== 'ListSessions' || params.UserName || window.__release) return answer;
        return answer.then((r) => new Promise((done) => { window.__release = () => done(r); }));
      };
      document.getElementById('f-user').value = '';
      listSessions(1);
    """)
    c.until("the unfiltered list to be held", lambda: c.d.execute_script("return !!window.__release"))
    c.fill({"f-user": "nobody-" + args["engineer"]})
    c.submit("session-search")
    c.until("the search's empty answer", lambda: "No session matches." in c.text("sessions"))
    # The held answer arrives now; give the page time to (wrongly) draw it.
    c.d.execute_async_script("""
      const done = arguments[arguments.length - 1];
      window.__release();
      setTimeout(done, 500);
    """)
    shown = c.text("sessions")
    c.d.execute_script("window.api = window.__realApi;")
    say("late_answer", shown=shown)


def live(args):
    """The engineer's running session, held by another node, watched from the audit page as
    it runs, then terminated there; then a setting changed on the settings page, a shared key
    added and given to a new SFTP-only account, a network domain made and a host moved in."""
    c = Console(browser(), args.get("screens"))
    try:
        c.d.get(args["a"] + "/web/console/")
        c.login(args["admin"], args["admin_password"])
        c.visible("console-view")
        c.go("audit", "session-search")
        c.fill({"f-user": args["engineer"], "f-state": "Open"})
        c.submit("session-search")
        c.click_first("#sessions-table button.act-watch")
        c.until("the first command's output", lambda: args["first"] in c.live_screen())
        say("watching", status=c.text("live-status"), title=c.text("live-title"),
            rows=c.until("the session rows", lambda: c.rows("sessions-table")), screen=c.live_screen())
        sys.stdin.readline()
        c.until("the later commands' output", lambda: args["second"] in c.live_screen())
        c.shot("console-live")
        say("live", screen=c.live_screen())
        c.d.execute_script("window.confirm = () => true;")
        c.el("live-terminate").click()
        c.until("the end of the session", lambda: "ended" in c.text("live-status"))
        say("terminated", status=c.text("live-status"), screen=c.live_screen())
        # The settings page: a refused value says which; a good one is saved.
        c.go("settings", "settings-sessions")
        c.fill({"set-CommandApprovalWaitSeconds": "5"})
        c.submit("settings-sessions")
        c.until("the refusal", lambda: "CommandApprovalWaitSeconds" in c.text("error"))
        refused = c.text("error")
        c.fill({"set-CommandApprovalWaitSeconds": "300", "set-MaxSessionsPerUser": "3"})
        c.submit("settings-sessions")
        c.until("the change", lambda: c.text("status").startswith("Saved"))
        # The O&M addresses: a URL is refused; a name for private networks (the browser is on
        # loopback) is what the overview hands out.
        c.fill({"set-IntranetEndpoint": "https://bastion.internal"})
        c.submit("settings-endpoints")
        c.until("the address refusal", lambda: "IntranetEndpoint" in c.text("error"))
        refused_address = c.text("error")
        c.fill({"set-IntranetEndpoint": "bastion.internal", "set-InternetEndpoint": "bastion.example.com"})
        c.submit("settings-endpoints")
        c.until("the address change", lambda: c.text("status").startswith("Saved: InternetEndpoint"))
        # A directory server: Verify tries the form's settings (nothing answers on that port),
        # Save keeps them, the password stays out of the page.
        c.fill({"dir-ldap-Server": "127.0.0.1", "dir-ldap-Port": str(args["closed_port"]),
                "dir-ldap-BaseDN": "dc=example,dc=org", "dir-ldap-Account": "cn=reader,dc=example,dc=org",
                "dir-ldap-Password": args["ldap_password"]})
        c.el("dir-ldap-verify").click()
        c.until("the verification", lambda: (t := c.text("dir-ldap-result")) and not t.startswith("Verifying") and t)
        ldap_verify = c.text("dir-ldap-result")
        c.submit("dir-ldap")
        c.until("the directory saved", lambda: c.text("status") == "Saved: LDAP.")
        ldap_after = {"server": c.el("dir-ldap-Server").get_attribute("value"),
                      "password_field": c.el("dir-ldap-Password").get_attribute("value"),
                      "page_has_password": args["ldap_password"] in c.d.page_source,
                      "stored_note": "A service account password is stored." in c.d.page_source}
        c.shot("console-settings")
        rows = c.rows("settings-table")
        c.go("overview", "ov-address")
        say("settings", refused=refused, saved=c.text("status"), rows=rows,
            refused_address=refused_address, overview_address=c.text("ov-address"),
            ldap_verify=ldap_verify, ldap_after=ldap_after)
        # A shared key, and an SFTP-only account that uses it.
        c.go("assets", "share-key-create")
        c.fill({"new-share-key-name": "fleet", "new-share-key-text": args["key"]})
        c.submit("share-key-create")
        c.until("the shared key", lambda: any(r.startswith("fleet ") for r in c.rows("shared-keys-table")))
        c.click_first("#hosts-table button.act-accounts[data-host='web-01']")
        c.until("the host's details", lambda: c.text("host-detail-title") == "Host web-01")
        c.until("the shared key to choose", lambda: c.css("#new-account-share-key option:not([value=''])"))
        c.fill({"new-account-name": "backup", "new-account-auth": "shared", "new-account-sftp": "true"})
        Select(c.el("new-account-share-key")).select_by_visible_text("fleet")
        c.submit("account-create")
        c.until("the SFTP-only account", lambda: any(r.startswith("backup (SFTP only)") for r in c.rows("accounts-table")))
        c.until("the key's use counted", lambda: any(r.endswith(" 1 Delete") for r in c.rows("shared-keys-table")))
        c.shot("console-shared-keys")
        say("shared", keys=c.rows("shared-keys-table"), accounts=c.rows("accounts-table"))
        # A network domain through a SOCKS5 proxy, and web-01 moved into it.
        c.fill({"new-domain-name": "dmz", "new-domain-type": "Proxy", "new-domain-proxy-type": "Socks5Proxy",
                "new-domain-proxy-address": "127.0.0.1", "new-domain-proxy-port": "1080",
                "new-domain-proxy-user": "relay", "new-domain-proxy-password": "relay-Passw0rd"})
        c.submit("domain-create")
        c.until("the domain", lambda: any(r.startswith("dmz ") for r in c.rows("domains-table")))
        box = c.css("#domains-table tbody tr input.add-host")[0]
        box.send_keys("web-01")
        c.click_first("#domains-table button.act-move-host[data-domain='dmz']")
        c.until("the move", lambda: "now in network domain dmz" in c.text("status"))
        say("domain", domains=c.rows("domains-table"), status=c.text("status"))
    finally:
        c.d.quit()


def console(args):
    c = Console(browser(), args.get("screens"))
    try:
        c.d.get(args["a"] + "/web/console/")
        c.visible("login-form")
        c.shot("console-login")
        c.login(args["admin"], args["admin_password"])
        c.visible("console-view")
        setup(c, args)
        say("set_up")
        sys.stdin.readline()
        audit(c, args)
        late_answer(c, args)
        # An operator logging on gets the 403 page.
        c.el("logout").click()
        c.login(args["operator"], args["operator_password"])
        c.until("the 403 page", lambda: c.d.find_elements(By.ID, "forbidden-title"))
        c.shot("console-forbidden")
        say("forbidden", title=c.text("forbidden-title"), words=c.text("forbidden-words"))
        # An auditor reads (the session and its replay) and is offered no change.
        c.d.delete_all_cookies()
        c.d.get(args["a"] + "/web/console/")
        c.login(args["auditor"], args["auditor_password"])
        c.visible("console-view")
        c.go("assets", "hosts-table")
        create_shown = c.el("host-create").is_displayed()
        buttons = [b.text for b in c.css("#hosts-table button") if b.is_displayed()]
        c.go("audit", "session-search")
        c.fill({"f-user": args["engineer"]})
        c.submit("session-search")
        c.until("the session", lambda: c.css("#sessions-table button.act-replay"))
        c.click_first("#sessions-table button.act-replay")
        c.until("the command list", lambda: c.css("#commands li.event-command"))
        say("auditor", who=c.text("who"), create_shown=create_shown, buttons=buttons,
            status=c.text("replay-status"))
    finally:
        c.d.quit()


# Words that stay as they are in every language: names of protocols, formats and products.
KEPT = {"SSH", "SFTP", "API", "CSV", "JSON", "Lines", "TLS", "IP", "ID", "SHA256", "OpenSSH", "PEM",
        "LDAP", "LDAPS", "StartTLS", "Base", "Bind", "URL", "https", "Claim", "Scopes", "OpenID",
        "Connect", "Active", "Directory",
        "Leader", "MySQL", "PostgreSQL", "SQL", "Server", "Oracle", "Linux", "Windows", "SOCKS5",
        "HTTP", "CONNECT", "RDP", "Shell", "Portunus", "English", "AAAA", "ssh", "ed25519",
        "off", "prefer", "require", "verify"}

# The page's own words (headings, table heads, labels, buttons, choices, navigation) still in
# English: every text node of those elements with a word of three letters or more not in KEPT.
ENGLISH_LEFT = """
const kept = new Set(arguments[0]);
const out = [];
const where = '#side a, header a, header button, #view h2, #view th, #view label, #view button, #view legend, ' +
  '#view dt, #view option:not(.data), #view .pager span, #view .exports';
for (const e of document.querySelectorAll(where)) {
  if (e.closest('[hidden]')) continue;
  for (const n of e.childNodes) {
    if (n.nodeType !== Node.TEXT_NODE) continue;
    const words = (n.nodeValue.match(/[A-Za-z][A-Za-z0-9]{2,}/g) || []).filter((w) => !kept.has(w));
    if (words.length) out.push(n.nodeValue.trim());
  }
}
return out;
"""


def chinese(args):
    """The console in the administrator's language (Simplified Chinese): every view, a host's
    and a user's details, a session's replay; what was left in English."""
    c = Console(browser(), args.get("screens"))
    try:
        c.d.get(args["a"] + "/web/console/")
        c.login(args["admin"], args["admin_password"])
        c.visible("console-view")
        left = {}

        def look(name):
            left[name] = c.d.execute_script(ENGLISH_LEFT, sorted(KEPT))

        c.go("overview", "members-table")
        look("overview")
        c.go("assets", "hosts-table")
        c.click_first("#hosts-table button.act-accounts")
        c.until("the host's accounts", lambda: c.css("#accounts-table button.act-verify"))
        look("assets")
        c.shot("console-zh-cn")
        c.go("users", "users-table")
        c.click_first("#users-table button.act-edit")
        c.visible("key-create")
        look("users")
        c.d.execute_script("location.hash = arguments[0];", f"#authz/{args['engineer']}")
        c.until("the user's authorization", lambda: c.rows("authz-hosts-table"))
        look("authz")
        c.go("audit", "sessions-table")
        c.click_first("#sessions-table button.act-replay")
        c.until("the command list", lambda: c.css("#commands li.event-command"))
        look("audit")
        replay_status = c.text("replay-status")
        audit_heads = c.d.execute_script(
            "return [...document.querySelectorAll('#sessions-table th')].map((t) => t.textContent);")
        c.go("settings", "settings-table")
        look("settings")
        say("chinese", left=left,
            untranslated=c.d.execute_script("return Array.from(untranslated);"),
            title=c.d.title, lang=c.d.execute_script("return document.documentElement.lang;"),
            nav=[a.text for a in c.css("#side a")], replay_status=replay_status, audit_heads=audit_heads)
    finally:
        c.d.quit()


if __name__ == "__main__":
    {"console": console, "live": live, "chinese": chinese, "replay": replay}[sys.argv[1]](json.loads(sys.argv[2]))
