#!/usr/bin/python3
"""A headless Chromium the Rust console tests drive: one JSON command per
line on stdin, one JSON answer per line on stdout ({"ok": true, "value": ...}
or {"ok": false, "error": "..."}). Selenium (Debian's python3-selenium) talks
to Debian's chromedriver; nothing here decides whether a test passes, the
Rust test does, from the answers."""

import json
import sys
import tempfile
import time

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By


def start(width, height):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--window-size={width},{height}",
        f"--user-data-dir={tempfile.mkdtemp(prefix='parkline-chromium-')}",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def texts(driver, css):
    # In one script, so a fragment swapped meanwhile cannot leave stale
    # elements behind.
    return driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0]), e => e.innerText);", css)


def wait(condition, timeout):
    """Polls condition() until it gives something truthy; the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def run(driver, cmd):
    op = cmd["op"]
    timeout = cmd.get("timeout", 10)
    if op == "open":
        driver.get(cmd["url"])
        return driver.current_url
    if op == "url":
        return driver.current_url
    if op == "wait_url":
        # A click's navigation may still be on its way.
        if not wait(lambda: driver.current_url.endswith(cmd["suffix"]), timeout):
            raise AssertionError(f"still at {driver.current_url}, not ...{cmd['suffix']}")
        return driver.current_url
    if op == "fill":
        field = driver.find_element(By.CSS_SELECTOR, cmd["css"])
        field.clear()
        field.send_keys(cmd["value"])
        return None
    if op == "click":
        driver.find_element(By.CSS_SELECTOR, cmd["css"]).click()
        return None
    if op == "texts":
        return texts(driver, cmd["css"])
    if op == "wait_text":
        # Some element matching css contains text.
        found = wait(lambda: any(cmd["text"] in t for t in texts(driver, cmd["css"])), timeout)
        if not found:
            raise AssertionError(f"no {cmd['css']} with {cmd['text']!r} in {timeout}s: {texts(driver, cmd['css'])}")
        return texts(driver, cmd["css"])
    if op == "wait_no_text":
        gone = wait(lambda: not any(cmd["text"] in t for t in texts(driver, cmd["css"])), timeout)
        if not gone:
            raise AssertionError(f"{cmd['css']} still has {cmd['text']!r} after {timeout}s")
        return texts(driver, cmd["css"])
    if op == "eval":
        return driver.execute_script(cmd["js"])
    if op == "cookies":
        return driver.get_cookies()
    if op == "screenshot":
        driver.save_screenshot(cmd["path"])
        return cmd["path"]
    if op == "console_log":
        return [e["message"] for e in driver.get_log("browser")]
    if op == "requests":
        # Every resource the page loaded (to show nothing came from elsewhere).
        return driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"
            ".concat([location.href]);")
    raise ValueError(f"unknown op {op}")


def main():
    driver = start(int(sys.argv[1]) if len(sys.argv) > 1 else 1280,
                   int(sys.argv[2]) if len(sys.argv) > 2 else 800)
    print(json.dumps({"ok": True, "value": "ready"}), flush=True)
    try:
        for line in sys.stdin:
            cmd = json.loads(line)
            if cmd["op"] == "quit":
                break
            try:
                answer = {"ok": True, "value": run(driver, cmd)}
            except (AssertionError, WebDriverException, ValueError, KeyError) as e:
                answer = {"ok": False, "error": f"{type(e).__name__}: {e}"}
            print(json.dumps(answer), flush=True)
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
