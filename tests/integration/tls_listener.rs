//! The HTTPS listener: its certificate reloaded on SIGHUP while open
//! connections keep working, a bad reload kept out, client certificates
//! checked against a CA, and the lowest TLS version.

use super::common::TestServer;
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls;

/// A test CA.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("CA certificate");
        Self { cert, key }
    }

    /// A certificate for `localhost` and `127.0.0.1` named `cn`.
    fn issue(&self, cn: &str, usage: ExtendedKeyUsagePurpose) -> Leaf {
        self.issue_for(&["localhost", "127.0.0.1"], cn, usage)
    }

    /// A certificate for `names` only.
    fn issue_for(&self, names: &[&str], cn: &str, usage: ExtendedKeyUsagePurpose) -> Leaf {
        let names = names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let mut params = CertificateParams::new(names).expect("params");
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.cert, &self.key).expect("sign");
        Leaf { cert, key }
    }

    fn write(&self, path: &Path) {
        std::fs::write(path, self.cert.pem()).expect("write CA");
    }

    fn reqwest(&self) -> reqwest::Certificate {
        reqwest::Certificate::from_pem(self.cert.pem().as_bytes()).expect("CA pem")
    }
}

/// A certificate with its key.
struct Leaf {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Leaf {
    fn server(ca: &Ca, cn: &str) -> Self {
        ca.issue(cn, ExtendedKeyUsagePurpose::ServerAuth)
    }

    fn client(ca: &Ca, cn: &str) -> Self {
        ca.issue(cn, ExtendedKeyUsagePurpose::ClientAuth)
    }

    fn der(&self) -> Vec<u8> {
        self.cert.der().to_vec()
    }

    fn write_cert(&self, files: &Files) {
        std::fs::write(&files.cert, self.cert.pem()).expect("write cert");
    }

    fn write_key(&self, files: &Files) {
        std::fs::write(&files.key, self.key.serialize_pem()).expect("write key");
    }

    fn identity(&self) -> reqwest::Identity {
        let pem = format!("{}{}", self.cert.pem(), self.key.serialize_pem());
        reqwest::Identity::from_pem(pem.as_bytes()).expect("identity")
    }
}

/// Where the server's TLS files live, apart from the server's own temp dir
/// (they must exist before it starts).
struct Files {
    _dir: tempfile::TempDir,
    cert: PathBuf,
    key: PathBuf,
    client_ca: PathBuf,
}

impl Files {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("dir");
        Self {
            cert: dir.path().join("cert.pem"),
            key: dir.path().join("key.pem"),
            client_ca: dir.path().join("client-ca.pem"),
            _dir: dir,
        }
    }

    /// The `[listener]` lines for these files, plus `extra`.
    fn listener(&self, extra: &str) -> String {
        format!(
            "tls_cert_file = \"{}\"\ntls_key_file = \"{}\"\n{extra}",
            self.cert.display(),
            self.key.display()
        )
    }
}

/// A server on `leaf`'s certificate, with `extra` in `[listener]`.
fn tls_server(files: &Files, leaf: &Leaf, extra: &str) -> TestServer {
    leaf.write_cert(files);
    leaf.write_key(files);
    let server = TestServer::from_config(&files.listener(extra), "");
    assert!(server.addr.starts_with("https://"), "{}", server.addr);
    server
}

fn client_config(ca: &Ca) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert.der().clone()).expect("root");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    Arc::new(config)
}

/// One TLS connection to the server, kept open across requests.
async fn connect(
    server: &TestServer,
    config: &Arc<rustls::ClientConfig>,
) -> TlsStream<tokio::net::TcpStream> {
    let host_port = server.addr.trim_start_matches("https://");
    let tcp = tokio::net::TcpStream::connect(host_port)
        .await
        .expect("tcp connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    tokio_rustls::TlsConnector::from(Arc::clone(config))
        .connect(name, tcp)
        .await
        .expect("TLS handshake")
}

/// The certificate the server showed on this connection.
fn peer_cert(stream: &TlsStream<tokio::net::TcpStream>) -> Vec<u8> {
    stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|cert| cert.to_vec())
        .expect("a peer certificate")
}

