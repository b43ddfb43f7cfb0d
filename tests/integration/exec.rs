//! `qm exec` with leased Postgres users: the command connects with the
//! credentials in its environment and the user is dropped when it ends; a
//! short max TTL makes exec replace the credential and signal the command,
//! which reconnects with the new one; SIGTERM reaches the command and the
//! lease is revoked; a failed login starts nothing; the command does not
//! inherit exec's token or JWT unless `--keep-token` says so.

use super::common::{connect_as, mount_database_role, pg_roles, pg_url, unique, TestServer};
use serde_json::json;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn exec(server: &TestServer, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_qm"));
    command
        .arg("exec")
        .args(args)
        .env("QM_ADDR", &server.addr)
        .env("QM_TOKEN", &server.root_token)
        .env("HOME", server.dir.path());
    command
}

/// psql's connection settings for the test database, from its URL.
fn pg_env(command: &mut Command) {
    let config: tokio_postgres::Config = pg_url().parse().expect("url");
    if let Some(tokio_postgres::config::Host::Tcp(host)) = config.get_hosts().first() {
        command.env("PGHOST", host);
    }
    if let Some(port) = config.get_ports().first() {
        command.env("PGPORT", port.to_string());
    }
    command.env("PGDATABASE", config.get_dbname().unwrap_or("postgres"));
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).to_string()
}

