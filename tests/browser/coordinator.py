"""A coordinator in a real browser (issue 12, part 1): registers a partner through the form, issues it a token that is
shown once and copied with the copy button, sees the partner sign in with it, then revokes it after the confirmation
and sees the partner's session end at its next request. No dialog, no CSP violation, no script error on the way.

Input (stdin): {"url", "tokens": {"coordinator"}, "screenshots"}.
Output: {"organization": id, "label": the token's label, "copied": bool}.
"""

import re

from common import Watch, emit, expect, launch, nav, read_input, screenshot, sign_in, sync_playwright

ORG = "bank-z"
LABEL = "soc-uploader"


def create_partner(page, config):
    nav(page, "Organizations")
    expect(page.get_by_role("heading", name="Organizations", exact=True)).to_be_visible()
    page.get_by_label("Organization id").fill(ORG)
    page.get_by_label("Name").fill("Bank Z")
    page.get_by_label("Kind").select_option("partner")
    page.get_by_label("Country").fill("DE")
    page.get_by_label("Sector").fill("finance")
    page.get_by_label("Default TLP").select_option("amber")
    page.get_by_role("button", name="Create organization").click()
    expect(page).to_have_url(re.compile(rf".*/organizations/{ORG}\?created=1$"))
    expect(page.get_by_role("heading", name="Bank Z", exact=True)).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Organization created")


def issue_token(page, config):
    page.get_by_label("Role").select_option("partner")
    page.get_by_label("Token label").fill(LABEL)
    page.get_by_role("button", name="Issue token").click()
    expect(page.get_by_role("heading", name="Token issued")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("shown only this once")
    secret = page.get_by_label("New access token").input_value()
    assert secret, "the token is shown"
    page.get_by_role("button", name="Copy token").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    copied = page.evaluate("navigator.clipboard.readText()") == secret
    screenshot(page, config, "coordinator-token-issued")
    return secret, copied


def revoke_token(page, config):
    page.goto(f"{config['url']}/organizations/{ORG}")
    expect(page.get_by_role("cell", name=LABEL, exact=True)).to_be_visible()
    screenshot(page, config, "coordinator-organization")
    page.get_by_role("link", name=f"Revoke token {LABEL}").click()
    expect(page.get_by_role("heading", name="Revoke token")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("cannot be undone")
    page.get_by_role("button", name="Revoke token").click()
    expect(page).to_have_url(re.compile(rf".*/organizations/{ORG}\?revoked=1$"))
    expect(page.get_by_role("status")).to_contain_text("Token revoked")
    expect(page.get_by_role("row").filter(has_text=LABEL)).to_contain_text("revoked")


def main():
    config = read_input()
    url = config["url"]
    with sync_playwright() as playwright:
        browser = launch(playwright)
        coordinator = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
        page = coordinator.new_page()
        watch = Watch(page)
        sign_in(page, url, config["tokens"]["coordinator"])
        create_partner(page, config)
        secret, copied = issue_token(page, config)
        watch.check("issuing a token")

        partner = browser.new_context().new_page()
        sign_in(partner, url, secret)
        expect(partner.get_by_role("link", name="New report")).to_be_visible()

        revoke_token(page, config)
        watch.check("revoking a token")
        partner.goto(f"{url}/dashboard")
        expect(partner).to_have_url(re.compile(r".*/sign-in\?reason=revoked$"))
        browser.close()
    emit({"organization": ORG, "label": LABEL, "copied": copied})


if __name__ == "__main__":
    main()
