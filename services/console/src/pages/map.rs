//! "Sharing map" (coordinators): the partnership as a server-rendered SVG — partners on the left, agencies on the
//! right, one edge per provider and recipient of each MoU not revoked, coloured by state (active, suspended, expiring
//! within 30 days, expired), labelled by TLP ceiling and purposes (the edge's title, and the legend), each edge a link
//! to its MoU. Rows are spaced evenly, so 50 partners, 30 agencies and 200 MoUs stay readable; no script.

use accord_domain::Role;
use axum::{
    extract::State,
    response::{Html, IntoResponse, Response},
};
use maud::{Markup, html};

use crate::{
    AppState,
    docs::{MouVersion, Organization},
    extract::Signed,
    layout::{Nav, page},
    pages::{errors, mous::state_of},
};

/// Vertical space per organization, in SVG units.
const ROW: usize = 28;
/// The width of the picture.
const WIDTH: usize = 1000;
/// Where the partners' and the agencies' names end and begin.
const LEFT: usize = 300;
const RIGHT: usize = 700;

/// The y of row `index` in a column of `count` rows, centred in `height`.
fn y(index: usize, count: usize, height: usize) -> usize {
    let top = (height - count * ROW) / 2;
    top + index * ROW + ROW / 2
}

fn column(orgs: &[&Organization], height: usize, x: usize, anchor: &str) -> Markup {
    html! {
        @for (index, org) in orgs.iter().enumerate() {
            a href=(format!("/organizations/{}", org.id)) {
                text x=(x) y=(y(index, orgs.len(), height) + 5) text-anchor=(anchor) class="map-org" { (org.name) " (" (org.id) ")" }
            }
        }
    }
}

/// Renders the map of `orgs` and `mous`.
pub(crate) fn svg(orgs: &[Organization], mous: &[MouVersion]) -> Markup {
    let partners: Vec<&Organization> = orgs.iter().filter(|org| org.kind == "partner").collect();
    let agencies: Vec<&Organization> = orgs.iter().filter(|org| org.kind == "agency").collect();
    let height = (partners.len().max(agencies.len()) * ROW).max(ROW) + ROW;
    let row_of = |list: &[&Organization], id: &str| list.iter().position(|org| org.id == id);
    let now = chrono::Utc::now();
    html! {
        svg.map xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {WIDTH} {height}")) role="img" aria-labelledby="map-title" {
            title id="map-title" { "Sharing map: " (partners.len()) " partners, " (agencies.len()) " agencies, " (mous.len()) " MoUs" }
            @for mou in mous.iter().filter(|mou| mou.text("status") != "revoked") {
                @let state = state_of(mou, now);
                @let label = format!("{} ({}): TLP:{}, {}, {}", mou.text("title"), mou.text("id"), mou.text("max_tlp").to_ascii_uppercase(), mou.list("purposes").join(", "), state);
                a href=(format!("/mous/{}", mou.text("id"))) class=(format!("map-edge mou-{state}")) {
                    title { (label) }
                    @for provider in mou.list("providers") {
                        @for recipient in mou.list("recipients") {
                            @if let (Some(from), Some(to)) = (row_of(&partners, provider), row_of(&agencies, recipient)) {
                                line x1=(LEFT + 8) y1=(y(from, partners.len(), height)) x2=(RIGHT - 8) y2=(y(to, agencies.len(), height));
                            }
                        }
                    }
                }
            }
            (column(&partners, height, LEFT, "end"))
            (column(&agencies, height, RIGHT, "start"))
        }
    }
}

/// `GET /map`.
pub(crate) async fn show(State(state): State<AppState>, signed: Signed) -> Response {
    if let Err(refused) = signed.require(Role::Coordinator) {
        return refused;
    }
    let token = &signed.session.token;
    let orgs = match state.backend.organizations(token, None).await {
        Ok(list) => list.organizations,
        Err(error) => return errors::problem(Some(&signed.session), &error),
    };
    let mous = match state.backend.mous(token, None).await {
        Ok(list) => list.mous,
        Err(error) => return errors::problem(Some(&signed.session), &error),
    };
    let body = html! {
        h1 { "Sharing map" }
        p { "Partners on the left, agencies on the right; one line per MoU in force between them (hover for its title, TLP ceiling and purposes; click to open it)." }
        ul.map-legend {
            li { span class="swatch mou-active" {} "active" }
            li { span class="swatch mou-expiring" {} "expiring within 30 days" }
            li { span class="swatch mou-suspended" {} "suspended" }
            li { span class="swatch mou-expired" {} "expired" }
        }
        div.map-wrap { (svg(&orgs, &mous)) }
        details {
            summary { "The MoUs as a table" }
            ul { @for mou in &mous { li {
                a href=(format!("/mous/{}", mou.text("id"))) { (mou.text("title")) } ": " (mou.list("providers").join(", ")) " → " (mou.list("recipients").join(", "))
                ", TLP:" (mou.text("max_tlp").to_ascii_uppercase()) ", " (mou.list("purposes").join(", ")) ", " (state_of(mou, chrono::Utc::now()))
            } } }
        }
    };
    Html(page("Sharing map", Some(&signed.session), Nav::Map, body).into_string()).into_response()
}
