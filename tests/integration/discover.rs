//! Discovery against the real test Postgres and a fixture git repository:
//! a scan finds every login role this broker did not create (with its
//! flags, memberships, privileges and sessions) and none it did; a rescan
//! writes only what changed; roles are retired (dry run first, refused
//! while in use), adopted as static roles, owned and offboarded; planted
//! secrets in files and in git history are found, documentation examples
//! and placeholders are not, and no secret value reaches the API, the
//! storage or the log. Tokens without the capability are refused however
//! the path is spelled.

use super::common::{connect_as, mount_database_role, pg, unique, TestServer};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

pub(crate) async fn ok(server: &TestServer, method: &str, path: &str, body: Value) -> Value {
    let (status, answer) = server.root(method, path, Some(body)).await;
    assert!(
        (200..300).contains(&status),
        "{method} {path}: {status} {answer}"
    );
    answer
}

/// Sources that name no scannable connection (a scan or a schedule of
/// them is a 400).
pub(crate) const HOSTILE_SOURCES: [&str; 7] = [
    "",
    "database",
    "database/config/",
    "database/config/pg/extra",
    "sys/config/pg",
    "../database/config/pg",
    "database/config/pg\u{0}",
];

/// Runs a scan of `database/config/pg` and waits for its job; the job.
async fn scan(server: &TestServer) -> Value {
    scan_of(server, "database/config/pg").await
}

