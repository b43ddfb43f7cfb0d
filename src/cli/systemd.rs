//! systemd integration for `Type=notify` units (config/quartermaster.service):
//! `READY=1` once the listener accepts connections (sealed or not, as
//! Vault: unsealing needs the server up), a `STATUS=` line naming the seal
//! state whenever it changes (checked each second), and `STOPPING=1` at
//! shutdown. Outside systemd (no `NOTIFY_SOCKET`) every call does nothing.

use crate::core::Core;
use sd_notify::NotifyState;
use std::sync::Arc;
use std::time::Duration;

/// What `systemctl status` shows for the seal state.
fn seal_state(core: &Core) -> &'static str {
    match (core.is_sealed(), core.active().is_ok(), core.ha().is_some()) {
        (true, _, _) => "sealed: waiting for unseal keys",
        (false, true, false) => "unsealed",
        (false, true, true) => "unsealed, active node",
        (false, false, _) => "unsealed, standby",
    }
}

fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "could not notify systemd");
    }
}

/// Tells systemd the server is up, and keeps its status line current.
pub(crate) fn ready(core: Arc<Core>) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    let mut shown = seal_state(&core);
    send(&[NotifyState::Ready, NotifyState::Status(shown)]);
    actix_web::rt::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let now = seal_state(&core);
            if now != shown {
                shown = now;
                send(&[NotifyState::Status(shown)]);
            }
        }
    });
}

/// Tells systemd the server is shutting down.
pub(crate) fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}
