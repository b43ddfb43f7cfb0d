//! The handler context: everything the core's own handlers (`sys/`,
//! `auth/token/`) may need about an authorized request.

use super::{Active, Core};
use crate::auth::token::store::TokenEntry;
use crate::logical::{MountEntry, Request};
use crate::policy::Acl;

pub struct Ctx<'a> {
    pub core: &'a Core,
    pub active: &'a Active,
    pub caller: &'a TokenEntry,
    pub acl: &'a Acl,
    pub req: &'a Request,
    /// The path relative to the mount.
    pub path: &'a str,
    pub mount: &'a MountEntry,
}
