//! The portal's files, embedded in the binary: the page, our script and style, and the
//! vendored xterm.js (see `vendor/PINS` and `scripts/vendor-web.sh`). Every page carries a
//! Content-Security-Policy that lets it load only these files and talk only to its own origin.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

/// Scripts and connections only from the portal's own origin; inline styles are allowed
/// because xterm.js sizes its rows with them.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src 'self' data:; font-src 'self'; connect-src 'self'; \
                   base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

struct File {
    path: &'static str,
    mime: &'static str,
    body: &'static str,
}

const FILES: &[File] = &[
    File {
        path: "/web/",
        mime: "text/html; charset=utf-8",
        body: include_str!("../static/index.html"),
    },
    File {
        path: "/web/app.js",
        mime: "text/javascript; charset=utf-8",
        body: include_str!("../static/app.js"),
    },
    File {
        path: "/web/app.css",
        mime: "text/css; charset=utf-8",
        body: include_str!("../static/app.css"),
    },
    File {
        path: "/web/vendor/xterm.js",
        mime: "text/javascript; charset=utf-8",
        body: include_str!("../vendor/xterm/xterm.js"),
    },
    File {
        path: "/web/vendor/xterm.css",
        mime: "text/css; charset=utf-8",
        body: include_str!("../vendor/xterm/xterm.css"),
    },
    File {
        path: "/web/vendor/addon-fit.js",
        mime: "text/javascript; charset=utf-8",
        body: include_str!("../vendor/addon-fit/addon-fit.js"),
    },
];

fn serve(file: &'static File) -> Response {
    let mut resp = file.body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(file.mime));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// The routes of the embedded files, and `/web` itself sent to `/web/`.
pub(crate) fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut r = Router::new().route("/web", get(|| async { Redirect::to("/web/") }));
    for file in FILES {
        r = r.route(file.path, get(move || async move { serve(file) }));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_only_embedded_files() {
        let page = FILES[0].body;
        for src in [
            "/web/app.js",
            "/web/vendor/xterm.js",
            "/web/vendor/addon-fit.js",
        ] {
            assert!(page.contains(&format!("src=\"{src}\"")), "{src}");
            assert!(FILES.iter().any(|f| f.path == src), "{src} is served");
        }
        assert!(
            !page.contains("<script>"),
            "no inline script (the CSP forbids it)"
        );
        assert!(!page.contains("http"), "nothing from elsewhere");
    }
}
