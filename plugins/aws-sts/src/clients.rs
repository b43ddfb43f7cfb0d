//! AWS clients from the root config: static keys when given, else the
//! standard credential chain (environment, profile, ECS/EKS, EC2 metadata).
//! Cached, and rebuilt when the config's version changes.

use crate::config::RootConfig;
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use qm_plugin_sdk::PluginError;
use tokio::sync::Mutex;

pub(crate) struct AwsClients {
    pub(crate) sts: aws_sdk_sts::Client,
    pub(crate) iam: aws_sdk_iam::Client,
}

#[derive(Default)]
pub(crate) struct Clients {
    // A tokio mutex: building the clients awaits the credential chain.
    cached: Mutex<Option<(u64, std::sync::Arc<AwsClients>)>>,
}

impl Clients {
    pub(crate) async fn get(
        &self,
        config: &RootConfig,
    ) -> Result<std::sync::Arc<AwsClients>, PluginError> {
        let mut cached = self.cached.lock().await;
        if let Some((version, clients)) = cached.as_ref() {
            if *version == config.version {
                return Ok(std::sync::Arc::clone(clients));
            }
        }
        let clients = std::sync::Arc::new(build(config).await?);
        *cached = Some((config.version, std::sync::Arc::clone(&clients)));
        Ok(clients)
    }
}

async fn build(config: &RootConfig) -> Result<AwsClients, PluginError> {
    let retries =
        RetryConfig::standard().with_max_attempts(config.max_retries.saturating_add(1).max(1));
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(config.region.clone()))
        .retry_config(retries);
    if !config.access_key.is_empty() {
        loader = loader.credentials_provider(aws_credential_types::Credentials::new(
            config.access_key.clone(),
            config.secret_key.clone(),
            None,
            None,
            "quartermaster-config",
        ));
    }
    let shared = loader.load().await;
    let mut sts = aws_sdk_sts::config::Builder::from(&shared);
    if !config.sts_endpoint.is_empty() {
        sts = sts.endpoint_url(&config.sts_endpoint);
    }
    let mut iam = aws_sdk_iam::config::Builder::from(&shared);
    if !config.iam_endpoint.is_empty() {
        iam = iam.endpoint_url(&config.iam_endpoint);
    }
    Ok(AwsClients {
        sts: aws_sdk_sts::Client::from_conf(sts.build()),
        iam: aws_sdk_iam::Client::from_conf(iam.build()),
    })
}

/// An AWS error as a plugin error that names the cause. Access denied and
/// invalid input are the caller's to fix (400); throttling (after the SDK's
/// retries) and unreachable endpoints are the backend's (502).
pub(crate) fn aws_error<E>(action: &str, error: aws_sdk_sts::error::SdkError<E>) -> PluginError
where
    E: aws_sdk_sts::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_sdk_sts::error::SdkError;
    match &error {
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or("Unknown");
            let message = service.err().message().unwrap_or("");
            let text = format!("{action}: AWS answered {code}: {message}");
            match code {
                "Throttling"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "ServiceUnavailable" => {
                    PluginError::Backend(format!("{text} (throttled; retries exhausted)"))
                }
                _ => PluginError::BadRequest(text),
            }
        }
        // No credentials to sign with (no keys in the config and none in
        // the machine's chain): the config's to fix, not an outage.
        SdkError::DispatchFailure(_)
            if aws_sdk_sts::error::DisplayErrorContext(&error)
                .to_string()
                .contains("loading credentials") =>
        {
            PluginError::BadRequest(format!(
                "{action}: no AWS credentials: give access_key and secret_key in config/root, or run where the credential chain finds some"
            ))
        }
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => PluginError::Backend(format!(
            "{action}: the AWS endpoint is unreachable: {}",
            aws_sdk_sts::error::DisplayErrorContext(&error)
        )),
        _ => PluginError::Backend(format!(
            "{action}: {}",
            aws_sdk_sts::error::DisplayErrorContext(&error)
        )),
    }
}
