//! Temporary AWS sessions through the STS plugin, against moto as the STS
//! and IAM endpoint: the Jenkins flow, STS limits, non-renewable leases,
//! the plain-spoken revoke, and the emergency stop `revoke-sessions`.

use super::common::{ok_stdout, unique, TestServer};
use serde_json::{json, Value};

pub(crate) fn aws_url() -> String {
    std::env::var("QM_TEST_AWS_URL").expect("QM_TEST_AWS_URL: run scripts/test.sh (it starts moto)")
}

pub(crate) async fn aws_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sts::config::Credentials::new(
            "AKIATESTTESTTEST0000",
            "test-secret",
            None,
            None,
            "test",
        ))
        .endpoint_url(aws_url())
        .load()
        .await
}

/// Creates an IAM role in moto; returns its ARN.
async fn create_role(name: &str) -> String {
    let iam = aws_sdk_iam::Client::new(&aws_config().await);
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]});
    iam.create_role()
        .role_name(name)
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .expect("create role in moto")
        .role()
        .expect("role")
        .arn()
        .to_string()
}

pub(crate) async fn configure(server: &TestServer) {
    let (status, body) = server
        .root("POST", "sys/mounts/aws", Some(json!({"type": "aws"})))
        .await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = server
        .root(
            "POST",
            "aws/config/root",
            Some(json!({
                "access_key": "AKIATESTTESTTEST0000",
                "secret_key": "root-secret-never-shown",
                "region": "us-east-1",
                "sts_endpoint": aws_url(),
                "iam_endpoint": aws_url(),
                "max_retries": 1,
            })),
        )
        .await;
    assert_eq!(status, 204, "{body}");
}

