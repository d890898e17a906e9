"""Times the web pages' first paint in a real headless Chromium, for `portunus-bench web-pages`.

Usage: pages.py JSON-ARGS, with {"base": "http://127.0.0.1:PORT", "admin": [user, password],
"engineer": [user, password], "loads": N}. Logs on as the administrator and loads each console
view N times, each a fresh page load (the session cookie kept); then logs on as the engineer and
loads the O&M portal N times. Each load reports, in milliseconds from the start of navigation:
the first contentful paint (the browser's `paint` entry), and the moment the view is drawn with
the server's data (the `portunus:drawn:<view>` mark the page's script sets once every request
the view needs has answered and its rows are in the page). Prints one JSON object on stdout.
Any page that fails to draw raises (non-zero exit, the reason on stderr)."""

import json
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

CONSOLE_VIEWS = ["overview", "assets", "users", "authz", "audit", "settings"]
WAIT = 60


def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1200,900", "--ignore-certificate-errors"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


def log_on(d, url, user, password):
    d.get(url)
    WebDriverWait(d, WAIT).until(lambda _d: d.find_element(By.ID, "login-form").is_displayed())
    d.find_element(By.ID, "login-user").send_keys(user)
    d.find_element(By.ID, "login-password").send_keys(password)
    d.find_element(By.ID, "login-submit").click()


def timed_load(d, url, view):
    """Loads `url` afresh; the milliseconds to its first contentful paint and to `view` drawn."""
    d.get(url)
    mark = f"portunus:drawn:{view}"

    def drawn(_d):
        return d.execute_script(
            "const m = performance.getEntriesByName(arguments[0]);"
            "const p = performance.getEntriesByName('first-contentful-paint');"
            "const n = performance.getEntriesByType('navigation')[0];"
            "return m.length ? {drawn: m[0].startTime, paint: p.length ? p[0].startTime : null,"
            " html: n ? n.responseEnd : null,"
            " error: (document.getElementById('error') || {}).textContent || ''} : null;", mark)

    try:
        seen = WebDriverWait(d, WAIT).until(drawn)
    except Exception as e:
        raise AssertionError(f"{url}: the view {view} was never drawn") from e
    if seen["error"]:
        raise AssertionError(f"{url}: the view {view} shows an error: {seen['error']}")
    return seen


def main():
    args = json.loads(sys.argv[1])
    base, loads = args["base"], args["loads"]
    out = {"console": {}, "portal": {}}
    d = browser()
    try:
        log_on(d, f"{base}/web/console/", *args["admin"])
        WebDriverWait(d, WAIT).until(lambda _d: d.find_element(By.ID, "console-view").is_displayed())
        for view in CONSOLE_VIEWS:
            # One load first, not counted: the browser's cache holds the scripts afterwards, as
            # it does for anyone who has opened the console once.
            timed_load(d, f"{base}/web/console/?load=warm#{view}", view)
            out["console"][view] = [timed_load(d, f"{base}/web/console/?load={i}#{view}", view)
                                    for i in range(loads)]
        d.delete_all_cookies()
        log_on(d, f"{base}/web/", *args["engineer"])
        WebDriverWait(d, WAIT).until(lambda _d: d.find_element(By.ID, "portal-view").is_displayed())
        rows = len(d.find_elements(By.CSS_SELECTOR, "#hosts tbody tr"))
        timed_load(d, f"{base}/web/?load=warm", "portal")
        out["portal"]["portal"] = [timed_load(d, f"{base}/web/?load={i}", "portal") for i in range(loads)]
        out["portal_host_rows"] = rows
    finally:
        d.quit()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
