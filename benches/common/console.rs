//! The web console's timings in headless Chromium (chromedriver): the first
//! contentful paint of `/ui/`, and the identities table — the render of
//! its 100 rows after the API answered, and the whole ask-to-rows time —
//! as the page's own `performance` measures record them. None when
//! chromedriver is missing (scripts/test.sh installs it).

use fantoccini::{ClientBuilder, Locator};
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One load of the identities page, in milliseconds.
pub struct ConsoleTiming {
    pub first_paint: f64,
    pub rows_render: f64,
    pub ask_to_rows: f64,
}

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `runs` fresh loads of `#/identities` signed in with `token`.
pub async fn identities_page(addr: &str, token: &str, runs: usize) -> Option<Vec<ConsoleTiming>> {
    let binary = std::env::var("QM_TEST_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .ok()?
        .port();
    let child = Command::new(&binary)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let _driver = Driver(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let chromium = std::env::var("QM_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"binary": chromium, "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
            "--disable-dev-shm-usage", "--window-size=1280,800"]}),
    );
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .ok()?;
    client.goto(&format!("{addr}/ui/")).await.ok()?;
    client
        .execute(
            "sessionStorage.setItem('qm.token', arguments[0])",
            vec![json!(token)],
        )
        .await
        .ok()?;
    let mut timings = Vec::with_capacity(runs);
    for _ in 0..runs {
        client
            .goto(&format!("{addr}/ui/?fresh={}#/identities", timings.len()))
            .await
            .ok()?;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let rows = client
                .find_all(Locator::Css("#identity-results tbody tr"))
                .await
                .map(|r| r.len())
                .unwrap_or(0);
            let measured = client
                .execute(
                    "const m = performance.getEntriesByName('qm-identities-render')[0];
                     const t = performance.getEntriesByName('qm-identities-total')[0];
                     const p = performance.getEntriesByName('first-contentful-paint')[0];
                     return m && t && p ? [p.startTime, m.duration, t.duration] : null;",
                    vec![],
                )
                .await
                .ok()?;
            if let (true, Value::Array(values)) = (rows >= 100, &measured) {
                let at = |i: usize| values.get(i).and_then(Value::as_f64).unwrap_or(f64::NAN);
                timings.push(ConsoleTiming {
                    first_paint: at(0),
                    rows_render: at(1),
                    ask_to_rows: at(2),
                });
                break;
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let _ = client.close().await;
    Some(timings)
}
