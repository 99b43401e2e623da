//! What a consent call leaves as evidence: the bundle (what was said, what
//! was pressed and when, the call's timeline, who called whom, the
//! recording's digest) sealed with a hash over the whole, and the recording
//! itself, checked against its digest before it is handed out.

use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::{Caller, Service, ServiceError};
use crate::domain::{Timestamp, VerificationId};

/// A consent call's evidence.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EvidenceBundle {
    /// The verification.
    pub verification_id: String,
    /// The scenario.
    pub scenario: String,
    /// How the call ended.
    #[schema(value_type = Option<String>)]
    pub outcome: Option<crate::scenario::Outcome>,
    /// The number that called (the configured caller id), if set.
    pub caller: Option<String>,
    /// The number called, in E.164.
    pub callee: String,
    /// The consent text as spoken.
    pub consent_text: Option<String>,
    /// The key the customer pressed.
    pub key: Option<String>,
    /// When it was pressed (RFC 3339).
    pub key_at: Option<String>,
    /// The call's timeline.
    #[schema(value_type = Vec<Object>)]
    pub timeline: serde_json::Value,
    /// The recording, if one was made.
    pub recording: Option<RecordingInfo>,
    /// When the verification was created.
    pub created_at: String,
    /// When the call ended.
    pub finished_at: Option<String>,
    /// SHA-256 (hex) of this bundle's JSON without this member, keys
    /// sorted, no whitespace: a reader recomputes it to show the bundle is
    /// whole.
    pub bundle_sha256: String,
}

/// A recording's description inside a bundle.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RecordingInfo {
    /// SHA-256 (hex) of the WAV file.
    pub sha256: Option<String>,
    /// Its length in milliseconds.
    pub duration_ms: Option<u64>,
    /// Where to download it.
    pub url: String,
}

/// A recording to hand out.
#[derive(Debug)]
pub struct Recording {
    /// The WAV file's bytes.
    pub bytes: Vec<u8>,
    /// Their SHA-256 (hex), as recorded when the call ended.
    pub sha256: String,
}

impl Service {
    /// The evidence bundle of a consent verification.
    pub async fn evidence(
        &self,
        caller: Caller,
        id: VerificationId,
    ) -> Result<EvidenceBundle, ServiceError> {
        let verification = self.get(caller, id).await?;
        let evidence = self
            .store()
            .evidence(id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("evidence of verification {id}")))?;
        let request = &verification.request;
        let recording = evidence.recording_path.as_ref().map(|_| RecordingInfo {
            sha256: evidence.recording_sha256.clone(),
            duration_ms: evidence.recording_ms,
            url: format!("/v1/verifications/{id}/recording"),
        });
        let mut bundle = EvidenceBundle {
            verification_id: id.to_string(),
            scenario: request.scenario.clone(),
            outcome: verification.outcome,
            caller: self.inner.settings(request.mode).caller_id_number.clone(),
            callee: request.phone.e164().to_owned(),
            consent_text: evidence.consent_text.clone(),
            key: evidence.key.clone(),
            key_at: evidence.key_at.map(Timestamp::rfc3339),
            timeline: verification.timeline.clone(),
            recording,
            created_at: request.created_at.rfc3339(),
            finished_at: verification.finished_at.map(Timestamp::rfc3339),
            bundle_sha256: String::new(),
        };
        bundle.bundle_sha256 = bundle_hash(&bundle);
        Ok(bundle)
    }

    /// A consent verification's recording, read and checked against the
    /// digest taken when the call ended.
    pub async fn recording(
        &self,
        caller: Caller,
        id: VerificationId,
    ) -> Result<Recording, ServiceError> {
        let verification = self.get(caller, id).await?;
        let missing = || ServiceError::NotFound(format!("recording of verification {id}"));
        let evidence = self.store().evidence(id).await?.ok_or_else(missing)?;
        let path = evidence.local_path.as_deref().ok_or_else(missing)?;
        let expected = evidence.recording_sha256.clone().ok_or_else(missing)?;
        let path = inside(
            &self
                .inner
                .settings(verification.request.mode)
                .recordings
                .local_dir,
            Path::new(path),
        )
        .ok_or_else(missing)?;
        let bytes = tokio::fs::read(&path).await.map_err(|_| missing())?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        if sha256 != expected {
            tracing::error!(verification = %id, "recording does not match its digest");
            return Err(ServiceError::RecordingAltered);
        }
        Ok(Recording { bytes, sha256 })
    }
}

/// `path` if it lies inside `dir` (both resolved), so a tampered record
/// cannot point the download anywhere else.
fn inside(dir: &Path, path: &Path) -> Option<PathBuf> {
    let dir = dir.canonicalize().ok()?;
    let path = path.canonicalize().ok()?;
    path.starts_with(&dir).then_some(path)
}

/// The bundle's hash: SHA-256 of its canonical JSON without the hash.
pub fn bundle_hash(bundle: &EvidenceBundle) -> String {
    let mut value = serde_json::to_value(bundle).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        object.remove("bundle_sha256");
    }
    // serde_json's maps are sorted, so this text is canonical.
    hex::encode(Sha256::digest(value.to_string().as_bytes()))
}
