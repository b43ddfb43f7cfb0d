//! Every connection to PostgreSQL over TLS, against the TLS-only Postgres
//! that scripts/test.sh starts (`start_tls_postgres` in scripts/lib.sh:
//! hostssl rules only, a password user and a certificate user, the CA and
//! client certificate in `QM_TEST_PG_TLS_*`). Storage on it with
//! `verify-full`, by password and by client certificate; a wrong CA and
//! `sslmode=disable` refused with errors that say why and hold no
//! password; the database engine issuing and revoking users over
//! `verify-full`, `require` and a client certificate.

use super::common::{mount_database, revoke_now, unique, TestServer};
use super::pg_storage::{postgres_storage, qm, read_secret, write_secret};
use qm_pg_connect::ConnectionUrl;
use serde_json::{json, Value};

/// The TLS-only Postgres, as scripts/test.sh describes it.
struct TlsPostgres {
    /// The password user's URL, no parameters.
    password_url: String,
    /// The user that logs in by certificate.
    cert_user: String,
    ca: String,
    client_cert: String,
    client_key: String,
}

impl TlsPostgres {
    /// `None`, loudly, when the tests do not run under scripts/test.sh.
    fn from_env() -> Option<Self> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let Some(password_url) = var("QM_TEST_PG_TLS_URL") else {
            eprintln!(
                "\n*** SKIPPED: QM_TEST_PG_TLS_URL is not set, so nothing here was tested over TLS.\n\
                 *** Run scripts/test.sh, which starts a TLS-only PostgreSQL and sets it. ***\n"
            );
            return None;
        };
        let need =
            |name: &str| var(name).unwrap_or_else(|| panic!("{name} (scripts/test.sh sets it)"));
        Some(Self {
            password_url,
            cert_user: need("QM_TEST_PG_TLS_CERT_USER"),
            ca: need("QM_TEST_PG_TLS_CA"),
            client_cert: need("QM_TEST_PG_TLS_CLIENT_CERT"),
            client_key: need("QM_TEST_PG_TLS_CLIENT_KEY"),
        })
    }

    /// `127.0.0.1:PORT`.
    fn host_port(&self) -> &str {
        let after_at = self.password_url.rsplit('@').next().unwrap_or_default();
        after_at.split('/').next().unwrap_or_default()
    }

    /// The password user's password.
    fn password(&self) -> &str {
        let userinfo = self
            .password_url
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split('@').next())
            .unwrap_or_default();
        userinfo.split(':').nth(1).unwrap_or_default()
    }

    /// The password user's URL for `database` with `params`.
    fn password_url(&self, database: &str, params: &str) -> String {
        let base = self
            .password_url
            .rsplit_once('/')
            .map_or("", |(base, _)| base);
        format!("{base}/{database}?{params}")
    }

    /// `verify-full` against the test CA.
    fn verify_full(&self) -> String {
        format!("sslmode=verify-full&sslrootcert={}", self.ca)
    }

    /// The certificate user's URL for `database`: `verify-full` and the
    /// client certificate, no password.
    fn cert_url(&self, database: &str) -> String {
        format!(
            "postgresql://{}@{}/{database}?{}&sslcert={}&sslkey={}",
            self.cert_user,
            self.host_port(),
            self.verify_full(),
            self.client_cert,
            self.client_key
        )
    }

    /// A superuser connection (by certificate, `verify-full`).
    async fn admin(&self) -> tokio_postgres::Client {
        let url = ConnectionUrl::from(self.cert_url("postgres"));
        let settings = url.parse().expect("the certificate URL");
        let connector = settings.tls.connector().expect("the test certificates");
        let (client, connection) = settings
            .config
            .connect(connector)
            .await
            .expect("connect to the TLS Postgres by certificate");
        tokio::spawn(async move {
            let _ = connection.await;
        });
        client
    }

    /// A fresh database for one test.
    async fn create_database(&self) -> String {
        let name = format!("qm_tls_{}", unique());
        self.admin()
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create database");
        name
    }

    async fn drop_database(&self, name: &str) {
        let _ = self
            .admin()
            .await
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await;
    }

    /// Whether every connection named `application` uses TLS, and how many
    /// there are.
    async fn connections_on_tls(&self, application: &str) -> (bool, i64) {
        let row = self
            .admin()
            .await
            .query_one(
                "SELECT coalesce(bool_and(s.ssl), false), count(*) FROM pg_stat_ssl s \
                 JOIN pg_stat_activity a USING (pid) WHERE a.application_name = $1",
                &[&application],
            )
            .await
            .expect("pg_stat_ssl");
        (row.get(0), row.get(1))
    }

    async fn role_exists(&self, name: &str) -> bool {
        self.admin()
            .await
            .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&name])
            .await
            .expect("pg_roles")
            .is_some()
    }
}

