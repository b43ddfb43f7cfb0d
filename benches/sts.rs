//! STS credential issuance (`GET aws/sts/ROLE`, leases fsync'd before the
//! response) at 1 and 16 concurrent clients, next to the raw rate of the
//! same AssumeRole calls sent straight to the same STS endpoint (moto) by
//! this program in the same run. Target: at least 0.8x raw at 16 clients.
//!
//! Run: `scripts/bench/sts.sh` (starts moto), or `cargo bench --bench sts`
//! with QM_TEST_AWS_URL set. QM_BENCH_SECS sets the seconds per run (default 5).

// A benchmark indexes its own fixtures and sums its own timings.
#![allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

mod common;

use common::{call, get_ok, load, start_server};
use reqwest::Client;
use serde_json::json;
use std::sync::Arc;

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let endpoint =
        std::env::var("QM_TEST_AWS_URL").expect("QM_TEST_AWS_URL: run scripts/bench/sts.sh");
    let secs: u64 = std::env::var("QM_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let http = Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .expect("http");
    let server = Arc::new(start_server(&http).await);

    let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sts::config::Credentials::new(
            "AKIABENCHBENCH000000",
            "bench",
            None,
            None,
            "bench",
        ))
        .endpoint_url(&endpoint)
        .load()
        .await;
    let iam = aws_sdk_iam::Client::new(&shared);
    let role_name = format!("bench-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]});
    let arn = iam
        .create_role()
        .role_name(&role_name)
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .expect("create role")
        .role()
        .expect("role")
        .arn()
        .to_string();

    call(
        &http,
        &server,
        "POST",
        "sys/mounts/aws",
        json!({"type": "aws"}),
    )
    .await;
    let (status, body) = call(
        &http,
        &server,
        "POST",
        "aws/config/root",
        json!({"access_key": "AKIABENCHBENCH000000", "secret_key": "bench", "sts_endpoint": endpoint, "iam_endpoint": endpoint}),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = call(
        &http,
        &server,
        "POST",
        "aws/roles/bench",
        json!({"credential_type": "assumed_role", "role_arns": [arn]}),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let sts = aws_sdk_sts::Client::new(&shared);

    println!("== STS issuance, {secs} s per run (AssumeRole against moto at {endpoint})");
    println!(
        "{:>8} {:>12} {:>9} {:>9} {:>12} {:>9} {:>9} {:>8}",
        "clients", "qm creds/s", "p50 ms", "p99 ms", "raw calls/s", "p50 ms", "p99 ms", "ratio"
    );
    let mut ratio_at_16 = 0.0;
    for clients in [1usize, 16] {
        let (http2, server2) = (http.clone(), Arc::clone(&server));
        let ours = load(clients, secs, move |_| {
            let (http, server) = (http2.clone(), Arc::clone(&server2));
            async move { get_ok(&http, &server, "aws/sts/bench").await }
        })
        .await;
        let (sts2, arn2) = (sts.clone(), arn.clone());
        let raw = load(clients, secs, move |client| {
            let (sts, arn) = (sts2.clone(), arn2.clone());
            async move {
                sts.assume_role()
                    .role_arn(arn)
                    .role_session_name(format!("raw-{client}"))
                    .duration_seconds(3600)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| aws_sdk_sts::error::DisplayErrorContext(e).to_string())
            }
        })
        .await;
        let ratio = ours.0 / raw.0;
        if clients == 16 {
            ratio_at_16 = ratio;
        }
        println!(
            "{clients:>8} {:>12.0} {:>9.1} {:>9.1} {:>12.0} {:>9.1} {:>9.1} {ratio:>8.2}",
            ours.0, ours.1, ours.2, raw.0, raw.1, raw.2
        );
    }
    println!("issuance at 16 clients / raw: {ratio_at_16:.2} (target >= 0.80)");
}
