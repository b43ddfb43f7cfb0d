//! The plugin test kit (cargo feature `testkit`): what a plugin's own tests
//! need to drive it without a server.
//!
//! - [`MemoryStorage`]: an in-memory [`PluginStorage`](crate::PluginStorage).
//! - [`TestRequest`]: a request builder (`TestRequest::write("roles/app")
//!   .data(json!({...})).send(&engine, &storage)`).
//! - [`conformance`]: the suite every plugin passes, given a [`Fixture`]
//!   that configures a role and can look at the backend. It plays the
//!   core's part (pending record, activate, renew, revoke, rollback from the
//!   stored record alone) and checks the contract, not the plugin's paths.
//!
//! ```ignore
//! #[tokio::test]
//! async fn conforms() {
//!     let report = testkit::conformance(MyEngine::new, &MyFixture::new().await).await;
//!     report.assert_passed();
//! }
//! ```

mod conformance;
mod request;
mod storage;

pub use conformance::{conformance, Check, Fixture, Outcome, Report};
pub use request::TestRequest;
pub use storage::MemoryStorage;
