"""Issue 12 in a real browser: a coordinator registers an agency, writes an MoU in the form (the JSON view one click
away), reads the impact preview, saves; issues the agency an investigator token; the investigator finds the
partner's report; the coordinator suspends the MoU with a reason after the confirmation that names what is withdrawn,
and the investigator no longer finds it; the auditor finds those searches by case and verifies the chain. No dialog, no CSP violation, no script error on the way.

Input (stdin): {"url", "tokens": {"coordinator", "auditor"}, "indicator", "screenshots"}.
Output: {"mou": id, "agency": id, "found": bool, "withdrawn": bool, "audited": n}.
"""

import re
import time

from common import Watch, emit, expect, launch, nav, read_input, screenshot, set_context, sign_in, sync_playwright

AGENCY = "ncu-nl"
MOU = "mou-bank-a-nl"
CASE = "CASE-NL-7"


def create_agency(page):
    nav(page, "Organizations")
    page.get_by_label("Organization id").fill(AGENCY)
    page.get_by_label("Name").fill("NCU Netherlands")
    page.get_by_label("Kind").select_option("agency")
    page.get_by_label("Country").fill("NL")
    page.get_by_role("button", name="Create organization").click()
    expect(page.get_by_role("heading", name="NCU Netherlands")).to_be_visible()


def write_mou(page, config):
    nav(page, "MoUs")
    page.get_by_role("button", name="New MoU").click()
    expect(page.get_by_role("heading", name="New MoU")).to_be_visible()
    page.get_by_label("MoU id").fill(MOU)
    page.get_by_label("Title", exact=True).fill("Bank A to the Dutch NCU")
    page.get_by_role("group", name="Providers").get_by_label("BANK-A (bank-a, DE)").check()
    page.get_by_role("group", name="Recipients").get_by_label("NCU Netherlands (ncu-nl, NL)").check()
    page.get_by_label("TLP ceiling").select_option("amber")
    page.get_by_role("group", name="Content parts").get_by_label("Narrative (title, description)").check()
    page.get_by_label("Recipient countries").fill("NL")
    page.get_by_text("JSON view").click()
    expect(page.get_by_label("MoU as JSON")).to_be_visible()
    screenshot(page, config, "mou-editor")
    page.get_by_role("button", name="Preview changes").click()
    expect(page.get_by_role("heading", name="Impact preview")).to_be_visible()
    row = page.get_by_role("row").filter(has_text="NCU Netherlands (ncu-nl)")
    expect(row).to_contain_text("1")
    screenshot(page, config, "mou-preview")
    page.get_by_role("button", name="Save MoU").click()
    expect(page.get_by_role("status")).to_contain_text("Saved as version 1")


def issue_investigator_token(page, url):
    page.goto(f"{url}/organizations/{AGENCY}")
    page.get_by_label("Role").select_option("investigator")
    page.get_by_label("Token label").fill("nl-case-team")
    page.get_by_role("button", name="Issue token").click()
    return page.get_by_label("New access token").input_value()


def finds(page, url, indicator, wanted, attempts=60):
    """Opens the indicator's page until its heading says found (`wanted`) or not found (not `wanted`)."""
    for _ in range(attempts):
        page.goto(f"{url}/indicators/{indicator}")
        found = page.get_by_role("heading", name=re.compile(f"Indicator {re.escape(indicator)}")).count() > 0
        if found == wanted:
            return True
        time.sleep(0.5)
    return False


def suspend(page, config):
    page.goto(f"{config['url']}/mous/{MOU}")
    page.get_by_role("button", name="Suspend MoU").click()
    expect(page.get_by_role("alert")).to_contain_text("loses 1 reports")
    page.get_by_label("Reason").fill("Data-handling review")
    screenshot(page, config, "mou-suspend")
    page.get_by_role("button", name="Suspend MoU").click()
    expect(page.get_by_role("status")).to_contain_text("MoU suspended")
    expect(page.get_by_role("heading", name="Version 2")).to_be_visible()


def audit(page, config):
    sign_in(page, config["url"], config["tokens"]["auditor"])
    nav(page, "Audit trail")
    page.get_by_label("Case reference").fill(CASE)
    page.get_by_role("button", name="Filter").click()
    rows = page.get_by_role("row").filter(has_text=AGENCY)
    expect(rows.first).to_be_visible()
    audited = rows.count()
    rows.first.get_by_text("Record #").click()
    expect(page.get_by_text("Query and parameters").first).to_be_visible()
    screenshot(page, config, "audit-console")
    page.get_by_role("button", name="Verify the chain").click()
    expect(page.get_by_role("status")).to_contain_text("The chain holds.")
    return audited


def main():
    config = read_input()
    url, indicator = config["url"], config["indicator"]
    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_context().new_page()
        watch = Watch(page)
        sign_in(page, url, config["tokens"]["coordinator"])
        create_agency(page)
        write_mou(page, config)
        secret = issue_investigator_token(page, url)
        watch.check("writing the MoU")

        investigator = browser.new_context().new_page()
        sign_in(investigator, url, secret)
        set_context(investigator, "investigation", CASE)
        found = finds(investigator, url, indicator, True)

        suspend(page, config)
        watch.check("suspending the MoU")
        withdrawn = finds(investigator, url, indicator, False)
        auditor = browser.new_context().new_page()
        audited = audit(auditor, config)
        Watch(auditor).check("auditing")
        browser.close()
    emit({"mou": MOU, "agency": AGENCY, "found": found, "withdrawn": withdrawn, "audited": audited})


if __name__ == "__main__":
    main()