fn wait_for_file(path: &Path, lines: usize, timeout: Duration) -> Vec<String> {
    let deadline = Instant::now() + timeout;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let found: Vec<String> = text.lines().map(String::from).collect();
        if found.len() >= lines {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {} lines in {}",
            lines,
            path.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `qm exec` with the `app` role's user and password, running a shell script.
fn spawn_script(server: &TestServer, script: &str) -> Child {
    exec(
        server,
        &[
            "--env",
            "PGUSER,PGPASSWORD=database/creds/app",
            "--",
            "sh",
            "-c",
            script,
        ],
    )
    .stdin(Stdio::null())
    .spawn()
    .expect("spawn")
}

fn sigterm(child: &Child) {
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
}

fn wait_exit(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(Instant::now() < deadline, "qm exec did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_connects_and_its_user_is_dropped_when_it_ends() {
    let server = TestServer::dev();
    mount_database_role(&server, "1h", "2h").await;
    let mut command = exec(
        &server,
        &["--env", "PGUSER,PGPASSWORD=database/creds/app", "--"],
    );
    command.args(["psql", "-tAc", "select current_user"]);
    pg_env(&mut command);
    let output = command.output().expect("run qm exec");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let user = stdout(&output).trim().to_string();
    assert!(user.starts_with("v-root-app-"), "{user}");
    assert!(
        pg_roles(&user).await.is_empty(),
        "revoked when the command ended"
    );

    // An app that reads DATABASE_URL at startup (the README recipe).
    let config: tokio_postgres::Config = pg_url().parse().expect("url");
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        _ => "127.0.0.1".into(),
    };
    let url = format!(
        "DATABASE_URL=postgres://{{{{PGUSER}}}}:{{{{PGPASSWORD}}}}@{host}:{}/{}",
        config.get_ports().first().copied().unwrap_or(5432),
        config.get_dbname().unwrap_or("postgres")
    );
    let output = exec(
        &server,
        &[
            "--env",
            "PGUSER,PGPASSWORD=database/creds/app",
            "--set",
            &url,
            "--",
        ],
    )
    .args([
        "sh",
        "-c",
        "psql \"$DATABASE_URL\" -tAc 'select current_user'",
    ])
    .output()
    .expect("run qm exec");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout(&output).trim().starts_with("v-root-app-"));

    // The command's exit code comes back; a missing command is 127.
    let code = exec(
        &server,
        &[
            "--env",
            "U=database/creds/app#username",
            "--",
            "sh",
            "-c",
            "exit 7",
        ],
    )
    .status()
    .expect("run");
    assert_eq!(code.code(), Some(7));
    let code = exec(
        &server,
        &[
            "--env",
            "U=database/creds/app#username",
            "--",
            "no-such-command-qm",
        ],
    )
    .status()
    .expect("run");
    assert_eq!(code.code(), Some(127));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_login_or_fetch_starts_nothing() {
    let server = TestServer::dev();
    mount_database_role(&server, "1h", "2h").await;
    server
        .root("POST", "sys/auth/approle", Some(json!({"type": "approle"})))
        .await;
    server
        .root(
            "POST",
            "auth/approle/role/app",
            Some(json!({"token_policies": "default"})),
        )
        .await;
    let marker = server.temp_path("started");
    let secret_file = server.temp_path("secret-id");
    std::fs::write(&secret_file, "not-the-secret-id").expect("write");
    let output = exec(
        &server,
        &[
            "--role-id",
            "not-a-role-id",
            "--secret-id-file",
            secret_file.to_str().expect("utf-8"),
            "--env",
            "U=database/creds/app#username",
            "--",
            "touch",
            marker.to_str().expect("utf-8"),
        ],
    )
    .env_remove("QM_TOKEN")
    .output()
    .expect("run");
    assert_eq!(output.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&output.stderr).contains("login failed"));
    assert!(!marker.exists(), "the command did not start");

    let output = exec(
        &server,
        &[
            "--env",
            "U=database/creds/nope#username",
            "--",
            "touch",
            marker.to_str().expect("utf-8"),
        ],
    )
    .output()
    .expect("run");
    assert_eq!(output.status.code(), Some(125));
    assert!(!marker.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_reaches_the_command_and_the_lease_is_revoked() {
    let server = TestServer::dev();
    mount_database_role(&server, "1h", "2h").await;
    let users = server.temp_path(&format!("users-{}", unique()));
    let script = format!(
        "trap 'echo terminated >> {0}; exit 7' TERM; echo $PGUSER >> {0}; while true; do sleep 0.1; done",
        users.display()
    );
    let mut child = spawn_script(&server, &script);
    let user = wait_for_file(&users, 1, Duration::from_secs(20))[0].clone();
    assert_eq!(pg_roles(&user).await.len(), 1);
    sigterm(&child);
    let status = wait_exit(&mut child, Duration::from_secs(20));
    assert_eq!(status.code(), Some(7), "the command's own exit code");
    assert_eq!(
        wait_for_file(&users, 2, Duration::from_secs(1))[1],
        "terminated"
    );
    assert!(pg_roles(&user).await.is_empty(), "revoked after SIGTERM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_at_its_max_ttl_is_replaced_and_the_command_signalled() {
    let server = TestServer::dev();
    mount_database_role(&server, "3s", "6s").await;
    let seen = server.temp_path(&format!("seen-{}", unique()));
    // On SIGHUP the command reloads the secrets file and records the new pair.
    let script = format!(
        "trap '. \"$QM_SECRETS_FILE\"; echo \"$PGUSER $PGPASSWORD\" >> {0}' HUP; echo \"$PGUSER $PGPASSWORD\" >> {0}; while true; do sleep 0.1; done",
        seen.display()
    );
    let mut child = spawn_script(&server, &script);
    let lines = wait_for_file(&seen, 2, Duration::from_secs(30));
    let (first, _) = lines[0].split_once(' ').expect("pair");
    let (second, password) = lines[1].split_once(' ').expect("pair");
    assert_ne!(first, second, "a new user");
    let client = connect_as(second, password)
        .await
        .expect("the new credentials work");
    let row = client
        .query_one("select current_user::text", &[])
        .await
        .expect("query");
    assert_eq!(row.get::<_, String>(0), second);
    drop(client);
    sigterm(&child);
    wait_exit(&mut child, Duration::from_secs(20));
    assert!(pg_roles(first).await.is_empty());
    assert!(pg_roles(second).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_does_not_inherit_the_token_unless_kept() {
    let server = TestServer::dev();
    let (status, _) = server
        .root(
            "POST",
            "secret/data/app",
            Some(json!({"data": {"password": "kv-value"}})),
        )
        .await;
    assert_eq!(status, 200);
    let script =
        "echo \"$PW ${QM_TOKEN:-none} ${VAULT_TOKEN:-none} ${BAO_TOKEN:-none} ${CI_JWT:-none}\"";
    let run = |extra: &[&str]| {
        let mut args = vec![
            "--method",
            "token",
            "--jwt-env",
            "CI_JWT",
            "--env",
            "PW=secret/data/app#password",
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--", "sh", "-c", script]);
        let output = exec(&server, &args)
            .env("VAULT_TOKEN", "vault-token-value")
            .env("BAO_TOKEN", "bao-token-value")
            .env("CI_JWT", "jwt-value")
            .output()
            .expect("run qm exec");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout(&output).trim().to_string()
    };
    assert_eq!(run(&[]), "kv-value none none none none");
    assert_eq!(
        run(&["--keep-token"]),
        format!(
            "kv-value {} vault-token-value bao-token-value jwt-value",
            server.root_token
        )
    );
}
