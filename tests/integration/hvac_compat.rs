//! hvac, the Python client, as its users call it: tests/compat/hvac_compat.py
//! against a dev server, every call's result and the fields hvac's users
//! read asserted there (scripts/test.sh installs hvac with the bao CLI).

use super::common::TestServer;
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hvac_calls_work_as_against_vault() {
    let python = std::env::var("QM_TEST_PYTHON")
        .expect("QM_TEST_PYTHON: run scripts/test.sh (it installs hvac)");
    let server = TestServer::dev();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/compat/hvac_compat.py");
    let out = Command::new(python)
        .arg(script)
        .env("VAULT_ADDR", &server.addr)
        .env("VAULT_TOKEN", &server.root_token)
        .env("HVAC_AUDIT_FILE", server.temp_path("hvac-audit.log"))
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(" 0 failed"), "{stdout}");
}
