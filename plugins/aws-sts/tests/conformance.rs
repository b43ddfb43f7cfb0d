//! The SDK's conformance suite against moto as the STS and IAM endpoint, at
//! `$QM_TEST_AWS_URL` (scripts/test.sh starts moto and sets it; without it
//! these tests fail and say so). STS sessions cannot be checked or removed
//! one by one, so the fixture answers "cannot tell" and forgets nothing:
//! what is checked is that issue works and that revoke and rollback succeed
//! from the stored record alone, however often.

use qm_plugin_aws_sts::AwsStsEngine;
use qm_plugin_sdk::testkit::{conformance, Fixture, TestRequest};
use qm_plugin_sdk::{PluginError, PluginStorage, SecretsEngine};
use serde_json::{json, Map, Value};

fn aws_url() -> String {
    std::env::var("QM_TEST_AWS_URL").expect("QM_TEST_AWS_URL: run scripts/test.sh (it starts moto)")
}

const ACCESS_KEY: &str = "AKIATESTTESTTEST0000";

/// Creates an IAM role in moto; returns its ARN.
async fn create_role(name: &str) -> String {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            ACCESS_KEY,
            "test-secret",
            None,
            None,
            "test",
        ))
        .endpoint_url(aws_url())
        .load()
        .await;
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]});
    aws_sdk_iam::Client::new(&config)
        .create_role()
        .role_name(name)
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .expect("create a role in moto")
        .role()
        .expect("the created role")
        .arn()
        .to_string()
}

/// A role of one credential type (`role_arns` for assumed_role).
struct Sts {
    role: Value,
}

#[async_trait::async_trait]
impl Fixture for Sts {
    async fn setup(
        &self,
        engine: &dyn SecretsEngine,
        storage: &dyn PluginStorage,
    ) -> Result<String, PluginError> {
        TestRequest::write("config/root")
            .data(json!({
                "access_key": ACCESS_KEY,
                "secret_key": "root-secret-never-shown",
                "region": "us-east-1",
                "sts_endpoint": aws_url(),
                "iam_endpoint": aws_url(),
                "max_retries": 1,
            }))
            .send(engine, storage)
            .await?;
        TestRequest::write("roles/deploy")
            .data(self.role.clone())
            .send(engine, storage)
            .await?;
        Ok("creds/deploy".into())
    }

    async fn exists(&self, _credential: &Map<String, Value>) -> Result<Option<bool>, String> {
        Ok(None)
    }

    async fn forget(&self, _credential: &Map<String, Value>) -> Result<(), String> {
        Ok(())
    }
}

fn unique() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assumed_role_sessions_conform() {
    let arn = create_role(&format!("conformance-{}", unique())).await;
    let fixture = Sts {
        role: json!({"credential_type": "assumed_role", "role_arns": [arn]}),
    };
    let report = conformance(AwsStsEngine::new, &fixture).await;
    println!("{report}");
    report.assert_passed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn federation_token_sessions_conform() {
    let fixture = Sts {
        role: json!({"credential_type": "federation_token"}),
    };
    let report = conformance(AwsStsEngine::new, &fixture).await;
    println!("{report}");
    report.assert_passed();
}
