//! Storage on PostgreSQL, against the test Postgres (a fresh database per
//! test): a server keeps KV and leases across a restart; ordering and prefix
//! scans match sled's; `qm operator migrate` copies sled -> postgresql ->
//! sled and the copies unseal with the same key; TLS modes; the URL's
//! password never reaches logs, banners or errors.

use super::common::{mount_database_role, pg, pg_roles, revoke_now, TestDatabase, TestServer};
use quartermaster::storage::{Change, ConnectionUrl, PostgresStorage, SledStorage, Storage};
use serde_json::json;
use std::process::Command;

pub(super) fn postgres_storage(url: &str) -> String {
    format!("type = \"postgresql\"\nconnection_url = \"{url}\"")
}

fn connect(url: &str) -> Result<PostgresStorage, String> {
    PostgresStorage::connect(&ConnectionUrl::from(url.to_string())).map_err(|e| e.to_string())
}

/// `url` with `?params` (or `&params`) appended.
fn with_params(url: &str, params: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{params}")
}

/// `url` with its host replaced.
fn with_host(url: &str, host: &str) -> String {
    url.replace("127.0.0.1", host)
}

pub(super) async fn write_secret(server: &TestServer, path: &str, value: &str) {
    let (status, body) = server
        .root(
            "PUT",
            &format!("secret/data/{path}"),
            Some(json!({"data": {"value": value}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

pub(super) async fn read_secret(server: &TestServer, path: &str) -> String {
    let (status, body) = server
        .root("GET", &format!("secret/data/{path}"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"]["data"]["value"]
        .as_str()
        .expect("value")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_on_postgresql_keeps_secrets_and_leases_across_a_restart() {
    let db = TestDatabase::create().await;
    let mut server = TestServer::with_storage(&postgres_storage(&db.url), &[]);
    assert!(
        server
            .banner
            .iter()
            .any(|l| l.contains("Storage: postgresql at")),
        "{:?}",
        server.banner
    );
    let key = server.init_and_unseal().await;
    server
        .root("POST", "sys/mounts/secret", Some(json!({"type": "kv-v2"})))
        .await;
    let marker = "MARKER-pg-9c1e-plaintext-must-not-reach-the-table";
    write_secret(&server, "app", marker).await;
    mount_database_role(&server, "1h", "24h").await;
    let (status, creds) = server.root("GET", "database/creds/app", None).await;
    assert_eq!(status, 200, "{creds}");
    let lease_id = creds["lease_id"].as_str().expect("lease").to_string();
    let username = creds["data"]["username"]
        .as_str()
        .expect("user")
        .to_string();
    assert_eq!(pg_roles(&username).await, vec![username.clone()]);

    // Postgres sees keys and ciphertext only.
    let client = super::common::connect_pg(&db.url).await.expect("connect");
    let rows = client
        .query("SELECT key, value FROM qm_store", &[])
        .await
        .expect("read the table");
    assert!(rows.len() > 10, "{} rows", rows.len());
    for row in &rows {
        let value: Vec<u8> = row.get(1);
        assert!(
            !value.windows(marker.len()).any(|w| w == marker.as_bytes()),
            "plaintext under {}",
            row.get::<_, String>(0)
        );
    }
    let version: i32 = client
        .query_one("SELECT version FROM qm_schema", &[])
        .await
        .expect("schema version")
        .get(0);
    assert_eq!(version, 3);

    server.restart();
    server.unseal(&key).await;
    assert_eq!(read_secret(&server, "app").await, marker);
    let (status, body) = server
        .root(
            "PUT",
            "sys/leases/lookup",
            Some(json!({"lease_id": lease_id})),
        )
        .await;
    assert_eq!(status, 200, "the lease survived the restart: {body}");
    let (status, body) = revoke_now(&server, &lease_id).await;
    assert_eq!(status, 204, "{body}");
    assert!(
        pg_roles(&username).await.is_empty(),
        "revoked after restart"
    );
    drop(server);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordering_and_prefix_scans_match_sled() {
    let db = TestDatabase::create().await;
    // Called from async code on purpose: the barrier does the same.
    let postgres = connect(&db.url).expect("connect");
    let sled = SledStorage::temporary().expect("sled");
    let keys = [
        "a",
        "a/",
        "a/b",
        "a/b/c",
        "a0",
        "a b",
        "A",
        "Z",
        "_",
        "~",
        "a\u{7F}",
        "a\u{80}",
        "aé",
        "aé/x",
        "a\u{D7FF}",
        "a\u{D7FF}z",
        "a\u{E000}",
        "a\u{FFFF}",
        "a\u{10000}",
        "a\u{10FFFF}",
        "a\u{10FFFF}x",
        "b",
        "日本/語",
        "日本/語/x",
        "\u{10FFFF}",
        "\u{10FFFF}\u{10FFFF}",
        "sys/lease/due/00000001700000000/database/creds/app/Ab12",
        "sys/lease/id/database/creds/app/Ab12",
        "sys/lease/id/database/creds/app-admin/Cd34",
        "sys/token/id/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    ];
    let puts: Vec<Change> = keys
        .iter()
        .map(|k| Change::Put(k.to_string(), k.as_bytes().to_vec()))
        .collect();
    let puts_again: Vec<Change> = keys
        .iter()
        .map(|k| Change::Put(k.to_string(), k.as_bytes().to_vec()))
        .collect();
    postgres.apply(puts).expect("apply");
    sled.apply(puts_again).expect("apply");

    let mut expected: Vec<&str> = keys.to_vec();
    expected.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    let mut prefixes: Vec<&str> = keys.to_vec();
    prefixes.extend([
        "",
        "a/b/",
        "sys/lease/id/database/creds/app",
        "sys/lease/id/database/creds/app/",
        "\u{10FFFF}",
        "a\u{10FFFF}",
        "é",
        "日",
        "zz",
        "sys/",
    ]);
    for prefix in prefixes {
        let want: Vec<String> = expected
            .iter()
            .filter(|k| k.starts_with(prefix))
            .map(|k| k.to_string())
            .collect();
        assert_eq!(
            postgres.keys_with_prefix(prefix).expect("scan"),
            want,
            "{prefix:?}"
        );
        assert_eq!(
            sled.keys_with_prefix(prefix).expect("scan"),
            want,
            "{prefix:?}"
        );
        assert_eq!(
            postgres.first_keys_with_prefix(prefix, 2).expect("scan"),
            sled.first_keys_with_prefix(prefix, 2).expect("scan"),
            "{prefix:?}"
        );
    }

    // Gets, overwrites, deletes, in order and atomically.
    assert_eq!(
        postgres.get("aé").expect("get"),
        Some("aé".as_bytes().to_vec())
    );
    assert_eq!(postgres.get("nope").expect("get"), None);
    postgres
        .apply_in_order(vec![
            Change::Put("a/b".into(), vec![1]),
            Change::Put("a/b".into(), vec![2]),
            Change::Delete("a/b/c".into()),
        ])
        .expect("in order");
    assert_eq!(postgres.get("a/b").expect("get"), Some(vec![2]));
    assert_eq!(postgres.get("a/b/c").expect("get"), None);
    postgres
        .apply(vec![Change::Delete("a".into())])
        .expect("delete one");
    assert_eq!(postgres.get("a").expect("get"), None);
    postgres.flush().expect("flush is a no-op");

    // A NUL byte cannot be stored: refused, and the batch is not applied.
    let err = postgres
        .apply(vec![
            Change::Put("ok".into(), vec![1]),
            Change::Put("bad\0key".into(), vec![1]),
        ])
        .expect_err("NUL refused");
    assert!(err.to_string().contains("NUL"), "{err}");
    assert_eq!(postgres.get("ok").expect("get"), None);
    assert!(postgres.get("bad\0key").is_err());

    // Many concurrent callers share the pool.
    let postgres = std::sync::Arc::new(postgres);
    let writers: Vec<_> = (0..16)
        .map(|i| {
            let store = std::sync::Arc::clone(&postgres);
            std::thread::spawn(move || {
                for j in 0..20 {
                    store
                        .apply(vec![
                            Change::Put(format!("c/{i:02}/{j:02}"), vec![1]),
                            Change::Put(format!("d/{i:02}/{j:02}"), vec![2]),
                        ])
                        .expect("concurrent apply");
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().expect("writer");
    }
    assert_eq!(postgres.keys_with_prefix("c/").expect("scan").len(), 320);
    assert_eq!(postgres.keys_with_prefix("d/").expect("scan").len(), 320);
    drop(postgres);

    // A second connect finds the schema in place.
    let again = connect(&db.url).expect("reconnect");
    assert_eq!(
        again.get("aé").expect("get"),
        Some("aé".as_bytes().to_vec())
    );
    drop(again);
    db.drop().await;
}

pub(super) fn qm(args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_qm"))
        .args(args)
        .envs(envs.iter().copied())
        .output()
        .expect("run qm")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_sled_to_postgresql_and_back_keeps_keys_and_secrets() {
    let db = TestDatabase::create().await;
    let mut server = TestServer::from_config("", "");
    let key = server.init_and_unseal().await;
    let root = server.root_token.clone();
    server
        .root("POST", "sys/mounts/secret", Some(json!({"type": "kv-v2"})))
        .await;
    write_secret(&server, "one", "first-value").await;
    write_secret(&server, "nested/two", "second-value").await;
    server.kill();
    let sled_dir = server.data_dir();
    let from = format!("sled:{}", sled_dir.display());

    // sled -> postgresql, the URL from QM_STORAGE_URL.
    let out = qm(
        &[
            "operator",
            "migrate",
            "--from",
            &from,
            "--to",
            "postgresql:",
        ],
        &[("QM_STORAGE_URL", &db.url)],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("read every one back"), "{stdout}");
    let copied = connect(&db.url).expect("connect");
    let sled = SledStorage::open(&sled_dir).expect("open sled");
    let keys = sled.keys_with_prefix("").expect("keys");
    assert_eq!(copied.keys_with_prefix("").expect("keys"), keys);
    for k in &keys {
        assert_eq!(
            copied.get(k).expect("get"),
            sled.get(k).expect("get"),
            "{k}"
        );
    }
    drop(copied);
    drop(sled);

    // Into a store that is not empty: refused.
    let out = qm(
        &[
            "operator",
            "migrate",
            "--from",
            &from,
            "--to",
            &format!("postgresql:{}", db.url),
        ],
        &[],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not empty"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A server on the copy unseals with the same key and reads the same secrets.
    let mut on_postgres = TestServer::with_storage(&postgres_storage(&db.url), &[]);
    on_postgres.unseal(&key).await;
    on_postgres.root_token = root.clone();
    assert_eq!(read_secret(&on_postgres, "one").await, "first-value");
    write_secret(&on_postgres, "three", "written-on-postgres").await;
    on_postgres.kill();

    // postgresql -> a new sled directory, and a server there.
    let back = tempfile::tempdir().expect("dir");
    let back_dir = back.path().join("data");
    let out = qm(
        &[
            "operator",
            "migrate",
            "--from",
            &format!("postgresql:{}", db.url),
            "--to",
            &format!("sled:{}", back_dir.display()),
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut on_sled = TestServer::with_storage(&format!("path = \"{}\"", back_dir.display()), &[]);
    on_sled.unseal(&key).await;
    on_sled.root_token = root;
    assert_eq!(read_secret(&on_sled, "nested/two").await, "second-value");
    assert_eq!(read_secret(&on_sled, "three").await, "written-on-postgres");
    on_sled.kill();

    // A missing sled source is an error, not an empty copy.
    let out = qm(
        &[
            "operator",
            "migrate",
            "--from",
            "sled:/nonexistent/qm",
            "--to",
            &format!("sled:{}", back.path().join("x").display()),
        ],
        &[],
    );
    assert!(!out.status.success());
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_storage_password_never_reaches_logs_banners_or_errors() {
    let db = TestDatabase::create().await;
    let password = "Pw-Sekrit-7731";
    // The test Postgres trusts local connections: any password works.
    let url = db
        .url
        .replacen("postgres@", &format!("postgres:{password}@"), 1);
    assert!(url.contains(password), "the test URL carries a user: {url}");
    let mut server = TestServer::with_storage(
        "type = \"postgresql\"\nha_enabled = true\nconnection_url = \"postgres://ignored@nowhere/x\"",
        &[("QM_STORAGE_URL", &url), ("RUST_LOG", "debug")],
    );
    let banner = server.banner.join("\n");
    assert!(banner.contains("postgres:***@"), "{banner}");
    assert!(!banner.contains(password), "{banner}");
    server.init_and_unseal().await;
    server
        .root("POST", "sys/mounts/secret", Some(json!({"type": "kv-v2"})))
        .await;
    write_secret(&server, "x", "y").await;
    server.kill();
    let log = std::fs::read_to_string(server.temp_path("qm.log")).expect("log");
    assert!(
        log.contains("now the active node"),
        "took leadership: {log}"
    );
    assert!(log.contains("DEBUG"), "debug logging was on");
    assert!(!log.contains(password), "password in the log");

    // Errors: an unreachable server, a refused login, a bad parameter.
    let dir = tempfile::tempdir().expect("dir");
    for bad in [
        format!("postgres://postgres:{password}@127.0.0.1:1/x"),
        format!("postgres://qm_no_such_user:{password}@127.0.0.1/qm_no_such_db"),
        format!("postgres://postgres:{password}@127.0.0.1/x?sslmode=verify-everything"),
        format!("postgres://postgres:{password}@127.0.0.1:notaport/x"),
    ] {
        let config = dir.path().join("bad.toml");
        std::fs::write(
            &config,
            format!(
                "[listener]\naddress = \"127.0.0.1:0\"\n[storage]\n{}\n",
                postgres_storage(&bad)
            ),
        )
        .expect("config");
        let out = qm(
            &["server", "--config", config.to_str().expect("path")],
            &[("RUST_LOG", "debug")],
        );
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "{bad}: {text}");
        assert!(text.contains("storage"), "{text}");
        assert!(!text.contains(password), "{text}");

        let out = qm(
            &[
                "operator",
                "migrate",
                "--from",
                &format!("postgresql:{bad}"),
                "--to",
                "sled:/tmp/qm-never",
            ],
            &[],
        );
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && text.contains("Error migrating"),
            "{text}"
        );
        assert!(!text.contains(password), "{text}");
    }
    assert!(!std::path::Path::new("/tmp/qm-never").exists());
    db.drop().await;
}

/// Which of the test database's connections named `application` use TLS.
async fn tls_in_use(database: &str, application: &str) -> Vec<bool> {
    pg().await
        .query(
            "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.datname = $1 AND a.application_name = $2",
            &[&database, &application],
        )
        .await
        .expect("pg_stat_ssl")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmodes_on_the_storage_connection() {
    let admin = pg().await;
    let ssl: String = admin.query_one("SHOW ssl", &[]).await.expect("ssl").get(0);
    if ssl != "on" {
        eprintln!("SKIPPED: the test Postgres runs without TLS");
        return;
    }
    let db = TestDatabase::create().await;
    for (mode, tls) in [("disable", false), ("prefer", true), ("require", true)] {
        let app = format!("qm_tls_{mode}");
        let store = connect(&with_params(
            &db.url,
            &format!("sslmode={mode}&application_name={app}"),
        ))
        .unwrap_or_else(|e| panic!("{mode}: {e}"));
        store.get("x").expect("get");
        let seen = tls_in_use(&db.name, &app).await;
        assert!(
            !seen.is_empty() && seen.iter().all(|s| *s == tls),
            "{mode}: {seen:?}"
        );
        drop(store);
    }

    // The server's own certificate as the root (self-signed, for `localhost`).
    let cert_file: String = admin
        .query_one("SHOW ssl_cert_file", &[])
        .await
        .expect("cert file")
        .get(0);
    let dir = tempfile::tempdir().expect("dir");
    let other_ca = dir.path().join("other-ca.pem");
    let other = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
    std::fs::write(&other_ca, other.cert.pem()).expect("write");
    if std::fs::read(&cert_file).is_err() {
        eprintln!("SKIPPED verify-*: cannot read the server certificate {cert_file}");
        db.drop().await;
        return;
    }
    let root = format!("sslrootcert={cert_file}");
    let wrong = format!("sslrootcert={}", other_ca.display());
    let local = with_host(&db.url, "localhost");
    for (url, params, ok) in [
        (&local, format!("sslmode=verify-full&{root}"), true),
        (&db.url, format!("sslmode=verify-full&{root}"), false), // named localhost, reached as 127.0.0.1
        (&db.url, format!("sslmode=verify-ca&{root}"), true),
        (&local, format!("sslmode=verify-ca&{wrong}"), false),
        (&local, format!("sslmode=verify-full&{wrong}"), false),
        (&local, format!("sslmode=require&{wrong}"), false), // libpq: require + root = verify-ca
        (&local, format!("sslmode=require&{root}"), true),
        (&local, "sslmode=verify-full".to_string(), false), // no root given
    ] {
        let result = connect(&with_params(url, &params));
        assert_eq!(result.is_ok(), ok, "{url} {params}: {:?}", result.err());
    }
    db.drop().await;
}
