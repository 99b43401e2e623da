//! The `admin:` section: the operators' API (`/admin/...`: node status,
//! drain, resume) and its token.

use serde::{Deserialize, Serialize};

use super::{Secret, ValidationError};

/// The shortest admin token accepted, in bytes.
pub const MIN_ADMIN_TOKEN_BYTES: usize = 16;

/// The `admin:` section.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// The bearer token the admin API requires (at least 16 bytes). Unset
    /// (the default): the admin API is off and its routes answer `404`.
    /// Prefer `ARSGATE_ADMIN__TOKEN` to writing it here.
    pub token: Option<Secret>,
}

impl AdminConfig {
    pub(super) fn validate(&self) -> Result<(), ValidationError> {
        if self
            .token
            .as_ref()
            .is_some_and(|token| token.expose().len() < MIN_ADMIN_TOKEN_BYTES)
        {
            return Err(ValidationError::ShortAdminToken);
        }
        Ok(())
    }
}
