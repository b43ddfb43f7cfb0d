//! vaultrs, the Rust Vault client, against `qm`: sys, KV v2, tokens, policies, mounts.

use super::common::TestServer;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use vaultrs::client::{VaultClient, VaultClientSettingsBuilder};

fn client(server: &TestServer, token: &str) -> VaultClient {
    VaultClient::new(
        VaultClientSettingsBuilder::default()
            .address(&server.addr)
            .token(token)
            .build()
            .expect("settings"),
    )
    .expect("client")
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct DbSecret {
    username: String,
    password: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vaultrs_kv2_sys_tokens_and_policies() {
    let server = TestServer::dev();
    let root = client(&server, &server.root_token);

    let health = vaultrs::sys::health(&root).await.expect("health");
    assert!(health.initialized && !health.sealed);
    assert!(matches!(
        vaultrs::sys::status(&root).await,
        Ok(vaultrs::sys::ServerStatus::OK)
    ));

    let secret = DbSecret {
        username: "app".into(),
        password: "pa55".into(),
    };
    let written = vaultrs::kv2::set(&root, "secret", "db/main", &secret)
        .await
        .expect("kv2 set");
    assert_eq!(written.version, 1);
    let read: DbSecret = vaultrs::kv2::read(&root, "secret", "db/main")
        .await
        .expect("kv2 read");
    assert_eq!(read, secret);
    vaultrs::kv2::set(
        &root,
        "secret",
        "db/main",
        &DbSecret {
            username: "app".into(),
            password: "new".into(),
        },
    )
    .await
    .expect("second version");
    let first: DbSecret = vaultrs::kv2::read_version(&root, "secret", "db/main", 1)
        .await
        .expect("version 1");
    assert_eq!(first.password, "pa55");
    let meta = vaultrs::kv2::read_metadata(&root, "secret", "db/main")
        .await
        .expect("metadata");
    assert_eq!(meta.current_version, 2);
    assert_eq!(meta.versions.len(), 2);
    let keys = vaultrs::kv2::list(&root, "secret", "db")
        .await
        .expect("list");
    assert_eq!(keys, vec!["main".to_string()]);

    vaultrs::sys::policy::set(
        &root,
        "db-read",
        r#"path "secret/data/db/*" { capabilities = ["read"] }"#,
    )
    .await
    .expect("policy set");
    let policy = vaultrs::sys::policy::read(&root, "db-read")
        .await
        .expect("policy read");
    assert!(policy.rules.contains("secret/data/db/*"));
    let policies = vaultrs::sys::policy::list(&root)
        .await
        .expect("policy list");
    assert!(policies.policies.contains(&"db-read".to_string()));

    let auth = vaultrs::token::new(
        &root,
        Some(
            vaultrs::api::token::requests::CreateTokenRequest::builder()
                .policies(vec!["db-read".to_string()])
                .ttl("30m"),
        ),
    )
    .await
    .expect("token create");
    assert!(auth.policies.contains(&"db-read".to_string()));
    assert!(auth.lease_duration > 0 && auth.lease_duration <= 1800);

    let limited = client(&server, &auth.client_token);
    let read: DbSecret = vaultrs::kv2::read(&limited, "secret", "db/main")
        .await
        .expect("limited read");
    assert_eq!(read.password, "new");
    let denied = vaultrs::kv2::set(&limited, "secret", "db/main", &secret).await;
    match denied {
        Err(vaultrs::error::ClientError::APIError { code, errors }) => {
            assert_eq!(code, 403);
            assert_eq!(errors, vec!["permission denied".to_string()]);
        }
        other => panic!("expected 403, got {other:?}"),
    }

    let looked = vaultrs::token::lookup(&root, &auth.client_token)
        .await
        .expect("lookup");
    assert_eq!(looked.accessor, auth.accessor);
    let own = vaultrs::token::lookup_self(&limited)
        .await
        .expect("lookup-self");
    assert_eq!(own.accessor, auth.accessor);
    vaultrs::token::renew_self(&limited, Some("10m"))
        .await
        .expect("renew-self");
    vaultrs::token::renew(&root, &auth.client_token, Some("20m"))
        .await
        .expect("renew");
    vaultrs::token::revoke(&root, &auth.client_token)
        .await
        .expect("revoke");
    assert!(
        vaultrs::token::lookup_self(&limited).await.is_err(),
        "revoked token refused"
    );

    vaultrs::sys::mount::enable(&root, "team-kv", "kv-v2", None)
        .await
        .expect("mount");
    let mounts: HashMap<String, _> = vaultrs::sys::mount::list(&root).await.expect("mounts");
    assert!(mounts.contains_key("team-kv/"));
    assert_eq!(mounts["team-kv/"].mount_type, "kv");
    vaultrs::sys::mount::disable(&root, "team-kv")
        .await
        .expect("unmount");
    assert!(!vaultrs::sys::mount::list(&root)
        .await
        .expect("mounts")
        .contains_key("team-kv/"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vaultrs_initializes_and_unseals_a_fresh_server() {
    let server = TestServer::from_config("", "");
    let anonymous = client(&server, "");
    assert!(matches!(
        vaultrs::sys::status(&anonymous).await,
        Ok(vaultrs::sys::ServerStatus::UNINITIALIZED)
    ));
    let init = vaultrs::sys::start_initialization(&anonymous, 3, 2, None)
        .await
        .expect("init");
    assert_eq!(init.keys.len(), 3);
    assert!(matches!(
        vaultrs::sys::status(&anonymous).await,
        Ok(vaultrs::sys::ServerStatus::SEALED)
    ));
    vaultrs::sys::unseal(&anonymous, Some(init.keys[0].clone()), None, None)
        .await
        .expect("unseal 1");
    let done = vaultrs::sys::unseal(&anonymous, Some(init.keys_base64[2].clone()), None, None)
        .await
        .expect("unseal 2");
    assert!(!done.sealed);
    let root = client(&server, &init.root_token);
    assert!(matches!(
        vaultrs::sys::status(&root).await,
        Ok(vaultrs::sys::ServerStatus::OK)
    ));
    vaultrs::sys::seal(&root).await.expect("seal");
    assert!(matches!(
        vaultrs::sys::status(&root).await,
        Ok(vaultrs::sys::ServerStatus::SEALED)
    ));
}
