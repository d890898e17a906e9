//! The portal's files, embedded in the binary: the page, our script and style, and the
//! vendored xterm.js (see `vendor/PINS` and `scripts/vendor-web.sh`). Every page carries a
//! Content-Security-Policy that lets it load only these files and talk only to its own origin.
//!
//! The pages name each file with its version (`/web/app.js?v=<first 12 hex digits of its
//! SHA-256>`), and a file asked for with its current version may be kept by the browser for a
//! year: a page loads from the browser's cache, and a new binary's pages name the new versions.
//! Asked for otherwise (the pages themselves), a file is revalidated each time (`no-cache` with
//! its version as ETag, 304 when the browser holds it).

use std::sync::OnceLock;

use axum::extract::RawQuery;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
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

/// The console's page as written (served by `console::page` as [`console_page`] names its
/// files, and 403 to a user without a role).
const CONSOLE_PAGE: &str = include_str!("../static/console.html");

/// The page a logged-in user without an Admin or Auditor role gets (status 403); `{words}` is
/// replaced by the reason, escaped.
const FORBIDDEN_PAGE: &str = include_str!("../static/forbidden.html");

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

/// A text's version: the first 12 hex digits of its SHA-256.
fn version_of(text: &str) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
    hex::encode(&d.as_ref()[..6])
}

/// The files as served: each one's body (the pages naming the others with their versions)
/// and version, in the order of [`FILES`]; and the two pages served elsewhere.
struct Served {
    bodies: Vec<(String, String)>,
    console: String,
    forbidden: String,
}

/// `page` with every embedded file it names (`"/web/x.js"`) named with its version.
fn versioned(page: &str, versions: &[(&str, String)]) -> String {
    let mut out = page.to_string();
    for (path, version) in versions {
        out = out.replace(&format!("\"{path}\""), &format!("\"{path}?v={version}\""));
    }
    out
}

fn served() -> &'static Served {
    static SERVED: OnceLock<Served> = OnceLock::new();
    SERVED.get_or_init(|| {
        let versions: Vec<(&str, String)> = FILES
            .iter()
            .filter(|f| !f.mime.starts_with("text/html"))
            .map(|f| (f.path, version_of(f.body)))
            .collect();
        let bodies = FILES
            .iter()
            .map(|f| {
                let body = if f.mime.starts_with("text/html") {
                    versioned(f.body, &versions)
                } else {
                    f.body.to_string()
                };
                let version = version_of(&body);
                (body, version)
            })
            .collect();
        Served {
            bodies,
            console: versioned(CONSOLE_PAGE, &versions),
            forbidden: versioned(FORBIDDEN_PAGE, &versions),
        }
    })
}

/// The console's page, naming its files with their versions.
pub(crate) fn console_page() -> &'static str {
    &served().console
}

/// The 403 page of the console, `{words}` to be replaced by the reason (escaped).
pub(crate) fn forbidden_page() -> &'static str {
    &served().forbidden
}

fn serve(i: usize, query: Option<String>, headers: &HeaderMap) -> Response {
    let file = &FILES[i];
    let (body, version) = &served().bodies[i];
    let etag = format!("\"{version}\"");
    let current = query.is_some_and(|q| q == format!("v={version}"));
    let held = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut resp = if held {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        body.clone().into_response()
    };
    resp = with_headers(resp, file.mime, CSP);
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    if current {
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=31536000, immutable"),
        );
    }
    resp
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
    for (i, file) in FILES.iter().enumerate() {
        r =
            r.route(
                file.path,
                get(
                    move |RawQuery(q): RawQuery, headers: HeaderMap| async move {
                        serve(i, q, &headers)
                    },
                ),
            );
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The version a page names `path` with.
    fn named(path: &str) -> String {
        let i = FILES.iter().position(|f| f.path == path).expect("served");
        format!("\"{path}?v={}\"", served().bodies[i].1)
    }

    #[test]
    fn the_page_loads_only_embedded_files() {
        let page = served().bodies[0].0.as_str();
        for src in [
            "/web/i18n.js",
            "/web/app.js",
            "/web/sso.js",
            "/web/vendor/xterm.js",
            "/web/vendor/addon-fit.js",
        ] {
            assert!(page.contains(&format!("src={}", named(src))), "{src}");
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
            assert!(
                console_page().contains(&format!("src={}", named(src))),
                "{src}"
            );
        }
        assert!(!console_page().contains("<script>"), "no inline script");
        assert!(!console_page().contains("http"), "nothing from elsewhere");
        assert!(forbidden_page().contains("{words}"));
        assert!(forbidden_page().contains(&named("/web/app.css")));
        assert_eq!(escape("<b a='1'>&"), "&lt;b a=&#39;1&#39;&gt;&amp;");
    }

    async fn get_file(path: &str, if_none_match: Option<&str>) -> Response {
        use tower::ServiceExt;
        let mut req = axum::http::Request::builder().uri(path);
        if let Some(tag) = if_none_match {
            req = req.header(header::IF_NONE_MATCH, tag);
        }
        router::<()>()
            .oneshot(req.body(axum::body::Body::empty()).unwrap())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_file_named_with_its_version_is_kept_and_others_are_revalidated() {
        let i = FILES.iter().position(|f| f.path == "/web/app.js").unwrap();
        let version = &served().bodies[i].1;
        let kept = get_file(&format!("/web/app.js?v={version}"), None).await;
        assert_eq!(kept.status(), StatusCode::OK);
        assert_eq!(
            kept.headers()[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        assert_eq!(kept.headers()[header::CONTENT_SECURITY_POLICY], CSP);
        assert_eq!(kept.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        // An old version's name gets the current file, not to be kept.
        let old = get_file("/web/app.js?v=000000000000", None).await;
        assert_eq!(old.status(), StatusCode::OK);
        assert_eq!(old.headers()[header::CACHE_CONTROL], "no-cache");
        let etag = format!("\"{version}\"");
        assert_eq!(old.headers()[header::ETAG], etag.as_str());
        // The page itself is revalidated: 304 when the browser holds this version.
        let page = get_file("/web/", None).await;
        assert_eq!(page.headers()[header::CACHE_CONTROL], "no-cache");
        let tag = page.headers()[header::ETAG].to_str().unwrap().to_string();
        let again = get_file("/web/", Some(&tag)).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(
            get_file("/web/", Some("\"other\"")).await.status(),
            StatusCode::OK
        );
    }
}
