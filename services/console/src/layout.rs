//! The page shell every page shares, and the small pieces pages are made of (badges, dates, field errors, the audit
//! record note, redaction markers).
//!
//! Everything is rendered by `maud`, which escapes every interpolated value: text from reports (titles,
//! descriptions, indicator values) can only ever become text, never markup. No element carries a `style` attribute
//! or an inline script (the CSP forbids both); htmx reads its settings from a `<meta>` element, with `eval`, script
//! tags in swapped content, requests to other origins and the history cache (which would keep released data in the
//! browser's storage) all turned off.

use accord_domain::Role;
use maud::{DOCTYPE, Markup, html};

use crate::{assets, docs::Stage, form::FieldErrors, session::Session};

/// htmx's settings: nothing it does needs `eval` or inline styles; no page is kept in `localStorage`; every answer
/// but `204` is shown, errors included (a form refused with 422 is shown again with its errors, as without
/// JavaScript).
const HTMX_CONFIG: &str = r#"{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,"selfRequestsOnly":true,"historyCacheSize":0,"refreshOnHistoryMiss":true,"responseHandling":[{"code":"204","swap":false},{"code":"...","swap":true}]}"#;

/// The section of the main navigation a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nav {
    /// No entry highlighted.
    None,
    /// The dashboard.
    Dashboard,
    /// Partner: new report.
    NewReport,
    /// Partner: my reports.
    MyReports,
    /// Investigator: lookups.
    Lookup,
    /// Investigator: search.
    Search,
    /// Investigator: watchlist alerts.
    Alerts,
    /// Coordinator: organizations.
    Organizations,
    /// Coordinator: tokens.
    Tokens,
    /// Coordinator: MoUs.
    Mous,
    /// Coordinator: the sharing map.
    Map,
    /// Coordinator: pipeline health.
    Health,
    /// Auditor: the audit trail.
    Audit,
    /// Auditor: the per-agency summary.
    AuditSummary,
}

fn nav_link(current: Nav, target: Nav, href: &str, label: &str) -> Markup {
    html! {
        li {
            @if current == target {
                a href=(href) aria-current="page" { (label) }
            } @else {
                a href=(href) { (label) }
            }
        }
    }
}

fn navigation(session: Option<&Session>, current: Nav) -> Markup {
    html! {
        nav aria-label="Main" {
            ul { li { a href="/" { strong { "Accord" } } } }
            @if let Some(session) = session {
                ul {
                    (nav_link(current, Nav::Dashboard, "/dashboard", "Dashboard"))
                    @match session.identity.role {
                        Role::Partner => {
                            (nav_link(current, Nav::NewReport, "/reports/new", "New report"))
                            (nav_link(current, Nav::MyReports, "/reports", "My reports"))
                        }
                        Role::Investigator => {
                            (nav_link(current, Nav::Lookup, "/lookup", "Look up"))
                            (nav_link(current, Nav::Search, "/search", "Search"))
                            (nav_link(current, Nav::Alerts, "/alerts", "Alerts"))
                        }
                        Role::Auditor => {
                            (nav_link(current, Nav::Audit, "/audit", "Audit trail"))
                            (nav_link(current, Nav::AuditSummary, "/audit/summary", "Agency summary"))
                        }
                        Role::Coordinator => {
                            (nav_link(current, Nav::Mous, "/mous", "MoUs"))
                            (nav_link(current, Nav::Map, "/map", "Sharing map"))
                            (nav_link(current, Nav::Health, "/health", "Pipeline health"))
                            (nav_link(current, Nav::Organizations, "/organizations", "Organizations"))
                            (nav_link(current, Nav::Tokens, "/tokens", "Tokens"))
                        }
                    }
                }
                ul {
                    li.who {
                        "Signed in as " strong { (session.identity.organization.name) }
                        " (" (session.identity.organization.id.as_str()) ", " (session.identity.role.as_str()) ")"
                    }
                    li {
                        form method="post" action="/sign-out" {
                            (csrf_field(session))
                            button type="submit" class="secondary outline" { "Sign out" }
                        }
                    }
                }
            }
        }
    }
}

/// Renders a whole page: `title` in the tab and as the heading's context, `main` as its content.
pub(crate) fn page(title: &str, session: Option<&Session>, current: Nav, main: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="htmx-config" content=(HTMX_CONFIG);
                link rel="icon" href=(assets::ICON);
                title { (title) " · Accord" }
                link rel="stylesheet" href=(assets::PICO);
                link rel="stylesheet" href=(assets::STYLE);
                script src=(assets::HTMX) defer {}
            }
            body hx-boost="true" {
                a.skip-link href="#main" { "Skip to content" }
                header.container { (navigation(session, current)) }
                main.container id="main" tabindex="-1" { (main) }
                footer.container {
                    small {
                        "Accord: MoU-governed sharing of cyber-incident reports. "
                        a href=(assets::LICENSES) hx-boost="false" { "Third-party licences" }
                    }
                }
            }
        }
    }
}

