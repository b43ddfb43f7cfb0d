//! systemd: the server speaks the `Type=notify` protocol to the socket in
//! `$NOTIFY_SOCKET` (READY, the seal state as it changes, STOPPING), and
//! the shipped unit file passes `systemd-analyze verify`.

use super::common::TestServer;
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

/// Reads datagrams until one contains `want`; all of them, joined.
fn wait_for(socket: &UnixDatagram, want: &str, seen: &mut String) {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut buffer = [0u8; 4096];
    while !seen.contains(want) {
        assert!(
            Instant::now() < deadline,
            "no {want:?} from the server; got {seen:?}"
        );
        if let Ok(n) = socket.recv(&mut buffer) {
            seen.push_str(&String::from_utf8_lossy(&buffer[..n]));
        }
    }
}

#[tokio::test]
async fn the_server_tells_systemd_it_is_ready_and_its_seal_state() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).expect("bind the notify socket");
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let mut server = TestServer::from_config_with_env(
        "",
        "",
        &[("NOTIFY_SOCKET", path.to_str().expect("utf-8"))],
    );
    let mut seen = String::new();
    wait_for(&socket, "READY=1", &mut seen);
    assert!(seen.contains("STATUS=sealed"), "{seen:?}");

    server.init_and_unseal().await;
    wait_for(&socket, "STATUS=unsealed", &mut seen);
    let (status, body) = server.root("PUT", "sys/seal", None).await;
    assert_eq!(status, 204, "{body}");
    seen.clear();
    wait_for(&socket, "STATUS=sealed", &mut seen);

    server.signal("TERM");
    wait_for(&socket, "STOPPING=1", &mut seen);
}

#[test]
fn the_unit_file_verifies() {
    let Ok(output) = std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
    else {
        eprintln!("systemd-analyze is not installed; the unit file was not checked");
        return;
    };
    assert!(output.status.success());
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/quartermaster.service"
    ))
    .expect("the unit file");
    assert!(unit.contains("\nType=notify\n"), "a notify unit");
    // The binary it names is installed later; verify against this build's.
    let unit = unit
        .replace("/usr/local/bin/qm", env!("CARGO_BIN_EXE_qm"))
        .lines()
        .filter(|l| !l.starts_with("ConditionFileNotEmpty="))
        .collect::<Vec<_>>()
        .join("\n");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("quartermaster.service");
    std::fs::write(&path, unit).expect("write");
    let output = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze verify");
    let errors = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && errors.trim().is_empty(),
        "systemd-analyze verify: {errors}"
    );
}
