//! The web console in headless Chromium (driven over W3C WebDriver by
//! chromedriver): sign in, filter the inventory to an orphan, offboard an
//! owner (dry run, then for real), revoke a lease prefix and watch the
//! job reach 100%, acknowledge a drift alert, edit a policy with an error
//! shown inline, and sign in as a limited token that sees only what its
//! policy grants. Each page is saved as a PNG (QM_UI_SCREENSHOTS, default
//! the target's tmp dir; `scripts/ui_screenshots.sh` writes docs/ui/) and
//! audited by axe-core (QM_TEST_AXE, fetched by scripts/test.sh) against
//! WCAG 2.1 A and AA: any violation (labels, contrast, names, landmarks,
//! keyboard reach) fails the test, naming the page and the elements.
//! The server's answers to the console's own files are checked over raw
//! HTTP: the CSP and framing headers, and that only exact paths are files;
//! and `sys/nhi/lease-count`, the one endpoint added for it, against a
//! token without the capability.

use super::acl_bypass::raw;
use super::common::{mount_database_role, pg_url, TestServer};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);
const HOSTILE_OWNER: &str = "<img src=x onerror=alert(1)>\"'&";

/// chromedriver on a free loopback port, killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

fn start_driver() -> Driver {
    let binary = std::env::var("QM_TEST_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
    let port = free_port();
    let child = Command::new(&binary)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("start {binary} ({e}): scripts/test.sh installs chromium and chromium-driver")
        });
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + WAIT;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    Driver { child, url }
}

async fn browser(driver: &Driver) -> Client {
    let chromium = std::env::var("QM_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1280,800",
                     "--no-first-run", "--disable-extensions"],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

fn screenshot_dir() -> PathBuf {
    let dir = std::env::var("QM_UI_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots"));
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

async fn shot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("screenshot");
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).expect("write screenshot");
    audit(client, name).await;
}

/// Runs axe-core on the page shown; fails on any WCAG 2.1 A/AA violation.
/// (WebDriver's scripts are not the page's: the console's CSP still
/// forbids inline script to the page itself.)
async fn audit(client: &Client, page: &str) {
    let violations = axe_violations(client).await;
    assert_eq!(
        violations,
        json!([]),
        "accessibility violations on the {page} page: {violations:#}"
    );
}

