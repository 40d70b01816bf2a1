//! The console's static files, compiled into the binary: htmx and Pico CSS as vendored from the npm registry by
//! `scripts/vendor-console-assets.sh` (pinned versions, tarball sha256 checked), the console's own stylesheet, and
//! the licence notices of the vendored files.
//!
//! Each file is served under a name that carries its version, so it can be cached forever (`immutable`); the
//! console's own stylesheet carries a number bumped with each change. Assets are public: no session needed.

use axum::{
    extract::Path,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

use crate::AppState;

/// One served file.
struct Asset {
    name: &'static str,
    media_type: &'static str,
    body: &'static [u8],
}

/// The console's own stylesheet.
const CONSOLE_CSS: &[u8] = include_bytes!("../assets/console.css");

/// The path of htmx.
pub(crate) const HTMX: &str = "/assets/htmx-2.0.11.min.js";
/// The path of Pico CSS.
pub(crate) const PICO: &str = "/assets/pico-2.1.1.min.css";
/// The path of the console's stylesheet (versioned by hand with the file: bump it when the file changes).
pub(crate) const STYLE: &str = "/assets/console-3.css";
/// The path of the console's one script of its own (the copy button, on the page that shows a new token only),
/// versioned by hand like the stylesheet.
pub(crate) const SCRIPT: &str = "/assets/copy-1.js";
/// The path of the icon.
pub(crate) const ICON: &str = "/assets/icon-1.svg";
/// The path of the licence notices.
pub(crate) const LICENSES: &str = "/assets/licenses.txt";

const ASSETS: &[Asset] = &[
    Asset {
        name: "htmx-2.0.11.min.js",
        media_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../assets/htmx-2.0.11.min.js"),
    },
    Asset {
        name: "pico-2.1.1.min.css",
        media_type: "text/css; charset=utf-8",
        body: include_bytes!("../assets/pico-2.1.1.min.css"),
    },
    Asset {
        name: "console-3.css",
        media_type: "text/css; charset=utf-8",
        body: CONSOLE_CSS,
    },
    Asset {
        name: "copy-1.js",
        media_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../assets/copy.js"),
    },
    Asset {
        name: "icon-1.svg",
        media_type: "image/svg+xml",
        body: br##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#0172ad"/><path d="M4 12 8 3l4 9M5.5 9h5" stroke="#fff" stroke-width="1.6" fill="none"/></svg>"##,
    },
    Asset {
        name: "licenses.txt",
        media_type: "text/plain; charset=utf-8",
        body: concat!(
            "The Accord web console serves these third-party files, unmodified.\n\n",
            "htmx 2.0.11 (npm package htmx.org), Zero-Clause BSD licence:\n\n",
            include_str!("../assets/LICENSE-htmx.txt"),
            "\n\nPico CSS 2.1.1 (npm package @picocss/pico), MIT licence:\n\n",
            include_str!("../assets/LICENSE-pico.txt"),
        )
        .as_bytes(),
    },
];

accord_runtime::route_table! {
    /// The assets' route, as data.
    pub(crate) const ROUTES;
    /// Returns the routes of the assets.
    pub(crate) fn routes() -> Router<AppState>;
    GET "/assets/{name}" => serve,
}

async fn serve(Path(name): Path<String>) -> Response {
    let Some(asset) = ASSETS.iter().find(|asset| asset.name == name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut response = asset.body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.media_type),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_linked_asset_is_served() {
        for path in [HTMX, PICO, STYLE, SCRIPT, ICON, LICENSES] {
            let name = path.strip_prefix("/assets/").unwrap();
            assert!(ASSETS.iter().any(|asset| asset.name == name), "{path}");
        }
        let licenses = ASSETS
            .iter()
            .find(|asset| asset.name == "licenses.txt")
            .unwrap();
        let text = std::str::from_utf8(licenses.body).unwrap();
        assert!(text.contains("Zero-Clause BSD") && text.contains("MIT License"));
    }
}
