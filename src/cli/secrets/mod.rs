//! What `qm exec` and `qm agent` share: which secrets to fetch and the
//! variables they fill ([`spec`]), and the leases held for them, renewed
//! and replaced as they age ([`held`]), and `{{NAME}}` templates over
//! those variables ([`template`]).

pub(crate) mod held;
pub(crate) mod spec;
pub(crate) mod template;
