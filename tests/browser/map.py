"""The sharing map in a real browser, over a generated partnership (50 partners, 30 agencies, 200 MoUs): it renders
without a script error or CSP violation, every organization is named, an edge opens its MoU; the screenshot is kept.

Input (stdin): {"url", "tokens": {"coordinator"}, "mou", "screenshots"}.
Output: {"edges": n, "names": n}.
"""

import re

from common import Watch, emit, expect, launch, nav, read_input, screenshot, sign_in, sync_playwright


def main():
    config = read_input()
    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        watch = Watch(page)
        sign_in(page, config["url"], config["tokens"]["coordinator"])
        nav(page, "Sharing map")
        expect(page.get_by_role("heading", name="Sharing map")).to_be_visible()
        edges = page.locator("svg.map line").count()
        names = page.locator("svg.map text").count()
        screenshot(page, config, "sharing-map")
        # A thin line under others: the click is dispatched to the edge itself, as a pointer on it would.
        page.locator(f"svg.map a[href='/mous/{config['mou']}']").first.dispatch_event("click")
        expect(page).to_have_url(re.compile(rf".*/mous/{config['mou']}$"))
        watch.check("the sharing map")
        browser.close()
    emit({"edges": edges, "names": names})


if __name__ == "__main__":
    main()
