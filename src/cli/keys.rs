//! `arsgate keys create|list|revoke`: issues an API key for a merchant
//! (creating the merchant on first use) and prints it once; lists keys
//! without their secrets; revokes one.

use std::collections::HashMap;
use std::io::Write;

use serde::Serialize;

use super::serve::StoreArgs;
use crate::domain::{ApiKey, Merchant, MerchantId, Mode, Timestamp};
use crate::service::keys;

/// Options of `arsgate keys`.
#[derive(Debug, Clone, clap::Args)]
pub struct KeysArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: KeysAction,
}

/// The things `arsgate keys` can do.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum KeysAction {
    /// Issues a key (the merchant is created if it does not exist).
    Create {
        /// The merchant's name: 1 to 64 letters, digits, `.`, `_` or `-`.
        #[arg(long)]
        merchant: String,
        /// A sandbox key: its calls go to the built-in simulator.
        #[arg(long)]
        test: bool,
        /// The store.
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Lists keys, oldest first, revoked ones included: id, merchant,
    /// mode, when created and revoked (never a key's secret).
    List {
        /// Only this merchant's keys.
        #[arg(long)]
        merchant: Option<String>,
        /// Print JSON (`{"keys": [...]}`) instead of a table.
        #[arg(long)]
        json: bool,
        /// The store.
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revokes a key: requests carrying it get `401` from then on, on every
    /// arsgate sharing the store. Revoking a revoked key changes nothing.
    Revoke {
        /// The key's id (`key_...`, as `keys list` shows it) or the whole key.
        key: String,
        /// The store.
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// A key as `keys list --json` shows it.
#[derive(Debug, Serialize)]
struct KeyView<'a> {
    id: String,
    merchant: &'a str,
    merchant_id: MerchantId,
    mode: &'static str,
    created_at: Timestamp,
    revoked_at: Option<Timestamp>,
}

/// Runs `arsgate keys`, writing its report to `out`.
pub async fn run(args: KeysArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    match args.action {
        KeysAction::Create {
            merchant,
            test,
            store,
        } => {
            check_merchant_name(&merchant)?;
            let store = store.open().await?;
            let (merchant, created) = keys::merchant_named(&*store, &merchant).await?;
            let mode = if test { Mode::Test } else { Mode::Live };
            let issued = keys::issue(&*store, &merchant, mode).await?;
            if created {
                writeln!(
                    out,
                    "merchant        {} ({}) created",
                    merchant.name, merchant.id
                )?;
            } else {
                writeln!(out, "merchant        {} ({})", merchant.name, merchant.id)?;
            }
            writeln!(out, "key id          {}", issued.key.id)?;
            writeln!(out, "mode            {}", mode.as_str())?;
            writeln!(out, "api key         {}", issued.text)?;
            writeln!(out, "webhook secret  {}", merchant.webhook_secret)?;
            writeln!(
                out,
                "\nThe API key is shown only now: arsgate keeps its hash alone."
            )?;
            Ok(())
        }
        KeysAction::List {
            merchant,
            json,
            store,
        } => {
            let store = store.open().await?;
            let merchants = store.merchants().await?;
            let only = match &merchant {
                Some(name) => Some(named(&merchants, name)?.id),
                None => None,
            };
            let names: HashMap<MerchantId, &str> =
                merchants.iter().map(|m| (m.id, m.name.as_str())).collect();
            let listed = store.api_keys(only).await?;
            let views: Vec<KeyView<'_>> = listed
                .iter()
                .map(|key| view(key, names.get(&key.merchant_id).copied().unwrap_or("?")))
                .collect();
            if json {
                serde_json::to_writer_pretty(&mut *out, &serde_json::json!({ "keys": views }))?;
                writeln!(out)?;
            } else {
                let rows: Vec<[String; 5]> = views
                    .iter()
                    .map(|v| {
                        [
                            v.id.clone(),
                            v.merchant.to_owned(),
                            v.mode.to_owned(),
                            v.created_at.rfc3339(),
                            v.revoked_at
                                .map_or_else(|| "-".to_owned(), Timestamp::rfc3339),
                        ]
                    })
                    .collect();
                let header = ["KEY", "MERCHANT", "MODE", "CREATED", "REVOKED"];
                out.write_all(super::table::render(header, &rows).as_bytes())?;
            }
            Ok(())
        }
        KeysAction::Revoke { key, store } => {
            let id = keys::named_id(&key).ok_or_else(|| {
                anyhow::anyhow!("{key:?} is not a key id (key_ and 32 hex digits) nor a key")
            })?;
            let store = store.open().await?;
            let now = Timestamp::now();
            let revoked = store
                .revoke_api_key(id, now)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no key {id}"))?;
            match revoked.revoked_at {
                Some(at) if at == now => writeln!(out, "{id} revoked at {at}")?,
                Some(at) => writeln!(out, "{id} was already revoked at {at}")?,
                None => anyhow::bail!("{id} could not be revoked"),
            }
            Ok(())
        }
    }
}

fn view<'a>(key: &ApiKey, merchant: &'a str) -> KeyView<'a> {
    KeyView {
        id: key.id.to_string(),
        merchant,
        merchant_id: key.merchant_id,
        mode: key.mode.as_str(),
        created_at: key.created_at,
        revoked_at: key.revoked_at,
    }
}

/// The merchant called `name` among `merchants`, or an error naming it.
fn named<'a>(merchants: &'a [Merchant], name: &str) -> anyhow::Result<&'a Merchant> {
    check_merchant_name(name)?;
    merchants
        .iter()
        .find(|m| m.name == name)
        .ok_or_else(|| anyhow::anyhow!("no merchant named {name:?}"))
}

/// Refuses a merchant name that could not have been created.
pub fn check_merchant_name(name: &str) -> anyhow::Result<()> {
    let valid = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    anyhow::ensure!(
        valid,
        "a merchant name is 1 to 64 letters, digits, `.`, `_` or `-`"
    );
    Ok(())
}