/// Runs a scan of `source` and waits for its job; the job.
pub(crate) async fn scan_of(server: &TestServer, source: &str) -> Value {
    let (status, body) = server
        .root(
            "POST",
            "sys/discover/scan",
            Some(json!({ "source": source })),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let job = wait_job(server, body["data"]["job_id"].as_str().expect("job id")).await;
    assert_eq!(job["state"], "done", "scan failed: {job}");
    job
}

/// Waits for a scan job to end (done or failed); the job.
pub(crate) async fn wait_job(server: &TestServer, job: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = server
            .root("GET", &format!("sys/discover/jobs/{job}"), None)
            .await;
        assert_eq!(status, 200, "{body}");
        if matches!(body["data"]["state"].as_str(), Some("done" | "failed")) {
            return body["data"].clone();
        }
        assert!(Instant::now() < deadline, "scan did not finish: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The discovered identities whose name starts with `prefix`, by name.
pub(crate) async fn discovered(server: &TestServer, prefix: &str) -> Vec<Value> {
    let (status, body) = server
        .root("GET", "sys/nhi/identities?managed=false&limit=1000", None)
        .await;
    assert_eq!(status, 200, "{body}");
    let mut found: Vec<Value> = body["data"]["identities"]
        .as_array()
        .expect("identities")
        .iter()
        .filter(|i| i["name"].as_str().is_some_and(|n| n.starts_with(prefix)))
        .cloned()
        .collect();
    found.sort_by_key(|i| i["name"].as_str().unwrap_or_default().to_string());
    found
}

fn names(identities: &[Value]) -> Vec<String> {
    identities
        .iter()
        .map(|i| i["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

pub(crate) fn reasons(identity: &Value) -> String {
    identity["risk_reasons"].to_string()
}

/// Roles and a table made by hand for this test, dropped at the end.
struct HandMade {
    prefix: String,
    table: String,
}

impl HandMade {
    async fn create() -> Self {
        let prefix = format!("hand_{}", unique());
        let table = format!("{prefix}_orders");
        let p = &prefix;
        pg().await
            .batch_execute(&format!(
                "CREATE ROLE {p}_group NOLOGIN;
                 CREATE ROLE {p}_super WITH LOGIN SUPERUSER PASSWORD 'Sup3r-{p}';
                 CREATE ROLE {p}_app WITH LOGIN PASSWORD 'App-{p}' VALID UNTIL '2031-01-01';
                 CREATE ROLE {p}_repl WITH LOGIN REPLICATION CREATEROLE PASSWORD 'Repl-{p}';
                 CREATE ROLE \"{p}_we\"\"ird/ name\" WITH LOGIN PASSWORD 'Weird-{p}';
                 GRANT {p}_group TO {p}_app;
                 CREATE TABLE public.{table} (id int);
                 GRANT SELECT, UPDATE ON public.{table} TO {p}_app;"
            ))
            .await
            .expect("hand-made roles");
        Self { prefix, table }
    }

    async fn drop(self) {
        let p = &self.prefix;
        let _ = pg()
            .await
            .batch_execute(&format!(
                "DROP TABLE IF EXISTS public.{};
                 DROP ROLE IF EXISTS {p}_super, {p}_app, {p}_repl, {p}_group, {p}_adopt;
                 DROP ROLE IF EXISTS \"{p}_we\"\"ird/ name\";",
                self.table
            ))
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_finds_every_unmanaged_login_role_and_none_of_ours() {
    let server = TestServer::dev();
    let hand = HandMade::create().await;
    let p = hand.prefix.clone();
    mount_database_role(&server, "1h", "2h").await;
    // One user this mount issues (managed: dynamic), one it rotates
    // (managed: static).
    let creds = ok(&server, "GET", "database/creds/app", json!({})).await;
    let dynamic_user = creds["data"]["username"]
        .as_str()
        .expect("user")
        .to_string();
    pg().await
        .batch_execute(&format!(
            "CREATE ROLE {p}_static WITH LOGIN PASSWORD 'Static-{p}'"
        ))
        .await
        .expect("static user");
    ok(
        &server,
        "POST",
        "database/static-roles/st",
        json!({"db_name": "pg", "username": format!("{p}_static"), "rotation_period": "24h"}),
    )
    .await;
    // A session open as the app role: seen connected.
    let session = connect_as(&format!("{p}_app"), &format!("App-{p}"))
        .await
        .expect("connect as app");

    let job = scan(&server).await;
    assert!(job["managed"].as_u64().unwrap_or(0) >= 2, "{job}");
    let found = discovered(&server, &p).await;
    assert_eq!(
        names(&found),
        vec![
            format!("{p}_app"),
            format!("{p}_repl"),
            format!("{p}_super"),
            format!("{p}_we\"ird/ name"),
        ],
        "the hand-made login roles, not the group (NOLOGIN), the static user or the dynamic one"
    );
    let all = discovered(&server, "").await;
    assert!(
        !names(&all).contains(&dynamic_user) && !names(&all).contains(&"postgres".to_string()),
        "neither the dynamic user nor the broker's own user is unmanaged: {:?}",
        names(&all)
    );
    let by_name = |n: &str| {
        found
            .iter()
            .find(|i| i["name"] == format!("{p}_{n}"))
            .cloned()
            .expect(n)
    };
    let superuser = by_name("super");
    assert_eq!(superuser["identity_type"], "postgres_role");
    assert_eq!(superuser["managed"], false);
    assert_eq!(superuser["source"], "database/config/pg");
    assert!(
        reasons(&superuser).contains("privileged: superuser"),
        "{superuser}"
    );
    assert!(reasons(&superuser).contains("never expires"), "{superuser}");
    assert!(reasons(&superuser).contains("no owner"), "{superuser}");
    let app = by_name("app");
    assert!(!reasons(&app).contains("never expires"), "{app}");
    assert!(
        app["expiration"]
            .as_str()
            .unwrap_or_default()
            .starts_with("2031-01-01"),
        "{app}"
    );
    let permissions = app["permissions"].to_string();
    assert!(
        permissions.contains(&format!("member of {p}_group")),
        "{app}"
    );
    assert!(
        permissions.contains(&format!("public.{}: SELECT,UPDATE", hand.table)),
        "{app}"
    );
    assert!(app["last_accessed"].is_string(), "seen connected: {app}");
    let repl = by_name("repl");
    assert!(reasons(&repl).contains("createrole, replication"), "{repl}");

    // One identity, read back through its id (the odd name percent-encoded,
    // and encoded again in the URL).
    let weird = by_name("we\"ird/ name");
    let id = weird["id"].as_str().expect("id").to_string();
    assert!(!id.contains(' ') && id.matches('/').count() == 4, "{id}");
    let url_id = id.replace('%', "%25");
    let shown = ok(
        &server,
        "GET",
        &format!("sys/discover/identities/{url_id}"),
        json!({}),
    )
    .await;
    assert_eq!(
        shown["data"]["name"],
        format!("{p}_we\"ird/ name"),
        "{shown}"
    );
    let app_id = app["id"].as_str().expect("id").to_string();
    let shown = ok(
        &server,
        "GET",
        &format!("sys/discover/identities/{app_id}"),
        json!({}),
    )
    .await;
    let suggested = shown["data"]["details"]["suggested_role"]["creation_statements"].to_string();
    assert!(
        suggested.contains(&format!("GRANT \\\"{p}_group\\\" TO"))
            && suggested.contains("SELECT,UPDATE"),
        "a dynamic role granting the same: {shown}"
    );
    let shown = ok(
        &server,
        "GET",
        &format!(
            "sys/discover/identities/{}",
            by_name("super")["id"].as_str().expect("id")
        ),
        json!({}),
    )
    .await;
    assert!(
        shown["data"]["details"]["suggested_role"].is_null(),
        "a superuser is not covered: {shown}"
    );

    // A rescan writes only what changed.
    drop(session);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let again = scan(&server).await;
    let ours = |job: &Value| -> Vec<String> {
        job["changed"]
            .as_array()
            .expect("changed")
            .iter()
            .filter_map(Value::as_str)
            .filter(|id| id.contains(&p))
            .map(String::from)
            .collect()
    };
    // (Other tests create and drop roles on the same Postgres meanwhile:
    // only this test's roles are counted.)
    assert_eq!(
        ours(&again),
        vec![app["id"].as_str().expect("id").to_string()],
        "only the app role's session count changed: {again}"
    );
    pg().await
        .batch_execute(&format!("ALTER ROLE {p}_repl VALID UNTIL '2030-06-01'"))
        .await
        .expect("alter");
    let again = scan(&server).await;
    assert_eq!(
        ours(&again),
        vec![repl["id"].as_str().expect("id").to_string()],
        "{again}"
    );
    pg().await
        .batch_execute(&format!("DROP ROLE \"{p}_we\"\"ird/ name\""))
        .await
        .expect("drop");
    let again = scan(&server).await;
    assert_eq!(
        ours(&again),
        vec![id.clone()],
        "the dropped role's record goes: {again}"
    );
    assert_eq!(discovered(&server, &p).await.len(), 3);

    // CSV carries them with managed and source, and a name that looks like
    // a formula is defused.
    let (status, csv) = server
        .text(
            "sys/nhi/identities?managed=false&format=csv&limit=1000",
            &server.root_token.clone(),
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        csv.lines()
            .next()
            .unwrap_or_default()
            .ends_with(",managed,source"),
        "{csv}"
    );
    assert!(csv.contains(&format!("{p}_super,")), "{csv}");
    let _ = ok(&server, "DELETE", "database/static-roles/st", json!({})).await;
    let _ = pg()
        .await
        .batch_execute(&format!("DROP ROLE IF EXISTS {p}_static"))
        .await;
    hand.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scanning_needs_the_connectors_capability_however_the_path_is_spelled() {
    let server = TestServer::dev();
    mount_database_role(&server, "1h", "2h").await;
    let no_connector = server
        .token_with_policy(
            "scan-only",
            r#"path "sys/discover/*" { capabilities = ["create", "update", "read"] }"#,
        )
        .await;
    let no_scan = server
        .token_with_policy(
            "connector-only",
            r#"path "database/discover/*" { capabilities = ["read", "update"] }"#,
        )
        .await;
    let body = json!({"source": "database/config/pg"});
    let (status, answer) = server
        .call(
            "POST",
            "sys/discover/scan",
            Some(&no_connector),
            Some(body.clone()),
        )
        .await;
    assert_eq!(
        status, 403,
        "sys/discover/scan without database/discover/pg: {answer}"
    );
    for path in [
        "sys/discover/scan",
        "sys/discover/scan/",
        "sys//discover/scan",
        "SYS/discover/scan",
        "sys/Discover/scan",
        "sys/discover/%73can",
        "sys/discover/./scan",
    ] {
        let (status, answer) = server
            .call("POST", path, Some(&no_scan), Some(body.clone()))
            .await;
        assert!(
            status == 403 || status == 404 || status == 400,
            "{path} without sys/discover/scan: {status} {answer}"
        );
    }
    // Hostile sources are a 400, never a scan of something else.
    for source in HOSTILE_SOURCES {
        let (status, answer) = server
            .root(
                "POST",
                "sys/discover/scan",
                Some(json!({ "source": source })),
            )
            .await;
        assert_eq!(status, 400, "source {source:?}: {answer}");
    }
    let (status, answer) = server
        .root("GET", "sys/discover/jobs/not-a-job", None)
        .await;
    assert_eq!(status, 404, "{answer}");
    // Concurrent scans of one source: one runs at a time (two would race
    // over its records); the others are told which job is running, and
    // every job started ends done.
    let starts = (0..6).map(|_| server.root("POST", "sys/discover/scan", Some(body.clone())));
    let mut started = Vec::new();
    for (status, answer) in futures::future::join_all(starts).await {
        match status {
            202 => started.push(answer["data"]["job_id"].as_str().expect("job").to_string()),
            400 => assert!(
                answer.to_string().contains("is already running (job "),
                "{answer}"
            ),
            other => panic!("a concurrent scan answered {other}: {answer}"),
        }
    }
    assert!(!started.is_empty());
    for job in started {
        assert_eq!(wait_job(&server, &job).await["state"], "done");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_are_retired_after_a_dry_run_and_adopted_as_static_roles() {
    let server = TestServer::dev();
    let hand = HandMade::create().await;
    let p = hand.prefix.clone();
    mount_database_role(&server, "1h", "2h").await;
    let session = connect_as(&format!("{p}_app"), &format!("App-{p}"))
        .await
        .expect("connect as app");
    scan(&server).await;
    let can_login = |role: String| async move {
        pg().await
            .query_one(
                "SELECT rolcanlogin FROM pg_roles WHERE rolname = $1",
                &[&role],
            )
            .await
            .map(|r| r.get::<_, bool>(0))
            .ok()
    };

    // A dry run by default: nothing changes.
    let dry = ok(
        &server,
        "POST",
        "database/discover/pg",
        json!({"username": format!("{p}_repl"), "action": "nologin"}),
    )
    .await;
    assert_eq!(dry["data"]["dry_run"], true, "{dry}");
    assert_eq!(can_login(format!("{p}_repl")).await, Some(true));
    // In use: refused without force, in the dry run's answer and for real.
    let dry = ok(
        &server,
        "POST",
        "database/discover/pg",
        json!({"username": format!("{p}_app"), "action": "nologin"}),
    )
    .await;
    assert!(dry["data"]["refused"].is_string(), "{dry}");
    let (status, answer) = server
        .root(
            "POST",
            "database/discover/pg",
            Some(json!({"username": format!("{p}_app"), "action": "nologin", "dry_run": false})),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(can_login(format!("{p}_app")).await, Some(true));
    drop(session);
    // Seen connected in an earlier scan still counts for `active_days`.
    let (status, answer) = server
        .root(
            "POST",
            "database/discover/pg",
            Some(json!({"username": format!("{p}_app"), "action": "nologin", "dry_run": false})),
        )
        .await;
    assert_eq!(status, 400, "seen connected within 30 days: {answer}");
    ok(
        &server,
        "POST",
        "database/discover/pg",
        json!({"username": format!("{p}_app"), "action": "nologin", "dry_run": false, "force": true}),
    )
    .await;
    assert_eq!(can_login(format!("{p}_app")).await, Some(false));
    // Retired, it stays in the inventory (so it can be found and restored),
    // marked, and no longer "never expires": it cannot log in.
    scan(&server).await;
    let app = discovered(&server, &format!("{p}_app")).await;
    let app_id = app
        .first()
        .and_then(|i| i["id"].as_str())
        .expect("the retired role is still listed")
        .to_string();
    assert!(!reasons(&app[0]).contains("never expires"), "{}", app[0]);
    let (status, shown) = server
        .root("GET", &format!("sys/discover/identities/{app_id}"), None)
        .await;
    assert_eq!(status, 200, "{shown}");
    assert!(shown["data"]["details"]["retired_at"].is_i64(), "{shown}");
    ok(
        &server,
        "POST",
        "database/discover/pg",
        json!({"username": format!("{p}_app"), "action": "login", "dry_run": false}),
    )
    .await;
    assert_eq!(
        can_login(format!("{p}_app")).await,
        Some(true),
        "nologin is reversible"
    );
    scan(&server).await;
    let (_, shown) = server
        .root("GET", &format!("sys/discover/identities/{app_id}"), None)
        .await;
    assert!(shown["data"]["details"]["retired_at"].is_null(), "{shown}");
    // A role that is neither a login role nor retired here (a group role)
    // is not this path's to give LOGIN to or to drop.
    for action in ["login", "drop"] {
        let (status, answer) = server
            .root(
                "POST",
                "database/discover/pg",
                Some(json!({"username": format!("{p}_group"), "action": action, "dry_run": false})),
            )
            .await;
        assert_eq!(status, 404, "{action}: {answer}");
    }
    assert_eq!(can_login(format!("{p}_group")).await, Some(false));
    ok(
        &server,
        "POST",
        "database/discover/pg",
        json!({"username": format!("{p}_repl"), "action": "drop", "dry_run": false}),
    )
    .await;
    assert_eq!(can_login(format!("{p}_repl")).await, None, "dropped");
    // The broker's own user and bad input.
    for (body, want) in [
        (
            json!({"username": "postgres", "action": "drop", "dry_run": false}),
            400,
        ),
        (
            json!({"username": format!("{p}_app"), "action": "explode"}),
            400,
        ),
        (json!({"action": "nologin"}), 400),
        (
            json!({"username": format!("{p}_app"), "active_days": "-1"}),
            400,
        ),
        (
            json!({"username": "no_such_role_anywhere", "action": "nologin"}),
            404,
        ),
    ] {
        let (status, answer) = server
            .root("POST", "database/discover/pg", Some(body.clone()))
            .await;
        assert_eq!(status, want, "{body}: {answer}");
    }

    // Ownership, the owner filter and offboarding.
    let found = discovered(&server, &format!("{p}_super")).await;
    let super_id = found
        .first()
        .and_then(|i| i["id"].as_str())
        .expect("id")
        .to_string();
    ok(
        &server,
        "POST",
        &format!("sys/discover/identities/{super_id}"),
        json!({"owner": "dora", "environment": "prod"}),
    )
    .await;
    let (_, owned) = server
        .root("GET", "sys/nhi/identities?owner=dora", None)
        .await;
    let ids: Vec<&str> = owned["data"]["identities"]
        .as_array()
        .expect("identities")
        .iter()
        .filter_map(|i| i["id"].as_str())
        .collect();
    assert_eq!(ids, vec![super_id.as_str()], "{owned}");
    let (status, answer) = server
        .root(
            "POST",
            &format!("sys/discover/identities/{super_id}"),
            Some(json!({"policies": ["root"]})),
        )
        .await;
    assert_eq!(status, 400, "only ownership fields: {answer}");
    let (status, _) = server
        .root(
            "POST",
            "sys/discover/identities/discovered/database/config/pg/nobody",
            Some(json!({"owner": "x"})),
        )
        .await;
    assert_eq!(status, 404);
    let off = ok(&server, "POST", "sys/nhi/owners/dora/offboard", json!({})).await;
    assert_eq!(off["data"]["to_retire"], json!([super_id]), "{off}");
    assert_eq!(off["data"]["disabled_roles"], json!([]), "{off}");
    let (_, after) = server
        .root("GET", &format!("sys/nhi/identities/{super_id}"), None)
        .await;
    assert_eq!(after["data"]["orphaned"], true, "{after}");

    // Adoption: a limited token may not; a dry run changes nothing; the
    // real one rotates the password and the role is managed from then on.
    pg().await
        .batch_execute(&format!(
            "CREATE ROLE {p}_adopt WITH LOGIN PASSWORD 'Adopt-{p}'"
        ))
        .await
        .expect("adoptee");
    scan(&server).await;
    let adopt_id = discovered(&server, &format!("{p}_adopt"))
        .await
        .first()
        .and_then(|i| i["id"].as_str().map(String::from))
        .expect("adoptee found");
    let limited = server
        .token_with_policy(
            "adopt-no-static",
            r#"path "sys/discover/*" { capabilities = ["create", "update", "read"] }"#,
        )
        .await;
    let body =
        json!({"id": adopt_id, "name": "adopted", "rotation_period": "1h", "dry_run": false});
    let (status, answer) = server
        .call(
            "POST",
            "sys/discover/adopt",
            Some(&limited),
            Some(body.clone()),
        )
        .await;
    assert_eq!(
        status, 403,
        "without create on database/static-roles/adopted: {answer}"
    );
    let dry = ok(
        &server,
        "POST",
        "sys/discover/adopt",
        json!({"id": adopt_id, "name": "adopted"}),
    )
    .await;
    assert_eq!(dry["data"]["dry_run"], true);
    assert!(
        dry["data"]["changes"]
            .to_string()
            .contains("static-creds/adopted"),
        "{dry}"
    );
    // (The test Postgres trusts loopback, so passwords are compared by
    // their stored verifiers.)
    let verifier = |role: String| async move {
        pg().await
            .query_one(
                "SELECT rolpassword FROM pg_authid WHERE rolname = $1",
                &[&role],
            )
            .await
            .map(|r| r.get::<_, Option<String>>(0))
            .expect("verifier")
    };
    let before = verifier(format!("{p}_adopt")).await;
    let (status, _) = server
        .root("GET", "database/static-roles/adopted", None)
        .await;
    assert_eq!(status, 404, "a dry run creates nothing");
    assert_eq!(verifier(format!("{p}_adopt")).await, before);
    ok(&server, "POST", "sys/discover/adopt", body).await;
    assert_ne!(
        verifier(format!("{p}_adopt")).await,
        before,
        "the password is rotated at adoption"
    );
    let creds = ok(&server, "GET", "database/static-creds/adopted", json!({})).await;
    assert_eq!(creds["data"]["username"], format!("{p}_adopt"), "{creds}");
    let job = scan(&server).await;
    assert!(job["managed"].as_u64().unwrap_or(0) >= 1, "{job}");
    assert!(
        discovered(&server, &format!("{p}_adopt")).await.is_empty(),
        "managed now"
    );
    let (status, answer) = server
        .root(
            "POST",
            "sys/discover/adopt",
            Some(json!({"id": "discovered/files/x/y"})),
        )
        .await;
    assert_eq!(status, 404, "{answer}");
    ok(
        &server,
        "DELETE",
        "database/static-roles/adopted",
        json!({}),
    )
    .await;
    hand.drop().await;
}

/// A git repository with secrets planted in files and in its history, and
/// bait that must not be reported.
struct Fixture {
    dir: tempfile::TempDir,
    /// (rule, secret) of every planted secret.
    planted: Vec<(&'static str, String)>,
    /// Values that must never be reported or stored.
    bait: Vec<String>,
}

fn git(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn random_key_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let tail: String = uuid::Uuid::new_v4()
        .as_bytes()
        .iter()
        .take(16)
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect();
    format!("AKIA{tail}")
}

impl Fixture {
    fn create(pg_user: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        let key_id = random_key_id();
        let old_key_id = random_key_id();
        let pg_password = format!("Pg{}x", uuid::Uuid::new_v4().simple());
        let token = format!("hvs.{}", uuid::Uuid::new_v4().simple());
        let generic = format!("q{}Z", uuid::Uuid::new_v4().simple());
        let private_key = format!(
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEow{}\n-----END RSA PRIVATE KEY-----",
            uuid::Uuid::new_v4().simple()
        );
        git(root, &["init", "-q"]);
        std::fs::create_dir_all(root.join("deploy")).expect("mkdir");
        // History: a key committed, then removed.
        std::fs::write(
            root.join("deploy/old.env"),
            format!("AWS_ACCESS_KEY_ID={old_key_id}\n"),
        )
        .expect("write");
        git(root, &["add", "-A"]);
        git(root, &["commit", "-qm", "add key"]);
        std::fs::remove_file(root.join("deploy/old.env")).expect("rm");
        git(root, &["add", "-A"]);
        git(root, &["commit", "-qm", "remove key"]);
        std::fs::write(
            root.join("deploy/ci.yml"),
            format!(
                "env:\n  AWS_ACCESS_KEY_ID: {key_id}\n  DATABASE_URL: postgres://{pg_user}:{pg_password}@127.0.0.1:5432/app\n  VAULT_TOKEN: {token}\n"
            ),
        )
        .expect("write");
        std::fs::write(root.join("id_rsa"), format!("{private_key}\n")).expect("write");
        std::fs::write(
            root.join("settings.py"),
            format!("API_KEY = \"{generic}\"\n"),
        )
        .expect("write");
        // Bait: AWS's documentation examples and placeholders.
        let bait = vec![
            "AKIAIOSFODNN7EXAMPLE".to_string(),
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_string(),
            "${DB_PASSWORD}".to_string(),
            "changeme-changeme".to_string(),
            "<your-token-here>".to_string(),
        ];
        std::fs::write(
            root.join("README.md"),
            "Set AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE and\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n\
             DATABASE_URL=postgres://app:${DB_PASSWORD}@db/app\npassword = \"changeme-changeme\"\ntoken: \"<your-token-here>\"\n",
        )
        .expect("write");
        git(root, &["add", "-A"]);
        git(root, &["commit", "-qm", "app"]);
        Self {
            dir,
            planted: vec![
                ("aws_access_key_id", key_id),
                ("aws_access_key_id", old_key_id),
                ("postgres_url", pg_password),
                ("vault_token", token),
                ("generic_secret", generic),
                ("private_key", private_key),
            ],
            bait,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_secrets_are_found_in_files_and_history_and_no_bait_is() {
    // On sled storage, so the store's files can be searched for secrets.
    let mut server = TestServer::from_config("", "");
    server.init_and_unseal().await;
    let hand = HandMade::create().await;
    let p = hand.prefix.clone();
    mount_database_role(&server, "1h", "2h").await;
    scan(&server).await;
    let fixture = Fixture::create(&format!("{p}_app"));
    let repo = fixture.dir.path().to_string_lossy().into_owned();
    let out = server.qm(
        &server.root_token.clone(),
        &[
            "discover",
            "scan-files",
            "--history",
            "--name",
            "repo",
            "-format=json",
            &repo,
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "qm discover scan-files: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_str(&stdout).expect("json");
    let findings = answer["data"]["findings"]
        .as_array()
        .expect("findings")
        .clone();
    for (rule, _) in &fixture.planted {
        assert!(
            findings.iter().any(|f| f["rule"] == *rule),
            "{rule} not found: {stdout}"
        );
    }
    let aws = findings
        .iter()
        .filter(|f| f["rule"] == "aws_access_key_id")
        .count();
    assert!(
        aws >= 2,
        "the current key and the one only in history: {stdout}"
    );
    assert!(
        findings.iter().any(|f| f["file"]
            .as_str()
            .is_some_and(|file| file.ends_with(":deploy/old.env"))),
        "a secret removed from the tree is found in history: {stdout}"
    );
    assert!(
        !findings.iter().any(|f| f["file"] == "README.md"),
        "documentation examples and placeholders are not reported: {stdout}"
    );
    let url = findings
        .iter()
        .find(|f| f["rule"] == "postgres_url" && f["file"] == "deploy/ci.yml")
        .expect("postgres url in ci.yml");
    assert_eq!(url["line"], 3, "{url}");
    assert!(
        url["linked_identities"]
            .to_string()
            .contains(&format!("{p}_app")),
        "the URL's user links to the discovered role: {url}"
    );
    // The role now carries the exposure in its risk.
    let app = discovered(&server, &format!("{p}_app")).await;
    let app = app.first().expect("app role");
    assert!(reasons(app).contains("exposed in files: "), "{app}");
    assert!(reasons(app).contains("deploy/ci.yml:3"), "{app}");
    let secrets = discovered(&server, "").await;
    assert!(
        secrets
            .iter()
            .any(|i| i["identity_type"] == "file_secret" && i["source"] == "files/repo"),
        "file secrets in the inventory"
    );
    // No secret value anywhere: the answer, the inventory, the log, the store.
    let (_, listing) = server
        .root("GET", "sys/nhi/identities?limit=1000&format=jsonl", None)
        .await;
    let (_, csv) = server
        .text(
            "sys/nhi/identities?limit=1000&format=csv",
            &server.root_token.clone(),
        )
        .await;
    server.signal("TERM");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let log = std::fs::read_to_string(server.temp_path("qm.log")).unwrap_or_default();
    let mut stored = Vec::new();
    for entry in walk(&server.data_dir()) {
        stored.extend(std::fs::read(entry).unwrap_or_default());
    }
    let stored = String::from_utf8_lossy(&stored);
    for (rule, secret) in &fixture.planted {
        let probe = secret.lines().nth(1).unwrap_or(secret);
        for (place, text) in [
            ("the scan's answer", stdout.as_str()),
            ("the inventory", &listing.to_string()),
            ("the CSV", csv.as_str()),
            ("the log", log.as_str()),
            ("the storage", &stored),
        ] {
            assert!(!text.contains(probe), "{rule}'s secret in {place}");
        }
    }
    for bait in &fixture.bait {
        assert!(!stdout.contains(bait.as_str()), "bait {bait} in the answer");
    }
    hand.drop().await;
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_scans_refuse_bad_archives_rules_names_and_callers() {
    let server = TestServer::dev();
    let tar = base64_tar(&[("a.env", "TOKEN_X = \"q8Vb2Lx9Rt7Kw3Nz5Pm\"\n")]);
    for (body, why) in [
        (json!({"name": "x"}), "no archive"),
        (json!({"name": "x", "archive": "%%%"}), "not base64"),
        (json!({"name": "x", "archive": "aGVsbG8="}), "not a tar"),
        (
            json!({"name": "../x", "archive": tar}),
            "a name with a path",
        ),
        (
            json!({"name": "a/b", "archive": tar}),
            "a name with a slash",
        ),
        (json!({"name": "", "archive": tar}), "an empty name"),
        (
            json!({"name": "x".repeat(65), "archive": tar}),
            "a long name",
        ),
        (
            json!({"name": "x", "archive": tar, "rules": "[[rule]]\nid='a'\ndescription=''\nregex='('\nsecret_group=1"}),
            "a bad rule",
        ),
        (
            json!({"name": "x", "archive": tar, "rules": 7}),
            "rules not text",
        ),
        (json!({"name": "x", "archive": 7}), "archive not text"),
    ] {
        let (status, answer) = server.root("POST", "sys/discover/files", Some(body)).await;
        assert_eq!(status, 400, "{why}: {answer}");
        let text = answer.to_string();
        assert!(
            !text.contains("q8Vb2Lx9Rt7Kw3Nz5Pm"),
            "{why}: the secret in an error"
        );
    }
    let answer = ok(
        &server,
        "POST",
        "sys/discover/files",
        json!({"name": "ok", "archive": tar}),
    )
    .await;
    assert_eq!(
        answer["data"]["findings"].as_array().map(Vec::len),
        Some(1),
        "{answer}"
    );
    let reader = server
        .token_with_policy(
            "inventory-reader",
            r#"path "sys/nhi/*" { capabilities = ["read", "list"] }"#,
        )
        .await;
    for path in [
        "sys/discover/files",
        "sys/discover/files/",
        "sys//discover/files",
        "sys/discover/%66iles",
    ] {
        let (status, answer) = server
            .call(
                "POST",
                path,
                Some(&reader),
                Some(json!({"name": "ok", "archive": tar})),
            )
            .await;
        assert!(
            status == 403 || status == 404 || status == 400,
            "{path}: {status} {answer}"
        );
    }
    let (status, _) = server
        .call(
            "POST",
            "sys/discover/adopt",
            Some(&reader),
            Some(json!({"id": "x"})),
        )
        .await;
    assert_eq!(status, 403);
    // A rescan under the same name with the secret gone removes it.
    let empty = base64_tar(&[("a.env", "nothing here\n")]);
    let answer = ok(
        &server,
        "POST",
        "sys/discover/files",
        json!({"name": "ok", "archive": empty}),
    )
    .await;
    assert_eq!(answer["data"]["stored"]["removed"], 1, "{answer}");
}

pub(crate) fn base64_tar(files: &[(&str, &str)]) -> String {
    use base64::Engine as _;
    let mut builder = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, path, content.as_bytes())
            .expect("append");
    }
    base64::engine::general_purpose::STANDARD.encode(builder.into_inner().expect("tar"))
}