/// The hidden CSRF field of a form (see `crate::form`).
pub(crate) fn csrf_field(session: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf); }
}

/// "Audit record #N": the number an investigator cites for the request that produced a page.
pub(crate) fn audit_note(audit_record: Option<u64>) -> Markup {
    html! {
        @if let Some(seq) = audit_record {
            p.audit data-audit-record=(seq) {
                "This request is recorded in the audit trail as record " strong { "#" (seq) } "."
            }
        }
    }
}

/// A TLP label in its TLP 2.0 colours.
pub(crate) fn tlp_badge(tlp: &str) -> Markup {
    let class = format!("badge tlp tlp-{}", tlp.replace('+', "-"));
    html! { span class=(class) { "TLP:" (tlp.to_ascii_uppercase()) } }
}

/// A report's stage.
pub(crate) fn stage_badge(stage: Stage) -> Markup {
    let class = format!("badge stage-{}", stage.as_str());
    html! { span class=(class) { (stage.as_str()) } }
}

/// An RFC 3339 time as `2026-11-20 08:00 UTC` (as given when it cannot be read).
pub(crate) fn when(at: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(at) {
        Ok(at) => at
            .with_timezone(&chrono::Utc)
            .format("%Y-%m-%d %H:%M UTC")
            .to_string(),
        Err(_) => at.to_owned(),
    }
}

/// The partner as an agency may see it.
pub(crate) fn partner(partner: &str) -> Markup {
    html! {
        @if partner == "anonymous" {
            em { "anonymous partner" }
        } @else {
            (partner)
        }
    }
}

/// The markers the enforcer writes in place of what an agency may not see.
fn marker_label(marker: &str) -> Option<String> {
    let inner = marker.strip_prefix('[')?.strip_suffix(']')?;
    match inner.split_once(':') {
        None if inner == "redacted" => Some("redacted".to_owned()),
        Some(("redacted", kind)) => Some(format!("redacted {kind}")),
        Some(("withheld", what)) => Some(format!("withheld {what}")),
        _ => None,
    }
}

/// Renders released text with every redaction or withholding marker shown as such (escaped, like all text).
pub(crate) fn released_text(text: &str) -> Markup {
    let mut parts: Vec<(bool, &str)> = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('[') {
        let Some(length) = rest[start..].find(']') else {
            break;
        };
        let candidate = &rest[start..=start + length];
        if marker_label(candidate).is_some() {
            parts.push((false, &rest[..start]));
            parts.push((true, candidate));
        } else {
            parts.push((false, &rest[..=start + length]));
        }
        rest = &rest[start + length + 1..];
    }
    parts.push((false, rest));
    html! {
        @for (is_marker, part) in parts {
            @if is_marker {
                span.redacted title="Not released to your agency" { (marker_label(part).unwrap_or_default()) }
            } @else {
                (part)
            }
        }
    }
}

/// The `id`s and attributes of a field with errors: `aria-invalid` and `aria-describedby` pointing at them.
pub(crate) fn error_id(field: &str) -> String {
    format!("{field}-error")
}

/// The errors of one field, under it.
pub(crate) fn field_errors(errors: &FieldErrors, field: &str) -> Markup {
    let messages = errors.of(field);
    html! {
        @if !messages.is_empty() {
            small.field-error id=(error_id(field)) {
                @for (index, message) in messages.iter().enumerate() {
                    @if index > 0 { br; }
                    (message)
                }
            }
        }
    }
}

/// The summary of a form's errors under `heading`, at its top (announced by screen readers).
pub(crate) fn error_summary(
    heading: &str,
    errors: &FieldErrors,
    labels: &[(&str, &str)],
) -> Markup {
    if errors.is_empty() {
        return html! {};
    }
    let label = |field: &str| {
        labels
            .iter()
            .find(|(name, _)| *name == field)
            .map_or(field.to_owned(), |(_, label)| (*label).to_owned())
    };
    html! {
        div.notice.error role="alert" {
            p { strong { (heading) } }
            ul {
                @for (field, message) in errors.all() {
                    li {
                        @if let Some(field) = field {
                            a href=(format!("#{field}")) { (label(field)) } ": "
                        }
                        (message)
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_shown_and_everything_else_is_escaped_text() {
        let rendered =
            released_text("mail [redacted:email] <b>x</b> [withheld:indicator] [not a marker]")
                .into_string();
        assert!(rendered.contains(
            r#"<span class="redacted" title="Not released to your agency">redacted email</span>"#
        ));
        assert!(rendered.contains("withheld indicator"));
        assert!(rendered.contains("&lt;b&gt;x&lt;/b&gt;"));
        assert!(rendered.contains("[not a marker]"));
        assert!(
            released_text("[redacted]")
                .into_string()
                .contains(">redacted<")
        );
    }

    #[test]
    fn times_read_as_utc() {
        assert_eq!(when("2026-11-20T08:00:00Z"), "2026-11-20 08:00 UTC");
        assert_eq!(when("garbage"), "garbage");
    }
}
