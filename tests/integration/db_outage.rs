//! Issue 18, item 1: the database goes away while leases expire. Postgres
//! is cut off behind a proxy (`PgProxy`; the shared Postgres keeps
//! running) while 20 leases with a 3 s TTL expire; the server stays
//! healthy, keeps every lease, retries them on `sys/leases/tidy`, and drops
//! every user as soon as the database is back, before any lease's next
//! scheduled retry. Also Vault's irrevocable reports (`sys/leases`,
//! `sys/leases/count`): their shape, their bad input, and sudo however
//! they are spelled. `scripts/faults/db_outage.sh` is the full-size run.

use super::acl_bypass::{policy, raw, token, wait_job};
use super::common::{pg_roles, unique, PgProxy, TestServer};
use super::database::configure;
use serde_json::{json, Value};
use std::time::{Duration, Instant, SystemTime};

const LEASES: usize = 20;

async fn lookup(server: &TestServer, lease_id: &str) -> (u16, Value) {
    server
        .root(
            "PUT",
            "sys/leases/lookup",
            Some(json!({ "lease_id": lease_id })),
        )
        .await
}

/// The fewest revocation attempts among `leases`, and the earliest next
/// attempt any of them has scheduled.
async fn attempts(server: &TestServer, leases: &[String]) -> (u64, Option<SystemTime>) {
    let mut fewest = u64::MAX;
    let mut earliest: Option<SystemTime> = None;
    for lease_id in leases {
        let (status, body) = lookup(server, lease_id).await;
        assert_eq!(
            status, 200,
            "the lease is kept while the database is down: {body}"
        );
        let data = &body["data"];
        fewest = fewest.min(data["revoke_attempts"].as_u64().unwrap_or(0));
        if let Some(next) = data["next_attempt_time"].as_str() {
            let next = humantime::parse_rfc3339_weak(next).expect("a time");
            earliest = Some(earliest.map_or(next, |e| e.min(next)));
        }
    }
    (fewest, earliest)
}

