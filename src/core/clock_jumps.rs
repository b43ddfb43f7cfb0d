//! Clock jumps, against a whole core on a manual clock: an hour forward
//! revokes every lease then due, while requests keep being served; an hour
//! back lets no lease outlive its max TTL by more than the step (expiry
//! and max TTLs are absolute times). `scripts/faults/clock_jump.sh` makes
//! the same jumps under faketime against a release server and prints the
//! timings; here only the outcomes are asserted.

use super::{Core, Settings};
use crate::barrier::Barrier;
use crate::clock::{Clock, ManualClock, SystemClock};
use crate::logical::{Operation, Request, Response};
use crate::storage::SledStorage;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

async fn dev_core() -> (Arc<Core>, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(SystemClock.now_unix()));
    let storage = Arc::new(SledStorage::temporary().expect("temporary sled"));
    let core = Arc::new(Core::new(
        Barrier::new(storage, clock.clone()),
        clock.clone(),
        Settings::default(),
    ));
    core.start_background(tokio::runtime::Handle::current());
    core.dev_setup(Some("root".into()))
        .await
        .expect("dev setup");
    (core, clock)
}

async fn call(
    core: &Core,
    operation: Operation,
    path: &str,
    token: &str,
    data: Value,
) -> Result<Response, crate::error::ApiError> {
    let mut req = Request::new(operation, path);
    req.token = Some(Zeroizing::new(token.to_string()));
    req.data = match data {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    core.handle(req).await
}

fn field(response: &Response, section: &str, name: &str) -> Value {
    let value = match section {
        "auth" => response
            .auth
            .as_ref()
            .map(|a| json!({ "client_token": a.client_token.as_str() })),
        _ => response.data.clone().map(Value::Object),
    };
    value.map(|v| v[name].clone()).unwrap_or(Value::Null)
}

async fn token_leases(core: &Core) -> usize {
    match call(
        core,
        Operation::List,
        "sys/leases/lookup/auth/token/create/",
        "root",
        json!({}),
    )
    .await
    {
        Ok(response) => field(&response, "data", "keys")
            .as_array()
            .map_or(0, Vec::len),
        Err(_) => 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hour_forward_revokes_everything_due_and_requests_are_served() {
    let (core, clock) = dev_core().await;
    let count = 3_000;
    for _ in 0..count {
        call(
            &core,
            Operation::Update,
            "auth/token/create",
            "root",
            json!({ "ttl": "60s" }),
        )
        .await
        .expect("token");
    }
    call(
        &core,
        Operation::Update,
        "cubbyhole/x",
        "root",
        json!({ "v": "1" }),
    )
    .await
    .expect("write");
    assert_eq!(token_leases(&core).await, count);
    clock.advance(3600);
    let started = Instant::now();
    let (mut served, mut slowest, mut served_while_due) = (0, Duration::ZERO, 0);
    loop {
        let asked = Instant::now();
        let read = call(&core, Operation::Read, "cubbyhole/x", "root", json!({})).await;
        assert!(read.is_ok(), "a read failed during the expiry burst");
        slowest = slowest.max(asked.elapsed());
        served += 1;
        let remaining = token_leases(&core).await;
        if remaining == 0 {
            break;
        }
        served_while_due += 1;
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{remaining} leases still due after 120 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "clock +1h: {count} due leases revoked in {:.2} s; {served} reads served ({served_while_due} while leases were due), slowest {:.1} ms",
        started.elapsed().as_secs_f64(),
        slowest.as_secs_f64() * 1000.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hour_back_lets_no_lease_outlive_its_max_ttl_by_more_than_the_step() {
    let (core, clock) = dev_core().await;
    let issued_at = clock.now_unix();
    let created = call(
        &core,
        Operation::Update,
        "auth/token/create",
        "root",
        json!({ "ttl": "60s", "explicit_max_ttl": "120s" }),
    )
    .await
    .expect("token");
    let token = field(&created, "auth", "client_token")
        .as_str()
        .expect("token")
        .to_string();
    let step = 3600;
    clock.advance(-step);
    for _ in 0..5 {
        let _ = call(
            &core,
            Operation::Update,
            "auth/token/renew-self",
            &token,
            json!({ "increment": "1h" }),
        )
        .await;
    }
    let lookup = call(
        &core,
        Operation::Read,
        "auth/token/lookup-self",
        &token,
        json!({}),
    )
    .await
    .expect("lookup");
    let ttl = field(&lookup, "data", "ttl").as_i64().expect("ttl");
    assert!(
        ttl <= step + 120,
        "ttl {ttl} after stepping back {step} s: more than max TTL + step"
    );
    // Once the clock passes issue + max TTL again, the token is gone.
    clock.advance(step + 121);
    assert!(clock.now_unix() >= issued_at + 121);
    let started = Instant::now();
    while call(
        &core,
        Operation::Read,
        "auth/token/lookup-self",
        &token,
        json!({}),
    )
    .await
    .is_ok()
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the token outlived its max TTL"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
