//! The portal's files, embedded in the binary: the page, our script and style, and the
//! vendored xterm.js (see `vendor/PINS` and `scripts/vendor-web.sh`). Every page carries a
//! Content-Security-Policy that lets it load only these files and talk only to its own origin.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

/// Scripts and connections only from the portal's own origin; inline styles are allowed
/// because xterm.js sizes its rows with them.
pub(crate) const CSP: &str =
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src 'self' data:; font-src 'self'; connect-src 'self'; \
                   base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The console's page: the same, except that asciinema-player compiles its terminal emulator
/// from WebAssembly (embedded in its script), which needs `'wasm-unsafe-eval'` (it allows
/// compiling WebAssembly, not evaluating JavaScript text).
pub(crate) const CONSOLE_CSP: &str = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
     connect-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The console's page (served by `console::page`, which answers 403 to a user without a role).
pub(crate) const CONSOLE_PAGE: &str = include_str!("../static/console.html");

/// The page a logged-in user without an Admin or Auditor role gets (status 403); `{words}` is
/// replaced by the reason, escaped.
pub(crate) const FORBIDDEN_PAGE: &str = include_str!("../static/forbidden.html");

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
        path: "/web/i18n.js",
        mime: "text/javascript; charset=utf-8",
        body: include_str!("../static/i18n.js"),
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
        path: "/web/sso.js",
        mime: "text/javascript; charset=utf-8",
        body: include_str!("../static/sso.js"),
    },
    File {
        path: "/web/console.js",
        mime: "text/javascript; charset=utf-8",
        body: include_str!("../static/console.js"),
    },
    File {
        path: "/web/console-live.js",
        mime: "text/javascript; charset=utf-8",
        body: include_str!("../static/console-live.js"),
    },
    File {
        path: "/web/console-settings.js",
        mime: "text/javascript; charset=utf-8",
        body: include_str!("../static/console-settings.js"),
    },
    File {
        path: "/web/console-assets.js",
        mime: "text/javascript; charset=utf-8",
        body: include_str!("../static/console-assets.js"),
    },
    File {
        path: "/web/console-access.js",
        mime: "text/javascript; charset=utf-8",
        body: include_str!("../static/console-access.js"),
    },
    File {
        path: "/web/console-overview.js",
        mime: "text/javascript; charset=utf-8",
        body: include_str!("../static/console-overview.js"),
    },
    File {
        path: "/web/console.css",
        mime: "text/css; charset=utf-8",
        body: include_str!("../static/console.css"),
    },
    File {
        path: "/web/vendor/asciinema-player.js",
        mime: "text/javascript; charset=utf-8",
        body: include_str!("../vendor/asciinema-player/asciinema-player.min.js"),
    },
    File {
        path: "/web/vendor/asciinema-player.css",
        mime: "text/css; charset=utf-8",
        body: include_str!("../vendor/asciinema-player/asciinema-player.css"),
    },
    File {
        path: "/web/vendor/addon-fit.js",
        mime: "text/javascript; charset=utf-8",
        body: include_str!("../vendor/addon-fit/addon-fit.js"),
    },
];

fn serve(file: &'static File) -> Response {
    with_headers(file.body.into_response(), file.mime, CSP)
}

/// An HTML page with its Content-Security-Policy.
pub(crate) fn page(body: String, csp: &'static str) -> Response {
    with_headers(body.into_response(), "text/html; charset=utf-8", csp)
}

/// `text` with `&`, `<`, `>` and quotes escaped, for HTML.
pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn with_headers(mut resp: Response, mime: &'static str, csp: &'static str) -> Response {
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
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
            "/web/i18n.js",
            "/web/app.js",
            "/web/sso.js",
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

    #[test]
    fn the_console_page_loads_only_embedded_files() {
        for src in [
            "/web/console.js",
            "/web/console-live.js",
            "/web/console-settings.js",
            "/web/vendor/xterm.js",
            "/web/console-assets.js",
            "/web/console-access.js",
            "/web/console-overview.js",
            "/web/sso.js",
            "/web/vendor/asciinema-player.js",
        ] {
            assert!(CONSOLE_PAGE.contains(&format!("src=\"{src}\"")), "{src}");
            assert!(FILES.iter().any(|f| f.path == src), "{src} is served");
        }
        assert!(!CONSOLE_PAGE.contains("<script>"), "no inline script");
        assert!(!CONSOLE_PAGE.contains("http"), "nothing from elsewhere");
        assert!(FORBIDDEN_PAGE.contains("{words}"));
        assert_eq!(escape("<b a='1'>&"), "&lt;b a=&#39;1&#39;&gt;&amp;");
    }
}
