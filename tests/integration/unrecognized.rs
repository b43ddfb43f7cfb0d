//! Vault's "Endpoint ignored these unrecognized parameters" warning on the
//! core's writes: a typo or an option we do not implement is named (never
//! its value), the write itself still happens, and the fields the `bao` CLI
//! sends on its own never cause one.

use super::common::{ok_stdout, TestServer};
use super::jwt_keys::TestKey;
use serde_json::{json, Value};

/// A value that must never appear in a warning.
const SECRET: &str = "value-that-must-not-leak";

fn warnings(body: &Value) -> String {
    body["warnings"].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn core_writes_name_the_parameters_they_ignore() {
    let server = TestServer::dev();
    let key = TestKey::ec("ec-1");
    let audit_file = server.dir.path().join("audit.log");
    let setup = [
        ("sys/auth/approle", json!({ "type": "approle" })),
        ("sys/auth/userpass", json!({ "type": "userpass" })),
        ("sys/auth/jwt", json!({ "type": "jwt" })),
    ];
    for (path, body) in setup {
        let (status, answer) = server.root("POST", path, Some(body)).await;
        assert_eq!(status, 204, "{path}: {answer}");
    }
    let writes = [
        (
            "sys/mounts/kv1",
            json!({ "type": "kv", "options": { "version": "2" } }),
        ),
        ("sys/mounts/kv1/tune", json!({ "max_lease_ttl": "2h" })),
        (
            "sys/auth/approle2",
            json!({ "type": "approle", "local": false }),
        ),
        (
            "sys/auth/approle2/tune",
            json!({ "default_lease_ttl": "1h" }),
        ),
        (
            "sys/policies/acl/p1",
            json!({ "policy": "path \"a\" { capabilities = [\"read\"] }" }),
        ),
        (
            "sys/policy/p2",
            json!({ "rules": "path \"b\" { capabilities = [\"read\"] }" }),
        ),
        (
            "sys/audit/file1",
            json!({ "type": "file", "options": { "file_path": audit_file } }),
        ),
        (
            "auth/approle/role/r1",
            json!({ "token_policies": "default", "token_ttl": "1h" }),
        ),
        (
            "auth/userpass/users/u1",
            json!({ "password": "correct horse battery", "token_policies": "default" }),
        ),
        (
            "auth/jwt/config",
            json!({ "jwt_validation_pubkeys": [key.public_pem.as_str()], "bound_issuer": "qm" }),
        ),
        (
            "auth/jwt/role/r1",
            json!({ "role_type": "jwt", "user_claim": "sub", "bound_audiences": "qm" }),
        ),
        (
            "auth/token/roles/r1",
            json!({ "allowed_policies": "default", "orphan": true }),
        ),
    ];
    for (path, body) in &writes {
        // The fields an endpoint takes: no warning.
        let (status, answer) = server.root("POST", path, Some(body.clone())).await;
        assert_eq!(status, 204, "{path}: {answer}");
        if path.starts_with("sys/mounts/")
            || path.starts_with("sys/auth/approle2")
            || path.starts_with("sys/audit/")
        {
            let disable = path.trim_end_matches("/tune");
            if !path.ends_with("/tune") {
                let (status, answer) = server.root("DELETE", disable, None).await;
                assert_eq!(status, 204, "{disable}: {answer}");
            }
        }
        // A typo and an option we lack: named, sorted, values never shown;
        // the write still happened.
        let mut hostile = body.clone();
        hostile["bogus_field"] = json!(SECRET);
        hostile["a\u{1}b"] = json!(SECRET);
        let (status, answer) = server.root("POST", path, Some(hostile)).await;
        assert_eq!(status, 200, "{path}: {answer}");
        let text = warnings(&answer);
        assert!(
            text.contains("Endpoint ignored these unrecognized parameters: [a?b bogus_field]"),
            "{path}: {answer}"
        );
        assert!(!text.contains(SECRET), "{path}: {answer}");
    }
    let (status, answer) = server.root("GET", "auth/approle/role/r1", None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["data"]["token_ttl"], 3600);

    // What the bao CLI sends on its own warns of nothing.
    let root = server.root_token.clone();
    let policy_file = server.dir.path().join("p.hcl");
    std::fs::write(&policy_file, "path \"c\" { capabilities = [\"read\"] }").expect("policy file");
    let policy_arg = policy_file.to_string_lossy().into_owned();
    let audit_arg = format!(
        "file_path={}",
        server.dir.path().join("audit2.log").display()
    );
    for args in [
        vec!["secrets", "enable", "-path=kv2", "-version=2", "kv"],
        vec![
            "secrets",
            "tune",
            "-max-lease-ttl=1h",
            "-description=d",
            "kv2/",
        ],
        vec!["auth", "enable", "-path=approle3", "approle"],
        vec!["auth", "tune", "-default-lease-ttl=1h", "approle3/"],
        vec!["policy", "write", "p3", policy_arg.as_str()],
        vec!["audit", "enable", "-path=file2", "file", audit_arg.as_str()],
        vec![
            "write",
            "auth/approle/role/r2",
            "token_policies=default",
            "secret_id_ttl=10m",
        ],
        vec!["write", "auth/token/roles/r2", "allowed_policies=default"],
    ] {
        let output = server.bao(&root, &args);
        let stdout = ok_stdout(&output);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !stdout.contains("unrecognized") && !stderr.contains("unrecognized"),
            "{args:?}: {stdout} {stderr}"
        );
    }
    let output = server.bao(
        &root,
        &["write", "auth/token/roles/r3", "alowed_policies=default"],
    );
    let stdout = ok_stdout(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stdout.contains("alowed_policies") || stderr.contains("alowed_policies"),
        "{stdout} {stderr}"
    );
}
