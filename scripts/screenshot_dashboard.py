"""Take docs/img/dashboard.png from a running instance with real data (scripts/run, demo worker on).

    scripts/run &                                   # with the demo worker
    .venv/bin/python scripts/screenshot_dashboard.py --url http://127.0.0.1:8000

Signs in as the demo user, starts a few requests through the form, lets the
demo worker move them, and captures the page mid-way.
"""

import argparse
import json
import urllib.request
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

PROJECT_DIR = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
TITLES = ["Monthly sales report", "Import customers.csv", "Payroll run — November", "Archive 2025 invoices"]


def broadcast(url: str, token: str, title: str, body: str) -> None:
    """Send an announcement with the demo service token, as an operator's tool would."""
    request = urllib.request.Request(
        f"{url}/api/v1/broadcasts/",
        data=json.dumps({"title": title, "body": body, "level": "info"}).encode(),
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=10).close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--password", default="demo")
    parser.add_argument("--out", default=str(PROJECT_DIR / "docs" / "img" / "dashboard.png"))
    args = parser.parse_args()
    token = (PROJECT_DIR / "var" / "demo-service-token").read_text().strip()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 720}, device_scale_factor=1)
        page.goto(f"{args.url}/accounts/login/")
        page.get_by_label("Username").fill("demo")
        page.get_by_label("Password").fill(args.password)
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
        for title in TITLES:
            page.get_by_label("Title").fill(title)
            page.get_by_role("button", name="Start").click()
            page.wait_for_timeout(1500)  # let the worker get going: a screenshot of mixed states
        broadcast(args.url, token, "Maintenance tonight at 22:00 UTC", "Requests started then will finish after it.")
        expect(page.locator("#announcement")).to_be_visible()
        page.wait_for_timeout(2500)
        # Keep only the newest toast, so the picture shows one without hiding the table.
        page.evaluate("document.querySelectorAll('#toasts .toast:not(:first-child)').forEach((t) => t.remove())")
        page.screenshot(path=args.out)
        browser.close()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
