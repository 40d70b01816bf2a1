//! The check of the front door's routes against the services' route tables, by (method, path pattern):
//!
//! 1. No (method, path) is declared by two services (a sample path of one's pattern matched by the other's).
//! 2. Every declared route reaches the service that declares it: its method (and `HEAD` beside `GET`, which axum
//!    answers too) on a sample path (each `{param}` replaced by `sample`) is taken first by a route that proxies to
//!    that service.
//! 3. The probes and the metrics every process serves are answered by the proxy, never proxied (they are not for
//!    the public); `GET /v1/me`, served by every hosted service, reaches one of them.
//! 4. Every path pattern of a proxying route receives at least one route its service declares (no pattern sends a
//!    path to a service that serves nothing there, none is dead behind an earlier route).
//! 5. The last route takes everything else, to the console.

use std::fmt;

use accord_runtime::http::routes::Route;

use crate::caddyfile::{Action, FrontDoor};

/// A service behind the front door and its route table.
pub struct Service {
    /// Its compose service name (`admin`).
    pub name: &'static str,
    /// The routes its router serves.
    pub routes: Vec<Route>,
    /// Whether it runs in a service host, which adds the operational routes (the console run alone does not).
    pub hosted: bool,
}

/// What is wrong with the front door.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Two services declare the same (method, path).
    ServedByTwo {
        method: &'static str,
        path: &'static str,
        services: (&'static str, &'static str),
    },
    /// A declared route does not reach its service.
    Misrouted {
        service: &'static str,
        method: &'static str,
        path: &'static str,
        taken_by: String,
    },
    /// An operational route is proxied (or `/v1/me` does not reach a hosted service).
    Operational {
        path: &'static str,
        taken_by: String,
    },
    /// A path pattern of a proxying route receives nothing its service declares.
    DeadPattern {
        route: String,
        pattern: String,
        service: String,
    },
    /// The last route does not take everything else to the console.
    NoCatchAll,
    /// A site block does not import the routes.
    SiteWithoutRoutes(String),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::ServedByTwo {
                method,
                path,
                services,
            } => {
                write!(
                    f,
                    "{method} {path} is served by both {} and {}",
                    services.0, services.1
                )
            }
            Problem::Misrouted {
                service,
                method,
                path,
                taken_by,
            } => {
                write!(
                    f,
                    "{method} {path} is {service}'s but the proxy sends it to {taken_by}"
                )
            }
            Problem::Operational { path, taken_by } => {
                write!(
                    f,
                    "{path}: {taken_by} (probes and metrics stay internal; /v1/me to a hosted service)"
                )
            }
            Problem::DeadPattern {
                route,
                pattern,
                service,
            } => write!(
                f,
                "{route}'s pattern {pattern} receives no route {service} declares (wrong service, or shadowed)"
            ),
            Problem::NoCatchAll => write!(
                f,
                "the last route must be `handle {{ reverse_proxy console }}`"
            ),
            Problem::SiteWithoutRoutes(site) => {
                write!(f, "site {site} does not `import accord_routes`")
            }
        }
    }
}

/// The path a request for `pattern` may have: each `{param}` segment `sample`.
pub fn sample(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "sample"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether axum's `pattern` matches `path` (a `{param}` segment matches any one non-empty segment).
fn axum_matches(pattern: &str, path: &str) -> bool {
    let (pattern, path): (Vec<_>, Vec<_>) =
        (pattern.split('/').collect(), path.split('/').collect());
    pattern.len() == path.len()
        && pattern
            .iter()
            .zip(&path)
            .all(|(p, s)| p == s || (p.starts_with('{') && !s.is_empty()))
}

/// The methods a route answers: its own, and `HEAD` beside `GET`.
fn methods(route: &Route) -> Vec<&'static str> {
    match route.method {
        "GET" => vec!["GET", "HEAD"],
        other => vec![other],
    }
}

/// Who takes `method` on `path`, in words.
fn taken_by(door: &FrontDoor, method: &str, path: &str) -> (Option<usize>, String) {
    match door.route_for(method, path) {
        None => (None, "no route".to_owned()),
        Some(index) => {
            let route = &door.routes[index];
            let what = match &route.action {
                Action::Proxy { service, .. } => format!("{service} (by {})", route.name),
                Action::Respond { status } => {
                    format!("the proxy's own {status} (by {})", route.name)
                }
            };
            (Some(index), what)
        }
    }
}

