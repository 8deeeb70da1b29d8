//! The page for people at `/`: plain HTML, CSS and JavaScript compiled into the binary (no
//! build step, nothing fetched at run time). It reads the API from the browser with the
//! credentials the browser already sends; `docs/serving.md`, "The page", describes it.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// The page's HTML.
const PAGE: &str = include_str!("ui/index.html");
/// Its script.
const SCRIPT: &str = include_str!("ui/app.js");
/// Its style sheet.
const STYLE: &str = include_str!("ui/app.css");
/// Its icon.
const ICON: &str = include_str!("ui/icon.svg");

/// What the page may load: its own script, style sheet and API, nothing remote, nothing
/// inline, no plugins, no frames around it.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // Revalidated on each load, so that a new binary's page is never mixed with an old script.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// `GET /`: the page.
pub(crate) async fn page() -> Response {
    asset("text/html; charset=utf-8", PAGE)
}

/// `GET /ui/app.js`.
pub(crate) async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// `GET /ui/app.css`.
pub(crate) async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

/// `GET /ui/icon.svg`.
pub(crate) async fn icon() -> Response {
    asset("image/svg+xml", ICON)
}
