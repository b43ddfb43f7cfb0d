//! The types every layer shares: the request and response that flow through
//! the core, the operation, and the mount entry. They sit below the core,
//! the engines, the auth methods and the inventory (as OpenBao's
//! `sdk/logical`), so none of those needs to import the core.

mod mount;
mod request;

pub use mount::{MountConfig, MountEntry};
pub use request::{AuthBlock, LeaseBlock, Operation, Request, Response, WrapInfo};