/// One HTTP/1.1 request on an open connection: the status, the
/// connection left open for the next.
async fn get(stream: &mut TlsStream<tokio::net::TcpStream>, path: &str) -> u16 {
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk).await.expect("read");
        assert!(n > 0, "the connection closed before an answer");
        answer.extend_from_slice(&chunk[..n]);
        if let Some(i) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&answer[..head_end]).to_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse().expect("content-length"))
        .unwrap_or(0);
    while answer.len() < head_end + length {
        let n = stream.read(&mut chunk).await.expect("read body");
        assert!(n > 0, "the connection closed inside a body");
        answer.extend_from_slice(&chunk[..n]);
    }
    head.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status line")
}

const HEALTH: &str = "/v1/sys/health?uninitcode=200&sealedcode=200";

/// Waits until a new connection is served `want`.
async fn wait_for_cert(server: &TestServer, config: &Arc<rustls::ClientConfig>, want: &[u8]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut stream = connect(server, config).await;
        if peer_cert(&stream) == want {
            assert_eq!(get(&mut stream, HEALTH).await, 200);
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the certificate was not reloaded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the server's log has `count` failed reloads; the log.
async fn wait_for_failed_reloads(server: &TestServer, count: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = std::fs::read_to_string(server.temp_path("qm.log")).unwrap_or_default();
        if log.matches("listener certificate was not reloaded").count() >= count {
            return log;
        }
        assert!(Instant::now() < deadline, "no failed reload logged: {log}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_sighup_swaps_the_certificate_under_an_open_connection() {
    let ca = Ca::new("qm test CA");
    let (first, second) = (Leaf::server(&ca, "qm-one"), Leaf::server(&ca, "qm-two"));
    let files = Files::new();
    let server = tls_server(&files, &first, "");
    let config = client_config(&ca);

    let mut open = connect(&server, &config).await;
    assert_eq!(peer_cert(&open), first.der());
    assert_eq!(get(&mut open, HEALTH).await, 200);

    second.write_cert(&files);
    second.write_key(&files);
    server.signal("HUP");
    wait_for_cert(&server, &config, &second.der()).await;

    // Past its handshake, the old connection goes on with the old certificate.
    assert_eq!(get(&mut open, HEALTH).await, 200, "the open connection");
    assert_eq!(peer_cert(&open), first.der());
    let fresh = connect(&server, &config).await;
    assert_eq!(peer_cert(&fresh), second.der());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_a_bad_pair_under_sighup_keeps_the_old_certificate() {
    let ca = Ca::new("qm test CA");
    let (first, second) = (Leaf::server(&ca, "qm-one"), Leaf::server(&ca, "qm-two"));
    let files = Files::new();
    let server = tls_server(&files, &first, "");
    let config = client_config(&ca);

    // A certificate file that does not parse.
    std::fs::write(
        &files.cert,
        "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n",
    )
    .expect("write");
    server.signal("HUP");
    let log = wait_for_failed_reloads(&server, 1).await;
    assert!(log.contains(&files.cert.display().to_string()), "{log}");
    let mut stream = connect(&server, &config).await;
    assert_eq!(peer_cert(&stream), first.der());
    assert_eq!(get(&mut stream, HEALTH).await, 200);

    // A good certificate whose key is still the old one.
    second.write_cert(&files);
    server.signal("HUP");
    let log = wait_for_failed_reloads(&server, 2).await;
    assert!(log.contains("does not belong to"), "{log}");
    let key_pem = first.key.serialize_pem();
    let key_line = key_pem.lines().nth(1).expect("a base64 line");
    assert!(!log.contains(key_line), "key material in the log: {log}");
    let mut stream = connect(&server, &config).await;
    assert_eq!(peer_cert(&stream), first.der());
    assert_eq!(get(&mut stream, HEALTH).await, 200);

    // Once the pair is whole, the next SIGHUP takes it.
    second.write_key(&files);
    server.signal("HUP");
    wait_for_cert(&server, &config, &second.der()).await;
}

fn https_client(ca: &Ca, identity: Option<&Leaf>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder().add_root_certificate(ca.reqwest());
    if let Some(leaf) = identity {
        builder = builder.identity(leaf.identity());
    }
    builder.build().expect("client")
}

async fn health(server: &TestServer, client: &reqwest::Client) -> Result<u16, reqwest::Error> {
    let response = client
        .get(format!("{}{HEALTH}", server.addr))
        .send()
        .await?;
    Ok(response.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_client_certificates_are_checked_against_the_client_ca() {
    let ca = Ca::new("qm test CA");
    let clients = Ca::new("qm clients CA");
    let stranger = Ca::new("another CA");
    let good = Leaf::client(&clients, "app");
    let foreign = Leaf::client(&stranger, "app");
    let files = Files::new();
    clients.write(&files.client_ca);
    let ca_line = format!("tls_client_ca_file = \"{}\"\n", files.client_ca.display());

    let server = tls_server(
        &files,
        &Leaf::server(&ca, "qm"),
        &format!("{ca_line}tls_require_and_verify_client_cert = true"),
    );
    let without = health(&server, &https_client(&ca, None)).await;
    assert!(without.is_err(), "no client certificate: {without:?}");
    let other = health(&server, &https_client(&ca, Some(&foreign))).await;
    assert!(other.is_err(), "a certificate from another CA: {other:?}");
    let ok = health(&server, &https_client(&ca, Some(&good))).await;
    assert_eq!(ok.expect("a good client certificate"), 200);
    drop(server);

    let server = tls_server(&files, &Leaf::server(&ca, "qm"), &ca_line);
    let without = health(&server, &https_client(&ca, None)).await;
    assert_eq!(without.expect("optional client certificate"), 200);
    let ok = health(&server, &https_client(&ca, Some(&good))).await;
    assert_eq!(ok.expect("a good client certificate"), 200);
    let other = health(&server, &https_client(&ca, Some(&foreign))).await;
    assert!(
        other.is_err(),
        "a certificate sent is still verified: {other:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_min_version_13_refuses_a_tls12_client() {
    let ca = Ca::new("qm test CA");
    let files = Files::new();
    let server = tls_server(
        &files,
        &Leaf::server(&ca, "qm"),
        "tls_min_version = \"tls13\"",
    );
    let tls12 = reqwest::Client::builder()
        .add_root_certificate(ca.reqwest())
        .max_tls_version(reqwest::tls::Version::TLS_1_2)
        .build()
        .expect("client");
    let old = health(&server, &tls12).await;
    assert!(old.is_err(), "a TLS 1.2 client: {old:?}");
    let ok = health(&server, &https_client(&ca, None)).await;
    assert_eq!(ok.expect("a TLS 1.3 client"), 200);
}

/// `qm server` on this config: its exit code and stderr.
fn start_fails(listener: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("server.toml");
    std::fs::write(
        &config,
        format!(
            "[listener]\naddress = \"127.0.0.1:0\"\n{listener}\n[storage]\npath = \"{}\"\n",
            dir.path().join("data").display()
        ),
    )
    .expect("write config");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_qm"))
        .args(["server", "--config", config.to_str().expect("utf-8")])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run qm");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn tls_bad_listener_settings_stop_the_start() {
    let files = Files::new();
    let (code, stderr) = start_fails(&files.listener("tls_min_version = \"tls10\""));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("tls_min_version") && stderr.contains("rustls"),
        "{stderr}"
    );
    let (code, stderr) = start_fails(&files.listener("tls_require_and_verify_client_cert = true"));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("tls_client_ca_file"), "{stderr}");
    // Files that are not there are named before the server starts.
    let (code, stderr) = start_fails(&files.listener(""));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&files.cert.display().to_string()),
        "{stderr}"
    );
}

/// The CLI reaches a server with a private CA and client certificates the
/// way Vault's does: `VAULT_CACERT` (or `VAULT_CAPATH`), `VAULT_CLIENT_CERT`
/// and `VAULT_CLIENT_KEY`; without them it fails and says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_the_cli_takes_vaults_tls_variables() {
    let ca = Ca::new("qm test CA");
    let clients = Ca::new("qm clients CA");
    let files = Files::new();
    clients.write(&files.client_ca);
    let server = tls_server(
        &files,
        &Leaf::server(&ca, "qm"),
        &format!(
            "tls_client_ca_file = \"{}\"\ntls_require_and_verify_client_cert = true",
            files.client_ca.display()
        ),
    );
    let dir = tempfile::tempdir().expect("dir");
    let ca_file = dir.path().join("ca.pem");
    ca.write(&ca_file);
    let ca_dir = dir.path().join("cas");
    std::fs::create_dir(&ca_dir).expect("dir");
    ca.write(&ca_dir.join("one.pem"));
    let app = Leaf::client(&clients, "app");
    let (cert, key) = (dir.path().join("app.pem"), dir.path().join("app-key.pem"));
    std::fs::write(&cert, app.cert.pem()).expect("write");
    std::fs::write(&key, app.key.serialize_pem()).expect("write");
    let (ca_file, ca_dir, cert, key) = (
        ca_file.to_str().expect("path"),
        ca_dir.to_str().expect("path"),
        cert.to_str().expect("path"),
        key.to_str().expect("path"),
    );
    for (how, envs) in [
        (
            "VAULT_CACERT",
            vec![
                ("VAULT_CACERT", ca_file),
                ("VAULT_CLIENT_CERT", cert),
                ("VAULT_CLIENT_KEY", key),
            ],
        ),
        (
            "BAO_CAPATH",
            vec![
                ("BAO_CAPATH", ca_dir),
                ("QM_CLIENT_CERT", cert),
                ("QM_CLIENT_KEY", key),
            ],
        ),
    ] {
        let out = server.qm_with_env(&["status", "-format=json"], &envs);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("\"initialized\""),
            "{how}: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for (what, envs, needle) in [
        (
            "no CA",
            vec![("VAULT_CLIENT_CERT", cert), ("VAULT_CLIENT_KEY", key)],
            "Error",
        ),
        (
            "no client certificate",
            vec![("VAULT_CACERT", ca_file)],
            "Error",
        ),
        (
            "a cert without its key",
            vec![("VAULT_CACERT", ca_file), ("VAULT_CLIENT_CERT", cert)],
            "go together",
        ),
        (
            "a CA file that is not PEM",
            vec![("VAULT_CACERT", key)],
            "CA certificate",
        ),
    ] {
        let out = server.qm_with_env(&["status"], &envs);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{what}");
        assert!(stderr.contains(needle), "{what}: {stderr}");
    }
}

/// `VAULT_TLS_SERVER_NAME`: a server reached by its IP whose certificate
/// names only `vault.internal` is verified against that name; a wrong
/// name still fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_the_cli_checks_the_certificate_against_vault_tls_server_name() {
    let ca = Ca::new("qm test CA");
    let files = Files::new();
    let leaf = ca.issue_for(
        &["vault.internal"],
        "qm",
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let server = tls_server(&files, &leaf, "");
    let dir = tempfile::tempdir().expect("dir");
    let ca_file = dir.path().join("ca.pem");
    ca.write(&ca_file);
    let ca_file = ca_file.to_str().expect("path");
    for (name, works) in [
        (None, false),
        (Some("vault.internal"), true),
        (Some("other.internal"), false),
    ] {
        let mut envs = vec![("VAULT_CACERT", ca_file)];
        if let Some(name) = name {
            envs.push(("VAULT_TLS_SERVER_NAME", name));
        }
        let out = server.qm_with_env(&["status", "-format=json"], &envs);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            stdout.contains("\"initialized\""),
            works,
            "{name:?}: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
