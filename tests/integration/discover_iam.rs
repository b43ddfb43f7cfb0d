//! Discovery of an AWS account's IAM identities, against moto: users with
//! their access keys and policies (`*` flagged), roles that outsiders may
//! assume, an access key found in a file linked to its IAM key, and keys
//! retired after a dry run. Other tests share moto: only this test's own
//! users and roles (by prefix) are counted.

use super::aws::{aws_config, configure};
use super::common::{unique, TestServer};
use super::discover::{base64_tar, discovered, ok, reasons, scan_of};
use serde_json::{json, Value};

async fn key_status(iam: &aws_sdk_iam::Client, user: &str) -> Vec<String> {
    iam.list_access_keys()
        .user_name(user)
        .send()
        .await
        .expect("list keys")
        .access_key_metadata()
        .iter()
        .filter_map(|k| k.status().map(|s| s.as_str().to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accounts_users_keys_and_open_roles_are_found_linked_and_retired() {
    let server = TestServer::dev();
    configure(&server).await;
    let iam = aws_sdk_iam::Client::new(&aws_config().await);
    let p = format!("d{}", unique());
    let admin = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
    let narrow = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bucket/key"}]});
    for user in ["ci", "reader"] {
        iam.create_user()
            .user_name(format!("{p}-{user}"))
            .send()
            .await
            .expect("user");
    }
    iam.put_user_policy()
        .user_name(format!("{p}-ci"))
        .policy_name("everything")
        .policy_document(admin.to_string())
        .send()
        .await
        .expect("inline policy");
    let policy_arn = iam
        .create_policy()
        .policy_name(format!("{p}-narrow"))
        .policy_document(narrow.to_string())
        .send()
        .await
        .expect("policy")
        .policy()
        .and_then(|p| p.arn().map(String::from))
        .expect("arn");
    iam.attach_user_policy()
        .user_name(format!("{p}-reader"))
        .policy_arn(&policy_arn)
        .send()
        .await
        .expect("attach");
    let key_id = iam
        .create_access_key()
        .user_name(format!("{p}-ci"))
        .send()
        .await
        .expect("key")
        .access_key()
        .map(|k| k.access_key_id().to_string())
        .expect("key id");
    let trust = |principal: Value| {
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}]})
            .to_string()
    };
    for (role, principal) in [
        ("open", json!("*")),
        ("partner", json!("arn:aws:iam::999999999999:root")),
        ("internal", json!("arn:aws:iam::123456789012:root")),
        ("brokered", json!("*")),
    ] {
        iam.create_role()
            .role_name(format!("{p}-{role}"))
            .assume_role_policy_document(trust(principal))
            .send()
            .await
            .expect("role");
    }

    // A role this mount's own role assumes is managed.
    ok(
        &server,
        "POST",
        "aws/roles/deploy",
        json!({"credential_type": "assumed_role", "role_arns": [format!("arn:aws:iam::123456789012:role/{p}-brokered")]}),
    )
    .await;
    // Without the connector's capability, no scan.
    let limited = server
        .token_with_policy(
            "no-aws-discover",
            r#"path "sys/discover/*" { capabilities = ["update", "read"] }"#,
        )
        .await;
    let (status, answer) = server
        .call(
            "POST",
            "sys/discover/scan",
            Some(&limited),
            Some(json!({"source": "aws/config/root"})),
        )
        .await;
    assert_eq!(status, 403, "{answer}");
    for source in ["aws/config/lease", "aws/config/root/x", "aws/config/"] {
        let (status, answer) = server
            .root(
                "POST",
                "sys/discover/scan",
                Some(json!({ "source": source })),
            )
            .await;
        assert_eq!(status, 400, "{source}: {answer}");
    }

    let job = scan_of(&server, "aws/config/root").await;
    assert!(
        job["managed"].as_u64().unwrap_or(0) >= 1,
        "the mount's role is managed: {job}"
    );
    let found = discovered(&server, &p).await;
    let kinds: Vec<(String, String)> = found
        .iter()
        .map(|i| {
            (
                i["identity_type"].as_str().unwrap_or_default().into(),
                i["name"].as_str().unwrap_or_default().into(),
            )
        })
        .collect();
    assert!(
        kinds.contains(&("iam_user".into(), format!("{p}-ci"))),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("iam_user".into(), format!("{p}-reader"))),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("iam_role".into(), format!("{p}-open"))),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("iam_role".into(), format!("{p}-partner"))),
        "{kinds:?}"
    );
    assert!(
        !kinds.iter().any(|(_, n)| n == &format!("{p}-internal")),
        "a role only its own account may assume is not flagged: {kinds:?}"
    );
    assert!(
        !kinds.iter().any(|(_, n)| n == &format!("{p}-brokered")),
        "the mount's own role is managed: {kinds:?}"
    );
    let by_name = |n: String| {
        found
            .iter()
            .find(|i| i["name"] == n.as_str())
            .cloned()
            .expect("identity")
    };
    let ci = by_name(format!("{p}-ci"));
    assert!(
        reasons(&ci).contains("everything (inline) allows * actions"),
        "{ci}"
    );
    let reader = by_name(format!("{p}-reader"));
    assert!(!reasons(&reader).contains("allows *"), "{reader}");
    assert!(
        reader["permissions"]
            .to_string()
            .contains(&format!("{p}-narrow")),
        "{reader}"
    );
    assert!(reasons(&by_name(format!("{p}-open"))).contains("assumable by anyone (*)"));
    assert!(reasons(&by_name(format!("{p}-partner"))).contains("assumable by account 999999999999"));
    let all = discovered(&server, "").await;
    let key = all
        .iter()
        .find(|i| i["identity_type"] == "iam_access_key" && i["name"] == key_id.as_str())
        .cloned()
        .expect("the access key");
    assert!(reasons(&key).contains("never expires"), "{key}");
    assert!(
        !all.iter().any(|i| i["name"] == "AKIATESTTESTTEST0000"),
        "the config's own key is not reported"
    );

    // The key in a file links to the IAM key.
    let tar = base64_tar(&[(
        "deploy/ci.yml",
        &format!("env:\n  AWS_ACCESS_KEY_ID: {key_id}\n"),
    )]);
    let scanned = ok(
        &server,
        "POST",
        "sys/discover/files",
        json!({"name": p, "archive": tar}),
    )
    .await;
    let finding = &scanned["data"]["findings"][0];
    assert_eq!(finding["rule"], "aws_access_key_id", "{scanned}");
    assert_eq!(
        finding["linked_identities"],
        json!([key["id"]]),
        "{scanned}"
    );
    // The finding names the IAM key it links to (the IAM connector lists
    // key ids); the finding itself keeps only a fingerprint.
    assert!(
        !finding["fingerprint"].to_string().contains(&key_id),
        "{scanned}"
    );
    let secrets = discovered(&server, "aws_access_key_id").await;
    assert!(
        secrets
            .iter()
            .all(|s| !s.to_string().contains(&key_id) || s["identity_type"] != "file_secret"),
        "a file secret's record holds no key id"
    );
    let (_, shown) = server
        .root(
            "GET",
            &format!("sys/nhi/identities/{}", key["id"].as_str().expect("id")),
            None,
        )
        .await;
    assert!(
        reasons(&shown["data"]).contains("exposed in files: deploy/ci.yml:2"),
        "{shown}"
    );

    // Retirement: a dry run first, then deactivate, undo, delete.
    let user = format!("{p}-ci");
    let retire = |action: &str, dry: bool| json!({"access_key_id": key_id, "action": action, "dry_run": dry});
    let dry = ok(
        &server,
        "POST",
        "aws/discover",
        json!({"access_key_id": key_id}),
    )
    .await;
    assert_eq!(dry["data"]["dry_run"], true, "{dry}");
    assert_eq!(dry["data"]["user"], user.as_str(), "{dry}");
    assert_eq!(key_status(&iam, &user).await, vec!["Active"]);
    ok(&server, "POST", "aws/discover", retire("deactivate", false)).await;
    assert_eq!(key_status(&iam, &user).await, vec!["Inactive"]);
    ok(&server, "POST", "aws/discover", retire("activate", false)).await;
    assert_eq!(key_status(&iam, &user).await, vec!["Active"]);
    for (body, why) in [
        (
            json!({"access_key_id": "AKIATESTTESTTEST0000", "action": "delete", "dry_run": false}),
            "the config's own key",
        ),
        (
            json!({"access_key_id": key_id, "action": "explode"}),
            "an unknown action",
        ),
        (json!({"action": "delete"}), "no key"),
    ] {
        let (status, answer) = server.root("POST", "aws/discover", Some(body)).await;
        assert_eq!(status, 400, "{why}: {answer}");
    }
    ok(&server, "POST", "aws/discover", retire("delete", false)).await;
    assert!(key_status(&iam, &user).await.is_empty(), "deleted");
    let again = scan_of(&server, "aws/config/root").await;
    assert!(
        again["changed"].to_string().contains(&key_id) || again["changed_truncated"] == true,
        "the deleted key's record goes: {again}"
    );
}
