//! The console's pages, by role. Every page but sign-in requires a session (`crate::extract::Signed`); a page of
//! another role is "not found".
//!
//! | path | who | what |
//! |---|---|---|
//! | `/`, `/sign-in`, `/sign-out` | anyone | sign-in ([`sign_in`]) |
//! | `/dashboard` | signed in | figures and recent activity ([`dashboard`]) |
//! | `/reports/new`, `/reports/upload` | partner | "New report" ([`new_report`]) |
//! | `/reports`, `/reports/{id}` | partner | "My reports" ([`my_reports`]) |
//! | `/context` | investigator | the working context ([`context`]) |
//! | `/lookup` | investigator | one value or a pasted list ([`lookup`]) |
//! | `/indicators/{value}` | investigator | an indicator ([`indicator`]) |
//! | `/search` | investigator | search ([`search`]) |
//! | `/released/{id}` | investigator | a released report ([`released`]) |
//! | `/alerts` | investigator | watchlist alerts, live ([`alerts`]) |
//! | `/export/search`, `/export/lookup` | investigator | exports ([`export`]) |
//! | `/organizations`, `/organizations/{id}` | coordinator | organizations ([`organizations`]) |
//! | `/organizations/{id}/tokens`, `/tokens`, `/tokens/{id}/revoke` | coordinator | tokens ([`tokens`]) |
//! | `/audit`, `/audit/verify`, `/audit/checkpoint`, `/audit/export` | auditor | the audit trail ([`audit`]) |
//! | `/mous`, `/mous/{id}`, `/mous/{id}/{suspend,resume,revoke}` | coordinator | MoUs ([`mous`]) |
//! | `/audit/summary` | auditor | the per-agency summary ([`oversight`]) |
//! | `/health` | coordinator | pipeline health ([`health`]) |
//! | `/map` | coordinator | the sharing map ([`map`]) |
//! | `/explain` | coordinator | can agency X see report R ([`explain`]) |
//! | `/explain/reports/{id}` | coordinator | a report: every agency's decision, and why ([`report_access`]) |
//! | `/mous/new`, `/mous/{id}/edit`, `/mous/preview`, `/mous/editor`, `/mous/save` | coordinator | the editor ([`mou_editor`]) |

pub(crate) mod alerts;
pub(crate) mod audit;
pub(crate) mod context;
pub(crate) mod controls;
pub(crate) mod dashboard;
pub(crate) mod errors;
pub(crate) mod explain;
pub(crate) mod export;
pub(crate) mod health;
pub(crate) mod indicator;
pub(crate) mod lookup;
pub(crate) mod map;
pub(crate) mod mou_diff;
pub(crate) mod mou_editor;
pub(crate) mod mou_form;
pub(crate) mod mous;
pub(crate) mod my_reports;
pub(crate) mod new_report;
pub(crate) mod organizations;
pub(crate) mod oversight;
pub(crate) mod released;
pub(crate) mod report_access;
pub(crate) mod search;
pub(crate) mod sign_in;
pub(crate) mod tokens;

use axum::{
    Router,
    routing::{get, post},
};

use crate::AppState;

/// Returns the routes of every page.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(sign_in::home))
        .route("/sign-in", get(sign_in::form).post(sign_in::submit))
        .route("/sign-out", post(sign_in::sign_out))
        .route("/dashboard", get(dashboard::show))
        .route("/reports", get(my_reports::list))
        .route(
            "/reports/new",
            get(new_report::form).post(new_report::submit),
        )
        .route("/reports/upload", post(new_report::upload))
        .route("/reports/{id}", get(my_reports::show))
        .route("/context", post(context::set))
        .route("/lookup", get(lookup::single).post(lookup::batch))
        .route("/indicators/{value}", get(indicator::show))
        .route("/search", get(search::show))
        .route("/released/{id}", get(released::show))
        .route("/alerts", get(alerts::show))
        .route("/export/search", get(export::search))
        .route("/export/lookup", post(export::lookup))
        .route(
            "/organizations",
            get(organizations::list).post(organizations::create),
        )
        .route(
            "/organizations/{id}",
            get(organizations::show).post(organizations::update),
        )
        .route("/organizations/{id}/tokens", post(tokens::issue))
        .route("/tokens", get(tokens::list))
        .route("/audit", get(audit::show))
        .route("/audit/verify", get(audit::verify))
        .route("/audit/checkpoint", get(audit::checkpoint))
        .route("/audit/export", get(audit::export))
        .route("/audit/summary", get(oversight::show))
        .route("/explain", get(explain::show))
        .route("/explain/reports/{id}", get(report_access::show))
        .route("/map", get(map::show))
        .route("/health", get(health::show))
        .route("/mous", get(mous::list))
        .route("/mous/new", get(mou_editor::new))
        .route("/mous/preview", post(mou_editor::preview))
        .route("/mous/editor", post(mou_editor::back))
        .route("/mous/save", post(mou_editor::save))
        .route("/mous/{id}", get(mous::show))
        .route("/mous/{id}/edit", get(mou_editor::edit))
        .route("/mous/{id}/{action}", get(mous::confirm).post(mous::act))
        .route(
            "/tokens/{id}/revoke",
            get(tokens::confirm).post(tokens::revoke),
        )
}
