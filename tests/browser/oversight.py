"""Issue 12 items 3, 5 and 6 in a real browser: the coordinator reads pipeline health (charts with accessible names)
and asks from a report's page whether an agency sees it; the auditor reads an agency's summary and downloads the
audit export. Every screenshotted page is contrast-checked first; the export is saved for the caller to verify.

Input (stdin): {"url", "tokens": {"coordinator", "auditor"}, "report", "export", "screenshots"}.
Output: {"charts": n, "export_lines": n}.
"""

import re

from common import Watch, emit, expect, launch, nav, read_input, screenshot, sign_in, sync_playwright


def coordinator(browser, config):
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    watch = Watch(page)
    sign_in(page, config["url"], config["tokens"]["coordinator"])
    nav(page, "Pipeline health")
    expect(page.get_by_role("heading", name="Pipeline health", exact=True)).to_be_visible()
    expect(page.get_by_text("The law holds.")).to_be_visible()
    for name in ["Reports per day of reception", "Rejections by reason", "Seconds from acceptance to searchable"]:
        expect(page.get_by_role("img", name=re.compile(name))).to_be_visible()
    charts = page.get_by_role("img").count()
    screenshot(page, config, "pipeline-health")
    page.goto(f"{config['url']}/explain/reports/{config['report']}")
    page.get_by_label("Agency", exact=True).select_option("ncu-de")
    page.get_by_role("button", name="Explain").click()
    expect(page.get_by_role("heading", name="Visible", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="mou-bank-a-ncu").first).to_be_visible()
    screenshot(page, config, "report-explain")
    watch.check("the coordinator's pages")
    return charts


def auditor(browser, config):
    page = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True).new_page()
    watch = Watch(page)
    sign_in(page, config["url"], config["tokens"]["auditor"])
    nav(page, "Agency summary")
    page.get_by_label("Organization", exact=True).fill("ncu-de")
    page.get_by_role("button", name="Summarize").click()
    expect(page.get_by_role("img", name=re.compile("Requests per day, by purpose"))).to_be_visible()
    expect(page.get_by_role("link", name="CASE-BROWSER")).to_be_visible()
    screenshot(page, config, "agency-summary")
    nav(page, "Audit trail")
    page.get_by_label("Organization", exact=True).fill("ncu-de")
    page.get_by_role("button", name="Filter").click()
    with page.expect_download() as download:
        page.get_by_role("button", name="Export (JSON lines)").click()
    download.value.save_as(config["export"])
    watch.check("the auditor's pages")
    with open(config["export"], encoding="utf-8") as export:
        return sum(1 for _ in export)


def main():
    config = read_input()
    with sync_playwright() as playwright:
        browser = launch(playwright)
        charts = coordinator(browser, config)
        lines = auditor(browser, config)
        browser.close()
    emit({"charts": charts, "export_lines": lines})


if __name__ == "__main__":
    main()
