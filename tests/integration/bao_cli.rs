//! The real `bao` CLI against `qm`: the operator's first hour, end to end.

use super::common::{ok_stdout, TestServer};

fn field(output: &str, key: &str) -> String {
    output
        .lines()
        .find_map(|l| l.strip_prefix(key).map(|rest| rest.trim().to_string()))
        .unwrap_or_default()
}

#[test]
fn operator_init_unseal_status_kv_policy_token_and_restart() {
    let mut server = TestServer::from_config("", "");

    // Uninitialized and sealed: status exits 2.
    let status = server.bao("", &["status"]);
    assert_eq!(
        status.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&status.stdout)
    );

    let init = ok_stdout(&server.bao(
        "",
        &["operator", "init", "-key-shares=3", "-key-threshold=2"],
    ));
    let keys: Vec<String> = (1..=3)
        .map(|i| field(&init, &format!("Unseal Key {i}:")))
        .collect();
    let root = field(&init, "Initial Root Token:");
    assert!(keys.iter().all(|k| !k.is_empty()), "{init}");
    assert!(root.starts_with("hvs."), "{init}");

    // One key is not enough; two are.
    let first = ok_stdout(&server.bao("", &["operator", "unseal", &keys[2]]));
    assert_eq!(
        field(&first, "Sealed"),
        "true",
        "still sealed after one key: {first}"
    );
    assert_eq!(field(&first, "Unseal Progress"), "1/2");
    ok_stdout(&server.bao("", &["operator", "unseal", &keys[0]]));
    let status = ok_stdout(&server.bao(&root, &["status"]));
    assert_eq!(field(&status, "Sealed"), "false");

    ok_stdout(&server.bao(&root, &["secrets", "enable", "-path=secret", "kv-v2"]));
    ok_stdout(&server.bao(
        &root,
        &["kv", "put", "secret/app/db", "password=s3cr3t", "user=app"],
    ));
    let got = ok_stdout(&server.bao(&root, &["kv", "get", "-field=password", "secret/app/db"]));
    assert_eq!(got.trim(), "s3cr3t");

    // A read-only policy and a token that holds it.
    let policy = server.dir.path().join("app-ro.hcl");
    std::fs::write(
        &policy,
        "path \"secret/data/app/*\" { capabilities = [\"read\"] }\npath \"secret/metadata/app/*\" { capabilities = [\"list\"] }\n",
    )
    .expect("policy file");
    ok_stdout(&server.bao(
        &root,
        &["policy", "write", "app-ro", policy.to_str().expect("path")],
    ));
    let listed = ok_stdout(&server.bao(&root, &["policy", "list"]));
    assert!(listed.lines().any(|l| l == "app-ro"), "{listed}");
    let token = ok_stdout(&server.bao(
        &root,
        &[
            "token",
            "create",
            "-policy=app-ro",
            "-ttl=1h",
            "-field=token",
        ],
    ));
    let token = token.trim();
    let lookup = ok_stdout(&server.bao(token, &["token", "lookup"]));
    assert!(field(&lookup, "policies").contains("app-ro"), "{lookup}");

    let read = ok_stdout(&server.bao(token, &["kv", "get", "-field=user", "secret/app/db"]));
    assert_eq!(read.trim(), "app");
    let denied = server.bao(token, &["kv", "put", "secret/app/db", "password=stolen"]);
    assert_eq!(denied.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&denied.stderr).contains("permission denied"));
    let denied = server.bao(token, &["kv", "get", "secret/other"]);
    assert_ne!(denied.status.code(), Some(0));

    ok_stdout(&server.bao(&root, &["token", "revoke", token]));
    let gone = server.bao(token, &["token", "lookup"]);
    assert_eq!(gone.status.code(), Some(2), "a revoked token is refused");

    // Killed and restarted: sealed, and the data is still there after unseal.
    server.restart();
    assert_eq!(server.bao("", &["status"]).status.code(), Some(2));
    ok_stdout(&server.bao("", &["operator", "unseal", &keys[1]]));
    ok_stdout(&server.bao("", &["operator", "unseal", &keys[2]]));
    let got = ok_stdout(&server.bao(&root, &["kv", "get", "-field=password", "secret/app/db"]));
    assert_eq!(got.trim(), "s3cr3t");

    ok_stdout(&server.bao(&root, &["operator", "rotate"]));
    ok_stdout(&server.bao(
        &root,
        &["kv", "put", "secret/app/db", "password=after-rotate"],
    ));
    let old = ok_stdout(&server.bao(
        &root,
        &[
            "kv",
            "get",
            "-version=1",
            "-field=password",
            "secret/app/db",
        ],
    ));
    assert_eq!(
        old.trim(),
        "s3cr3t",
        "data under the old key term still reads"
    );
    ok_stdout(&server.bao(&root, &["operator", "seal"]));
    assert_eq!(server.bao("", &["status"]).status.code(), Some(2));
}

