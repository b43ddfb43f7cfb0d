//! The inventory's indexes. The owner filter reads the owner indexes (roles
//! by their ownership record, tokens by `meta.owner`): it must follow every
//! write that changes who owns what — a role written, re-owned, deleted; a
//! token created, revoked — and owners spelled with `/`, `%` and markup.
//! `sort=risk` reads the risk index: it must rank as a full scan does, and
//! follow new identities and a narrowed policy. A store written before
//! the owner indexes is indexed once, at its first unseal.

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

/// `sort=risk` as the inventory's source order ranks it: every identity
/// (role or token) by score, riskiest first, then by id.
async fn expected_by_risk(server: &TestServer) -> Vec<(String, u64)> {
    let (status, body) = server
        .root("GET", "sys/nhi/identities?limit=1000", None)
        .await;
    assert_eq!(status, 200, "{body}");
    let mut all: Vec<(String, u64)> = body["data"]["identities"]
        .as_array()
        .expect("identities")
        .iter()
        .map(|i| {
            (
                i["id"].as_str().expect("id").to_string(),
                i["risk_score"].as_u64().expect("score"),
            )
        })
        .collect();
    all.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    all
}

/// `sort=risk` once the risk index answers it (it is built after unseal).
async fn by_risk_index(server: &TestServer, token: &str) -> (u16, Value) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (status, body) = server
            .call(
                "GET",
                "sys/nhi/identities?sort=risk&limit=1000",
                Some(token),
                None,
            )
            .await;
        if status != 200 || body["data"]["ranked_by_index"] == true {
            return (status, body);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the risk index was never built: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

fn ranked(body: &Value) -> Vec<(String, u64)> {
    body["data"]["identities"]
        .as_array()
        .expect("identities")
        .iter()
        .map(|i| {
            (
                i["id"].as_str().expect("id").to_string(),
                i["risk_score"].as_u64().expect("score"),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_risk_index_ranks_as_a_full_scan_and_follows_writes() {
    let server = TestServer::dev();
    ok(
        &server,
        "PUT",
        "sys/policies/acl/wild",
        json!({"policy": "path \"*\" { capabilities = [\"read\", \"sudo\"] }"}),
    )
    .await;
    ok(
        &server,
        "POST",
        "sys/auth/approle",
        json!({"type": "approle"}),
    )
    .await;
    ok(
        &server,
        "POST",
        "auth/approle/role/owned",
        json!({"token_policies": "default", "owner": "alice"}),
    )
    .await;
    ok(
        &server,
        "POST",
        "auth/approle/role/wild",
        json!({"token_policies": "wild"}),
    )
    .await;
    token_owned_by(&server, "alice").await;

    let (_, body) = by_risk_index(&server, &server.root_token).await;
    assert_eq!(ranked(&body), expected_by_risk(&server).await, "{body}");

    // New identities are ranked at once: a risky token, a re-owned role.
    let created = ok(
        &server,
        "POST",
        "auth/token/create",
        json!({"policies": ["wild"], "ttl": "1h"}),
    )
    .await;
    let risky = format!(
        "auth/token/accessors/{}",
        created["auth"]["accessor"].as_str().expect("accessor")
    );
    ok(
        &server,
        "POST",
        "auth/approle/role/owned",
        json!({"owner": ""}),
    )
    .await;
    let (_, body) = by_risk_index(&server, &server.root_token).await;
    let order = ranked(&body);
    assert!(order.iter().any(|(id, _)| id == &risky), "{body}");
    assert_eq!(order, expected_by_risk(&server).await, "{body}");

    // A policy narrowed lowers every holder's score: the index is rebuilt.
    ok(
        &server,
        "PUT",
        "sys/policies/acl/wild",
        json!({"policy": "path \"secret/*\" { capabilities = [\"read\"] }"}),
    )
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (_, body) = by_risk_index(&server, &server.root_token).await;
        let expected = expected_by_risk(&server).await;
        if ranked(&body) == expected {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{body} != {expected:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    // A token that may read the inventory but not list accessors sees no
    // token in it, ranked or not; one without the capability sees nothing.
    let reader = server
        .token_with_policy(
            "inventory-reader",
            r#"path "sys/nhi/identities" { capabilities = ["read"] }"#,
        )
        .await;
    let (status, body) = by_risk_index(&server, &reader).await;
    assert_eq!(status, 200, "{body}");
    assert!(!ranked(&body).is_empty(), "{body}");
    assert!(
        ranked(&body)
            .iter()
            .all(|(id, _)| !id.starts_with("auth/token/")),
        "{body}"
    );
    let nobody = server
        .token_with_policy("nothing", r#"path "secret/*" { capabilities = ["read"] }"#)
        .await;
    for path in [
        "sys/nhi/identities?sort=risk",
        "sys/nhi/identities/?sort=risk",
        "sys//nhi/identities?sort=risk",
        "sys/nhi/%69dentities?sort=risk",
        "SYS/nhi/identities?sort=risk",
    ] {
        let (status, body) = super::acl_bypass::raw(&server, "GET", path, &nobody, None).await;
        assert!(matches!(status, 403 | 404 | 400), "{path}: {status} {body}");
        assert!(!body.contains("auth/approle/role"), "{path}: {body}");
    }
}

/// The store of a stopped server, unsealed in this process.
async fn offline_store(
    server: &TestServer,
    key: &str,
) -> std::sync::Arc<quartermaster::barrier::Barrier> {
    use quartermaster::barrier::{seal, Barrier};
    use quartermaster::storage::{SledStorage, Storage};
    let storage: std::sync::Arc<dyn Storage> =
        std::sync::Arc::new(SledStorage::open(&server.data_dir()).expect("open the store"));
    let barrier = Barrier::new(
        storage,
        std::sync::Arc::new(quartermaster::clock::SystemClock),
    );
    let share = seal::decode_share(key).expect("key");
    let kek = seal::combine(&[share], 1).expect("kek");
    barrier.unseal(&kek).await.expect("unseal");
    barrier
}

const INDEXES: [&str; 4] = [
    "sys/token/owner/",
    "sys/token/owner-index",
    "sys/nhi/by-owner/",
    "sys/nhi/owner-index",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_from_before_the_owner_indexes_is_indexed_once_at_unseal() {
    let mut server = TestServer::from_config("", "");
    let key = server.init_and_unseal().await;
    ok(
        &server,
        "POST",
        "sys/auth/approle",
        json!({"type": "approle"}),
    )
    .await;
    let hostile = "team/a%2F<b>";
    for (role, owner) in [("ci", "olga"), ("odd", hostile), ("nobody", "")] {
        ok(
            &server,
            "POST",
            &format!("auth/approle/role/{role}"),
            json!({"token_policies": "default", "owner": owner}),
        )
        .await;
    }
    let (olga_token, _) = token_owned_by(&server, "olga").await;
    let (odd_token, _) = token_owned_by(&server, hostile).await;
    let mut olga = vec!["auth/approle/role/ci".to_string(), olga_token];
    olga.sort();
    let mut odd = vec!["auth/approle/role/odd".to_string(), odd_token];
    odd.sort();
    assert_eq!(owned(&server, "olga").await, olga);

    // Take the indexes and their markers out, as a store written by a
    // version without them.
    server.kill();
    {
        let store = offline_store(&server, &key).await;
        let mut writes = Vec::new();
        for prefix in INDEXES {
            for key in store.keys(prefix).await.expect("keys") {
                writes.push(quartermaster::barrier::Write::Delete(key));
            }
        }
        assert!(
            writes.len() >= 6,
            "both indexes and markers: {}",
            writes.len()
        );
        store.write(writes).await.expect("delete the indexes");
        for prefix in INDEXES {
            assert!(store.keys(prefix).await.expect("keys").is_empty());
        }
    }
    server.restart();
    server.unseal(&key).await;
    assert_eq!(owned(&server, "olga").await, olga, "indexed at unseal");
    assert_eq!(owned(&server, hostile).await, odd, "an owner with / and %");
    let (status, dry) = server
        .root(
            "POST",
            "sys/nhi/owners/olga/offboard",
            Some(json!({"dry_run": true})),
        )
        .await;
    assert_eq!(status, 200, "{dry}");
    assert!(dry.to_string().contains("auth/approle/role/ci"), "{dry}");

    // Once: the markers are back with the entries. With the markers there,
    // an unseal does not read every token again: entries taken out behind
    // its back (only a test does that) stay out.
    server.kill();
    {
        let store = offline_store(&server, &key).await;
        for marker in ["sys/token/owner-index", "sys/nhi/owner-index"] {
            assert_eq!(store.keys(marker).await.expect("keys").len(), 1, "{marker}");
        }
        let mut entries = store.keys("sys/token/owner/").await.expect("keys");
        entries.extend(store.keys("sys/nhi/by-owner/").await.expect("keys"));
        assert_eq!(entries.len(), 4, "{entries:?}");
        let writes = entries
            .into_iter()
            .map(quartermaster::barrier::Write::Delete)
            .collect();
        store.write(writes).await.expect("delete the entries");
    }
    server.restart();
    server.unseal(&key).await;
    assert_eq!(
        owned(&server, "olga").await,
        Vec::<String>::new(),
        "not indexed a second time"
    );
}
