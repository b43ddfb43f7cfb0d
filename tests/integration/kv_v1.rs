//! KV version 1 as Vault serves it: raw HTTP response shapes, the real `bao`
//! CLI and vaultrs' `kv1` module on a v1 mount, the upgrade of a v1 mount
//! to v2 (and writes racing it); ACL spellings and hostile values are in
//! [`hostile`].

use super::common::{ok_stdout, TestServer};
use serde_json::{json, Value};
use std::collections::HashMap;

mod hostile;

/// Vault's default lease TTL: what a v1 read reports without a `ttl`.
pub(super) const DEFAULT_TTL: i64 = 768 * 3600;

pub(super) async fn enable_v1(server: &TestServer, path: &str, body: Value) {
    let (status, answer) = server
        .root("POST", &format!("sys/mounts/{path}"), Some(body))
        .await;
    assert_eq!(status, 204, "enable {path}: {answer}");
}

async fn mount_version(server: &TestServer, path: &str) -> Value {
    let (status, body) = server
        .root("GET", &format!("sys/internal/ui/mounts/{path}"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"]["options"]["version"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_http_read_write_list_delete_have_vaults_shapes() {
    let server = TestServer::dev();
    // Plain `kv` is version 1, as Vault; `kv-v1` and version "1" too; the
    // dev server's `secret/` stays version 2.
    enable_v1(&server, "legacy", json!({ "type": "kv" })).await;
    enable_v1(&server, "alias", json!({ "type": "kv-v1" })).await;
    enable_v1(
        &server,
        "explicit",
        json!({ "type": "kv", "options": { "version": "1" } }),
    )
    .await;
    for path in ["legacy", "alias", "explicit"] {
        assert_eq!(mount_version(&server, path).await, "1", "{path}");
        let (_, listed) = server.root("GET", "sys/mounts", None).await;
        assert_eq!(listed["data"][format!("{path}/")]["type"], "kv");
    }
    assert_eq!(mount_version(&server, "secret").await, "2");
    for bad in [json!("3"), json!("abc")] {
        let (status, body) = server
            .root(
                "POST",
                "sys/mounts/bad",
                Some(json!({ "type": "kv", "options": { "version": bad } })),
            )
            .await;
        assert_eq!(status, 400, "version {bad}: {body}");
    }

    let secret = json!({ "user": "app", "password": "pa55", "nested": { "a": [1, 2] } });
    let (status, body) = server
        .root("PUT", "legacy/app/db", Some(secret.clone()))
        .await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = server.root("GET", "legacy/app/db", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"], secret);
    assert_eq!(body["lease_id"], "");
    assert_eq!(body["renewable"], false);
    assert_eq!(body["lease_duration"], DEFAULT_TTL);

    // A `ttl` field sets the lease duration and stays in the data.
    let with_ttl = json!({ "token": "t", "ttl": "1h" });
    let (status, _) = server
        .root("POST", "legacy/app/cache", Some(with_ttl.clone()))
        .await;
    assert_eq!(status, 204);
    let (_, body) = server.root("GET", "legacy/app/cache", None).await;
    assert_eq!(body["data"], with_ttl);
    assert_eq!(body["lease_duration"], 3600);
    assert_eq!(body["lease_id"], "");

    // A write replaces the whole object.
    server
        .root("PUT", "legacy/app/cache", Some(json!({ "only": "this" })))
        .await;
    let (_, body) = server.root("GET", "legacy/app/cache", None).await;
    assert_eq!(body["data"], json!({ "only": "this" }));

    server
        .root("PUT", "legacy/top", Some(json!({ "x": "1" })))
        .await;
    let (status, body) = server.root("LIST", "legacy/", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["keys"], json!(["app/", "top"]));
    let (_, body) = server.root("LIST", "legacy/app", None).await;
    assert_eq!(body["data"]["keys"], json!(["cache", "db"]));
    let (status, body) = server
        .call_with(
            "GET",
            "legacy/app?list=true",
            Some(&server.root_token),
            None,
            &[],
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["keys"], json!(["cache", "db"]));
    let (status, body) = server.root("LIST", "legacy/nothing/", None).await;
    assert_eq!(status, 404, "an empty listing is 404: {body}");
    assert_eq!(body, json!({ "errors": [] }));

    let (status, _) = server.root("DELETE", "legacy/app/db", None).await;
    assert_eq!(status, 204);
    let (status, body) = server.root("GET", "legacy/app/db", None).await;
    assert_eq!(status, 404);
    assert_eq!(body, json!({ "errors": [] }));
    let (status, _) = server.root("DELETE", "legacy/app/db", None).await;
    assert_eq!(status, 204, "deleting nothing is fine");

    let (status, body) = server.root("PUT", "legacy/empty", Some(json!({}))).await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"][0], "missing data fields");
    let (status, _) = server
        .root("PATCH", "legacy/top", Some(json!({ "x": "2" })))
        .await;
    assert_eq!(status, 405, "v1 has no patch");
}

#[test]
fn bao_cli_kv_put_get_list_delete_on_a_v1_mount() {
    let server = TestServer::dev();
    let root = server.root_token.clone();
    ok_stdout(&server.bao(&root, &["secrets", "enable", "-path=legacy", "kv"]));
    ok_stdout(&server.bao(
        &root,
        &["secrets", "enable", "-path=old", "-version=1", "kv"],
    ));
    let put = ok_stdout(&server.bao(
        &root,
        &["kv", "put", "legacy/app/db", "password=s3cr3t", "user=app"],
    ));
    assert!(
        put.contains("Success! Data written to: legacy/app/db"),
        "{put}"
    );
    ok_stdout(&server.bao(&root, &["kv", "put", "old/x", "k=v"]));
    let got = ok_stdout(&server.bao(&root, &["kv", "get", "-field=password", "legacy/app/db"]));
    assert_eq!(got.trim(), "s3cr3t");
    let table = ok_stdout(&server.bao(&root, &["kv", "get", "legacy/app/db"]));
    assert!(
        table.contains("== Data ==") && !table.contains("Metadata"),
        "v1 shows no metadata: {table}"
    );
    assert!(!table.contains("version"), "{table}");
    let read = ok_stdout(&server.bao(&root, &["read", "legacy/app/db"]));
    assert!(
        read.lines()
            .any(|l| l.starts_with("refresh_interval") && l.ends_with("768h")),
        "{read}"
    );
    let json_out = ok_stdout(&server.bao(&root, &["kv", "get", "-format=json", "legacy/app/db"]));
    let parsed: Value = serde_json::from_str(&json_out).expect("json");
    assert_eq!(
        parsed["data"],
        json!({ "password": "s3cr3t", "user": "app" })
    );
    assert_eq!(parsed["lease_duration"], DEFAULT_TTL);

    ok_stdout(&server.bao(&root, &["kv", "put", "legacy/app/cache", "t=1"]));
    let listed = ok_stdout(&server.bao(&root, &["kv", "list", "legacy/app"]));
    let keys: Vec<&str> = listed.lines().skip(2).collect();
    assert_eq!(keys, ["cache", "db"], "{listed}");
    let listed = ok_stdout(&server.bao(&root, &["kv", "list", "legacy"]));
    assert!(listed.lines().any(|l| l == "app/"), "{listed}");

    ok_stdout(&server.bao(&root, &["kv", "delete", "legacy/app/db"]));
    let gone = server.bao(&root, &["kv", "get", "legacy/app/db"]);
    assert_eq!(
        gone.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&gone.stdout)
    );
    let empty = server.bao(&root, &["kv", "list", "legacy/nothing"]);
    assert_eq!(empty.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vaultrs_kv1_set_get_list_delete() {
    use vaultrs::client::{VaultClient, VaultClientSettingsBuilder};
    let server = TestServer::dev();
    enable_v1(&server, "legacy", json!({ "type": "kv" })).await;
    let client = VaultClient::new(
        VaultClientSettingsBuilder::default()
            .address(&server.addr)
            .token(&server.root_token)
            .build()
            .expect("settings"),
    )
    .expect("client");
    let secret = HashMap::from([("user", "app"), ("password", "pa55")]);
    vaultrs::kv1::set(&client, "legacy", "app/db", &secret)
        .await
        .expect("kv1 set");
    let read: HashMap<String, String> = vaultrs::kv1::get(&client, "legacy", "app/db")
        .await
        .expect("kv1 get");
    assert_eq!(read["password"], "pa55");
    assert_eq!(read.len(), 2);
    let raw_read = vaultrs::kv1::get_raw(&client, "legacy", "app/db")
        .await
        .expect("kv1 get_raw");
    assert_eq!(i64::from(raw_read.lease_duration), DEFAULT_TTL);
    assert_eq!(raw_read.lease_id, "");
    let listed = vaultrs::kv1::list(&client, "legacy", "app")
        .await
        .expect("kv1 list");
    assert_eq!(listed.data.keys, ["db"]);
    let root = vaultrs::kv1::list(&client, "legacy", "")
        .await
        .expect("list root");
    assert_eq!(root.data.keys, ["app/"]);
    vaultrs::kv1::delete(&client, "legacy", "app/db")
        .await
        .expect("kv1 delete");
    let gone = vaultrs::kv1::get::<HashMap<String, String>>(&client, "legacy", "app/db").await;
    assert!(
        matches!(
            gone,
            Err(vaultrs::error::ClientError::APIError { code: 404, .. })
        ),
        "{gone:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_to_v2_keeps_every_key_as_version_1() {
    let server = TestServer::dev();
    let root = server.root_token.clone();
    enable_v1(&server, "legacy", json!({ "type": "kv" })).await;
    let mut written = Vec::new();
    for i in 0..40 {
        let path = format!("team{}/svc{i}", i % 4);
        let secret = json!({ "n": i, "password": format!("pw-{i}") });
        let (status, _) = server
            .root("PUT", &format!("legacy/{path}"), Some(secret.clone()))
            .await;
        assert_eq!(status, 204);
        written.push((path, secret));
    }
    ok_stdout(&server.bao(&root, &["kv", "put", "legacy/app/db", "password=s3cr3t"]));

    let tune = |version: Value| {
        let body = json!({ "options": { "version": version } });
        let server = &server;
        async move {
            server
                .root("POST", "sys/mounts/legacy/tune", Some(body))
                .await
        }
    };
    let (status, body) = tune(json!("7")).await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"][0], "invalid version provided: 7");
    let (status, body) = tune(json!("2")).await;
    assert_eq!(status, 200, "{body}");
    let warning = body["warnings"][0].as_str().unwrap_or_default();
    assert!(
        warning.starts_with("Upgrading mount from version 1 to version 2."),
        "{body}"
    );
    assert_eq!(mount_version(&server, "legacy").await, "2");

    // Every key is version 1 of a v2 key, with its data unchanged.
    for (path, secret) in &written {
        let (status, body) = server
            .root("GET", &format!("legacy/data/{path}"), None)
            .await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(&body["data"]["data"], secret, "{path}");
        assert_eq!(body["data"]["metadata"]["version"], 1, "{path}");
    }
    let (_, listed) = server.root("LIST", "legacy/metadata/", None).await;
    assert_eq!(
        listed["data"]["keys"],
        json!(["app/", "team0/", "team1/", "team2/", "team3/"])
    );
    let (_, listed) = server.root("LIST", "legacy/metadata/team1", None).await;
    assert_eq!(listed["data"]["keys"].as_array().map(Vec::len), Some(10));
    let (status, _) = server.root("GET", "legacy/team0/svc0", None).await;
    assert_eq!(status, 404, "the v1 path is gone");

    // The CLI reads it through v2 now.
    let got = ok_stdout(&server.bao(&root, &["kv", "get", "-field=password", "legacy/app/db"]));
    assert_eq!(got.trim(), "s3cr3t");
    let meta = ok_stdout(&server.bao(&root, &["kv", "metadata", "get", "legacy/app/db"]));
    assert!(
        meta.lines()
            .any(|l| l.starts_with("current_version") && l.ends_with(" 1")),
        "{meta}"
    );
    ok_stdout(&server.bao(&root, &["kv", "put", "legacy/app/db", "password=next"]));
    let (_, body) = server.root("GET", "legacy/data/app/db", None).await;
    assert_eq!(body["data"]["metadata"]["version"], 2);

    // 2 → 1 is refused, as Vault; 2 → 2 changes nothing.
    let (status, body) = tune(json!("1")).await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"][0], "cannot downgrade mount from version 2");
    let (status, _) = tune(json!(2)).await;
    assert_eq!(status, 204);
    assert_eq!(mount_version(&server, "legacy").await, "2");

    // `bao kv enable-versioning` upgrades another v1 mount the same way.
    ok_stdout(&server.bao(&root, &["secrets", "enable", "-path=other", "kv"]));
    ok_stdout(&server.bao(&root, &["kv", "put", "other/k", "v=1"]));
    ok_stdout(&server.bao(&root, &["kv", "enable-versioning", "other"]));
    let got = ok_stdout(&server.bao(&root, &["kv", "get", "-field=v", "other/k"]));
    assert_eq!(got.trim(), "1");
}

/// v1 writes racing the tune: every write that was answered 204 is a v2
/// key afterwards (the tune drains the old engine before it migrates).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_racing_the_upgrade_are_kept() {
    let server = TestServer::dev();
    enable_v1(&server, "legacy", json!({ "type": "kv" })).await;
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (addr, token) = (server.addr.clone(), server.root_token.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut kept = Vec::new();
                for i in 0..150 {
                    let path = format!("race/w{w}/k{i}");
                    let status = client
                        .put(format!("{addr}/v1/legacy/{path}"))
                        .header("X-Vault-Token", &token)
                        .json(&json!({ "i": i }))
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                        .unwrap_or(0);
                    assert!(status < 500, "{path}: {status}");
                    if status == 204 {
                        kept.push(path);
                    }
                }
                kept
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let (status, body) = server
        .root(
            "POST",
            "sys/mounts/legacy/tune",
            Some(json!({ "options": { "version": "2" } })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let mut kept = Vec::new();
    for writer in writers {
        kept.extend(writer.await.expect("writer"));
    }
    assert!(!kept.is_empty(), "some writes landed before the upgrade");
    for path in &kept {
        let (status, body) = server
            .root("GET", &format!("legacy/data/{path}"), None)
            .await;
        assert_eq!(status, 200, "{path} was written but is gone: {body}");
        assert_eq!(body["data"]["metadata"]["version"], 1, "{path}");
    }
}