#[test]
fn kv_versions_delete_undelete_destroy_and_metadata() {
    let server = TestServer::dev();
    let root = server.root_token.clone();
    ok_stdout(&server.bao(&root, &["kv", "put", "secret/svc", "v=1"]));
    ok_stdout(&server.bao(&root, &["kv", "put", "secret/svc", "v=2"]));
    let cas_fail = server.bao(&root, &["kv", "put", "-cas=1", "secret/svc", "v=3"]);
    assert_eq!(cas_fail.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&cas_fail.stderr).contains("check-and-set"));
    ok_stdout(&server.bao(&root, &["kv", "put", "-cas=2", "secret/svc", "v=3"]));

    ok_stdout(&server.bao(&root, &["kv", "delete", "secret/svc"]));
    let deleted = ok_stdout(&server.bao(&root, &["kv", "get", "secret/svc"]));
    assert!(
        !deleted.contains("Data =="),
        "a deleted version shows metadata only: {deleted}"
    );
    assert!(!field(&deleted, "deletion_time").is_empty());
    ok_stdout(&server.bao(&root, &["kv", "undelete", "-versions=3", "secret/svc"]));
    assert_eq!(
        ok_stdout(&server.bao(&root, &["kv", "get", "-field=v", "secret/svc"])).trim(),
        "3"
    );
    ok_stdout(&server.bao(&root, &["kv", "destroy", "-versions=1", "secret/svc"]));
    let meta = ok_stdout(&server.bao(&root, &["kv", "metadata", "get", "secret/svc"]));
    assert_eq!(field(&meta, "current_version"), "3", "{meta}");
    ok_stdout(&server.bao(
        &root,
        &["kv", "metadata", "put", "-max-versions=2", "secret/svc"],
    ));
    ok_stdout(&server.bao(&root, &["kv", "put", "secret/svc", "v=4"]));
    let meta = ok_stdout(&server.bao(&root, &["kv", "metadata", "get", "secret/svc"]));
    assert_eq!(
        field(&meta, "oldest_version"),
        "3",
        "max_versions trims the oldest: {meta}"
    );
    let listed = ok_stdout(&server.bao(&root, &["kv", "list", "secret"]));
    assert!(listed.lines().any(|l| l == "svc"), "{listed}");
    ok_stdout(&server.bao(&root, &["kv", "metadata", "delete", "secret/svc"]));
    assert_eq!(
        server
            .bao(&root, &["kv", "get", "secret/svc"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn qm_cli_speaks_to_the_same_api() {
    let server = TestServer::dev();
    let root = server.root_token.clone();
    ok_stdout(&server.qm(&root, &["kv", "put", "secret/web", "api_key=abc123"]));
    let got = ok_stdout(&server.qm(&root, &["kv", "get", "--field", "api_key", "secret/web"]));
    assert_eq!(got.trim(), "abc123");
    let json = ok_stdout(&server.qm(&root, &["kv", "get", "-format=json", "secret/web"]));
    let parsed: serde_json::Value = serde_json::from_str(&json).expect("json output");
    assert_eq!(parsed["data"]["data"]["api_key"], "abc123");
    let status = ok_stdout(&server.qm(&root, &["status"]));
    assert!(
        status.contains("Sealed") && status.contains("false"),
        "{status}"
    );
    // -format=yaml is the same answer as YAML; an unknown format is a
    // local error (exit 1), as the Vault CLI's.
    let yaml = ok_stdout(&server.qm(&root, &["kv", "get", "-format=yaml", "secret/web"]));
    let parsed: serde_json::Value = serde_yaml_ng::from_str(&yaml).expect("yaml output");
    assert_eq!(parsed["data"]["data"]["api_key"], "abc123", "{yaml}");
    let yaml = ok_stdout(&server.qm(&root, &["read", "-format=yaml", "sys/mounts"]));
    let parsed: serde_json::Value = serde_yaml_ng::from_str(&yaml).expect("yaml output");
    assert_eq!(parsed["data"]["secret/"]["type"], "kv", "{yaml}");
    let bad = server.qm(&root, &["read", "-format=xml", "sys/mounts"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("Invalid output format"));
    let policy = server.dir.path().join("p.hcl");
    std::fs::write(
        &policy,
        "path \"secret/data/web\" { capabilities = [\"read\"] }",
    )
    .expect("write");
    ok_stdout(&server.qm(
        &root,
        &["policy", "write", "web", policy.to_str().expect("path")],
    ));
    assert!(ok_stdout(&server.qm(&root, &["policy", "read", "web"])).contains("secret/data/web"));
    let created = ok_stdout(&server.qm(
        &root,
        &["token", "create", "--policy", "web", "-format=json"],
    ));
    let created: serde_json::Value = serde_json::from_str(&created).expect("json");
    let token = created["auth"]["client_token"].as_str().expect("token");
    let read = ok_stdout(&server.qm(token, &["read", "-format=json", "secret/data/web"]));
    assert!(read.contains("abc123"), "{read}");
    let denied = server.qm(token, &["write", "secret/data/web", "x=y"]);
    assert_eq!(denied.status.code(), Some(2));
    ok_stdout(&server.qm(&root, &["token", "revoke", token]));
    let listed = ok_stdout(&server.qm(&root, &["list", "secret/metadata"]));
    assert!(listed.contains("web"));
    ok_stdout(&server.qm(&root, &["delete", "secret/metadata/web"]));
}
