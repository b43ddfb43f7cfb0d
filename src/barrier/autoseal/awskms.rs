//! The awskms seal: AWS KMS wraps the KEK (`Encrypt`/`Decrypt` with an
//! encryption context binding it to this use). Credentials come from the
//! standard AWS chain (environment, profile, instance role); nothing secret
//! is in the config.
//!
//! ```toml
//! [seal]
//! type = "awskms"
//! kms_key_id = "alias/quartermaster"   # or QM_AWSKMS_SEAL_KEY_ID / VAULT_AWSKMS_SEAL_KEY_ID
//! region = "eu-west-1"                 # default: AWS_REGION, then us-east-1
//! endpoint = "https://kms.eu-west-1.amazonaws.com"   # optional (AWS_KMS_ENDPOINT)
//! ```

use super::{into_key, AutoSeal, AutoSealError, WrappedKey};
use crate::barrier::seal::SealKind;
use aws_sdk_kms::primitives::Blob;
use base64::Engine as _;
use zeroize::Zeroizing;

/// The encryption context every wrap carries: a ciphertext of another
/// KMS use (same key, other context) does not decrypt as a KEK.
const CONTEXT_KEY: &str = "quartermaster";
const CONTEXT_VALUE: &str = "seal-wrapped-key";

pub struct AwsKmsSeal {
    client: aws_sdk_kms::Client,
    key_id: String,
}

impl AwsKmsSeal {
    /// A KMS client for `key_id` in `region` (or the chain's), at
    /// `endpoint` if given.
    pub async fn connect(
        key_id: &str,
        region: Option<&str>,
        endpoint: Option<&str>,
    ) -> Result<Self, AutoSealError> {
        if key_id.is_empty() {
            return Err(AutoSealError::Config(
                "seal.kms_key_id: required by the awskms seal".into(),
            ));
        }
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        let region = region
            .map(str::to_string)
            .or_else(|| std::env::var("AWS_REGION").ok())
            .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
            .unwrap_or_else(|| "us-east-1".into());
        loader = loader.region(aws_config::Region::new(region));
        if let Some(endpoint) = endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        let shared = loader.load().await;
        Ok(Self {
            client: aws_sdk_kms::Client::new(&shared),
            key_id: key_id.to_string(),
        })
    }
}

/// The cause of an SDK error, with its chain (the SDK's top-level message
/// is only "service error"); never holds key material.
fn describe<E: std::error::Error>(error: &E) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[async_trait::async_trait]
impl AutoSeal for AwsKmsSeal {
    fn kind(&self) -> SealKind {
        SealKind::Awskms
    }

    async fn wrap(&self, kek: &[u8; 32]) -> Result<WrappedKey, AutoSealError> {
        let out = self
            .client
            .encrypt()
            .key_id(&self.key_id)
            .plaintext(Blob::new(kek.to_vec()))
            .encryption_context(CONTEXT_KEY, CONTEXT_VALUE)
            .send()
            .await
            .map_err(|e| {
                AutoSealError::Unavailable(format!(
                    "AWS KMS Encrypt with key {:?} failed: {}",
                    self.key_id,
                    describe(&e)
                ))
            })?;
        let blob = out.ciphertext_blob().ok_or_else(|| {
            AutoSealError::Unavailable("AWS KMS Encrypt returned no ciphertext".into())
        })?;
        Ok(WrappedKey {
            key_id: out.key_id().unwrap_or(&self.key_id).to_string(),
            ciphertext: base64::engine::general_purpose::STANDARD.encode(blob.as_ref()),
        })
    }

    async fn unwrap(&self, wrapped: &WrappedKey) -> Result<Zeroizing<[u8; 32]>, AutoSealError> {
        let blob = base64::engine::general_purpose::STANDARD
            .decode(&wrapped.ciphertext)
            .map_err(|_| AutoSealError::Refused("the stored wrapped key is not base64".into()))?;
        let out = self
            .client
            .decrypt()
            .key_id(&wrapped.key_id)
            .ciphertext_blob(Blob::new(blob))
            .encryption_context(CONTEXT_KEY, CONTEXT_VALUE)
            .send()
            .await
            .map_err(|e| {
                AutoSealError::Unavailable(format!(
                    "AWS KMS Decrypt with key {:?} failed: {}",
                    wrapped.key_id,
                    describe(&e)
                ))
            })?;
        let plain = out
            .plaintext()
            .map(|p| Zeroizing::new(p.as_ref().to_vec()))
            .ok_or_else(|| AutoSealError::Refused("AWS KMS Decrypt returned nothing".into()))?;
        into_key(&plain, "AWS KMS")
    }
}
