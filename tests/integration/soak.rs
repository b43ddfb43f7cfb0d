//! CI's minute of the soak: `scripts/faults/soak.sh 60s` against this
//! build's `qm` (credential issuance at 80% of the rate measured at the
//! start, 10 s leases expiring all along, KV v2 reads and writes beside).
//! It checks what a user would lose: no request fails and, once the TTL is
//! out, no lease and no Postgres user of the run is left. The p99 and RSS
//! figures are printed, not asserted (a debug build beside the other tests
//! times nothing); the full run judges them.

use std::process::Command;

#[test]
fn a_minute_of_issuance_and_expiry_loses_nothing() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/faults/soak.sh");
    let output = Command::new("bash")
        .args([script, "60s"])
        .env("QM_SOAK_BIN", env!("CARGO_BIN_EXE_qm"))
        .env("QM_SOAK_STRICT", "0")
        .output()
        .expect("run scripts/faults/soak.sh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "the soak lost something: {stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("lost: 0 errors, 0 leases and 0 users left"),
        "{stdout}"
    );
}
