//! Route tables: the routes a service serves, as data, declared once.
//!
//! A service declares its routes with [`crate::route_table!`]: one list of `METHOD "path" => handler` lines from
//! which the macro generates both a constant table of [`Route`]s and the function that builds the axum router, so the
//! table cannot drift from what the router serves. The table is what a reverse proxy in front of the services is
//! checked against (`deploy/Caddyfile`, the root crate's test `front_door`, decision 0074): every route routed to the
//! one service that declares it, none to a service that does not.
//!
//! Contract:
//! - `path` is an axum path pattern (`/v1/mous/{id}`: one `{name}` per parameter segment, no wildcards).
//! - `method` is one of `GET`, `POST`, `PUT`, `PATCH`, `DELETE` (axum's `GET` answers `HEAD` too).
//! - The same path may appear on several lines with different methods (axum merges them); the same method twice on
//!   one path panics when the router is built, as axum does.
//! - [`operational`] lists what every process serves besides its own table ([`crate::ServiceHost::serve`]).

/// One route: an HTTP method and an axum path pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Route {
    /// The method, upper case (`GET`, `POST`, `PUT`, `PATCH`, `DELETE`).
    pub method: &'static str,
    /// The axum path pattern, `{name}` for a parameter segment.
    pub path: &'static str,
}

/// The routes every process serves beside its own ([`crate::ServiceHost::serve`]): `/healthz`, `/readyz`,
/// `/metrics` and `GET /v1/me`, from the tables their routers are built from.
pub fn operational() -> Vec<Route> {
    [super::OPS_ROUTES, crate::identity::ROUTES].concat()
}

#[doc(hidden)]
pub use axum as __axum;

/// Declares a route table and the router that serves it, from one list:
///
/// ```
/// # use axum::Router;
/// # #[derive(Clone)]
/// # struct AppState;
/// # mod orgs {
/// #     pub async fn create() -> &'static str { "created" }
/// #     pub async fn list() -> &'static str { "listed" }
/// # }
/// accord_runtime::route_table! {
///     /// Admin's routes.
///     pub const ROUTES;
///     /// Builds the router of [`ROUTES`].
///     fn routes() -> Router<AppState>;
///     POST "/v1/organizations" => orgs::create,
///     GET "/v1/organizations" => orgs::list,
/// }
/// assert_eq!((ROUTES[0].method, ROUTES[0].path), ("POST", "/v1/organizations"));
/// assert_eq!((ROUTES[1].method, ROUTES[1].path), ("GET", "/v1/organizations"));
/// let _served: axum::Router = routes().with_state(AppState);
/// ```
///
/// expands to `pub const ROUTES: &[Route]` (in the order written) and `fn routes() -> axum::Router<AppState>`, whose
/// every line is `.route(path, axum::routing::on(MethodFilter::METHOD, handler))`.
#[macro_export]
macro_rules! route_table {
    (
        $(#[$table_meta:meta])* $table_vis:vis const $table:ident;
        $(#[$fn_meta:meta])* $fn_vis:vis fn $routes:ident() -> Router<$state:ty>;
        $($method:ident $path:literal => $handler:expr),+ $(,)?
    ) => {
        $(#[$table_meta])*
        $table_vis const $table: &[$crate::http::routes::Route] = &[
            $($crate::http::routes::Route { method: stringify!($method), path: $path }),+
        ];

        $(#[$fn_meta])*
        $fn_vis fn $routes() -> $crate::http::routes::__axum::Router<$state> {
            $crate::http::routes::__axum::Router::new()
                $(.route(
                    $path,
                    $crate::http::routes::__axum::routing::on(
                        $crate::http::routes::__axum::routing::MethodFilter::$method,
                        $handler,
                    ),
                ))+
        }
    };
}

#[cfg(test)]
mod tests {
    use axum::{
        body::Body,
        http::{Request, StatusCode},
    };
    use tower::ServiceExt as _;

    crate::route_table! {
        const TABLE;
        fn routes() -> Router<()>;
        GET "/things" => || async { "list" },
        POST "/things" => || async { "created" },
        GET "/things/{id}" => || async { "one" },
    }

    async fn status(method: &str, path: &str) -> StatusCode {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .unwrap();
        routes().oneshot(request).await.unwrap().status()
    }

    #[tokio::test]
    async fn the_table_is_what_the_router_serves() {
        assert_eq!(
            TABLE
                .iter()
                .map(|route| (route.method, route.path))
                .collect::<Vec<_>>(),
            [
                ("GET", "/things"),
                ("POST", "/things"),
                ("GET", "/things/{id}")
            ]
        );
        assert_eq!(status("GET", "/things").await, StatusCode::OK);
        assert_eq!(status("POST", "/things").await, StatusCode::OK);
        assert_eq!(status("HEAD", "/things/7").await, StatusCode::OK);
        assert_eq!(
            status("DELETE", "/things").await,
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(status("GET", "/other").await, StatusCode::NOT_FOUND);
    }

    #[test]
    fn every_process_serves_the_probes_the_metrics_and_who_a_token_is() {
        let paths: Vec<_> = super::operational()
            .into_iter()
            .map(|route| (route.method, route.path))
            .collect();
        assert_eq!(
            paths,
            [
                ("GET", "/healthz"),
                ("GET", "/readyz"),
                ("GET", "/metrics"),
                ("GET", "/v1/me")
            ]
        );
    }
}
