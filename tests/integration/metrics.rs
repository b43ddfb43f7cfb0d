//! `sys/metrics`: a token is needed by default; with the listener's
//! `unauthenticated_metrics_access` a scraper needs none, sealed or not,
//! and only that one path opens. The process and allocator metrics and the
//! seal gauge.

use super::common::TestServer;

/// A GET without a token.
async fn anonymous(server: &TestServer, path: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .get(format!("{}/v1/{path}", server.addr))
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

fn gauge(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn metrics_need_a_token_unless_the_listener_opens_them() {
    let server = TestServer::dev();
    let (status, body) = anonymous(&server, "sys/metrics?format=prometheus").await;
    assert_eq!(status, 403, "{body}");
    let (status, text) = server
        .text("sys/metrics?format=prometheus", &server.root_token)
        .await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(gauge(&text, "qm_core_unsealed"), Some(1.0), "{text}");
    for name in [
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
        "process_threads",
    ] {
        assert!(
            gauge(&text, name).is_some_and(|v| v > 0.0),
            "{name} in {text}"
        );
    }
    assert!(
        gauge(&text, "process_cpu_seconds_total").is_some(),
        "{text}"
    );
    assert!(
        !text.contains("qm_process_"),
        "process metrics are unprefixed"
    );
    // jemalloc is the allocator: it holds the server's heap (well over a
    // MiB), and what it keeps resident covers what it handed out.
    let allocated = gauge(&text, "qm_runtime_alloc_bytes").unwrap_or_default();
    let resident = gauge(&text, "qm_runtime_allocator_resident_bytes").unwrap_or_default();
    assert!(allocated > 1_048_576.0, "{text}");
    assert!(resident >= allocated, "{text}");
}

#[tokio::test]
async fn unauthenticated_metrics_access_serves_a_scraper_sealed_and_unsealed() {
    let mut server = TestServer::from_config(
        "",
        "[listener.telemetry]\nunauthenticated_metrics_access = true\n",
    );
    let (status, text) = anonymous(&server, "sys/metrics?format=prometheus").await;
    assert_eq!(status, 200, "sealed: {text}");
    assert_eq!(gauge(&text, "qm_core_unsealed"), Some(0.0), "{text}");
    assert!(
        gauge(&text, "process_resident_memory_bytes").is_some(),
        "{text}"
    );
    assert!(
        gauge(&text, "qm_runtime_alloc_bytes").is_some_and(|v| v > 0.0),
        "{text}"
    );
    assert!(
        !text.contains("qm_leases_active") && !text.contains("qm_tokens_active"),
        "a sealed node has no ledger to count: {text}"
    );

    server.init_and_unseal().await;
    let (status, text) = anonymous(&server, "sys/metrics?format=prometheus").await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(gauge(&text, "qm_core_unsealed"), Some(1.0), "{text}");
    assert_eq!(gauge(&text, "qm_tokens_active"), Some(0.0), "{text}");
    let (status, body) = anonymous(&server, "sys/metrics").await;
    assert_eq!(status, 200, "the JSON summary too: {body}");
    assert!(body.contains("leases_active"), "{body}");
    let (status, body) = anonymous(&server, "sys/metrics?format=yaml").await;
    assert_eq!(status, 400, "{body}");

    // Only that path opens: neighbours and other spellings still need a token.
    for path in [
        "sys/mounts",
        "sys/metricsx",
        "sys/metrics/../mounts",
        "sys/metrics%2F..%2Fmounts",
        "sys/Metrics",
        "sys/metrics/extra",
        "sys/policies/acl",
        "sys/audit",
    ] {
        let (status, body) = anonymous(&server, path).await;
        assert!(
            (400..500).contains(&status) && !body.contains("qm_core_unsealed"),
            "{path}: {status} {body}"
        );
    }
    let (status, _) = server.root("GET", "sys/mounts", None).await;
    assert_eq!(status, 200);

    // Writes are not opened either.
    let response = reqwest::Client::new()
        .post(format!("{}/v1/sys/metrics", server.addr))
        .body("{}")
        .send()
        .await
        .expect("request");
    assert!(
        (400..500).contains(&response.status().as_u16()),
        "{}",
        response.status()
    );
}
