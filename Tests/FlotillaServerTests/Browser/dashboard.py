#!/usr/bin/env python3
"""Drives the Flotilla dashboard in headless Chromium (Debian's chromium and chromium-driver, Selenium from PyPI).

    dashboard.py --url http://127.0.0.1:PORT/rollouts/ID --token TOKEN --reason WHY [--by NAME] --expect TEXT

Opens the page, waits for the live stream, enters the token and a reason, clicks HALT and waits for the answer on
the page. Prints the answer; exits 0 when it contains --expect, 1 otherwise (2 on a setup failure). Fails as well
when the browser reports a Content-Security-Policy violation or a script error.

With --screenshots DIR (or FLOTILLA_SCREENSHOTS=DIR) and no --token, it only saves DIR/dashboard-list.png (the page at
--list-url, default: the server's /) and DIR/dashboard-rollout.png (--url), and exits 0.
"""

import argparse
import os
import shutil
import sys
import time

from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as conditions
from selenium.webdriver.support.ui import WebDriverWait


def browser():
    options = Options()
    options.add_argument("--headless=new")
    options.add_argument("--no-sandbox")  # root in CI
    options.add_argument("--disable-dev-shm-usage")
    options.add_argument("--disable-gpu")
    options.add_argument("--window-size=1280,900")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    binary = shutil.which("chromium") or "/usr/bin/chromium"
    options.binary_location = binary
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    return webdriver.Chrome(options=options, service=Service(executable_path=driver_path))


def browser_problems(driver):
    """Console messages that mean the page is broken: CSP violations and script errors."""
    problems = []
    try:
        entries = driver.get_log("browser")
    except WebDriverException:
        return problems
    for entry in entries:
        message = entry.get("message", "")
        if "Content Security Policy" in message or "Uncaught" in message:
            problems.append(message)
    return problems


def wait_live(driver, limit):
    WebDriverWait(driver, limit).until(
        lambda d: d.find_element(By.ID, "live-status").text.startswith("live"))


def screenshots(driver, url, list_url, folder):
    os.makedirs(folder, exist_ok=True)
    driver.get(list_url)
    wait_live(driver, 60)
    time.sleep(1)
    driver.save_screenshot(os.path.join(folder, "dashboard-list.png"))
    driver.get(url)
    wait_live(driver, 60)
    time.sleep(1)
    height = driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(1280, min(max(900, height + 40), 2400))
    time.sleep(0.5)
    driver.save_screenshot(os.path.join(folder, "dashboard-rollout.png"))


def halt(driver, args):
    driver.get(args.url)
    WebDriverWait(driver, 60).until(conditions.visibility_of_element_located((By.ID, "controls")))
    wait_live(driver, 60)
    driver.find_element(By.ID, "token").send_keys(args.token)
    driver.find_element(By.ID, "token-save").click()
    WebDriverWait(driver, 10).until(
        lambda d: d.find_element(By.ID, "token-state").text.startswith("token set"))
    # The token is kept in sessionStorage, not in a cookie.
    kept = driver.execute_script("return sessionStorage.getItem('flotilla-api-token')")
    if kept != args.token:
        print("the token was not kept in sessionStorage", file=sys.stderr)
        return 1
    if driver.get_cookies():
        print("the dashboard set cookies: %r" % driver.get_cookies(), file=sys.stderr)
        return 1
    # Without a reason the page refuses to send the halt.
    driver.find_element(By.ID, "halt").click()
    WebDriverWait(driver, 10).until(
        lambda d: "reason is required" in d.find_element(By.ID, "answer").text)
    driver.find_element(By.ID, "reason").send_keys(args.reason)
    if args.by:
        driver.find_element(By.ID, "by").send_keys(args.by)
    driver.find_element(By.ID, "halt").click()
    answer = driver.find_element(By.ID, "answer")
    WebDriverWait(driver, 90).until(
        lambda d: answer.text not in ("", "sending…") and "reason is required" not in answer.text)
    text = answer.text
    print(text)
    if args.wait_banner:
        # The live stream brings the halt onto the page without a reload.
        # (Read in one script call: the live part is replaced whenever the journal moves.)
        banner = WebDriverWait(driver, 60).until(lambda d: d.execute_script(
            "var e = document.querySelector('#live .halt'); return e ? e.textContent : null;"))
        print("banner: " + banner)
    if args.screenshots:
        os.makedirs(args.screenshots, exist_ok=True)
        driver.save_screenshot(os.path.join(args.screenshots, "dashboard-halted.png"))
    problems = browser_problems(driver)
    if problems:
        print("browser problems:\n" + "\n".join(problems), file=sys.stderr)
        return 1
    if args.expect not in text:
        print("expected %r in the answer, got %r" % (args.expect, text), file=sys.stderr)
        return 1
    return 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--list-url")
    parser.add_argument("--token")
    parser.add_argument("--reason", default="")
    parser.add_argument("--by", default="")
    parser.add_argument("--expect", default="")
    parser.add_argument("--wait-banner", action="store_true")
    parser.add_argument("--screenshots", default=os.environ.get("FLOTILLA_SCREENSHOTS"))
    args = parser.parse_args()
    try:
        driver = browser()
    except WebDriverException as error:
        print("cannot start headless Chromium: %s" % error, file=sys.stderr)
        return 2
    try:
        if args.token is None:
            if not args.screenshots:
                print("give --token to halt, or --screenshots DIR", file=sys.stderr)
                return 2
            list_url = args.list_url or args.url.split("/rollouts/")[0] + "/"
            screenshots(driver, args.url, list_url, args.screenshots)
            return 0
        return halt(driver, args)
    except TimeoutException as error:
        print("timed out: %s\npage text:\n%s" % (error, driver.find_element(By.TAG_NAME, "body").text),
              file=sys.stderr)
        return 1
    finally:
        driver.quit()


if __name__ == "__main__":
    sys.exit(main())
