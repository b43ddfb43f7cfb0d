//! The web console at `/ui/` (on with `ui = true` in the config, and in
//! `--dev`): plain ES modules and a stylesheet embedded in the binary, no
//! build step, no CDN, no external font. Every action the console offers is
//! an API call with the signed-in token, through the same ACL as any
//! client: the console has no endpoint of its own.
//!
//! Files are matched by their exact request path (no decoding, no `..`
//! resolution: anything else is a 404), and every answer carries a strict
//! Content-Security-Policy (scripts and styles from this origin only, no
//! inline script, no framing), `X-Frame-Options: DENY` and `nosniff`.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

/// One embedded file: where it is served below `/ui/`, and what it is.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $type:expr) => {
        Asset {
            path: $path,
            content_type: $type,
            body: include_bytes!(concat!("assets/", $path)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("js/main.js", JS),
    asset!("js/api.js", JS),
    asset!("js/dom.js", JS),
    asset!("js/pages/login.js", JS),
    asset!("js/pages/dashboard.js", JS),
    asset!("js/pages/identities.js", JS),
    asset!("js/pages/identity.js", JS),
    asset!("js/pages/offboarding.js", JS),
    asset!("js/pages/leases.js", JS),
    asset!("js/pages/alerts.js", JS),
    asset!("js/pages/secrets.js", JS),
    asset!("js/pages/policies.js", JS),
    asset!("js/pages/mounts.js", JS),
];

/// Scripts, styles, images and API calls from this origin only; nothing
/// inline, no plugins, no framing, no form posts anywhere.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
    connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Adds the console's routes: `/` and `/ui` lead to `/ui/`, files below it.
pub(super) fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/", web::get().to(to_console))
        .route("/ui", web::get().to(to_console))
        .route("/ui/{file:.*}", web::get().to(file));
}

async fn to_console() -> HttpResponse {
    secured(HttpResponse::TemporaryRedirect())
        .insert_header((header::LOCATION, "/ui/"))
        .finish()
}

async fn file(request: HttpRequest) -> HttpResponse {
    let wanted = match request.path().strip_prefix("/ui/") {
        Some("") => "index.html",
        Some(rest) => rest,
        None => "",
    };
    match ASSETS.iter().find(|a| a.path == wanted) {
        Some(asset) => secured(HttpResponse::Ok())
            .content_type(asset.content_type)
            .body(asset.body),
        None => secured(HttpResponse::NotFound())
            .content_type("text/plain; charset=utf-8")
            .body("not found\n"),
    }
}

fn secured(mut builder: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    builder
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("Cross-Origin-Opener-Policy", "same-origin"));
    builder
}

#[cfg(test)]
mod tests {
    use super::ASSETS;
    use std::path::Path;

    /// Every file in `assets/` is served, and every module a script
    /// imports or the page loads is one of them.
    #[test]
    fn every_asset_is_embedded_and_every_import_resolves() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http/ui/assets");
        let mut on_disk = Vec::new();
        let mut dirs = vec![root.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).expect("assets dir") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    let relative = path.strip_prefix(&root).expect("below root");
                    on_disk.push(relative.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        on_disk.sort();
        let mut served: Vec<String> = ASSETS.iter().map(|a| a.path.to_string()).collect();
        served.sort();
        assert_eq!(on_disk, served, "assets/ and ASSETS differ");
        for asset in ASSETS {
            let text = std::str::from_utf8(asset.body).expect("text asset");
            let dir = Path::new(asset.path).parent().expect("parent");
            for line in text.lines() {
                let Some(start) = line.find(" from '").map(|i| i + 7) else {
                    continue;
                };
                let spec = line[start..].split('\'').next().expect("quoted");
                let joined = dir.join(spec);
                let mut parts: Vec<&str> = Vec::new();
                for part in joined.iter().map(|p| p.to_str().expect("utf-8")) {
                    match part {
                        "." => {}
                        ".." => {
                            parts.pop();
                        }
                        other => parts.push(other),
                    }
                }
                let target = parts.join("/");
                assert!(
                    ASSETS.iter().any(|a| a.path == target),
                    "{} imports {spec}, which is not embedded",
                    asset.path
                );
            }
            if asset.path.ends_with(".html") {
                // The CSP would block them anyway: none may be written.
                for tag in text.split("<script").skip(1) {
                    let open = tag.split('>').next().unwrap_or_default();
                    assert!(open.contains(" src="), "inline script in {}", asset.path);
                }
                let inline_handler = text.split_whitespace().any(|word| {
                    word.strip_prefix("on").is_some_and(|rest| {
                        rest.split_once('=').is_some_and(|(name, _)| {
                            !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase())
                        })
                    })
                });
                assert!(!inline_handler, "inline event handler in {}", asset.path);
            }
        }
    }
}
