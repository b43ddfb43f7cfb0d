//! Discovery at scale. In one run it prints:
//!   - a scan of a Postgres holding 10,000 login roles made for the run
//!     (`sys/discover/scan`, job start to done; target < 60 s), a rescan
//!     with nothing changed, and one after 100 roles changed (how many
//!     records each wrote), next to the same catalog queries sent straight
//!     to Postgres (the limit);
//!   - a scan of 1,000 IAM users in moto, each with an access key and an
//!     inline policy (target < 60 s), next to the same IAM calls made
//!     straight to moto at the same concurrency (the limit).
//!
//! Run: `scripts/bench/discover.sh` (starts a fresh moto), or `cargo bench
//! --bench discover_scale` with QM_TEST_AWS_URL set (QM_SCALE_ROLES and
//! QM_SCALE_USERS override 10,000 and 1,000; no QM_TEST_AWS_URL skips IAM).

// A benchmark indexes its own fixtures and sums its own timings.
#![allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

mod common;

use common::{call, env_count, pg, pg_server_url, start_server, Server};
use futures::StreamExt;
use reqwest::Client;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const CONCURRENCY: usize = 16;

/// Starts a scan of `source` and waits for its job; the job and the time.
async fn timed_scan(http: &Client, server: &Server, source: &str) -> (Value, Duration) {
    let started = Instant::now();
    let (status, body) = call(
        http,
        server,
        "POST",
        "sys/discover/scan",
        json!({ "source": source }),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let job = body["data"]["job_id"].as_str().expect("job").to_string();
    loop {
        let (_, body) = call(
            http,
            server,
            "GET",
            &format!("sys/discover/jobs/{job}"),
            json!({}),
        )
        .await;
        match body["data"]["state"].as_str() {
            Some("done") => return (body["data"].clone(), started.elapsed()),
            Some("failed") => panic!("scan failed: {body}"),
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

async fn postgres(http: &Client, server: &Server, roles: usize) {
    let url = pg_server_url();
    let admin = pg(&url).await;
    let prefix = format!("dscale_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let made = Instant::now();
    admin
        .batch_execute(&format!(
            "CREATE ROLE {prefix}_group NOLOGIN;
             DO $$ BEGIN FOR i IN 1..{roles} LOOP
               EXECUTE format('CREATE ROLE %I LOGIN PASSWORD %L IN ROLE {prefix}_group', '{prefix}_' || i, md5(random()::text));
             END LOOP; END $$;"
        ))
        .await
        .expect("create roles");
    println!(
        "postgres: {roles} login roles made in {}",
        secs(made.elapsed())
    );
    for (path, body) in [
        ("sys/mounts/database", json!({"type": "database"})),
        (
            "database/config/pg",
            json!({"plugin_name": "postgresql-database-plugin", "connection_url": url, "allowed_roles": "*"}),
        ),
    ] {
        let (status, answer) = call(http, server, "POST", path, body).await;
        assert!(status < 300, "{path}: {answer}");
    }
    // The limit: the catalog queries the connector runs, straight.
    let mut limit = Duration::MAX;
    let retired: Vec<String> = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let grants = admin
            .query(qm_plugin_postgres::catalog::GRANTS, &[&retired])
            .await
            .expect("grants");
        let rows = admin
            .query(qm_plugin_postgres::catalog::ROLES, &[&retired])
            .await
            .expect("roles");
        limit = limit.min(started.elapsed());
        assert!(rows.len() >= roles, "{} rows", rows.len() + grants.len());
    }
    let (first, first_time) = timed_scan(http, server, "database/config/pg").await;
    let (again, again_time) = timed_scan(http, server, "database/config/pg").await;
    admin
        .batch_execute(&format!(
            "DO $$ BEGIN FOR i IN 1..100 LOOP
               EXECUTE format('ALTER ROLE %I VALID UNTIL ''2040-01-01''', '{prefix}_' || i);
             END LOOP; END $$;"
        ))
        .await
        .expect("alter roles");
    let (changed, changed_time) = timed_scan(http, server, "database/config/pg").await;
    println!(
        "postgres: catalog queries straight (the limit): {}",
        secs(limit)
    );
    for (what, job, time) in [
        ("first scan", &first, first_time),
        ("rescan, nothing changed", &again, again_time),
        ("rescan, 100 roles changed", &changed, changed_time),
    ] {
        println!(
            "postgres: {what}: {} (found {}, wrote {}, removed {}; target < 60 s)",
            secs(time),
            job["result"]["found"],
            job["result"]["written"],
            job["result"]["removed"]
        );
    }
    admin
        .batch_execute(&format!(
            "DO $$ BEGIN FOR i IN 1..{roles} LOOP
               EXECUTE format('DROP ROLE %I', '{prefix}_' || i);
             END LOOP; END $$;
             DROP ROLE {prefix}_group;"
        ))
        .await
        .expect("drop roles");
}

async fn iam_client(endpoint: &str) -> aws_sdk_iam::Client {
    let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sts::config::Credentials::new(
            "AKIABENCHBENCH000000",
            "bench",
            None,
            None,
            "bench",
        ))
        .endpoint_url(endpoint)
        .load()
        .await;
    aws_sdk_iam::Client::new(&shared)
}

/// The connector's per-user calls, straight to IAM.
async fn read_user(iam: &aws_sdk_iam::Client, name: String) {
    let keys = iam
        .list_access_keys()
        .user_name(&name)
        .send()
        .await
        .expect("keys");
    for key in keys.access_key_metadata() {
        if let Some(id) = key.access_key_id() {
            iam.get_access_key_last_used()
                .access_key_id(id)
                .send()
                .await
                .expect("last used");
        }
    }
    iam.list_attached_user_policies()
        .user_name(&name)
        .send()
        .await
        .expect("attached");
    let inline = iam
        .list_user_policies()
        .user_name(&name)
        .send()
        .await
        .expect("inline");
    for policy in inline.policy_names() {
        iam.get_user_policy()
            .user_name(&name)
            .policy_name(policy)
            .send()
            .await
            .expect("policy");
    }
}

async fn aws(http: &Client, server: &Server, endpoint: &str, users: usize) {
    let iam = iam_client(endpoint).await;
    let prefix = format!("ds{}", &uuid::Uuid::new_v4().simple().to_string()[..6]);
    let policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}).to_string();
    let made = Instant::now();
    futures::stream::iter(0..users)
        .map(|i| {
            let (iam, name, policy) = (iam.clone(), format!("{prefix}-{i}"), policy.clone());
            async move {
                iam.create_user()
                    .user_name(&name)
                    .send()
                    .await
                    .expect("user");
                iam.create_access_key()
                    .user_name(&name)
                    .send()
                    .await
                    .expect("key");
                iam.put_user_policy()
                    .user_name(&name)
                    .policy_name("read")
                    .policy_document(policy)
                    .send()
                    .await
                    .expect("policy");
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
    println!("iam: {users} users made in {}", secs(made.elapsed()));
    for (path, body) in [
        ("sys/mounts/aws", json!({"type": "aws"})),
        (
            "aws/config/root",
            json!({"access_key": "AKIABENCHBENCH000000", "secret_key": "bench", "region": "us-east-1", "sts_endpoint": endpoint, "iam_endpoint": endpoint}),
        ),
    ] {
        let (status, answer) = call(http, server, "POST", path, body).await;
        assert!(status < 300, "{path}: {answer}");
    }
    // The limit: ListUsers, then each user's calls, 16 at a time, straight.
    let started = Instant::now();
    let mut names = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = iam
            .list_users()
            .set_marker(marker.clone())
            .send()
            .await
            .expect("users");
        names.extend(page.users().iter().map(|u| u.user_name().to_string()));
        match (page.is_truncated(), page.marker()) {
            (true, Some(next)) => marker = Some(next.to_string()),
            _ => break,
        }
    }
    let listed = names.len();
    futures::stream::iter(names)
        .map(|name| read_user(&iam, name))
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
    let limit = started.elapsed();
    let (first, first_time) = timed_scan(http, server, "aws/config/root").await;
    let (again, again_time) = timed_scan(http, server, "aws/config/root").await;
    println!(
        "iam: the same calls straight to moto for {listed} users (the limit): {}",
        secs(limit)
    );
    for (what, job, time) in [
        ("first scan", &first, first_time),
        ("rescan", &again, again_time),
    ] {
        println!(
            "iam: {what}: {} (found {}, wrote {}; target < 60 s)",
            secs(time),
            job["result"]["found"],
            job["result"]["written"]
        );
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let roles = env_count("QM_SCALE_ROLES", 10_000);
    let users = env_count("QM_SCALE_USERS", 1_000);
    let http = Client::new();
    let server = start_server(&http).await;
    postgres(&http, &server, roles).await;
    match std::env::var("QM_TEST_AWS_URL") {
        Ok(endpoint) => aws(&http, &server, &endpoint, users).await,
        Err(_) => {
            println!("iam: skipped (no QM_TEST_AWS_URL; scripts/bench/discover.sh starts moto)")
        }
    }
}