/// While the database is down the server answers: health 200, and a
/// request that needs its storage.
async fn assert_serving(server: &TestServer) {
    let (status, body) = server.call("GET", "sys/health", None, None).await;
    assert_eq!(status, 200, "health during the outage: {body}");
    let (status, body) = server.root("GET", "sys/mounts", None).await;
    assert_eq!(status, 200, "other requests during the outage: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_user_is_dropped_as_soon_as_the_database_is_back() {
    let server = TestServer::dev();
    let mut proxy = PgProxy::start().await;
    configure(&server, &proxy.url()).await;
    let role = format!("out_{}", unique());
    let (status, body) = server
        .root(
            "POST",
            &format!("database/roles/{role}"),
            Some(json!({
                "db_name": "pg",
                "creation_statements": [
                    "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'",
                ],
                "default_ttl": "3s",
                "max_ttl": "1h",
            })),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let mut leases = Vec::new();
    let mut users = Vec::new();
    for _ in 0..LEASES {
        let (status, body) = server
            .root("GET", &format!("database/creds/{role}"), None)
            .await;
        assert_eq!(status, 200, "{body}");
        leases.push(body["lease_id"].as_str().expect("lease").to_string());
        users.push(body["data"]["username"].as_str().expect("user").to_string());
    }
    proxy.cut();

    // The leases expire into the outage and fail, twice each at least.
    let deadline = Instant::now() + Duration::from_secs(30);
    while attempts(&server, &leases).await.0 < 2 {
        assert_serving(&server).await;
        assert!(Instant::now() < deadline, "the expiries were never tried");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // tidy retries every failing lease: all fail again, none is lost.
    let (status, body) = server.root("PUT", "sys/leases/tidy", None).await;
    assert_eq!(status, 200, "{body}");
    let job = body["data"]["retry_job_id"]
        .as_str()
        .expect("job")
        .to_string();
    let done = wait_job(&server, &job).await;
    assert!(done["total"].as_u64() >= Some(LEASES as u64), "{done}");
    assert_eq!(
        done["revoked"],
        json!(0),
        "the database is still down: {done}"
    );
    let (fewest, next_retry) = attempts(&server, &leases).await;
    assert!(fewest >= 3, "tidy tried them all again: {fewest}");
    let next_retry = next_retry.expect("a retry is scheduled");
    for user in &users {
        assert_eq!(pg_roles(user).await.len(), 1, "{user} still exists");
    }
    assert_serving(&server).await;

    proxy.restore().await;
    let back = Instant::now();
    let deadline = back + Duration::from_secs(15);
    loop {
        let mut left = 0;
        for user in &users {
            left += pg_roles(user).await.len();
        }
        if left == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{left} of {LEASES} users still exist 15 s after the database came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let recovered_in = back.elapsed();
    assert!(
        SystemTime::now() < next_retry,
        "dropped after {recovered_in:?}: not before the backoff's next retry, so the probe did not notice the database"
    );
    // No lease lost: each one is closed now that its user is gone.
    let deadline = Instant::now() + Duration::from_secs(10);
    for lease_id in &leases {
        while lookup(&server, lease_id).await.0 != 400 {
            assert!(Instant::now() < deadline, "{lease_id} was never closed");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    eprintln!("all {LEASES} users dropped {recovered_in:?} after the database came back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_irrevocable_reports_answer_as_vault_and_need_sudo() {
    let server = TestServer::dev();
    let (status, body) = server
        .root("GET", "sys/leases?type=irrevocable", None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"], json!({"lease_count": 0, "leases": []}));
    let (status, body) = server
        .root("GET", "sys/leases/count?type=IRREVOCABLE", None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"], json!({"lease_count": 0, "counts": {}}));
    let (status, body) = server
        .root("GET", "sys/leases?type=irrevocable&limit=none", None)
        .await;
    assert_eq!(status, 200, "{body}");
    for bad in [
        "sys/leases",
        "sys/leases?type=active",
        "sys/leases?type=irrevocable&limit=0",
        "sys/leases?type=irrevocable&limit=-1",
        "sys/leases?type=irrevocable&limit=ten",
        "sys/leases?type=irrevocable&limit=99999999999999999999999999",
        "sys/leases?type=irrevocable&include_child_namespaces=maybe",
        "sys/leases/count",
        "sys/leases/count?type=%00",
    ] {
        let (status, body) = server.root("GET", bad, None).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["errors"][0].as_str().is_some(), "{bad}: {body}");
    }

    policy(
        &server,
        "lease-reader",
        r#"path "sys/leases" { capabilities = ["read", "list"] }
           path "sys/leases/*" { capabilities = ["read", "list", "update"] }"#,
    )
    .await;
    let reader = token(&server, json!({ "policies": ["lease-reader"] })).await;
    for spelling in [
        "sys/leases?type=irrevocable",
        "sys/leases/?type=irrevocable",
        "sys/leases//?type=irrevocable",
        "sys//leases?type=irrevocable",
        "SYS/leases?type=irrevocable",
        "sys/LEASES?type=irrevocable",
        "sys/%6ceases?type=irrevocable",
        "sys/leases%2F?type=irrevocable",
        "sys/leases/count?type=irrevocable",
        "sys/leases/count/?type=irrevocable",
        "sys/leases//count?type=irrevocable",
        "sys/leases/COUNT?type=irrevocable",
        "sys/leases/%63ount?type=irrevocable",
        "sys/leases/./count?type=irrevocable",
        "sys/leases/x/../count?type=irrevocable",
    ] {
        let (status, body) = raw(&server, "GET", spelling, &reader, None).await;
        assert!(
            (400..500).contains(&status),
            "{spelling} needs sudo: {status} {body}"
        );
        assert!(!body.contains("lease_count"), "{spelling} leaked: {body}");
    }
    let root = server.root_token.clone();
    let (status, body) = raw(&server, "GET", "sys/leases?type=irrevocable", &root, None).await;
    assert_eq!(status, 200, "root lists them: {body}");
}
