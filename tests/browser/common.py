"""What the console's browser scenarios share: Debian's chromium driven by Playwright (no browser download), the
input they are given on stdin, and small checks.

Every scenario reads one JSON object on stdin: {"url": base URL of `accord up`, "tokens": {...}, "screenshots": a
directory or null, ...}, drives a headless chromium, raises AssertionError (exit status 1, message on stderr) when the
console misbehaves, and prints one JSON object of what it observed on stdout.
"""

import json
import os
import re
import sys

from playwright.sync_api import sync_playwright, expect

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Generous: the pipeline behind the pages runs on a loaded two-core machine.
expect.set_options(timeout=30_000)


def read_input():
    return json.load(sys.stdin)


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)


class Watch:
    """Records what a page must never do: open a dialog, log a CSP violation or a script error."""

    def __init__(self, page):
        self.dialogs = []
        self.errors = []
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        page.on(
            "console",
            lambda message: self.errors.append(f"{page.url}: {message.text[:160]}")
            if message.type == "error" and "Content Security Policy" in message.text
            else None,
        )

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def check(self, where):
        assert not self.dialogs, f"{where}: a dialog fired: {self.dialogs}"
        assert not self.errors, f"{where}: {self.errors}"


# WCAG 2.1 AA contrast of every visible text on the page: 4.5:1, or 3:1 for large text (24px, or 18.66px bold). The
# background is the first opaque one among the element and its ancestors (white when none is).
CONTRAST = """() => {
  const channel = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); };
  const parse = (css) => (css.match(/[0-9.]+/g) || []).map(Number);
  const luminance = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  const background = (element) => {
    for (let e = element; e; e = e.parentElement) {
      const [r, g, b, a] = parse(getComputedStyle(e).backgroundColor);
      if (a === undefined || a >= 0.99) { if (r !== undefined) return [r, g, b]; }
    }
    return [255, 255, 255];
  };
  const failures = [];
  for (const element of document.querySelectorAll("body *")) {
    const text = [...element.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent).join("").trim();
    if (!text || element.closest("[hidden], [aria-hidden=true], svg")) continue;
    const style = getComputedStyle(element);
    const box = element.getBoundingClientRect();
    if (style.visibility !== "visible" || style.display === "none" || box.width === 0 || box.height === 0) continue;
    const [r, g, b, a] = parse(style.color);
    if (a !== undefined && a < 0.99) { failures.push(`${element.tagName} "${text.slice(0, 30)}": translucent text`); continue; }
    const [l1, l2] = [luminance([r, g, b]), luminance(background(element))].sort((x, y) => y - x);
    const ratio = (l1 + 0.05) / (l2 + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) failures.push(`${element.tagName} "${text.slice(0, 30)}": ${ratio.toFixed(2)}:1`);
  }
  return failures;
}"""


def check_contrast(page, where):
    failures = page.evaluate(CONTRAST)
    assert not failures, f"{where}: text below WCAG AA contrast: {failures[:8]}"


def screenshot(page, config, name):
    """Checks the page's contrast, then saves a screenshot of it when a directory is configured."""
    check_contrast(page, name)
    directory = config.get("screenshots")
    if directory:
        os.makedirs(directory, exist_ok=True)
        # caret="initial": hiding the caret would make Playwright inject an inline style, which the CSP refuses.
        page.screenshot(path=os.path.join(directory, f"{name}.png"), full_page=True, caret="initial")


def nav(page, name):
    """Follows a link of the main navigation."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True).click()


def sign_in(page, url, token):
    page.goto(f"{url}/sign-in")
    page.get_by_label("Access token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r".*/dashboard$"))
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def sign_out(page, url):
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r".*/sign-in\?reason=signed-out$"))
    expect(page.get_by_label("Access token")).to_be_visible()


def set_context(page, purpose, case):
    """Sets the working context and waits until the console has stored it and shown the page it returns to: the
    field holds the typed case at once, so checking it alone let a next click race the form's answer, which then
    replaced the page that click had opened."""
    page.get_by_label("Purpose").select_option(purpose)
    page.get_by_label("Case reference").fill(case)
    with page.expect_response(lambda r: r.url.endswith("/context") and r.request.method == "POST"):
        page.get_by_role("button", name="Set context").click()
    page.wait_for_function("() => document.querySelector('.htmx-request') === null")
    expect(page.get_by_label("Case reference")).to_have_value(case)


def audit_record(page):
    """Returns the audit record number the page shows for its request."""
    note = page.locator("[data-audit-record]").first
    expect(note).to_be_visible()
    return int(note.get_attribute("data-audit-record"))


def emit(result):
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