/// A `qm server` on Postgres storage at `url` (an empty database):
/// initialized, unsealed, a KV secret written and read back.
async fn storage_works(url: &str) {
    let mut server = TestServer::with_storage(&postgres_storage(url), &[]);
    server.init_and_unseal().await;
    let (status, body) = server
        .root("POST", "sys/mounts/secret", Some(json!({"type": "kv-v2"})))
        .await;
    assert_eq!(status, 204, "{body}");
    write_secret(&server, "tls", "over-tls").await;
    assert_eq!(read_secret(&server, "tls").await, "over-tls");
}

/// What `qm server` prints when its storage at `url` is refused.
fn storage_refused(url: &str) -> String {
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("qm.toml");
    std::fs::write(
        &config,
        format!(
            "[listener]\naddress = \"127.0.0.1:0\"\n[storage]\n{}\n",
            postgres_storage(url)
        ),
    )
    .expect("config");
    let out = qm(&["server", "--config", config.to_str().expect("path")], &[]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{url}: started: {text}");
    text
}

/// A CA that signed nothing the server has.
fn other_ca(dir: &std::path::Path) -> String {
    let path = dir.join("other-ca.pem");
    let other = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
    std::fs::write(&path, other.cert.pem()).expect("write");
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_on_a_tls_only_postgres() {
    let Some(pg) = TlsPostgres::from_env() else {
        return;
    };
    let database = pg.create_database().await;
    let by_cert = pg.create_database().await;

    // verify-full with the CA, by password, then by client certificate.
    storage_works(&pg.password_url(&database, &pg.verify_full())).await;
    storage_works(&pg.cert_url(&by_cert)).await;

    // A wrong CA: the handshake fails, and the error says so.
    let dir = tempfile::tempdir().expect("dir");
    let wrong = pg.password_url(
        &database,
        &format!("sslmode=verify-full&sslrootcert={}", other_ca(dir.path())),
    );
    let text = storage_refused(&wrong);
    assert!(
        text.contains("TLS handshake") && text.contains("UnknownIssuer"),
        "{text}"
    );
    assert!(!text.contains(pg.password()), "{text}");

    // Plaintext: the server has no rule for it.
    let text = storage_refused(&pg.password_url(&database, "sslmode=disable"));
    assert!(
        text.contains("no pg_hba.conf entry") && text.contains("no encryption"),
        "{text}"
    );
    assert!(!text.contains(pg.password()), "{text}");

    // A client certificate without its key, or with a key others can read.
    let text = storage_refused(&format!(
        "{}&sslcert={}",
        pg.password_url(&database, &pg.verify_full()),
        pg.client_cert
    ));
    assert!(text.contains("sslcert needs sslkey"), "{text}");
    let open_key = dir.path().join("open.key");
    std::fs::copy(&pg.client_key, &open_key).expect("copy key");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&open_key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    }
    let key_text = std::fs::read_to_string(&pg.client_key).expect("key");
    let text = storage_refused(
        &pg.cert_url(&database)
            .replace(&pg.client_key, &open_key.display().to_string()),
    );
    assert!(
        text.contains("sslkey") && text.contains("open.key") && text.contains("0600"),
        "{text}"
    );
    let key_body = key_text.lines().nth(1).expect("a PEM body line");
    assert!(!text.contains(key_body), "the key's contents: {text}");
    pg.drop_database(&database).await;
    pg.drop_database(&by_cert).await;
}

/// Adds role `name`, issuing plain login users from config `name`.
async fn add_role(server: &TestServer, name: &str) {
    let (status, body) = server
        .root(
            "POST",
            &format!("database/roles/{name}"),
            Some(json!({
                "db_name": name,
                "creation_statements": "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'",
                "default_ttl": "1h",
            })),
        )
        .await;
    assert_eq!(status, 204, "{body}");
}

/// Writes `database/config/NAME`; the status and body.
async fn configure(server: &TestServer, name: &str, config: Value) -> (u16, Value) {
    let mut body = json!({
        "plugin_name": "postgresql-database-plugin",
        "allowed_roles": "*",
    });
    if let (Some(body), Some(config)) = (body.as_object_mut(), config.as_object()) {
        body.extend(config.clone());
    }
    server
        .root("POST", &format!("database/config/{name}"), Some(body))
        .await
}

/// Issues a user from role `name`, checks it exists and can log in over
/// TLS with its password, revokes it and checks it is gone.
async fn issue_and_revoke(server: &TestServer, pg: &TlsPostgres, name: &str) {
    let (status, creds) = server
        .root("GET", &format!("database/creds/{name}"), None)
        .await;
    assert_eq!(status, 200, "{name}: {creds}");
    let username = creds["data"]["username"].as_str().expect("username");
    let password = creds["data"]["password"].as_str().expect("password");
    let lease_id = creds["lease_id"].as_str().expect("lease");
    assert!(pg.role_exists(username).await, "{name}: {username}");

    // The user logs in over TLS with what it was given.
    let as_user = ConnectionUrl::from(format!(
        "postgresql://{}@{}/postgres?{}",
        username,
        pg.host_port(),
        pg.verify_full()
    ));
    let mut settings = as_user.parse().expect("url");
    settings.config.password(password);
    let (client, connection) = settings
        .config
        .connect(settings.tls.connector().expect("connector"))
        .await
        .unwrap_or_else(|e| panic!("{name}: {username} logs in: {e}"));
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let who: String = client
        .query_one("SELECT current_user::text", &[])
        .await
        .expect("query")
        .get(0);
    assert_eq!(who, username);
    drop(client);

    let (status, body) = revoke_now(server, lease_id).await;
    assert_eq!(status, 204, "{name}: {body}");
    assert!(
        !pg.role_exists(username).await,
        "{name}: {username} revoked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_engine_issues_and_revokes_over_tls() {
    let Some(pg) = TlsPostgres::from_env() else {
        return;
    };
    let server = TestServer::dev();
    mount_database(&server).await;
    let templated = format!(
        "postgresql://{{{{username}}}}:{{{{password}}}}@{}/postgres",
        pg.host_port()
    );
    let (user, password) = (
        pg.password_url
            .split("://")
            .nth(1)
            .and_then(|r| r.split(':').next())
            .expect("user"),
        pg.password(),
    );

    let by_password = json!({"username": user, "password": password});
    for (name, connection_url, credentials) in [
        // verify-full with the CA, the password in the config's own fields.
        (
            "full",
            format!("{templated}?{}", pg.verify_full()),
            &by_password,
        ),
        // require: encrypted, the certificate not checked.
        (
            "required",
            format!("{templated}?sslmode=require"),
            &by_password,
        ),
        // A client certificate and no password at all.
        ("cert", pg.cert_url("postgres"), &json!({})),
    ] {
        let mut config = credentials.clone();
        config["connection_url"] = json!(connection_url);
        let (status, body) = configure(&server, name, config).await;
        assert_eq!(status, 204, "{name}: {body}");
        add_role(&server, name).await;
        issue_and_revoke(&server, &pg, name).await;
    }
    let (tls, connections) = pg.connections_on_tls("quartermaster").await;
    assert!(
        tls && connections > 0,
        "the engine's connections use TLS: {connections}"
    );

    // A wrong CA, and plaintext: refused when the config is written, with
    // the reason and without the password.
    let dir = tempfile::tempdir().expect("dir");
    for (params, reason) in [
        (
            format!("sslmode=verify-full&sslrootcert={}", other_ca(dir.path())),
            "UnknownIssuer",
        ),
        ("sslmode=disable".to_string(), "no encryption"),
        (
            "sslmode=verify-full&sslrootcert=/nonexistent/qm-ca.pem".to_string(),
            "sslrootcert /nonexistent/qm-ca.pem",
        ),
    ] {
        let (status, body) = configure(
            &server,
            "refused",
            json!({
                "connection_url": format!("{templated}?{params}"),
                "username": user,
                "password": password,
            }),
        )
        .await;
        assert!(status >= 400, "{params}: {status} {body}");
        let text = body.to_string();
        assert!(text.contains(reason), "{params}: {text}");
        assert!(!text.contains(password), "{params}: {text}");
    }
    let log = std::fs::read_to_string(server.temp_path("qm.log")).unwrap_or_default();
    assert!(!log.contains(password), "the password in the log");
}
