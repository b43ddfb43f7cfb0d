//! High availability on PostgreSQL storage, with real server processes on
//! one test database: one active node, standbys that forward (raw HTTP and
//! the `bao` CLI), health codes, `sys/leader`, `sys/ha-status`,
//! `sys/step-down`; failover after `kill -9` under load; the fence after a
//! SIGSTOP; and the term check at the storage layer.

use super::common::{pg, pg_roles, pg_url, TestDatabase, TestServer};
use quartermaster::storage::{Candidate, Change, ConnectionUrl, PostgresStorage, Storage};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

fn cluster_storage(url: &str, lock_ttl: &str) -> String {
    format!("type = \"postgresql\"\nha_enabled = true\nconnection_url = \"{url}\"\nha_lock_ttl = \"{lock_ttl}\"")
}

/// Starts `count` nodes on `db`, initializes the first and unseals all.
async fn cluster(db: &TestDatabase, count: usize, lock_ttl: &str) -> Vec<TestServer> {
    let storage = cluster_storage(&db.url, lock_ttl);
    let mut nodes: Vec<TestServer> = (0..count)
        .map(|_| TestServer::with_storage(&storage, &[("QM_LOG_LEVEL", "info")]))
        .collect();
    let key = nodes[0].init_and_unseal().await;
    let root = nodes[0].root_token.clone();
    for node in nodes.iter_mut().skip(1) {
        node.unseal(&key).await;
        node.root_token = root.clone();
    }
    nodes
}

