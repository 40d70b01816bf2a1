"""The console end to end, per role, through `accord up`:

1. a partner signs in (keyboard only), submits a report with a defanged indicator and a PII canary, and sees it
   released to the MoU's agency in "My reports";
2. the MoU's investigator signs in, sets purpose and case, looks the indicator up (defanged), opens the report (the
   canary redacted, the partner anonymous), searches, pastes a list, and exports the result set (CSV and STIX);
3. an investigator of an agency outside the MoU gets "not found" for the indicator and for the report itself.

Input (stdin): {"url", "tokens": {"partner", "investigator", "outsider"}, "canary", "screenshots"}.
Output: {"report_id", "audit_records": [...], "case"}.
"""

import json
import re

from common import (
    nav,
    Watch,
    audit_record,
    emit,
    expect,
    launch,
    read_input,
    screenshot,
    set_context,
    sign_in,
    sign_out,
    sync_playwright,
)

CASE = "CASE-CONSOLE-1"
TITLE = "Credential phishing against retail-banking customers"
DEFANGED = "45.155.205[.]172"
URL_INDICATOR = "hxxps://login-bank-a[.]com/verify"


def keyboard_sign_in(page, url, token):
    """Signs in with the keyboard only: the skip link first, then the token field, Enter submits."""
    page.goto(f"{url}/sign-in")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    while not page.get_by_label("Access token").evaluate("e => e === document.activeElement"):
        page.keyboard.press("Tab")
    page.keyboard.type(token)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r".*/dashboard$"))


def partner_submits(page, config):
    url, canary = config["url"], config["canary"]
    screenshot(page, config, "sign-in")
    keyboard_sign_in(page, url, config["tokens"]["partner"])
    expect(page.get_by_text("Signed in as")).to_contain_text("(bank-a, partner)")
    nav(page, "New report")
    page.get_by_label("Title").fill(TITLE)
    page.get_by_label("Description").fill(
        f"Kit at {URL_INDICATOR}, C2 {DEFANGED}. Reported by {canary} of the victim bank."
    )
    page.get_by_label("Categories").select_option(["phishing"])
    page.get_by_label("Sector", exact=True).select_option("finance")
    page.get_by_label("Indicators (one value per line").fill(f"{DEFANGED}\n{URL_INDICATOR}")
    screenshot(page, config, "partner-new-report")
    page.get_by_role("button", name="Submit report").click()
    expect(page.get_by_text("Report accepted")).to_be_visible()
    report_id = page.locator("dd code").first.inner_text()
    # The status page refreshes itself while the report is in flight.
    expect(page.locator("#report-status .badge")).to_have_text("released")
    expect(page.locator("#report-status")).to_contain_text("ncu-de")
    nav(page, "My reports")
    row = page.locator("tr", has_text=TITLE)
    expect(row).to_contain_text("released")
    expect(row).to_contain_text("ncu-de")
    screenshot(page, config, "partner-my-reports")
    nav(page, "Dashboard")
    expect(page.locator("svg.chart")).to_be_visible()
    screenshot(page, config, "partner-dashboard")
    sign_out(page, url)
    return report_id


