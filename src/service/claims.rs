//! The store's answer to a node asking which of its channels arsgate still
//! wants ([`Claims`]): those of verifications not finished yet, whichever
//! replica follows them.

use std::collections::HashSet;
use std::sync::Arc;

use crate::store::Store;
use crate::switch::{CallId, Claims};

/// [`Claims`] answered by the store every replica shares.
pub struct StoreClaims(pub Arc<dyn Store>);

#[async_trait::async_trait]
impl Claims for StoreClaims {
    async fn wanted(&self, calls: &[CallId]) -> Result<HashSet<CallId>, String> {
        let asked: Vec<String> = calls.iter().map(|call| call.as_str().to_owned()).collect();
        let live = self
            .0
            .live_calls(&asked)
            .await
            .map_err(|error| error.to_string())?;
        Ok(calls
            .iter()
            .filter(|call| live.iter().any(|id| id == call.as_str()))
            .cloned()
            .collect())
    }
}
