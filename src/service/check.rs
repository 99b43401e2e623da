//! Checking a code the customer heard (`read_code`, `press_then_read`) and
//! typed into the merchant's page: constant-time, a bounded number of
//! attempts, until the code expires, good once, and only once the call read
//! it out to its end.

use super::{Caller, Service, ServiceError};
use crate::domain::{Merchant, Mode, Timestamp, VerificationId};
use crate::scenario::secret::{Code, CodeDigest};
use crate::store::CheckRecorded;

/// What a check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// The code matched: the customer holds the phone.
    Approved,
    /// The code did not match; `remaining` attempts are left.
    Rejected {
        /// Attempts left before the verification locks.
        remaining: u32,
    },
}

impl Service {
    /// Checks `code` against verification `id`'s.
    pub async fn check(
        &self,
        merchant: &Merchant,
        mode: Mode,
        id: VerificationId,
        code: &str,
    ) -> Result<Checked, ServiceError> {
        let caller = Caller {
            merchant: merchant.id,
            mode,
        };
        let verification = self.get(caller, id).await?;
        let request = &verification.request;
        let checkable = self
            .catalog()
            .get(&request.scenario)
            .is_some_and(|r| r.reads_code());
        let digest = request
            .code_digest
            .as_deref()
            .and_then(CodeDigest::from_hex)
            .filter(|_| checkable)
            .ok_or_else(|| ServiceError::NotCheckable(request.scenario.clone()))?;
        if verification.checked_at.is_some() {
            return Err(ServiceError::CodeUsed);
        }
        if request
            .code_expires_at
            .is_some_and(|expires| Timestamp::now() >= expires)
        {
            return Err(ServiceError::CodeExpired);
        }
        // The phone proves possession only once the code was heard on it.
        if verification.code_heard_at.is_none() {
            return Err(ServiceError::CodeNotDelivered {
                ended: verification.is_final(),
            });
        }
        // Malformed input is refused before it costs an attempt.
        Code::parse(code).map_err(|_| ServiceError::InvalidCode)?;
        // The limit the verification was created with: a later change of
        // the setting applies to later verifications only.
        let max = request.max_check_attempts;
        // Judged before it is recorded, so that the count and the approval
        // are one write: checks racing with the right code approve once
        // and lock nothing.
        let matched = self.inner.settings.code_key.matches(&digest, code);
        let approved = matched.then(Timestamp::now);
        let attempts = match self.store().record_check(id, approved).await? {
            CheckRecorded::Locked => return Err(ServiceError::TooManyAttempts),
            CheckRecorded::Used => return Err(ServiceError::CodeUsed),
            CheckRecorded::Counted { attempts } => attempts,
        };
        if matched {
            tracing::info!(verification = %id, attempts, "code approved");
            Ok(Checked::Approved)
        } else {
            tracing::info!(verification = %id, attempts, "code rejected");
            Ok(Checked::Rejected {
                remaining: max.saturating_sub(attempts),
            })
        }
    }
}
