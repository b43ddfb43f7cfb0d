//! The inventory's owner filter reads the owner indexes (roles by their
//! ownership record, tokens by `meta.owner`): it must follow every write
//! that changes who owns what — a role written, re-owned, deleted; a token
//! created, revoked — and owners spelled with `/`, `%` and markup.

use super::common::TestServer;
use serde_json::{json, Value};

async fn ok(server: &TestServer, method: &str, path: &str, body: Value) -> Value {
    let (status, answer) = server.root(method, path, Some(body)).await;
    assert!(status == 200 || status == 204, "{path}: {status} {answer}");
    answer
}

/// The ids `owner` owns per the inventory, sorted; and the total it gave.
async fn owned(server: &TestServer, owner: &str) -> Vec<String> {
    let query = format!("sys/nhi/identities?owner={}", percent_encode(owner));
    let (status, body) = server.root("GET", &query, None).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["data"]["total"].is_u64(),
        "an owner's listing reads all they own: {body}"
    );
    let mut ids: Vec<String> = body["data"]["identities"]
        .as_array()
        .expect("identities")
        .iter()
        .map(|i| {
            assert_eq!(i["owner"], owner, "{i}");
            i["id"].as_str().expect("id").to_string()
        })
        .collect();
    ids.sort();
    ids
}

fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

async fn token_owned_by(server: &TestServer, owner: &str) -> (String, String) {
    let body = ok(
        server,
        "POST",
        "auth/token/create",
        json!({"policies": ["default"], "meta": {"owner": owner}, "ttl": "1h"}),
    )
    .await;
    let accessor = body["auth"]["accessor"]
        .as_str()
        .expect("accessor")
        .to_string();
    let token = body["auth"]["client_token"]
        .as_str()
        .expect("token")
        .to_string();
    (format!("auth/token/accessors/{accessor}"), token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_filter_follows_every_ownership_change() {
    let server = TestServer::dev();
    ok(
        &server,
        "POST",
        "sys/auth/approle",
        json!({"type": "approle"}),
    )
    .await;
    let hostile = "team/a%2F<b>\"&";
    for (role, owner) in [
        ("ci", "alice"),
        ("deploy", "alice"),
        ("odd", hostile),
        ("nobody", ""),
    ] {
        ok(
            &server,
            "POST",
            &format!("auth/approle/role/{role}"),
            json!({"token_policies": "default", "owner": owner}),
        )
        .await;
    }
    let (alice_token, _) = token_owned_by(&server, "alice").await;
    let (bob_token, bob_secret) = token_owned_by(&server, "bob").await;
    let (odd_token, _) = token_owned_by(&server, hostile).await;

    let mut alice = vec![
        "auth/approle/role/ci".to_string(),
        "auth/approle/role/deploy".to_string(),
        alice_token.clone(),
    ];
    alice.sort();
    assert_eq!(owned(&server, "alice").await, alice);
    let mut odd = vec!["auth/approle/role/odd".to_string(), odd_token];
    odd.sort();
    assert_eq!(owned(&server, hostile).await, odd, "an owner with / and %");
    assert_eq!(
        owned(&server, "team").await,
        Vec::<String>::new(),
        "a prefix of an owner owns nothing"
    );
    assert_eq!(
        owned(&server, "team/a/<b>\"&").await,
        Vec::<String>::new(),
        "%2F is not /"
    );

    // Re-owned: it moves; rewritten without an owner field: it stays.
    ok(
        &server,
        "POST",
        "auth/approle/role/deploy",
        json!({"owner": "bob"}),
    )
    .await;
    ok(
        &server,
        "POST",
        "auth/approle/role/ci",
        json!({"token_ttl": "10m"}),
    )
    .await;
    assert_eq!(
        owned(&server, "alice").await,
        vec!["auth/approle/role/ci".to_string(), alice_token.clone()]
    );
    let mut bob = vec!["auth/approle/role/deploy".to_string(), bob_token.clone()];
    bob.sort();
    assert_eq!(owned(&server, "bob").await, bob);

    // Deleted and revoked: gone from the index.
    ok(&server, "DELETE", "auth/approle/role/ci", json!(null)).await;
    let (status, body) = server
        .call(
            "POST",
            "auth/token/revoke-self",
            Some(&bob_secret),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(owned(&server, "alice").await, vec![alice_token]);
    assert_eq!(
        owned(&server, "bob").await,
        vec!["auth/approle/role/deploy".to_string()]
    );

    // Sorted by risk, an owner's identities are all still there.
    let (status, body) = server
        .root("GET", "sys/nhi/identities?owner=bob&sort=risk", None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["total"], 1, "{body}");

    // Offboarding reads the same index: the dry run names what bob owns.
    let (status, body) = server
        .root(
            "POST",
            "sys/nhi/owners/bob/offboard",
            Some(json!({"dry_run": true})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.to_string().contains("auth/approle/role/deploy"),
        "{body}"
    );
}
