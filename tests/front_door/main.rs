//! The front door (`deploy/Caddyfile`, the `proxy` service of docker-compose.yml, decision 0074) against the routes
//! the services declare (`route_table()` of admin, gateway, search, enforcer and the console: the same tables their
//! routers are built from, `accord_runtime::route_table!`).
//!
//! - Statically, always: the Caddyfile's route block is read ([`caddyfile`]) and checked ([`check`]): every declared
//!   (method, path) reaches the one service that declares it, no path is declared by two services, no pattern sends
//!   a path to a service that serves nothing there, probes and metrics stay internal.
//! - With Caddy (`caddy` on the PATH; scripts/test.sh installs Debian's): Caddy's own reading (`caddy adapt`) must be
//!   the static reading, and a real Caddy with the Caddyfile, on loopback ports, must route every declared route to
//!   the upstream standing for its service, over its internal HTTP listener and over TLS with its local CA
//!   ([`live`]). Without Caddy these print a notice and pass, unless `ACCORD_REQUIRE_CADDY=1`: then they fail.
#![allow(unreachable_pub)]

mod caddyfile;
mod check;
mod live;

use std::path::PathBuf;

use crate::check::{Problem, Service};

/// The Caddyfile's text.
pub fn caddyfile_text() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy/Caddyfile");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The services behind the front door, with the routes each declares.
pub fn services() -> Vec<Service> {
    vec![
        Service {
            name: "admin",
            routes: accord_admin::route_table(),
            hosted: true,
        },
        Service {
            name: "gateway",
            routes: accord_gateway::route_table(),
            hosted: true,
        },
        Service {
            name: "search",
            routes: accord_search::route_table(),
            hosted: true,
        },
        Service {
            name: "enforcer",
            routes: accord_enforcer::route_table(),
            hosted: true,
        },
        // Run alone (`accord console --api`): only its pages, assets and /healthz.
        Service {
            name: "console",
            routes: accord_console::route_table(),
            hosted: false,
        },
    ]
}

/// The problems of the front door written as `text`.
fn problems_of(text: &str) -> Vec<Problem> {
    let door = caddyfile::parse(text).unwrap_or_else(|e| panic!("{e}"));
    check::check(
        &door,
        &services(),
        &accord_runtime::http::routes::operational(),
    )
}

#[test]
fn the_front_door_routes_every_declared_route_to_its_one_service() {
    let problems = problems_of(&caddyfile_text());
    let listed: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert!(
        problems.is_empty(),
        "deploy/Caddyfile against the services' route tables:\n  {}",
        listed.join("\n  ")
    );
    // The check saw the routes it claims to: the two paths served by method, TAXII on both sides.
    let door = caddyfile::parse(&caddyfile_text()).unwrap();
    let to = |method, path| {
        door.route_for(method, path)
            .map(|index| door.routes[index].action.clone())
    };
    let proxy = |service: &str| {
        Some(caddyfile::Action::Proxy {
            service: service.to_owned(),
            upstream: format!("{service}:8080"),
        })
    };
    assert_eq!(to("GET", "/v1/feedback"), proxy("gateway"));
    assert_eq!(to("POST", "/v1/feedback"), proxy("search"));
    let objects = "/taxii2/accord/collections/c/objects/";
    assert_eq!(to("POST", objects), proxy("gateway"));
    assert_eq!(to("GET", objects), proxy("search"));
    assert_eq!(to("GET", "/"), proxy("console"));
}

/// Replaces `from` (which must be there) by `to` in the real Caddyfile, and returns the problems found.
fn problems_after(from: &str, to: &str) -> Vec<Problem> {
    let text = caddyfile_text();
    assert!(text.contains(from), "the Caddyfile no longer has {from:?}");
    problems_of(&text.replacen(from, to, 1))
}

#[test]
fn the_check_finds_a_path_sent_to_the_wrong_service() {
    // Without its method, the gateway's GET /v1/feedback takes search's POST too.
    let problems = problems_after("\t\t\tmethod GET HEAD\n", "");
    assert!(
        problems.contains(&Problem::Misrouted {
            service: "search",
            method: "POST",
            path: "/v1/feedback",
            taken_by: "gateway (by @feedback_read)".to_owned(),
        }),
        "{problems:?}"
    );
    // Without its own route, the enforcer's preview falls to admin's /v1/mous/*.
    let problems = problems_after("path /v1/mous/preview /v1/explain", "path /v1/explain");
    assert!(
        problems.iter().any(|problem| matches!(problem,
            Problem::Misrouted { service: "enforcer", path: "/v1/mous/preview", taken_by, .. }
                if taken_by.starts_with("admin"))),
        "{problems:?}"
    );
}

#[test]
fn the_check_finds_a_pattern_nobody_serves_and_exposed_metrics() {
    let problems = problems_after(
        "/v1/alerts /v1/alerts/*",
        "/v1/alerts /v1/alerts/* /v1/nothing",
    );
    assert_eq!(
        problems,
        [Problem::DeadPattern {
            route: "@search".to_owned(),
            pattern: "/v1/nothing".to_owned(),
            service: "search".to_owned(),
        }]
    );
    let problems = problems_after(
        "@operational path /readyz /metrics",
        "@operational path /readyz",
    );
    assert!(
        problems.iter().any(|problem| matches!(problem,
            Problem::Operational { path: "/metrics", taken_by } if taken_by.starts_with("console"))),
        "{problems:?}"
    );
    // A pattern shadowed by an earlier route is dead too: the gateway's GET /v1/feedback is taken by
    // @feedback_read before @gateway could.
    let problems = problems_after(
        "@gateway path /v1/reports ",
        "@gateway path /v1/feedback /v1/reports ",
    );
    assert!(
        problems.contains(&Problem::DeadPattern {
            route: "@gateway".to_owned(),
            pattern: "/v1/feedback".to_owned(),
            service: "gateway".to_owned(),
        }),
        "{problems:?}"
    );
}

#[test]
fn the_check_finds_a_route_table_served_twice() {
    let door = caddyfile::parse(&caddyfile_text()).unwrap();
    let mut services = services();
    // Search declaring the gateway's status as well: served by two.
    services[2]
        .routes
        .push(accord_runtime::http::routes::Route {
            method: "GET",
            path: "/taxii2/accord/status/{id}/",
        });
    let problems = check::check(
        &door,
        &services,
        &accord_runtime::http::routes::operational(),
    );
    assert!(
        problems.contains(&Problem::ServedByTwo {
            method: "GET",
            path: "/taxii2/accord/status/{status}/",
            services: ("gateway", "search"),
        }),
        "{problems:?}"
    );
}
