//! Vault's legacy `sys/` shapes (fields at the top level as well as under
//! `data` where Vault puts them there), `sys/remount` through the bao CLI,
//! and `auth/token/tidy`; each tried by a caller without the capability,
//! every spelling, and with hostile values.

use super::acl_bypass::{policy, raw, token};
use super::common::{mount_database_role, ok_stdout, TestServer};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_sys_reads_answer_at_the_top_level_too() {
    let server = TestServer::dev();
    let (_, tune) = server.root("GET", "sys/mounts/secret/tune", None).await;
    assert_eq!(tune["default_lease_ttl"], tune["data"]["default_lease_ttl"]);
    assert!(tune["default_lease_ttl"].is_number(), "{tune}");
    let (_, mounts) = server.root("GET", "sys/mounts", None).await;
    assert_eq!(mounts["secret/"]["type"], "kv", "{mounts}");
    assert_eq!(mounts["data"]["secret/"]["type"], "kv");
    let (_, auths) = server.root("GET", "sys/auth", None).await;
    assert_eq!(auths["token/"]["type"], "token", "{auths}");
    server
        .root(
            "PUT",
            "sys/policy/legacy",
            Some(json!({"policy": "path \"a/*\" { capabilities = [\"read\"] }"})),
        )
        .await;
    let (_, legacy) = server.root("GET", "sys/policy/legacy", None).await;
    assert!(
        legacy["rules"].as_str().is_some_and(|r| r.contains("a/*")),
        "{legacy}"
    );
    let (_, list) = server.root("GET", "sys/policy", None).await;
    assert!(
        list["policies"]
            .as_array()
            .is_some_and(|p| p.contains(&json!("legacy"))),
        "{list}"
    );
    // The current paths answer under `data` only, as Vault's do.
    let (_, acl) = server.root("GET", "sys/policies/acl/legacy", None).await;
    assert!(
        acl.get("policy").is_none() && acl["data"]["policy"].is_string(),
        "{acl}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bao_secrets_move_remounts_and_keeps_the_data() {
    let server = TestServer::dev();
    let root = server.root_token.clone();
    ok_stdout(&server.bao(
        &root,
        &["secrets", "enable", "-path=old", "-version=2", "kv"],
    ));
    ok_stdout(&server.bao(&root, &["kv", "put", "-mount=old", "app", "k=v"]));
    let out = ok_stdout(&server.bao(&root, &["secrets", "move", "old/", "new/"]));
    assert!(out.contains("Success"), "{out}");
    let got = ok_stdout(&server.bao(&root, &["kv", "get", "-mount=new", "-field=k", "app"]));
    assert_eq!(got.trim(), "v");
    let (code, _) = server.root("GET", "old/data/app", None).await;
    assert_eq!(code, 404, "nothing answers at the old path");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remount_refuses_what_it_must() {
    let server = TestServer::dev();
    mount_database_role(&server, "1h", "2h").await;
    let (code, body) = server.root("GET", "database/creds/app", None).await;
    assert_eq!(code, 200, "{body}");
    let move_ = |from: serde_json::Value, to: serde_json::Value| {
        server.root("POST", "sys/remount", Some(json!({"from": from, "to": to})))
    };
    let (code, body) = move_(json!("database"), json!("db2")).await;
    assert_eq!(code, 400, "a mount with leases stays: {body}");
    for (from, to) in [
        (json!("secret"), json!("sys/evil")),
        (json!("secret"), json!("auth/x")),
        (json!("auth/token"), json!("auth/t2")),
        (json!("sys"), json!("s2")),
        (json!("secret"), json!("a//b")),
        (json!("secret"), json!("a/../b")),
        (json!("secret"), json!("a/\u{7}/b")),
        (json!("secret"), json!(" a")),
        (json!("secret"), json!(7)),
        (json!(null), json!("x")),
        (json!("nope"), json!("x")),
        (json!("secret"), json!("database")),
        (json!("secret"), json!("database/inner")),
    ] {
        let (code, body) = move_(from.clone(), to.clone()).await;
        assert_eq!(code, 400, "{from} -> {to}: {body}");
    }
    // Without sudo, every spelling.
    policy(
        &server,
        "no-sudo-remount",
        r#"path "sys/remount*" { capabilities = ["create", "update", "read"] }"#,
    )
    .await;
    let caller = token(&server, json!({"policies": ["no-sudo-remount"]})).await;
    for path in [
        "sys/remount",
        "sys/remount/",
        "sys//remount",
        "sys/Remount",
        "sys/re%6Dount",
    ] {
        let (code, body) = raw(
            &server,
            "POST",
            path,
            &caller,
            Some(&json!({"from": "secret", "to": "stolen"})),
        )
        .await;
        assert!(matches!(code, 400 | 403 | 404), "{path}: {code} {body}");
    }
    let (code, _) = server.root("GET", "secret/config", None).await;
    assert_eq!(code, 200, "secret/ is still where it was");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_tidy_drops_entries_without_their_token_and_needs_the_capability() {
    let server = TestServer::dev();
    let (code, body) = server.root("POST", "auth/token/tidy", None).await;
    assert_eq!(code, 202, "{body}");
    assert_eq!(body["data"]["removed_entries"], 0, "a clean store: {body}");
    let caller = token(&server, json!({"policies": ["default"]})).await;
    for path in [
        "auth/token/tidy",
        "auth/token/tidy/",
        "auth//token/tidy",
        "auth/token/Tidy",
    ] {
        let (code, body) = raw(&server, "POST", path, &caller, None).await;
        assert!(
            matches!(code, 400 | 403 | 404 | 405),
            "{path}: {code} {body}"
        );
    }
}

/// A Vault-style HCL config starts the server as the TOML one does, and
/// says which Vault settings have no effect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vault_hcl_config_starts_the_server() {
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("server.hcl");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    std::fs::write(
        &config,
        format!(
            "ui = true\ndisable_mlock = true\nlistener \"tcp\" {{\n  address = \"127.0.0.1:{port}\"\n  tls_disable = 1\n}}\nstorage \"raft\" {{\n  path = \"{}\"\n  node_id = \"node1\"\n}}\n",
            dir.path().join("data").display()
        ),
    )
    .expect("write config");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_qm"))
        .args(["server", "--config", config.to_str().expect("path")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start qm");
    let url = format!("http://127.0.0.1:{port}/v1/sys/seal-status");
    let mut status = serde_json::Value::Null;
    for _ in 0..100 {
        if let Ok(answer) = reqwest::get(&url).await {
            status = answer.json().await.unwrap_or_default();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let stderr = child
        .wait_with_output()
        .map(|o| o.stderr)
        .unwrap_or_default();
    assert_eq!(status["initialized"], false, "{status}");
    let log = String::from_utf8_lossy(&stderr);
    assert!(
        log.contains("no effect") && log.contains("node_id"),
        "{log}"
    );

    // A setting neither Vault nor we know stops it, naming the key.
    std::fs::write(&config, "listener \"tcp\" {\n  adress = \"x\"\n}\n").expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_qm"))
        .args(["server", "--config", config.to_str().expect("path")])
        .output()
        .expect("run qm");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("adress"));
}

/// The Vault CLI's mount commands and `-field`, through `qm`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qm_secrets_auth_and_field_as_the_vault_cli() {
    let server = TestServer::dev();
    let root = server.root_token.clone();
    let out = ok_stdout(&server.qm(
        &root,
        &[
            "secrets",
            "enable",
            "--path",
            "team",
            "--version",
            "1",
            "kv",
        ],
    ));
    assert!(
        out.contains("Enabled the kv secrets engine at: team/"),
        "{out}"
    );
    let list = ok_stdout(&server.qm(&root, &["secrets", "list"]));
    assert!(list.contains("team/") && list.contains("secret/"), "{list}");
    ok_stdout(&server.qm(&root, &["write", "team/app", "password=s3cret"]));
    let field = ok_stdout(&server.qm(&root, &["read", "-field=password", "team/app"]));
    assert_eq!(field.trim(), "s3cret");
    let missing = server.qm(&root, &["read", "-field=nope", "team/app"]);
    assert_eq!(missing.status.code(), Some(1));
    ok_stdout(&server.qm(
        &root,
        &["secrets", "tune", "--default-lease-ttl", "1h", "team"],
    ));
    let (_, tune) = server.root("GET", "sys/mounts/team/tune", None).await;
    assert_eq!(tune["default_lease_ttl"], 3600, "{tune}");
    ok_stdout(&server.qm(&root, &["secrets", "move", "team", "crew"]));
    ok_stdout(&server.qm(&root, &["secrets", "disable", "crew"]));
    let out = ok_stdout(&server.qm(&root, &["auth", "enable", "userpass"]));
    assert!(
        out.contains("Enabled userpass auth method at: userpass/"),
        "{out}"
    );
    assert!(ok_stdout(&server.qm(&root, &["auth", "list"])).contains("userpass/"));
    ok_stdout(&server.qm(
        &root,
        &[
            "write",
            "auth/userpass/users/ops",
            "password=correct-horse-1",
        ],
    ));
    let token = ok_stdout(&server.qm(
        "",
        &[
            "write",
            "-field=token",
            "auth/userpass/login/ops",
            "password=correct-horse-1",
        ],
    ));
    assert!(token.trim().starts_with("hvs."), "{token}");
    ok_stdout(&server.qm(&root, &["auth", "disable", "userpass"]));
    let (code, _) = server
        .call("GET", "auth/token/lookup-self", Some(token.trim()), None)
        .await;
    assert_eq!(code, 403, "disabling the method revoked its tokens");
}

/// Ten remounts of one mount at once: exactly one moves it, the others are
/// refused, and the data is at the one new path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_remounts_move_a_mount_once() {
    let server = TestServer::dev();
    server
        .root("PUT", "secret/data/kept", Some(json!({"data": {"v": 1}})))
        .await;
    let calls = (0..10).map(|i| {
        server.root(
            "POST",
            "sys/remount",
            Some(json!({"from": "secret", "to": format!("dest{i}")})),
        )
    });
    let answers = futures::future::join_all(calls).await;
    let moved: Vec<usize> = answers
        .iter()
        .enumerate()
        .filter(|(_, (code, _))| *code == 200)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(moved.len(), 1, "{answers:?}");
    assert!(
        answers.iter().all(|(code, _)| matches!(code, 200 | 400)),
        "{answers:?}"
    );
    let (code, body) = server
        .root("GET", &format!("dest{}/data/kept", moved[0]), None)
        .await;
    assert_eq!((code, &body["data"]["data"]["v"]), (200, &json!(1)));
}

/// `qm login` as `vault login`: a token, userpass, approle; the token lands
/// in ~/.vault-token (0600) and later commands use it; a failed login
/// leaves the stored token alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qm_login_stores_the_token_for_later_commands() {
    let server = TestServer::dev();
    let root = server.root_token.clone();
    let token_file = server.dir.path().join(".vault-token");
    let stored = || std::fs::read_to_string(&token_file).unwrap_or_default();
    let out = ok_stdout(&server.qm("", &["login", &root]));
    assert!(out.contains("Success! You are now authenticated"), "{out}");
    assert_eq!(stored(), root);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&token_file)
            .expect("token file")
            .permissions(),
    );
    assert_eq!(mode & 0o077, 0);
    // No QM_TOKEN: the stored token is used.
    let me = ok_stdout(&server.qm(
        "",
        &["read", "-field=display_name", "auth/token/lookup-self"],
    ));
    assert_eq!(me.trim(), "root");

    ok_stdout(&server.qm("", &["auth", "enable", "userpass"]));
    ok_stdout(&server.qm(
        "",
        &[
            "write",
            "auth/userpass/users/ops",
            "password=correct-horse-1",
        ],
    ));
    ok_stdout(&server.qm("", &["auth", "enable", "approle"]));
    ok_stdout(&server.qm(
        "",
        &["write", "auth/approle/role/ci", "token_policies=default"],
    ));
    let role_id = ok_stdout(&server.qm(
        "",
        &["read", "-field=role_id", "auth/approle/role/ci/role-id"],
    ));
    let secret_id = ok_stdout(&server.qm(
        "",
        &[
            "write",
            "-field=secret_id",
            "auth/approle/role/ci/secret-id",
        ],
    ));

    let bad = server.qm(
        "",
        &[
            "login",
            "-method=userpass",
            "username=ops",
            "password=wrong-horse-1",
        ],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert_eq!(stored(), root, "a failed login keeps the stored token");
    let token = ok_stdout(&server.qm(
        "",
        &[
            "login",
            "-method=userpass",
            "-token-only",
            "username=ops",
            "password=correct-horse-1",
        ],
    ));
    assert_eq!(stored(), token.trim());
    let me = ok_stdout(&server.qm(
        "",
        &["read", "-field=display_name", "auth/token/lookup-self"],
    ));
    assert!(me.contains("ops"), "{me}");

    let out = ok_stdout(&server.qm(
        "",
        &[
            "login",
            "-method=approle",
            &format!("role_id={}", role_id.trim()),
            &format!("secret_id={}", secret_id.trim()),
        ],
    ));
    assert!(out.contains("token_policies"), "{out}");
    assert_ne!(stored(), token.trim(), "the approle token replaced it");
    let unknown = server.qm("", &["login", "-method=ldap", "username=x"]);
    assert_eq!(unknown.status.code(), Some(1));
}

/// `log_format = "json"` (or `QM_LOG_FORMAT=json`): one JSON object a line,
/// with the request's fields, and never its token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_a_line() {
    let server = TestServer::from_config_with_env(
        "",
        "",
        &[("QM_LOG_FORMAT", "json"), ("QM_LOG_LEVEL", "info")],
    );
    let (code, _) = server
        .call("GET", "sys/seal-status", Some("hvs.not-logged"), None)
        .await;
    assert_eq!(code, 200);
    let mut log = String::new();
    for _ in 0..50 {
        log = std::fs::read_to_string(server.temp_path("qm.log")).unwrap_or_default();
        if log.contains("seal-status") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(!lines.is_empty());
    assert!(lines
        .iter()
        .all(|l| l["level"].is_string() && l["timestamp"].is_string()));
    assert!(log.contains("sys/seal-status"), "{log}");
    assert!(!log.contains("hvs.not-logged"));
}

/// `qm token create -field`, `qm token capabilities` and `qm unwrap`, as
/// the Vault CLI's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qm_token_capabilities_and_unwrap() {
    let server = TestServer::dev();
    let root = server.root_token.clone();
    let child = ok_stdout(&server.qm(
        &root,
        &["token", "create", "--policy", "default", "-field=token"],
    ));
    let child = child.trim().to_string();
    assert!(child.starts_with("hvs."), "{child}");
    let mine = ok_stdout(&server.qm(&root, &["token", "capabilities", "secret/data/x"]));
    assert_eq!(mine.trim(), "root");
    let theirs = ok_stdout(&server.qm(&root, &["token", "capabilities", &child, "secret/data/x"]));
    assert_eq!(theirs.trim(), "deny");
    let bad = server.qm(&root, &["token", "capabilities"]);
    assert_eq!(bad.status.code(), Some(1));

    let (code, wrapped) = server
        .call_with(
            "POST",
            "sys/wrapping/wrap",
            Some(&root),
            Some(json!({"password": "kept-secret"})),
            &[("X-Vault-Wrap-TTL", "60s")],
        )
        .await;
    assert_eq!(code, 200, "{wrapped}");
    let wrapping = wrapped["wrap_info"]["token"]
        .as_str()
        .expect("wrapping token")
        .to_string();
    let got = ok_stdout(&server.qm(&root, &["unwrap", &wrapping, "-field=password"]));
    assert_eq!(got.trim(), "kept-secret");
    let again = server.qm(&root, &["unwrap", &wrapping]);
    assert_eq!(
        again.status.code(),
        Some(2),
        "a wrapping token unwraps once"
    );
}

/// `qm completion SHELL` and `qm man` come from the CLI's own definitions.
#[test]
fn completions_and_the_man_page_cover_the_commands() {
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_qm"))
            .args(args)
            .output()
            .expect("run qm");
        assert!(out.status.success(), "{args:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let bash = run(&["completion", "bash"]);
    assert!(
        bash.contains("_qm()") && bash.contains("snapshot"),
        "bash completion"
    );
    assert!(run(&["completion", "zsh"]).contains("#compdef qm"));
    let man = run(&["man"]);
    assert!(
        man.starts_with(".ie") || man.contains(".TH qm"),
        "{}",
        &man[..man.len().min(200)]
    );
    assert!(man.contains("operator"));
}