fn proxied_to(door: &FrontDoor, index: Option<usize>) -> Option<&str> {
    match &door.routes[index?].action {
        Action::Proxy { service, .. } => Some(service),
        Action::Respond { .. } => None,
    }
}

/// Every problem of `door` against `services` and the `operational` routes every hosted service serves.
pub fn check(door: &FrontDoor, services: &[Service], operational: &[Route]) -> Vec<Problem> {
    let mut problems = served_by_two(services);
    problems.extend(misrouted(door, services));
    problems.extend(operational_routes(door, services, operational));
    problems.extend(dead_patterns(door, services, operational));
    let last_is_console = door.routes.last().is_some_and(|last| {
        last.paths.is_none()
            && last.methods.is_none()
            && matches!(&last.action, Action::Proxy { service, .. } if service == "console")
    });
    if !last_is_console {
        problems.push(Problem::NoCatchAll);
    }
    problems.extend(
        door.sites
            .iter()
            .filter(|(_, imports)| !imports)
            .map(|(site, _)| Problem::SiteWithoutRoutes(site.clone())),
    );
    problems
}

fn served_by_two(services: &[Service]) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (i, a) in services.iter().enumerate() {
        for b in &services[i + 1..] {
            for ra in &a.routes {
                let clash = b.routes.iter().any(|rb| {
                    ra.method == rb.method
                        && (axum_matches(rb.path, &sample(ra.path))
                            || axum_matches(ra.path, &sample(rb.path)))
                });
                if clash {
                    problems.push(Problem::ServedByTwo {
                        method: ra.method,
                        path: ra.path,
                        services: (a.name, b.name),
                    });
                }
            }
        }
    }
    problems
}

fn misrouted(door: &FrontDoor, services: &[Service]) -> Vec<Problem> {
    let mut problems = Vec::new();
    for service in services {
        for route in &service.routes {
            for method in methods(route) {
                let (index, taken_by) = taken_by(door, method, &sample(route.path));
                if proxied_to(door, index) != Some(service.name) {
                    problems.push(Problem::Misrouted {
                        service: service.name,
                        method,
                        path: route.path,
                        taken_by,
                    });
                }
            }
        }
    }
    problems
}

fn operational_routes(
    door: &FrontDoor,
    services: &[Service],
    operational: &[Route],
) -> Vec<Problem> {
    let mut problems = Vec::new();
    for route in operational {
        for method in methods(route) {
            let (index, taken_by) = taken_by(door, method, route.path);
            let target = proxied_to(door, index);
            let fine = if route.path.starts_with("/v1/") {
                services
                    .iter()
                    .any(|service| service.hosted && Some(service.name) == target)
            } else {
                index.is_some() && target.is_none()
            };
            if !fine {
                problems.push(Problem::Operational {
                    path: route.path,
                    taken_by,
                });
            }
        }
    }
    problems
}

fn dead_patterns(door: &FrontDoor, services: &[Service], operational: &[Route]) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (index, proxy_route) in door.routes.iter().enumerate() {
        let (Action::Proxy { service, .. }, Some(paths)) =
            (&proxy_route.action, &proxy_route.paths)
        else {
            continue;
        };
        let declared: Vec<&Route> = match services.iter().find(|s| s.name == service) {
            Some(s) if s.hosted => s.routes.iter().chain(operational).collect(),
            Some(s) => s.routes.iter().collect(),
            None => Vec::new(),
        };
        for pattern in paths {
            let receives = declared.iter().any(|route| {
                let path = sample(route.path);
                crate::caddyfile::path_matches(pattern, &path)
                    && methods(route)
                        .into_iter()
                        .any(|method| door.route_for(method, &path) == Some(index))
            });
            if !receives {
                problems.push(Problem::DeadPattern {
                    route: proxy_route.name.clone(),
                    pattern: pattern.clone(),
                    service: service.clone(),
                });
            }
        }
    }
    problems
}
