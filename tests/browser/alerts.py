"""The alerts page shows a new alert as it arrives, without a reload:

an investigator of the MoU's agency signs in and opens "Alerts" (its watchlist was made through the API); the partner
then posts a report carrying the watched value through the API; the alert's row appears on the open page.

Input (stdin): {"url", "tokens": {"partner", "investigator"}, "value", "screenshots"}.
Output: {"shown": true, "reloads": n}.
"""

import json
import urllib.request

from common import Watch, emit, expect, launch, nav, read_input, screenshot, sign_in, sync_playwright

TITLE = "Watched domain seen in a phishing wave"


def post_report(url, token, value):
    body = {
        "title": TITLE,
        "occurred_at": "2026-11-20T08:00:00Z",
        "tlp": "green",
        "classification": "unclassified",
        "categories": ["phishing"],
        "sector": "finance",
        "indicators": [{"value": value}],
    }
    request = urllib.request.Request(
        f"{url}/v1/reports",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request) as response:
        assert response.status == 202, response.status


def main():
    config = read_input()
    url, tokens, value = config["url"], config["tokens"], config["value"]
    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page()
        watch = Watch(page)
        loads = []
        page.on("load", lambda: loads.append(page.url))
        sign_in(page, url, tokens["investigator"])
        nav(page, "Alerts")
        expect(page.get_by_role("heading", name="Alerts")).to_be_visible()
        expect(page.get_by_text("No alert yet.")).to_be_visible()
        before = len(loads)
        post_report(url, tokens["partner"], value)
        row = page.locator("#alert-rows tr", has_text=value)
        expect(row).to_be_visible()
        expect(row).to_contain_text(TITLE)
        expect(row).to_contain_text("match")
        assert len(loads) == before, f"the page was reloaded: {loads[before:]}"
        screenshot(page, config, "investigator-alerts")
        watch.check("alerts")
        browser.close()
    emit({"shown": True, "reloads": len(loads) - before})


if __name__ == "__main__":
    main()