def investigator_reads(page, config, report_id, audited):
    url, canary = config["url"], config["canary"]
    sign_in(page, url, config["tokens"]["investigator"])
    set_context(page, "investigation", CASE)
    nav(page, "Look up")
    page.get_by_label("Indicator", exact=True).fill(DEFANGED)
    page.get_by_role("button", name="Look up").click()
    expect(page.get_by_role("heading", name=re.compile("Indicator 45.155.205.172"))).to_be_visible()
    expect(page.get_by_text("released reports contain it")).to_be_visible()
    audited.append(audit_record(page))
    expect(page.get_by_role("table").first).to_contain_text("anonymous partner")
    expect(page.get_by_role("cell", name="https://login-bank-a.com/verify")).to_be_visible()
    screenshot(page, config, "investigator-indicator")
    page.get_by_role("link", name=TITLE).click()
    expect(page.get_by_role("heading", name=TITLE)).to_be_visible()
    expect(page.locator("article")).to_contain_text("redacted email")
    expect(page.locator("article")).not_to_contain_text(canary)
    expect(page.locator("article")).to_contain_text("anonymous partner")
    assert canary not in page.content(), "the PII canary reached the investigator's page"
    audited.append(audit_record(page))
    screenshot(page, config, "investigator-report")
    nav(page, "Search")
    page.get_by_label("Search").fill("phishing")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("link", name=TITLE)).to_be_visible()
    audited.append(audit_record(page))
    screenshot(page, config, "investigator-search")
    export_search(page, report_id, canary)
    nav(page, "Look up")
    page.get_by_text("Check a pasted list").click()
    page.get_by_label("List of values").fill(f"{DEFANGED}\n203.0.113.254")
    page.get_by_role("button", name="Check list").click()
    expect(page.get_by_role("heading", name="1 of 2 values found")).to_be_visible()
    audited.append(audit_record(page))
    nav(page, "Dashboard")
    expect(page.get_by_role("heading", name="Your recent searches")).to_be_visible()
    expect(page.locator("svg.chart").first).to_be_visible()
    screenshot(page, config, "investigator-dashboard")
    sign_out(page, url)


def export_search(page, report_id, canary):
    with page.expect_download() as download:
        page.get_by_role("link", name="CSV").click()
    csv = open(download.value.path(), encoding="utf-8").read()
    assert csv.startswith("report_id,title,tlp,"), csv[:200]
    assert report_id in csv and "45.155.205.172" in csv, csv
    assert canary not in csv, "the PII canary reached the CSV export"
    assert download.value.suggested_filename.startswith(f"accord-{CASE}-"), download.value.suggested_filename
    with page.expect_download() as download:
        page.get_by_role("link", name="STIX 2.1 bundle").click()
    bundle = json.load(open(download.value.path(), encoding="utf-8"))
    assert bundle["type"] == "bundle"
    assert any(o["id"] == report_id for o in bundle["objects"]), "the report is in the bundle"
    assert canary not in json.dumps(bundle), "the PII canary reached the STIX export"


def outsider_sees_nothing(page, config, report_id):
    url = config["url"]
    sign_in(page, url, config["tokens"]["outsider"])
    set_context(page, "investigation", "CASE-OUTSIDE")
    nav(page, "Look up")
    page.get_by_label("Indicator", exact=True).fill(DEFANGED)
    page.get_by_role("button", name="Look up").click()
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    result = page.locator("section[aria-labelledby=result-heading]")
    missing_indicator = result.inner_html()
    page.goto(f"{url}/lookup?value=198.51.100.99")
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    never_reported = result.inner_html()
    # The same answer as for a value nobody reported, but for the value itself and the record number.
    strip = lambda html: re.sub(r"#\d+|\"\d+\"|45\.155\.205\[\.\]172|198\.51\.100\.99", "", html)
    assert strip(missing_indicator) == strip(never_reported), (missing_indicator, never_reported)
    page.goto(f"{url}/released/{report_id}")
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    assert TITLE not in page.content()
    screenshot(page, config, "outsider-not-found")
    sign_out(page, url)


def main():
    config = read_input()
    audited = []
    with sync_playwright() as playwright:
        browser = launch(playwright)
        context = browser.new_context(accept_downloads=True)
        page = context.new_page()
        watch = Watch(page)
        report_id = partner_submits(page, config)
        watch.check("partner")
        investigator_reads(page, config, report_id, audited)
        watch.check("investigator")
        outsider_sees_nothing(page, config, report_id)
        watch.check("outsider")
        browser.close()
    emit({"report_id": report_id, "audit_records": audited, "case": CASE})


if __name__ == "__main__":
    main()