fn first_error(body: &Value) -> String {
    body["errors"][0].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ci_job_gets_a_temporary_session_that_works_at_aws() {
    let server = TestServer::dev();
    configure(&server).await;
    let (_, config) = server.root("GET", "aws/config/root", None).await;
    assert!(
        !config.to_string().contains("root-secret-never-shown"),
        "{config}"
    );
    let role_name = format!("deploy-{}", unique());
    let arn = create_role(&role_name).await;
    let (status, body) = server
        .root(
            "POST",
            "aws/roles/deploy",
            Some(json!({"credential_type": "assumed_role", "role_arns": [arn], "default_sts_ttl": "15m", "max_sts_ttl": "1h"})),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    // A field the role does not take is named in Vault's warning.
    let (status, body) = server
        .root(
            "POST",
            "aws/roles/deploy",
            Some(json!({"credential_type": "assumed_role", "role_arns": [arn], "default_sts_ttl": "15m", "max_sts_ttl": "1h", "iam_groups": "admins"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["warnings"],
        json!(["Endpoint ignored these unrecognized parameters: [iam_groups]"])
    );

    // A job's token, then its session.
    server
        .root("PUT", "sys/policies/acl/ci", Some(json!({"policy": "path \"aws/creds/deploy\" { capabilities = [\"read\", \"update\"] }"})))
        .await;
    let (_, token) = server
        .root(
            "POST",
            "auth/token/create",
            Some(json!({"policies": ["ci"], "display_name": "jenkins-build-42"})),
        )
        .await;
    let job = token["auth"]["client_token"]
        .as_str()
        .expect("token")
        .to_string();
    let (status, creds) = server
        .call("GET", "aws/creds/deploy", Some(&job), None)
        .await;
    assert_eq!(status, 200, "{creds}");
    assert_eq!(creds["lease_duration"], 900);
    assert_eq!(creds["renewable"], false);
    let data = &creds["data"];
    let session_name = data["session_name"].as_str().expect("session name");
    assert!(
        session_name.starts_with("qm-token-jenkins-build-42-"),
        "{session_name}"
    );
    assert!(
        data["arn"]
            .as_str()
            .unwrap_or_default()
            .contains(&format!("assumed-role/{role_name}/{session_name}")),
        "{data}"
    );
    assert_eq!(data["security_token"], data["session_token"]);

    // The credentials work at AWS (moto): the caller is the assumed role.
    let issued = aws_sdk_sts::config::Credentials::new(
        data["access_key"].as_str().expect("key"),
        data["secret_key"].as_str().expect("secret"),
        data["security_token"].as_str().map(String::from),
        None,
        "issued",
    );
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(&aws_config().await)
            .credentials_provider(issued)
            .build(),
    );
    let identity = sts
        .get_caller_identity()
        .send()
        .await
        .expect("get caller identity");
    assert!(
        identity.arn().unwrap_or_default().contains(&role_name),
        "{identity:?}"
    );

    // STS' own limits, checked before AWS is called.
    let (status, body) = server.root("GET", "aws/creds/deploy?ttl=100", None).await;
    assert_eq!(status, 400);
    assert!(first_error(&body).contains("at least 900"), "{body}");
    let (status, body) = server.root("GET", "aws/creds/deploy?ttl=5h", None).await;
    assert_eq!(status, 400);
    assert!(first_error(&body).contains("exceeds the maximum"), "{body}");
    let (status, body) = server
        .root(
            "GET",
            "aws/sts/deploy?role_arn=arn:aws:iam::123456789012:role/other",
            None,
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        first_error(&body).contains("not one of the role's role_arns"),
        "{body}"
    );
    let (status, body) = server
        .root("POST", "aws/roles/too-long", Some(json!({"credential_type": "assumed_role", "role_arns": [arn], "max_sts_ttl": "13h"})))
        .await;
    assert_eq!(status, 400, "{body}");

    // Not renewable; revoking says plainly what it can and cannot do.
    let lease_id = creds["lease_id"].as_str().expect("lease").to_string();
    let (status, body) = server
        .root(
            "PUT",
            "sys/leases/renew",
            Some(json!({"lease_id": lease_id})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = server
        .root(
            "PUT",
            "sys/leases/revoke",
            Some(json!({"lease_id": lease_id})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["warnings"][0]
            .as_str()
            .unwrap_or_default()
            .contains("cannot be ended one by one"),
        "{body}"
    );

    // The bao CLI reads sessions too.
    let out = ok_stdout(&server.bao(
        &server.root_token,
        &["read", "-format=json", "aws/sts/deploy", "ttl=20m"],
    ));
    let parsed: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(parsed["lease_duration"], 1200, "{parsed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn federation_and_session_tokens_and_emergency_stop() {
    let server = TestServer::dev();
    configure(&server).await;
    let (status, body) = server
        .root("POST", "aws/roles/fed", Some(json!({"credential_type": "federation_token", "policy_arns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"]})))
        .await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = server.root("GET", "aws/creds/fed?ttl=30h", None).await;
    assert_eq!(status, 200, "federation tokens last up to 36 h: {body}");
    assert!(
        body["data"]["arn"]
            .as_str()
            .unwrap_or_default()
            .contains("federated-user"),
        "{body}"
    );
    server
        .root(
            "POST",
            "aws/roles/session",
            Some(json!({"credential_type": "session_token"})),
        )
        .await;
    let (status, body) = server.root("GET", "aws/creds/session", None).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = server
        .root(
            "POST",
            "aws/roles/user",
            Some(json!({"credential_type": "iam_user"})),
        )
        .await;
    assert_eq!(status, 400);
    assert!(first_error(&body).contains("iam_user"), "{body}");
    let (status, body) = server.root("GET", "aws/creds/nope", None).await;
    assert_eq!(
        (status, first_error(&body).contains("unknown role")),
        (400, true)
    );

    // Emergency stop: every session issued so far dies at AWS (a deny policy
    // on the role conditioned on the issue time), and the leases go.
    let role_name = format!("ops-{}", unique());
    let arn = create_role(&role_name).await;
    server
        .root(
            "POST",
            "aws/roles/ops",
            Some(json!({"credential_type": "assumed_role", "role_arns": [arn]})),
        )
        .await;
    for _ in 0..2 {
        let (status, body) = server.root("GET", "aws/creds/ops", None).await;
        assert_eq!(status, 200, "{body}");
    }
    let out = ok_stdout(&server.qm(&server.root_token, &["aws", "revoke-sessions", "ops"]));
    assert!(out.contains("AWSRevokeOlderSessions"), "{out}");
    let iam = aws_sdk_iam::Client::new(&aws_config().await);
    let policy = iam
        .get_role_policy()
        .role_name(&role_name)
        .policy_name("AWSRevokeOlderSessions")
        .send()
        .await
        .expect("the deny policy is on the role");
    let document = policy.policy_document();
    let decoded = percent_encoding::percent_decode_str(document)
        .decode_utf8_lossy()
        .to_string();
    let parsed: Value = serde_json::from_str(&decoded).expect("policy JSON");
    assert_eq!(parsed["Statement"][0]["Effect"], "Deny");
    assert!(
        parsed["Statement"][0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"].is_string(),
        "{parsed}"
    );
    let (status, _) = server
        .root("LIST", "sys/leases/lookup/aws/creds/ops/", None)
        .await;
    assert_eq!(status, 404, "the role's leases are revoked");

    // An unreachable endpoint is named as such.
    server
        .root(
            "POST",
            "aws/config/root",
            Some(json!({"sts_endpoint": "http://127.0.0.1:9", "max_retries": 0})),
        )
        .await;
    let (status, body) = server.root("GET", "aws/creds/session", None).await;
    assert_eq!(status, 502, "{body}");
    assert!(first_error(&body).contains("unreachable"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_root_replaces_the_access_key_through_iam() {
    let server = TestServer::dev();
    let iam = aws_sdk_iam::Client::new(&aws_config().await);
    let user = format!("qm-broker-{}", unique());
    iam.create_user()
        .user_name(&user)
        .send()
        .await
        .expect("create user");
    let key = iam
        .create_access_key()
        .user_name(&user)
        .send()
        .await
        .expect("create key");
    let key = key.access_key().expect("key");
    server
        .root("POST", "sys/mounts/aws", Some(json!({"type": "aws"})))
        .await;
    let (status, body) = server
        .root(
            "POST",
            "aws/config/root",
            Some(json!({
                "access_key": key.access_key_id(),
                "secret_key": key.secret_access_key(),
                "sts_endpoint": aws_url(),
                "iam_endpoint": aws_url(),
            })),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = server.root("POST", "aws/config/rotate-root", None).await;
    assert_eq!(status, 200, "{body}");
    let new_key = body["data"]["access_key"]
        .as_str()
        .expect("new key")
        .to_string();
    assert_ne!(new_key, key.access_key_id());
    assert!(
        !body.to_string().contains("secret"),
        "the new secret is never shown: {body}"
    );
    let keys = iam
        .list_access_keys()
        .user_name(&user)
        .send()
        .await
        .expect("list keys");
    let ids: Vec<&str> = keys
        .access_key_metadata()
        .iter()
        .filter_map(|k| k.access_key_id())
        .collect();
    assert_eq!(ids, vec![new_key.as_str()], "the old key is deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_jenkins_recipe_runs_a_step_with_the_session() {
    let server = TestServer::dev();
    configure(&server).await;
    let role_name = format!("jenkins-{}", unique());
    let arn = create_role(&role_name).await;
    server
        .root(
            "POST",
            "aws/roles/deploy",
            Some(json!({"credential_type": "assumed_role", "role_arns": [arn]})),
        )
        .await;
    server
        .root(
            "PUT",
            "sys/policies/acl/ci",
            Some(json!({"policy": "path \"aws/sts/deploy\" { capabilities = [\"update\"] }"})),
        )
        .await;
    let (_, token) = server
        .root(
            "POST",
            "auth/token/create",
            Some(json!({"policies": ["ci"], "display_name": "jenkins"})),
        )
        .await;
    let job_token = token["auth"]["client_token"].as_str().expect("token");

    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let qm_dir = std::path::Path::new(env!("CARGO_BIN_EXE_qm"))
        .parent()
        .expect("bin dir")
        .to_path_buf();
    let venv_python = super::common::bao_binary()
        .parent()
        .expect("venv bin")
        .join("python");
    let path = format!(
        "{}:{}",
        qm_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let step = format!(
        "import boto3; print(boto3.client('sts', endpoint_url='{}', region_name='us-east-1').get_caller_identity()['Arn'])",
        aws_url()
    );
    let output = std::process::Command::new("bash")
        .arg(repo.join("docs/recipes/jenkins-aws-stage.sh"))
        .arg(&venv_python)
        .args(["-c", &step])
        .env("PATH", path)
        .env("QM_ADDR", &server.addr)
        .env("QM_TOKEN", job_token)
        .env("QM_AWS_ROLE", "deploy")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .expect("run the recipe");
    let stdout = ok_stdout(&output);
    assert!(
        stdout.contains(&format!("assumed-role/{role_name}/qm-token-jenkins-")),
        "{stdout}"
    );
}

/// The Jenkins flow with nothing stored in Jenkins: the job's OIDC ID token
/// logs in through `auth/jwt`, and `qm exec` runs the step with a temporary
/// session in the standard AWS variables.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qm_exec_runs_a_jenkins_step_with_a_jwt_login_and_a_session() {
    let server = TestServer::dev();
    configure(&server).await;
    let role_name = format!("jenkins-exec-{}", unique());
    let arn = create_role(&role_name).await;
    let key = super::jwt_keys::TestKey::ec("jenkins");
    let issuer = "https://jenkins.example.com/oidc";
    for (path, body) in [
        (
            "aws/roles/deploy",
            json!({"credential_type": "assumed_role", "role_arns": [arn]}),
        ),
        (
            "sys/policies/acl/deployer",
            json!({"policy": "path \"aws/creds/deploy\" { capabilities = [\"read\"] }"}),
        ),
        ("sys/auth/jwt", json!({"type": "jwt"})),
        (
            "auth/jwt/config",
            json!({"jwt_validation_pubkeys": [key.public_pem], "bound_issuer": issuer}),
        ),
        (
            "auth/jwt/role/deploy",
            json!({"user_claim": "sub", "bound_audiences": "quartermaster",
                   "bound_claims": {"job": "payments/deploy"}, "token_policies": "deployer"}),
        ),
    ] {
        let (status, body) = server.root("POST", path, Some(body)).await;
        assert_eq!(status, 204, "{path}: {body}");
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let id_token = key.sign(&json!({
        "iss": issuer, "aud": "quartermaster", "sub": "job/payments/deploy/42",
        "job": "payments/deploy", "iat": now, "exp": now + 300,
    }));
    let venv_python = super::common::bao_binary()
        .parent()
        .expect("venv bin")
        .join("python");
    let step = format!(
        "import boto3; print(boto3.client('sts', endpoint_url='{}', region_name='us-east-1').get_caller_identity()['Arn'])",
        aws_url()
    );
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_qm"))
        .args([
            "exec",
            "--jwt-env",
            "JENKINS_ID_TOKEN",
            "--jwt-role",
            "deploy",
        ])
        .args(["--aws", "aws/creds/deploy", "--"])
        .arg(&venv_python)
        .args(["-c", &step])
        .env("QM_ADDR", &server.addr)
        .env("JENKINS_ID_TOKEN", id_token)
        .env_remove("QM_TOKEN")
        .env_remove("VAULT_TOKEN")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("HOME", server.dir.path())
        .output()
        .expect("run qm exec");
    let stdout = ok_stdout(&output);
    assert!(
        stdout.contains(&format!("assumed-role/{role_name}/qm-jwt-")),
        "{stdout}"
    );
}