/// axe-core's WCAG 2.1 A/AA violations on the page shown.
async fn axe_violations(client: &Client) -> Value {
    let path = std::env::var("QM_TEST_AXE")
        .unwrap_or_else(|_| panic!("QM_TEST_AXE: scripts/test.sh fetches axe-core"));
    let axe = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    client
        .execute(&axe, Vec::new())
        .await
        .expect("load axe-core");
    client
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
               axe.run(document, { runOnly: { type: 'tag',
                   values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })
                 .then(r => done(r.violations.map(v => ({ id: v.id, impact: v.impact,
                   help: v.help, nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ')) }))))
                 .catch(e => done([{ id: 'axe-error', help: String(e) }]));"#,
            Vec::new(),
        )
        .await
        .expect("run axe-core")
}

/// The audit can fail: a page with an unlabelled field, an image without
/// text and grey on grey is reported.
async fn audit_catches_a_bad_page(client: &Client) {
    let page = "data:text/html,<html lang=en><title>bad</title><body><main>\
        <img src=x.png><input id=q><p style='color:%23aaa;background:%23bbb'>low</p></main>";
    client.goto(page).await.expect("navigate");
    let ids: Vec<String> = axe_violations(client)
        .await
        .as_array()
        .expect("violations")
        .iter()
        .filter_map(|v| v["id"].as_str().map(String::from))
        .collect();
    for rule in ["image-alt", "label", "color-contrast"] {
        assert!(
            ids.contains(&rule.to_string()),
            "{rule} not reported: {ids:?}"
        );
    }
}

async fn find(client: &Client, css: &str) -> fantoccini::elements::Element {
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} never appeared: {e}"))
}

/// Waits until the text of `css` satisfies `test`; returns it.
async fn text_until(client: &Client, css: &str, test: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + WAIT;
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok(element) = client.find(Locator::Css(css)).await {
            if let Ok(text) = element.text().await {
                if test(&text) {
                    return text;
                }
                last = text;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{css}: text never matched; last seen {last:?}");
}

async fn click(client: &Client, css: &str) {
    find(client, css).await.click().await.expect("click");
}

async fn type_into(client: &Client, css: &str, text: &str) {
    let field = find(client, css).await;
    field.clear().await.expect("clear");
    field.send_keys(text).await.expect("type");
}

async fn open(client: &Client, server: &TestServer, route: &str) {
    client
        .goto(&format!("{}/ui/{route}", server.addr))
        .await
        .expect("navigate");
}

async fn ok(server: &TestServer, method: &str, path: &str, body: Value) -> Value {
    let (status, answer) = server.root(method, path, Some(body)).await;
    assert!(
        status == 200 || status == 204,
        "{method} {path}: {status} {answer}"
    );
    answer
}

/// Roles on a real Postgres: app-ro (alice, 3 leases), batch (dave, 25
/// leases), legacy (carol, its connection deleted: an orphan), hostile (an
/// owner made of markup); a KV secret in two versions; a userpass user
/// `viewer` whose policy reads the inventory and the mount table only.
async fn estate(server: &TestServer) {
    ok(
        server,
        "POST",
        "sys/mounts/database",
        json!({"type": "database"}),
    )
    .await;
    for name in ["pg", "old"] {
        ok(
            server,
            "POST",
            &format!("database/config/{name}"),
            json!({"plugin_name": "postgresql-database-plugin", "connection_url": pg_url(),
                   "allowed_roles": "*", "verify_connection": false}),
        )
        .await;
    }
    let create =
        "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'";
    for (role, db, owner) in [
        ("app-ro", "pg", "alice"),
        ("batch", "pg", "dave"),
        ("legacy", "old", "carol"),
        ("hostile", "pg", HOSTILE_OWNER),
    ] {
        ok(
            server,
            "POST",
            &format!("database/roles/{role}"),
            json!({"db_name": db, "creation_statements": create, "default_ttl": "1h",
                   "owner": owner, "environment": "prod"}),
        )
        .await;
    }
    ok(server, "DELETE", "database/config/old", json!({})).await;
    for (role, count) in [("app-ro", 3), ("batch", 25)] {
        for _ in 0..count {
            ok(server, "GET", &format!("database/creds/{role}"), json!({})).await;
        }
    }
    for n in 1..=2 {
        ok(
            server,
            "POST",
            "secret/data/app/config",
            json!({"data": {"password": format!("kv-value-{n}")}}),
        )
        .await;
    }
    ok(
        server,
        "POST",
        "sys/auth/userpass",
        json!({"type": "userpass"}),
    )
    .await;
    let viewer = r#"
path "sys/nhi/identities" { capabilities = ["read"] }
path "sys/nhi/identities/*" { capabilities = ["read"] }
path "sys/mounts" { capabilities = ["read"] }
"#;
    ok(
        server,
        "PUT",
        "sys/policies/acl/viewer",
        json!({"policy": viewer}),
    )
    .await;
    ok(
        server,
        "POST",
        "auth/userpass/users/viewer",
        json!({"password": "viewer-password-1", "token_policies": "viewer"}),
    )
    .await;
}

/// A workload that learns a baseline and then reads a new path: one
/// "new path" drift alert.
async fn drift_alert(server: &TestServer) {
    ok(
        server,
        "POST",
        "sys/nhi/drift/config",
        json!({"learning_requests": 5}),
    )
    .await;
    let token = server
        .token_with_policy(
            "reader",
            r#"path "secret/data/*" { capabilities = ["read"] }"#,
        )
        .await;
    for _ in 0..6 {
        let (status, _) = server
            .call("GET", "secret/data/app/config", Some(&token), None)
            .await;
        assert_eq!(status, 200);
    }
    let (status, _) = server
        .call("GET", "secret/data/elsewhere", Some(&token), None)
        .await;
    assert_eq!(status, 404);
}

async fn sign_in_with_token(client: &Client, server: &TestServer) {
    open(client, server, "").await;
    find(client, "#login-token").await;
    shot(client, "login").await;
    type_into(client, "#login-token", &server.root_token).await;
    click(client, "#form-token-submit").await;
    find(client, "#identity-results table").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_in_chromium() {
    let server = TestServer::dev();
    estate(&server).await;
    drift_alert(&server).await;
    let driver = start_driver();
    let client = browser(&driver).await;
    audit_catches_a_bad_page(&client).await;

    sign_in_with_token(&client, &server).await;
    shot(&client, "identities").await;
    // The hostile owner is text in its cell, never markup.
    let cell = text_until(
        &client,
        "tr[data-id='database/roles/hostile'] td:nth-child(4)",
        |t| !t.is_empty(),
    )
    .await;
    assert_eq!(cell, HOSTILE_OWNER);
    // A role the broker issues from is managed; the column says so.
    let managed = text_until(
        &client,
        "tr[data-id='database/roles/hostile'] td:nth-child(5)",
        |t| !t.is_empty(),
    )
    .await;
    assert_eq!(managed, "yes");
    assert!(client
        .find_all(Locator::Css("#identity-results img"))
        .await
        .expect("query")
        .is_empty());

    // Filter to the orphans: the role whose connection is gone.
    find(&client, "#filter-orphaned")
        .await
        .select_by_value("true")
        .await
        .expect("select");
    click(&client, "#filter-apply").await;
    text_until(&client, "#page-status", |t| t.ends_with("of 1")).await;
    let rows = client
        .find_all(Locator::Css("#identity-results tbody tr"))
        .await
        .expect("rows");
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0].attr("data-id").await.expect("attr").as_deref(),
        Some("database/roles/legacy")
    );
    shot(&client, "identities-orphaned").await;
    click(&client, "tr[data-id='database/roles/legacy'] a").await;
    text_until(&client, "#identity-reasons", |t| t.contains("connection")).await;
    // A role that minted credentials lists the requests that used it.
    open(&client, &server, "#/identity?id=database%2Froles%2Fbatch").await;
    text_until(&client, "#identity-requests", |t| {
        t.contains("database/creds/batch") && t.contains("200")
    })
    .await;
    shot(&client, "identity").await;

    // Offboarding alice: the dry run changes nothing; then for real.
    open(&client, &server, "#/offboarding").await;
    type_into(&client, "#offboard-owner", "alice").await;
    click(&client, "#offboard-preview").await;
    find(&client, "tr[data-id='database/roles/app-ro']").await;
    assert_eq!(server.lease_count("database/creds/app-ro/").await, 3);
    shot(&client, "offboarding-dry-run").await;
    click(&client, "#offboard-confirm").await;
    click(&client, "#offboard-really").await;
    text_until(&client, "#offboard-progress", |t| {
        t.contains("Offboarded alice.")
    })
    .await;
    assert_eq!(server.lease_count("database/creds/app-ro/").await, 0);
    let (status, body) = server.root("GET", "database/creds/app-ro", None).await;
    assert_eq!(status, 403, "a disabled role mints nothing: {body}");
    shot(&client, "offboarding-done").await;

    // Revoke a prefix: the preview counts, the job reaches 100%.
    open(
        &client,
        &server,
        "#/leases?prefix=database%2Fcreds%2Fbatch%2F",
    )
    .await;
    text_until(&client, "#lease-count", |t| t.starts_with("25 leases")).await;
    click(&client, "#revoke-prefix").await;
    let confirm = text_until(&client, "#revoke-prefix-confirm", |t| !t.is_empty()).await;
    assert_eq!(confirm, "Revoke 25 leases");
    assert_eq!(server.lease_count("database/creds/batch/").await, 25);
    click(&client, "#revoke-prefix-confirm").await;
    text_until(&client, "#revoke-progress-text", |t| t.starts_with("100%")).await;
    assert_eq!(server.lease_count("database/creds/batch/").await, 0);
    shot(&client, "leases-revoked").await;

    // The drift alert, acknowledged.
    open(&client, &server, "#/alerts").await;
    let button = find(&client, "button[data-ack]").await;
    let alert_id = button.attr("data-ack").await.expect("attr").expect("an id");
    button.click().await.expect("click");
    text_until(&client, &format!("tr[data-id='{alert_id}']"), |t| {
        t.contains("acknowledged")
    })
    .await;
    let (_, alerts) = server.root("GET", "sys/nhi/alerts", None).await;
    let acked = alerts["data"]["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .find(|a| a["id"] == alert_id.as_str())
        .unwrap_or_else(|| panic!("{alert_id} in {alerts}"));
    assert_eq!(acked["acknowledged"], true, "{acked}");
    let reader_alert = alerts["data"]["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .any(|a| a["reason"] == "new path" && a["path"] == "secret/data/elsewhere");
    assert!(
        reader_alert,
        "the reader's new path raised an alert: {alerts}"
    );
    shot(&client, "alerts").await;

    // KV: values hidden until asked for, versions listed.
    open(
        &client,
        &server,
        "#/secrets?mount=secret%2F&path=app%2Fconfig",
    )
    .await;
    let hidden = text_until(&client, "#secret-values", |t| t.contains("password")).await;
    assert!(!hidden.contains("kv-value"), "values hidden: {hidden}");
    click(&client, "#secret-reveal").await;
    text_until(&client, "#secret-values", |t| t.contains("kv-value-2")).await;
    text_until(&client, "#secret-versions", |t| t.contains("version 1")).await;
    shot(&client, "secrets").await;

    // A policy with an error: the server's message, inline.
    open(&client, &server, "#/policies?name=broken").await;
    type_into(
        &client,
        "#policy-text",
        "path \"secret/*\" { capabilities = [\"read\" }",
    )
    .await;
    click(&client, "#policy-save").await;
    text_until(&client, "#policy-status", |t| !t.is_empty()).await;
    let (status, _) = server.root("GET", "sys/policies/acl/broken", None).await;
    assert_eq!(status, 404, "an invalid policy is not stored");
    shot(&client, "policies").await;

    open(&client, &server, "#/mounts").await;
    text_until(&client, "#main", |t| t.contains("database/")).await;
    shot(&client, "mounts").await;
    for _ in 0..5 {
        ok(&server, "GET", "database/creds/hostile", json!({})).await;
    }
    open(&client, &server, "#/dashboard").await;
    find(&client, "#dash-risk svg").await;
    find(&client, "#dash-leases svg").await;
    shot(&client, "dashboard").await;

    // A narrow window still reads: the table becomes label/value lines.
    client.set_window_size(480, 900).await.expect("resize");
    open(&client, &server, "#/identities").await;
    find(&client, "#identity-results table").await;
    shot(&client, "identities-narrow").await;
    client.set_window_size(1280, 800).await.expect("resize");

    // A limited token: the inventory without tokens, nothing else.
    click(&client, "#logout").await;
    find(&client, "#tab-userpass")
        .await
        .click()
        .await
        .expect("tab");
    type_into(&client, "#login-username", "viewer").await;
    type_into(&client, "#login-password", "viewer-password-1").await;
    click(&client, "#form-userpass-submit").await;
    find(&client, "#identity-results table").await;
    for row in client
        .find_all(Locator::Css("#identity-results tbody tr"))
        .await
        .expect("rows")
    {
        let id = row.attr("data-id").await.expect("attr").unwrap_or_default();
        assert!(
            !id.starts_with("auth/token/accessors/"),
            "a token without sudo on auth/token/accessors sees {id}"
        );
    }
    open(
        &client,
        &server,
        "#/leases?prefix=database%2Fcreds%2Fapp-ro%2F",
    )
    .await;
    text_until(&client, "#main .error", |t| t.contains("permission denied")).await;
    open(&client, &server, "#/offboarding?owner=dave").await;
    text_until(&client, "#offboard-result .error", |t| {
        t.contains("permission denied")
    })
    .await;
    open(&client, &server, "#/secrets").await;
    text_until(&client, "#main .error", |t| t.contains("permission denied")).await;
    shot(&client, "limited-token").await;

    client.close().await.expect("close the session");
    ok(
        &server,
        "PUT",
        "sys/leases/revoke-prefix/database",
        json!({}),
    )
    .await;
}

/// The console's files over raw HTTP: headers, exact paths only, the
/// redirect to it, and no console at all without `ui`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_files_are_served_strictly() {
    let server = TestServer::dev();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let get = |path: &str| {
        let url = format!("{}{path}", server.addr);
        let http = http.clone();
        async move { http.get(url).send().await.expect("request") }
    };
    for path in ["/ui/", "/ui/index.html", "/ui/js/main.js", "/ui/style.css"] {
        let answer = get(path).await;
        assert_eq!(answer.status(), 200, "{path}");
        let headers = answer.headers();
        let csp = headers["content-security-policy"].to_str().expect("csp");
        for rule in [
            "script-src 'self'",
            "frame-ancestors 'none'",
            "default-src 'none'",
        ] {
            assert!(csp.contains(rule), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
    }
    let main = get("/ui/js/main.js").await;
    assert!(main.headers()["content-type"]
        .to_str()
        .expect("type")
        .starts_with("text/javascript"));
    for path in ["/", "/ui"] {
        let answer = get(path).await;
        assert_eq!(answer.status(), 307, "{path}");
        assert_eq!(answer.headers()["location"], "/ui/", "{path}");
    }
    // Only exact paths are files: no decoding, no `..`, no other case.
    let port = server.addr.rsplit(':').next().expect("port");
    for path in [
        "/ui/js/../index.html",
        "/ui/%69ndex.html",
        "/ui/INDEX.HTML",
        "/ui//index.html",
        "/ui/index.html/",
        "/ui/js",
        "/ui/../v1/sys/health",
        "/ui/.git/config",
    ] {
        assert_eq!(raw_status(port, path), 404, "{path}");
    }
    // The API is untouched by the console's routes.
    assert_eq!(get("/v1/sys/health").await.status(), 200);

    // Without `ui = true` there is no console.
    let plain = TestServer::from_config("", "");
    let answer = reqwest::get(format!("{}/ui/", plain.addr))
        .await
        .expect("request");
    assert_eq!(answer.status(), 404);
}

/// The status of a GET of `path` exactly as written (reqwest would
/// normalise `..`).
fn raw_status(port: &str, path: &str) -> u16 {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("{path}: no status in {answer:?}"))
}

/// `sys/nhi/lease-count/PREFIX`, the console's preview: Vault's
/// revoke-prefix rule (segment boundaries, a lease id counts itself),
/// `read` on that exact path, every other spelling refused, hostile
/// prefixes a 4xx or a zero, and counts taken while leases are issued
/// stay within what exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_count_follows_revoke_prefix_and_the_acl() {
    let server = TestServer::dev();
    mount_database_role(&server, "1h", "1h").await;
    let role = json!({"db_name": "pg", "creation_statements":
        "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'"});
    ok(&server, "POST", "database/roles/app-b", role).await;
    let mut app_leases = Vec::new();
    for _ in 0..4 {
        let answer = ok(&server, "GET", "database/creds/app", json!({})).await;
        app_leases.push(answer["lease_id"].as_str().expect("lease").to_string());
    }
    for _ in 0..2 {
        ok(&server, "GET", "database/creds/app-b", json!({})).await;
    }
    let count = |path: String| {
        let server = &server;
        async move {
            let answer = ok(
                server,
                "GET",
                &format!("sys/nhi/lease-count/{path}"),
                json!({}),
            )
            .await;
            answer["data"]["count"].as_u64().expect("count")
        }
    };
    assert_eq!(count("database/creds/app".into()).await, 4, "never app-b");
    assert_eq!(count("database/creds/app/".into()).await, 4);
    assert_eq!(count("database/creds/".into()).await, 6);
    assert_eq!(
        count(app_leases[0].clone()).await,
        1,
        "a lease id is itself"
    );
    assert_eq!(
        count("database/creds/ap".into()).await,
        0,
        "segments, not strings"
    );

    // A token that may count app-b only.
    let caller = server
        .token_with_policy(
            "count-b",
            r#"path "sys/nhi/lease-count/database/creds/app-b" { capabilities = ["read"] }"#,
        )
        .await;
    let (status, body) = raw(
        &server,
        "GET",
        "sys/nhi/lease-count/database/creds/app-b",
        &caller,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"count\":2"), "{body}");
    for spelling in [
        "sys/nhi/lease-count/database/creds/app",
        "sys/nhi/lease-count/database/creds/app/",
        "sys/nhi/lease-count/database/creds//app",
        "sys/nhi/lease-count/database//creds/app",
        "sys/nhi//lease-count/database/creds/app",
        "sys/nhi/lease-count/database/creds/APP",
        "sys/nhi/LEASE-COUNT/database/creds/app",
        "sys/nhi/lease-count/database/creds/%61pp",
        "sys/nhi/lease-count/database/creds%2Fapp",
        "sys/nhi/lease-count/database/creds/app-b/../app",
        "sys/nhi/lease-count/database/creds/./app",
        "sys/nhi/lease-count/database/creds",
        "sys/nhi/lease-count/database/creds/",
        "sys/nhi/lease-count",
        "sys/nhi/lease-count/",
    ] {
        let (status, body) = raw(&server, "GET", spelling, &caller, None).await;
        assert!((400..500).contains(&status), "{spelling}: {status} {body}");
        assert!(!body.contains("\"count\""), "{spelling}: {body}");
    }
    for method in ["PUT", "POST", "DELETE", "LIST"] {
        let (status, _) = raw(
            &server,
            method,
            "sys/nhi/lease-count/database/creds/app-b",
            &caller,
            None,
        )
        .await;
        assert!((400..500).contains(&status), "{method}: {status}");
    }

    // Hostile prefixes: a 4xx or a zero, never a 5xx.
    let long = "a".repeat(20_000);
    for prefix in [
        "%00",
        "..",
        "../../sys",
        "%FF%FE",
        "\u{7f}",
        long.as_str(),
        "database/creds/app%0Ax",
    ] {
        let (status, body) = raw(
            &server,
            "GET",
            &format!("sys/nhi/lease-count/{prefix}"),
            &server.root_token,
            None,
        )
        .await;
        assert!(status < 500, "{prefix:.40}: {status} {body:.200}");
        if status == 200 {
            assert!(body.contains("\"count\":0"), "{prefix:.40}: {body:.200}");
        }
    }

    // Counted while 8 more are issued: never below 4 or above 12.
    let issuing = async {
        for _ in 0..8 {
            ok(&server, "GET", "database/creds/app", json!({})).await;
        }
    };
    let counting = async {
        let mut seen = Vec::new();
        for _ in 0..20 {
            seen.push(count("database/creds/app/".into()).await);
        }
        seen
    };
    let ((), seen) = tokio::join!(issuing, counting);
    assert!(seen.iter().all(|n| (4..=12).contains(n)), "{seen:?}");
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]),
        "counts only grow: {seen:?}"
    );
    assert_eq!(count("database/creds/app/".into()).await, 12);
    ok(
        &server,
        "PUT",
        "sys/leases/revoke-prefix/database",
        json!({}),
    )
    .await;
}
