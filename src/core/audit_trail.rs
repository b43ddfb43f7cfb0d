//! The audit record of one request: the request entry goes to the devices
//! before the request is served (and if no device takes it, the request is
//! refused); the response entry goes after. Requests refused before they
//! were served (a bad token, a denied path) get both entries at the end.
//! Only requests that reach an unsealed core are audited; health, seal
//! status and unseal are not.

use super::Active;
use crate::audit::entry::{self, Subject};
use crate::auth::token::store::TokenEntry;
use crate::error::ApiError;
use crate::logical::MountEntry;
use crate::logical::{Request, Response};
use std::sync::Arc;

#[derive(Default)]
pub(crate) struct Trail {
    active: Option<Arc<Active>>,
    /// The mount that served the request, for the metrics.
    pub(crate) mount_path: String,
    subject: Subject,
    request_logged: bool,
}

impl Trail {
    pub(crate) fn start(&mut self, active: &Arc<Active>) {
        self.active = Some(Arc::clone(active));
    }

    pub(crate) fn caller(&mut self, caller: &TokenEntry) {
        self.subject.caller = Some(caller.clone());
    }

    pub(crate) fn mount(&mut self, mount: &MountEntry) {
        self.mount_path = mount.path.clone();
        self.subject.mount_type = mount.kind.clone();
        self.subject.mount_accessor = mount.accessor.clone();
    }

    fn now(&self, active: &Active) -> i64 {
        active.tokens.now()
    }

    /// Records the request before it is served.
    pub(crate) fn request(&mut self, req: &Request) -> Result<(), ApiError> {
        let Some(active) = self.active.as_ref().filter(|a| a.audit.is_enabled()) else {
            return Ok(());
        };
        let now = self.now(active);
        active
            .audit
            .log(&entry::request_entry(req, &self.subject, now, None))?;
        self.request_logged = true;
        Ok(())
    }

    /// Records the outcome; an error means it could not be recorded.
    pub(crate) fn response(
        &mut self,
        req: &Request,
        outcome: &Result<Response, ApiError>,
    ) -> Result<(), ApiError> {
        let Some(active) = self.active.as_ref().filter(|a| a.audit.is_enabled()) else {
            return Ok(());
        };
        let now = self.now(active);
        if !self.request_logged {
            let error = outcome.as_ref().err();
            active
                .audit
                .log(&entry::request_entry(req, &self.subject, now, error))?;
        }
        active
            .audit
            .log(&entry::response_entry(req, &self.subject, now, outcome))
    }
}