/// Waits until exactly one of `nodes` says it is active; returns its index.
async fn wait_for_active(nodes: &[&TestServer], within: Duration) -> usize {
    let deadline = Instant::now() + within;
    loop {
        let mut active = Vec::new();
        for (i, node) in nodes.iter().enumerate() {
            let (_, leader) = node.call("GET", "sys/leader", None, None).await;
            if leader["is_self"] == true {
                active.push(i);
            }
        }
        if active.len() == 1 {
            return active[0];
        }
        assert!(
            Instant::now() < deadline,
            "no single active node within {within:?}: {active:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn mount_role(server: &TestServer, role: &str, ttl: &str) {
    for (path, body) in [
        ("sys/mounts/database", json!({"type": "database"})),
        (
            "database/config/pg",
            json!({"plugin_name": "postgresql-database-plugin", "connection_url": pg_url(), "allowed_roles": "*"}),
        ),
        (
            &format!("database/roles/{role}") as &str,
            json!({
                "db_name": "pg",
                "creation_statements": "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'",
                "default_ttl": ttl,
                "max_ttl": "1h",
            }),
        ),
    ] {
        let (status, body) = server.root("POST", path, Some(body)).await;
        assert_eq!(status, 204, "{path}: {body}");
    }
}

/// Issues one credential; returns (lease id, username).
async fn issue(server: &TestServer, role: &str) -> Result<(String, String), (u16, Value)> {
    let (status, body) = server
        .root("GET", &format!("database/creds/{role}"), None)
        .await;
    if status != 200 {
        return Err((status, body));
    }
    Ok((
        body["lease_id"].as_str().expect("lease").to_string(),
        body["data"]["username"].as_str().expect("user").to_string(),
    ))
}

fn log_of(server: &TestServer) -> String {
    let mut log = std::fs::read_to_string(server.temp_path("qm.log")).unwrap_or_default();
    log.push_str(
        &std::fs::read_to_string(server.temp_path("qm-restarted.log")).unwrap_or_default(),
    );
    log
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standbys_forward_everything_and_say_who_is_active() {
    let db = TestDatabase::create().await;
    let nodes = cluster(&db, 3, "5s").await;
    let refs: Vec<&TestServer> = nodes.iter().collect();
    let active = wait_for_active(&refs, Duration::from_secs(10)).await;
    let standby = &nodes[(active + 1) % 3];
    let leader = &nodes[active];

    // Health: 200 active, 429 standby (200 with standbyok), as Vault.
    assert_eq!(leader.call("GET", "sys/health", None, None).await.0, 200);
    let (status, health) = standby.call("GET", "sys/health", None, None).await;
    assert_eq!(status, 429, "{health}");
    assert_eq!(health["standby"], true);
    assert_eq!(health["sealed"], false);
    let ok = standby
        .call("GET", "sys/health?standbyok=true", None, None)
        .await;
    assert_eq!(ok.0, 200);
    let (status, _) = standby
        .call("GET", "sys/health?standbyok=maybe", None, None)
        .await;
    assert_eq!(status, 400, "a bad standbyok is a 400");
    let (_, who) = standby.call("GET", "sys/leader", None, None).await;
    assert_eq!(who["ha_enabled"], true);
    assert_eq!(who["is_self"], false);
    assert_eq!(who["leader_address"], leader.addr.as_str(), "{who}");

    // Everything else is forwarded: mount and write through one standby,
    // read through the other and through the active.
    let (status, body) = standby
        .root("POST", "sys/mounts/secret", Some(json!({"type": "kv-v2"})))
        .await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = standby
        .root(
            "PUT",
            "secret/data/app",
            Some(json!({"data": {"pw": "s3cret"}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    for node in &nodes {
        let (status, body) = node.root("GET", "secret/data/app", None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["data"]["pw"], "s3cret");
    }
    // Errors come back as the active node answered them.
    let (status, _) = standby
        .call("GET", "secret/data/app", Some("not-a-token"), None)
        .await;
    assert_eq!(status, 403);

    // The bao CLI through a standby.
    let out = standby.bao(
        &standby.root_token,
        &["kv", "get", "-field=pw", "secret/app"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "s3cret");

    // The client's address reaches the active node: a token bound to
    // 127.0.0.1 works through the standby; one bound elsewhere does not,
    // even when the client claims that address in X-Forwarded-For.
    let (status, body) = standby
        .root("POST", "sys/auth/approle", Some(json!({"type": "approle"})))
        .await;
    assert_eq!(status, 204, "{body}");
    for (role, cidr, expected) in [("here", "127.0.0.1/32", 200), ("away", "10.0.0.0/8", 403)] {
        let (status, body) = standby
            .root(
                "POST",
                &format!("auth/approle/role/{role}"),
                Some(json!({"token_policies": ["default"], "token_bound_cidrs": [cidr]})),
            )
            .await;
        assert_eq!(status, 204, "{body}");
        let (_, id) = standby
            .root("GET", &format!("auth/approle/role/{role}/role-id"), None)
            .await;
        let (_, secret) = standby
            .root("POST", &format!("auth/approle/role/{role}/secret-id"), None)
            .await;
        let (status, login) = standby
            .call(
                "POST",
                "auth/approle/login",
                None,
                Some(json!({"role_id": id["data"]["role_id"], "secret_id": secret["data"]["secret_id"]})),
            )
            .await;
        assert_eq!(status, 200, "{login}");
        let token = login["auth"]["client_token"].as_str().expect("token");
        let (status, body) = standby
            .call_with(
                "GET",
                "auth/token/lookup-self",
                Some(token),
                None,
                &[("X-Forwarded-For", "10.1.2.3")],
            )
            .await;
        assert_eq!(status, expected, "{cidr}: {body}");
    }
    // Nobody but a node of the cluster can claim to forward.
    for forged in [
        "1 00",
        "abc",
        &format!("{} {}", 1_700_000_000, "0".repeat(64)),
    ] {
        let (status, body) = leader
            .call_with(
                "GET",
                "sys/mounts",
                Some(&leader.root_token),
                None,
                &[("X-Qm-Forwarded", forged), ("X-Forwarded-For", "10.1.2.3")],
            )
            .await;
        assert_eq!(status, 400, "{forged}: {body}");
    }

    // sys/ha-status lists the three nodes, one active.
    let (status, body) = standby.root("GET", "sys/ha-status", None).await;
    assert_eq!(status, 200, "{body}");
    let listed = body["nodes"].as_array().expect("nodes");
    assert_eq!(listed.len(), 3, "{body}");
    assert_eq!(
        listed.iter().filter(|n| n["active_node"] == true).count(),
        1
    );

    // sys/step-down needs sudo; with it, another node takes over.
    let (status, created) = leader
        .root(
            "POST",
            "sys/policies/acl/stepper",
            Some(json!({"policy": "path \"sys/step-down\" { capabilities = [\"update\"] }"})),
        )
        .await;
    assert_eq!(status, 204, "{created}");
    let (_, created) = leader
        .root(
            "POST",
            "auth/token/create",
            Some(json!({"policies": ["stepper"]})),
        )
        .await;
    let weak = created["auth"]["client_token"]
        .as_str()
        .expect("token")
        .to_string();
    for spelling in [
        "sys/step-down",
        "sys/step-down/",
        "sys//step-down",
        "sys/Step-Down",
        "sys/step%2Ddown",
    ] {
        let (status, body) = standby.call("PUT", spelling, Some(&weak), None).await;
        assert!(
            [403, 404, 405, 400].contains(&status),
            "{spelling}: {status} {body}"
        );
    }
    // sys/ha-status needs read on it; the stepper token has none.
    for spelling in [
        "sys/ha-status",
        "sys/ha-status/",
        "sys//ha-status",
        "sys/HA-Status",
    ] {
        let (status, body) = standby.call("GET", spelling, Some(&weak), None).await;
        assert!(
            [403, 404, 400].contains(&status),
            "{spelling}: {status} {body}"
        );
    }
    for hostile in [
        "standbycode=70000",
        "standbycode=-1",
        "activecode=abc",
        "standbyok=2",
    ] {
        let (status, body) = standby
            .call("GET", &format!("sys/health?{hostile}"), None, None)
            .await;
        assert_eq!(status, 400, "{hostile}: {body}");
    }
    assert_eq!(wait_for_active(&refs, Duration::from_secs(1)).await, active);
    let out = standby.bao(
        &standby.root_token,
        &["operator", "members", "-format=json"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let members: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        members["Nodes"].as_array().map(Vec::len),
        Some(3),
        "{members}"
    );
    let out = standby.bao(&standby.root_token, &["operator", "step-down"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let next = wait_for_active(&refs, Duration::from_secs(10)).await;
    assert_ne!(next, active, "another node took over");
    let (status, body) = leader.root("GET", "secret/data/app", None).await;
    assert_eq!(status, 200, "the old active forwards now: {body}");
    drop(nodes);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_a_standby_takes_over_and_revokes_every_lease_on_time() {
    let db = TestDatabase::create().await;
    let mut nodes = cluster(&db, 3, "10s").await;
    let refs: Vec<&TestServer> = nodes.iter().collect();
    let active = wait_for_active(&refs, Duration::from_secs(10)).await;
    let through = (active + 1) % 3;
    mount_role(&nodes[through], "hafo", "4s").await;
    let mut issued = Vec::new();
    for _ in 0..10 {
        issued.push(issue(&nodes[through], "hafo").await.expect("issue"));
    }

    nodes[active].kill();
    let killed = Instant::now();
    // Issue through the same standby until it works again.
    let recovered = loop {
        match issue(&nodes[through], "hafo").await {
            Ok(lease) => {
                issued.push(lease);
                break killed.elapsed();
            }
            Err((status, body)) => {
                assert!(
                    killed.elapsed() < Duration::from_secs(30),
                    "no recovery: {status} {body}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    eprintln!("first credential through the standby {recovered:?} after kill -9 (10 s lock TTL)");
    assert!(
        recovered < Duration::from_secs(10),
        "the dead node's lock was released with its connection, not left to expire: {recovered:?}"
    );

    // Every lease (before and after the kill) is revoked on time by the
    // new active node: all users gone, no user left that no lease tracks.
    let users: BTreeSet<String> = issued.iter().map(|(_, u)| u.clone()).collect();
    assert_eq!(users.len(), issued.len(), "no credential issued twice");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left: Vec<String> = pg_roles("v-root-hafo-")
            .await
            .into_iter()
            .filter(|u| users.contains(u))
            .collect();
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "still there: {left:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let strays: Vec<String> = pg_roles("v-root-hafo-")
        .await
        .into_iter()
        .filter(|u| !users.contains(u))
        .collect();
    assert!(strays.is_empty(), "users no lease tracks: {strays:?}");
    drop(nodes);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_active_is_fenced_and_steps_down_by_itself() {
    let db = TestDatabase::create().await;
    let nodes = cluster(&db, 2, "2s").await;
    let refs: Vec<&TestServer> = nodes.iter().collect();
    let a = wait_for_active(&refs, Duration::from_secs(10)).await;
    let b = 1 - a;
    mount_role(&nodes[a], "hafe", "3s").await;
    let mut before = Vec::new();
    for _ in 0..5 {
        before.push(issue(&nodes[a], "hafe").await.expect("issue"));
    }

    // A busy machine may see a lease expire (and the still-active node
    // revoke it, rightly) before the pause: only what it logs after counts.
    nodes[a].signal("STOP");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let lines_before_pause = log_of(&nodes[a]).lines().count();
    // The paused node keeps its connection (and its advisory lock): the
    // standby takes over only once the lease lapses.
    let b_active = wait_for_active(&[&nodes[b]], Duration::from_secs(15)).await;
    assert_eq!(b_active, 0);
    let after = issue(&nodes[b], "hafe")
        .await
        .expect("issue on the new active");
    // The leases issued before the pause expire and the new active revokes them.
    let users: Vec<String> = before.iter().map(|(_, u)| u.clone()).collect();
    let deadline = Instant::now() + Duration::from_secs(15);
    while pg_roles("v-root-hafe-")
        .await
        .iter()
        .any(|u| users.contains(u))
    {
        assert!(
            Instant::now() < deadline,
            "the new active did not revoke the expired leases"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    nodes[a].signal("CONT");
    // The old active steps down by itself and forwards from then on.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, leader) = nodes[a].call("GET", "sys/leader", None, None).await;
        if leader["is_self"] == false && leader["leader_address"] == nodes[b].addr.as_str() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the old active did not step down: {leader}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(wait_for_active(&refs, Duration::from_secs(1)).await, b);
    let (status, body) = nodes[a].root("GET", "database/creds/hafe", None).await;
    assert_eq!(status, 200, "forwarded to the new active: {body}");
    let log = log_of(&nodes[a]);
    let lines: Vec<&str> = log.lines().collect();
    let (before_pause, after_pause) = lines.split_at(lines_before_pause.min(lines.len()));
    assert!(
        after_pause.iter().any(|line| line.contains("stepped down")),
        "{log}"
    );
    assert_eq!(
        after_pause
            .iter()
            .filter(|line| line.contains("lease revoked"))
            .count(),
        0,
        "the paused node revoked nothing after it lost leadership: {log}"
    );
    // Every lease issued before the pause was revoked exactly once: by the
    // old active before it paused, or by the new one.
    let log_b = log_of(&nodes[b]);
    for (lease_id, _) in &before {
        let revocations = before_pause
            .iter()
            .copied()
            .chain(log_b.lines())
            .filter(|line| line.contains("lease revoked") && line.contains(lease_id.as_str()))
            .count();
        assert_eq!(revocations, 1, "{lease_id}: {log}\n{log_b}");
    }
    // The lease issued on the new active is still tracked, its user alive.
    let (status, body) = nodes[b]
        .root(
            "PUT",
            "sys/leases/lookup",
            Some(json!({"lease_id": after.0})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(pg_roles(&after.1).await, vec![after.1.clone()]);
    drop(nodes);
    db.drop().await;
}

fn fenced_store(url: &str) -> PostgresStorage {
    PostgresStorage::connect_fenced(&ConnectionUrl::from(url.to_string())).expect("connect")
}

fn candidate(name: &str) -> Candidate {
    Candidate {
        node_id: name.into(),
        api_addr: format!("http://{name}:8200"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_current_term_writes() {
    let db = TestDatabase::create().await;
    let url = db.url.clone();
    let ttl = Duration::from_secs(30);
    let outcome = tokio::task::spawn_blocking(move || {
        let one = fenced_store(&url);
        let two = fenced_store(&url);
        let put = |k: &str| vec![Change::Put(k.into(), b"v".to_vec())];
        assert!(one.apply(put("before")).is_err(), "no term, no write");
        let term = one
            .try_acquire(&candidate("one"), ttl)
            .expect("acquire")
            .term()
            .expect("won");
        assert_eq!(
            two.try_acquire(&candidate("two"), ttl).expect("try").term(),
            None,
            "held"
        );
        one.apply(put("a")).expect("the holder writes");
        one.apply(vec![
            Change::Put("b".into(), b"1".to_vec()),
            Change::Delete("a".into()),
        ])
        .expect("a batch");
        one.apply_relaxed(put("relaxed")).expect("a relaxed write");
        one.flush().expect("flush makes it durable");
        assert_eq!(one.get("relaxed").expect("get"), Some(b"v".to_vec()));
        assert!(
            two.apply_relaxed(put("c")).is_err(),
            "relaxed writes are fenced too"
        );
        let refused = two.apply(put("c")).expect_err("a standby cannot write");
        assert!(
            refused.to_string().contains("not the active node"),
            "{refused}"
        );
        // The holder's connection closes: its lock goes with it, and the
        // other takes over at once, well before the 30 s lease runs out.
        drop(one);
        let started = Instant::now();
        let next = loop {
            if let Some(term) = two.try_acquire(&candidate("two"), ttl).expect("try").term() {
                break term;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "no fast takeover"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(next, term + 1);
        two.apply(put("c")).expect("the new holder writes");
        assert_eq!(two.leader().expect("leader").holder, "two");
        (term, two.get("b").expect("get"), two.get("a").expect("get"))
    })
    .await
    .expect("join");
    assert_eq!(outcome.1, Some(b"1".to_vec()));
    assert_eq!(outcome.2, None);
    // In the database itself, the old term is refused.
    let client = super::common::connect_pg(&db.url).await.expect("connect");
    let err = client
        .query_one("SELECT qm_fence($1)", &[&outcome.0])
        .await
        .expect_err("the old term is over");
    assert_eq!(err.code().map(|c| c.code()), Some("QMF01"), "{err}");
    drop(client);
    let _ = pg().await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lapsed_lease_hands_over_even_with_the_holder_connected() {
    let db = TestDatabase::create().await;
    let url = db.url.clone();
    tokio::task::spawn_blocking(move || {
        let ttl = Duration::from_secs(1);
        let stuck = fenced_store(&url);
        let other = fenced_store(&url);
        let term = stuck
            .try_acquire(&candidate("stuck"), ttl)
            .expect("acquire")
            .term()
            .expect("won");
        assert_eq!(
            other
                .try_acquire(&candidate("other"), ttl)
                .expect("try")
                .term(),
            None
        );
        std::thread::sleep(Duration::from_millis(1200));
        // `stuck` never renewed: its own fence lapsed first, then Postgres's lease.
        assert!(stuck.fence().term().is_none());
        assert!(stuck
            .apply(vec![Change::Put("x".into(), b"1".to_vec())])
            .is_err());
        let next = other
            .try_acquire(&candidate("other"), ttl)
            .expect("try")
            .term()
            .expect("took over");
        assert_eq!(next, term + 1);
        assert!(
            !stuck.renew(term, ttl).expect("renew"),
            "the old term cannot be renewed"
        );
        other
            .apply(vec![Change::Put("x".into(), b"2".to_vec())])
            .expect("write");
    })
    .await
    .expect("join");
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_takeover_waits_for_writes_that_passed_the_fence() {
    let db = TestDatabase::create().await;
    let url = db.url.clone();
    let term = tokio::task::spawn_blocking(move || {
        let store = fenced_store(&url);
        store
            .try_acquire(&candidate("one"), Duration::from_secs(30))
            .expect("acquire")
            .term()
            .expect("won")
    })
    .await
    .expect("join");
    let writer = super::common::connect_pg(&db.url).await.expect("connect");
    let taker = super::common::connect_pg(&db.url).await.expect("connect");
    writer.batch_execute("BEGIN").await.expect("begin");
    writer
        .execute("SELECT qm_fence($1)", &[&term])
        .await
        .expect("the current term passes");
    // The takeover's exclusive fence lock waits while that write is open...
    taker
        .batch_execute("BEGIN; SET LOCAL lock_timeout = '300ms'")
        .await
        .expect("begin");
    let waited = taker
        .execute("SELECT pg_advisory_xact_lock(29038, $1)", &[&(term as i32)])
        .await
        .expect_err("blocked by the open write");
    assert_eq!(waited.code().map(|c| c.code()), Some("55P03"), "{waited}");
    taker.batch_execute("ROLLBACK").await.expect("rollback");
    // ...and gets it once the write has committed.
    writer.batch_execute("COMMIT").await.expect("commit");
    taker
        .batch_execute("BEGIN; SET LOCAL lock_timeout = '300ms'")
        .await
        .expect("begin");
    taker
        .execute("SELECT pg_advisory_xact_lock(29038, $1)", &[&(term as i32)])
        .await
        .expect("free once the write committed");
    taker.batch_execute("COMMIT").await.expect("commit");
    drop((writer, taker));
    db.drop().await;
}
