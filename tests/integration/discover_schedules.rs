//! Scheduled discovery scans against the real test Postgres: a schedule
//! runs within a second of its creation and again every interval, keeps
//! its source when only the interval changes, survives a restart, says why
//! a due run did not start (its mount gone), and stops when deleted; one
//! scan of a source runs at a time; bad input is a 400
//! and stores nothing; a token without the capabilities is refused however
//! the path is spelled, and a schedule cannot make the broker scan what its
//! writer could not read.

use super::common::{mount_database_role, pg, unique, TestServer};
use super::discover::{discovered, ok, wait_job, HOSTILE_SOURCES};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

async fn schedule(server: &TestServer, name: &str) -> Value {
    let (status, body) = server
        .root("GET", &format!("sys/discover/schedules/{name}"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

/// Waits for a finished run of `name` other than `after`; its job id.
async fn next_run(
    server: &TestServer,
    name: &str,
    after: Option<&str>,
    within: Duration,
) -> String {
    let deadline = Instant::now() + within;
    loop {
        let s = schedule(server, name).await;
        let job = s["last_job"].as_str().unwrap_or_default().to_string();
        if !job.is_empty() && Some(job.as_str()) != after {
            let done = wait_job(server, &job).await;
            assert_eq!(done["state"], "done", "{done}");
            return job;
        }
        assert!(
            Instant::now() < deadline,
            "{name} did not run again within {within:?}: {s}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_rescans_its_source_every_interval_and_survives_a_restart() {
    let mut server = TestServer::from_config("", "");
    let key = server.init_and_unseal().await;
    mount_database_role(&server, "1h", "2h").await;
    let role = format!("sched_{}", unique());
    pg().await
        .batch_execute(&format!(
            "CREATE ROLE {role} WITH LOGIN PASSWORD 'S-{role}'"
        ))
        .await
        .expect("role");

    ok(
        &server,
        "POST",
        "sys/discover/schedules/nightly",
        json!({"source": "/database/config/pg/", "interval": "10s"}),
    )
    .await;
    let first = next_run(&server, "nightly", None, Duration::from_secs(15)).await;
    assert_eq!(
        discovered(&server, &role).await.len(),
        1,
        "the first run found the hand-made role"
    );
    let s = schedule(&server, "nightly").await;
    assert_eq!(s["source"], "database/config/pg", "stored resolved: {s}");
    assert_eq!(s["interval"], 10);
    assert_eq!(s["created_by"], "root");
    assert_eq!(s["last_state"], "done");
    let last_run = s["last_run"].as_i64().expect("last_run");
    assert_eq!(s["next_run"].as_i64(), Some(last_run + 10), "{s}");

    // The next run comes an interval later, and sees a change.
    pg().await
        .batch_execute(&format!("ALTER ROLE {role} VALID UNTIL '2030-01-01'"))
        .await
        .expect("alter");
    let second = next_run(&server, "nightly", Some(&first), Duration::from_secs(20)).await;
    let job = wait_job(&server, &second).await;
    assert!(
        job["changed"].to_string().contains(&role),
        "the rescan wrote the changed role: {job}"
    );
    let (status, list) = server.root("LIST", "sys/discover/schedules", None).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["data"]["keys"], json!(["nightly"]));

    // Only the interval changes; the source stays, the next run moves.
    ok(
        &server,
        "POST",
        "sys/discover/schedules/nightly",
        json!({"interval": "1h"}),
    )
    .await;
    let s = schedule(&server, "nightly").await;
    assert_eq!(
        (s["source"].as_str(), s["interval"].as_i64()),
        (Some("database/config/pg"), Some(3600))
    );
    let last_run = s["last_run"].as_i64().expect("last_run");
    assert_eq!(s["next_run"].as_i64(), Some(last_run + 3600), "{s}");

    // A restart keeps it; it runs again once due.
    server.restart();
    server.unseal(&key).await;
    let kept = schedule(&server, "nightly").await;
    for field in [
        "source", "interval", "next_run", "last_run", "last_job", "created",
    ] {
        assert_eq!(kept[field], s[field], "{field} after a restart: {kept}");
    }
    ok(
        &server,
        "POST",
        "sys/discover/schedules/nightly",
        json!({"interval": "10s"}),
    )
    .await;
    let third = next_run(&server, "nightly", Some(&second), Duration::from_secs(20)).await;
    assert_ne!(third, first);

    // Its mount gone, a due run does not start and says why; the schedule
    // stays, with its last run.
    let (status, body) = server.root("DELETE", "sys/mounts/database", None).await;
    assert_eq!(status, 204, "{body}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let s = loop {
        let s = schedule(&server, "nightly").await;
        if s["not_started"].is_string() {
            break s;
        }
        assert!(Instant::now() < deadline, "no reason recorded: {s}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(s["not_started"].to_string().contains("source"), "{s}");
    assert_eq!(s["last_job"], third.as_str(), "{s}");

    // Deleted: gone, and no more runs.
    let (status, body) = server
        .root("DELETE", "sys/discover/schedules/nightly", None)
        .await;
    assert_eq!(status, 204, "{body}");
    let (status, _) = server
        .root("GET", "sys/discover/schedules/nightly", None)
        .await;
    assert_eq!(status, 404);
    let (status, _) = server.root("LIST", "sys/discover/schedules", None).await;
    assert_eq!(status, 404, "an empty list is a 404, as Vault");
    let _ = pg()
        .await
        .batch_execute(&format!("DROP ROLE IF EXISTS {role}"))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_refuse_bad_input_and_tokens_without_the_capabilities() {
    let server = TestServer::dev();
    mount_database_role(&server, "1h", "2h").await;
    let good = json!({"source": "database/config/pg", "interval": "1h"});
    let with = |field: &str, value: Value| {
        let mut body = good.clone();
        body[field] = value;
        body
    };
    let long = "x".repeat(65);
    let cases: Vec<(String, Value)> = vec![
        ("sys/discover/schedules/.hidden".into(), good.clone()),
        ("sys/discover/schedules/a%20b".into(), good.clone()),
        ("sys/discover/schedules/a/b".into(), good.clone()),
        ("sys/discover/schedules/a%2Fb".into(), good.clone()),
        (format!("sys/discover/schedules/{long}"), good.clone()),
        (
            "sys/discover/schedules/x".into(),
            json!({"source": "database/config/pg"}),
        ),
        ("sys/discover/schedules/x".into(), json!({"interval": "1h"})),
        (
            "sys/discover/schedules/x".into(),
            with("interval", json!("9s")),
        ),
        (
            "sys/discover/schedules/x".into(),
            with("interval", json!("0")),
        ),
        (
            "sys/discover/schedules/x".into(),
            with("interval", json!("-10s")),
        ),
        (
            "sys/discover/schedules/x".into(),
            with("interval", json!("367d")),
        ),
        (
            "sys/discover/schedules/x".into(),
            with("interval", json!("soon")),
        ),
        (
            "sys/discover/schedules/x".into(),
            with("interval", json!(1e300)),
        ),
        (
            "sys/discover/schedules/x".into(),
            with("interval", json!(true)),
        ),
        (
            "sys/discover/schedules/x".into(),
            with("interval", json!(["1h"])),
        ),
        ("sys/discover/schedules/x".into(), with("source", json!(7))),
        (
            "sys/discover/schedules/x".into(),
            with("source", json!("database/config/missing")),
        ),
        (
            "sys/discover/schedules/x".into(),
            with("owner", json!("eve")),
        ),
    ];
    let hostile_sources = HOSTILE_SOURCES.iter().map(|source| {
        (
            "sys/discover/schedules/x".to_string(),
            with("source", json!(source)),
        )
    });
    for (path, body) in cases.into_iter().chain(hostile_sources) {
        let (status, answer) = server.root("POST", &path, Some(body.clone())).await;
        assert!(
            status == 400 || (status == 404 && path.contains("/a/b")),
            "{path} {body}: {status} {answer}"
        );
    }
    let (status, list) = server.root("LIST", "sys/discover/schedules", None).await;
    assert_eq!(status, 404, "nothing was stored: {list}");

    // Writing a schedule needs the connector's read, as a scan does.
    let no_connector = server
        .token_with_policy(
            "schedules-only",
            r#"path "sys/discover/schedules/*" { capabilities = ["create", "update", "read", "delete"] }"#,
        )
        .await;
    let (status, answer) = server
        .call(
            "POST",
            "sys/discover/schedules/nightly",
            Some(&no_connector),
            Some(good.clone()),
        )
        .await;
    assert_eq!(status, 403, "without database/discover/pg: {answer}");

    ok(
        &server,
        "POST",
        "sys/discover/schedules/nightly",
        good.clone(),
    )
    .await;
    let before = schedule(&server, "nightly").await;
    let read_only = server
        .token_with_policy(
            "schedules-read",
            r#"path "sys/discover/schedules/nightly" { capabilities = ["read"] }
               path "database/discover/*" { capabilities = ["read"] }"#,
        )
        .await;
    let (status, _) = server
        .call(
            "GET",
            "sys/discover/schedules/nightly",
            Some(&read_only),
            None,
        )
        .await;
    assert_eq!(status, 200, "read is what it may do");
    let (status, _) = server
        .call("LIST", "sys/discover/schedules", Some(&read_only), None)
        .await;
    assert_eq!(status, 403, "no list on the folder");
    let spellings = [
        "sys/discover/schedules/nightly",
        "sys/discover/schedules/nightly/",
        "sys//discover/schedules/nightly",
        "sys/discover//schedules/nightly",
        "sys/discover/schedules//nightly",
        "SYS/discover/schedules/nightly",
        "sys/discover/Schedules/nightly",
        "sys/discover/schedules/Nightly",
        "sys/discover/schedules/%6eightly",
        "sys/discover/schedules/./nightly",
        "sys/discover/x/../schedules/nightly",
    ];
    for path in spellings {
        for method in ["POST", "PUT", "DELETE"] {
            let (status, answer) = server
                .call(
                    method,
                    path,
                    Some(&read_only),
                    Some(json!({"source": "database/config/pg", "interval": "10s"})),
                )
                .await;
            assert!(
                matches!(status, 400 | 403 | 404 | 405),
                "{method} {path} with a read-only token: {status} {answer}"
            );
        }
    }
    let after = schedule(&server, "nightly").await;
    for field in ["source", "interval", "created", "created_by"] {
        assert_eq!(after[field], before[field], "{field} unchanged: {after}");
    }
    let (status, list) = server.root("LIST", "sys/discover/schedules/", None).await;
    assert_eq!((status, &list["data"]["keys"]), (200, &json!(["nightly"])));

    // Concurrent writes of one schedule leave one valid schedule.
    let writes = (0..8).map(|i| {
        server.root(
            "POST",
            "sys/discover/schedules/race",
            Some(json!({"source": "database/config/pg", "interval": format!("{}m", i + 1)})),
        )
    });
    for (status, answer) in futures::future::join_all(writes).await {
        assert_eq!(status, 204, "{answer}");
    }
    let raced = schedule(&server, "race").await;
    let interval = raced["interval"].as_i64().expect("interval");
    assert!(
        interval % 60 == 0 && (60..=480).contains(&interval),
        "{raced}"
    );
    let (_, list) = server.root("LIST", "sys/discover/schedules", None).await;
    assert_eq!(list["data"]["keys"], json!(["nightly", "race"]));
    for name in ["nightly", "race"] {
        let (status, _) = server
            .root("DELETE", &format!("sys/discover/schedules/{name}"), None)
            .await;
        assert_eq!(status, 204);
    }
}
