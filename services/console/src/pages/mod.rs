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

use crate::AppState;

accord_runtime::route_table! {
    /// The pages' routes, as data (the table in the module documentation, by method).
    pub(crate) const ROUTES;
    /// Returns the routes of every page.
    pub(crate) fn routes() -> Router<AppState>;
    GET "/" => sign_in::home,
    GET "/sign-in" => sign_in::form,
    POST "/sign-in" => sign_in::submit,
    POST "/sign-out" => sign_in::sign_out,
    GET "/dashboard" => dashboard::show,
    GET "/reports" => my_reports::list,
    GET "/reports/new" => new_report::form,
    POST "/reports/new" => new_report::submit,
    POST "/reports/upload" => new_report::upload,
    GET "/reports/{id}" => my_reports::show,
    POST "/context" => context::set,
    GET "/lookup" => lookup::single,
    POST "/lookup" => lookup::batch,
    GET "/indicators/{value}" => indicator::show,
    GET "/search" => search::show,
    GET "/released/{id}" => released::show,
    GET "/alerts" => alerts::show,
    GET "/export/search" => export::search,
    POST "/export/lookup" => export::lookup,
    GET "/organizations" => organizations::list,
    POST "/organizations" => organizations::create,
    GET "/organizations/{id}" => organizations::show,
    POST "/organizations/{id}" => organizations::update,
    POST "/organizations/{id}/tokens" => tokens::issue,
    GET "/tokens" => tokens::list,
    GET "/audit" => audit::show,
    GET "/audit/verify" => audit::verify,
    GET "/audit/checkpoint" => audit::checkpoint,
    GET "/audit/export" => audit::export,
    GET "/audit/summary" => oversight::show,
    GET "/explain" => explain::show,
    GET "/explain/reports/{id}" => report_access::show,
    GET "/map" => map::show,
    GET "/health" => health::show,
    GET "/mous" => mous::list,
    GET "/mous/new" => mou_editor::new,
    POST "/mous/preview" => mou_editor::preview,
    POST "/mous/editor" => mou_editor::back,
    POST "/mous/save" => mou_editor::save,
    GET "/mous/{id}" => mous::show,
    GET "/mous/{id}/edit" => mou_editor::edit,
    GET "/mous/{id}/{action}" => mous::confirm,
    POST "/mous/{id}/{action}" => mous::act,
    GET "/tokens/{id}/revoke" => tokens::confirm,
    POST "/tokens/{id}/revoke" => tokens::revoke,
}
