"""The console's security in a real browser:

1. the session cookie is HttpOnly and SameSite=Strict, not Secure over plain HTTP and Secure when the proxy in front
   says the request came over TLS (X-Forwarded-Proto: https);
2. a form posted without its CSRF token (the hidden field removed from the page) is refused, and nothing is stored;
3. a report whose title, description and indicators carry script payloads renders inert on every page that shows
   it, to the partner and to the investigator: no dialog fires, no script runs, no script element comes from data,
   no event-handler attribute or javascript: link exists;
4. a signed-out browser reaches no data page: every one sends it to the sign-in page.

Input (stdin): {"url", "tokens": {"partner", "investigator"}, "screenshots"}.
Output: {"payload_report": id, "pages_checked": n}.
"""

import re

from common import (
    nav,
    Watch,
    emit,
    expect,
    launch,
    read_input,
    set_context,
    sign_in,
    sign_out,
    sync_playwright,
)

PAYLOAD_TITLE = "Hostile <script>window.__pwned='title';alert('title')</script> report"
PAYLOAD_DESCRIPTION = (
    "<img src=x onerror=\"window.__pwned='img';alert('img')\"> "
    "<a href=\"javascript:window.__pwned='link';alert('link')\">click me</a> "
    "[click](javascript:alert('md')) <svg onload=\"alert('svg')\"></svg> C2 at 192.0.2.66"
)


def cookie_flags(browser, url, token):
    flags = {}
    for name, headers in (("plain", {}), ("tls", {"X-Forwarded-Proto": "https"})):
        context = browser.new_context(extra_http_headers=headers)
        page = context.new_page()
        page.goto(f"{url}/sign-in")
        page.get_by_label("Access token").fill(token)
        with page.expect_response(lambda response: response.url.endswith("/sign-in") and response.request.method == "POST") as signed:
            page.get_by_role("button", name="Sign in").click()
        set_cookie = signed.value.header_value("set-cookie") or ""
        session = [line for line in set_cookie.split("\n") if line.startswith("accord_session=")]
        assert session, f"no session cookie: {set_cookie!r}"
        attributes = [part.strip() for part in session[0].split(";")]
        assert "HttpOnly" in attributes and "SameSite=Strict" in attributes, attributes
        flags[name] = "Secure" in attributes
        if name == "plain":
            stored = [cookie for cookie in context.cookies() if cookie["name"] == "accord_session"]
            assert stored and stored[0]["httpOnly"] and stored[0]["sameSite"] == "Strict", stored
            assert page.evaluate("document.cookie").find("accord_session") < 0, "the session cookie is readable by script"
        context.close()
    assert flags == {"plain": False, "tls": True}, flags


def csrf_refused(page, url, token):
    sign_in(page, url, token)
    # Counted on a loaded page, as after the post (a click on a boosted link swaps the page later).
    page.goto(f"{url}/reports")
    before = page.locator("tbody tr").count()
    nav(page, "New report")
    page.get_by_label("Title").fill("Posted without a CSRF token")
    page.locator("form[action='/reports/new'] input[name=csrf]").evaluate("element => element.remove()")
    with page.expect_response(lambda response: response.url.endswith("/reports/new") and response.request.method == "POST") as posted:
        page.get_by_role("button", name="Submit report").click()
    assert posted.value.status == 403, posted.value.status
    expect(page.get_by_role("heading", name="This form was refused")).to_be_visible()
    page.goto(f"{url}/reports")
    assert page.locator("tbody tr").count() == before, "a report was stored without a CSRF token"
    assert "Posted without a CSRF token" not in page.content()


def submit_payload(page, url):
    page.goto(f"{url}/reports/new")
    page.get_by_label("Title").fill(PAYLOAD_TITLE)
    page.get_by_label("Description").fill(PAYLOAD_DESCRIPTION)
    page.get_by_label("Categories").select_option(["phishing"])
    page.get_by_label("Indicators (one value per line").fill("192.0.2.66")
    page.get_by_role("button", name="Submit report").click()
    expect(page.get_by_text("Report accepted")).to_be_visible()
    report_id = page.locator("dd code").first.inner_text()
    expect(page.locator("#report-status .badge")).to_have_text("released")
    return report_id


def assert_inert(page, watch, where):
    watch.check(where)
    assert page.evaluate("typeof window.__pwned") == "undefined", f"{where}: a payload ran"
    scripts = page.evaluate("Array.from(document.scripts).map(s => s.src || s.textContent)")
    assert all(src.endswith("/assets/htmx-2.0.11.min.js") for src in scripts), f"{where}: scripts {scripts}"
    handlers = page.evaluate(
        "Array.from(document.querySelectorAll('*')).flatMap(e => Array.from(e.attributes))"
        ".filter(a => a.name.startsWith('on')).map(a => a.name)"
    )
    assert not handlers, f"{where}: event handler attributes {handlers}"
    links = page.evaluate(
        "Array.from(document.querySelectorAll('[href],[src],[action]'))"
        ".map(e => e.getAttribute('href') || e.getAttribute('src') || e.getAttribute('action'))"
        ".filter(v => v.trim().toLowerCase().startsWith('javascript:'))"
    )
    assert not links, f"{where}: javascript: links {links}"
    assert page.locator("img").count() == 0 and page.locator("main svg:not(.chart)").count() == 0, f"{where}: markup from data"


def payload_renders_inert(page, watch, config, report_id):
    url = config["url"]
    checked = 0
    for path in ("/reports", f"/reports/{report_id}", "/dashboard"):
        page.goto(f"{url}{path}")
        expect(page.locator("main")).to_contain_text("Hostile <script>")
        assert_inert(page, watch, f"partner {path}")
        checked += 1
    sign_out(page, url)
    sign_in(page, url, config["tokens"]["investigator"])
    set_context(page, "investigation", "CASE-XSS")
    for path in ("/search?q=Hostile", f"/released/{report_id}", "/lookup?value=192.0.2.66", "/indicators/192.0.2.66", "/dashboard"):
        page.goto(f"{url}{path}")
        expect(page.locator("main")).to_contain_text("Hostile <script>")
        assert_inert(page, watch, f"investigator {path}")
        checked += 1
    expect(page.locator("main")).to_contain_text("Hostile")
    sign_out(page, url)
    return checked


def signed_out_reaches_nothing(browser, url, report_id):
    context = browser.new_context()
    page = context.new_page()
    paths = [
        "/dashboard", "/reports", "/reports/new", f"/reports/{report_id}", "/lookup", "/lookup?value=192.0.2.66",
        "/search?q=Hostile", "/indicators/192.0.2.66", f"/released/{report_id}", "/export/search?format=csv&q=Hostile",
    ]
    for path in paths:
        page.goto(f"{url}{path}")
        expect(page).to_have_url(re.compile(r".*/sign-in(\?.*)?$"))
        expect(page.get_by_label("Access token")).to_be_visible()
        assert "Hostile" not in page.content(), f"{path} showed data to a signed-out browser"
    context.close()
    return len(paths)


def main():
    config = read_input()
    url = config["url"]
    with sync_playwright() as playwright:
        browser = launch(playwright)
        cookie_flags(browser, url, config["tokens"]["partner"])
        context = browser.new_context()
        page = context.new_page()
        watch = Watch(page)
        csrf_refused(page, url, config["tokens"]["partner"])
        report_id = submit_payload(page, url)
        checked = payload_renders_inert(page, watch, config, report_id)
        checked += signed_out_reaches_nothing(browser, url, report_id)
        browser.close()
    emit({"payload_report": report_id, "pages_checked": checked})


if __name__ == "__main__":
    main()
