//! `arsgate merchants list|show|set`: the merchants, and a merchant's
//! settings shown and changed by the operator (how long a spoken code may
//! be checked, how many wrong checks lock it).

use std::io::Write;
use std::time::Duration;

use serde::Serialize;

use super::keys::check_merchant_name;
use super::serve::StoreArgs;
use crate::domain::{ApiKey, Merchant, MerchantId, Mode, Timestamp};
use crate::store::Store;

/// Options of `arsgate merchants`.
#[derive(Debug, Clone, clap::Args)]
pub struct MerchantsArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: MerchantsAction,
}

/// The things `arsgate merchants` can do.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum MerchantsAction {
    /// Lists every merchant with its settings and how many keys it has.
    List {
        /// Print JSON (`{"merchants": [...]}`) instead of a table.
        #[arg(long)]
        json: bool,
        /// The store.
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Prints a merchant's settings and how many keys it has.
    Show {
        /// The merchant's name.
        name: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// The store.
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Changes a merchant's settings; those not given stay as they are.
    /// They apply to verifications created from then on.
    Set {
        /// The merchant's name.
        name: String,
        /// How long a spoken code (read_code, press_then_read) may be
        /// checked after the verification is created, e.g. `3m`.
        #[arg(long, value_parser = humantime::parse_duration)]
        code_ttl: Option<Duration>,
        /// Wrong checks before the code is locked (1 to 100).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100))]
        max_check_attempts: Option<u32>,
        /// The store.
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// The shortest and longest code lifetimes accepted.
const CODE_TTL: (Duration, Duration) = (Duration::from_secs(30), Duration::from_secs(3600));

/// A merchant as `--json` shows it (never its webhook secret).
#[derive(Debug, Serialize)]
struct MerchantView {
    name: String,
    id: MerchantId,
    created_at: Timestamp,
    code_ttl_seconds: f64,
    max_check_attempts: u32,
    keys: KeyCounts,
}

/// A merchant's keys, counted.
#[derive(Debug, Default, Serialize)]
struct KeyCounts {
    /// Live keys not revoked.
    live: usize,
    /// Sandbox keys not revoked.
    test: usize,
    /// Revoked keys, of either mode.
    revoked: usize,
}

impl KeyCounts {
    fn of<'a>(keys: impl Iterator<Item = &'a ApiKey>) -> KeyCounts {
        let mut counts = KeyCounts::default();
        for key in keys {
            match (key.revoked_at, key.mode) {
                (Some(_), _) => counts.revoked += 1,
                (None, Mode::Live) => counts.live += 1,
                (None, Mode::Test) => counts.test += 1,
            }
        }
        counts
    }
}

impl std::fmt::Display for KeyCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} live, {} test", self.live, self.test)?;
        if self.revoked > 0 {
            write!(f, " ({} revoked)", self.revoked)?;
        }
        Ok(())
    }
}

/// Runs `arsgate merchants`, writing its report to `out`.
pub async fn run(args: MerchantsArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    match args.action {
        MerchantsAction::List { json, store } => {
            let store = store.open().await?;
            let keys = store.api_keys(None).await?;
            let views: Vec<MerchantView> = store
                .merchants()
                .await?
                .into_iter()
                .map(|m| {
                    let counts = KeyCounts::of(keys.iter().filter(|k| k.merchant_id == m.id));
                    view(m, counts)
                })
                .collect();
            if json {
                serde_json::to_writer_pretty(
                    &mut *out,
                    &serde_json::json!({ "merchants": views }),
                )?;
                writeln!(out)?;
                return Ok(());
            }
            let rows: Vec<[String; 6]> = views
                .iter()
                .map(|v| {
                    [
                        v.name.clone(),
                        v.id.to_string(),
                        v.created_at.rfc3339(),
                        humantime::format_duration(Duration::from_secs_f64(v.code_ttl_seconds))
                            .to_string(),
                        v.max_check_attempts.to_string(),
                        v.keys.to_string(),
                    ]
                })
                .collect();
            let header = ["NAME", "ID", "CREATED", "CODE TTL", "MAX CHECKS", "KEYS"];
            out.write_all(super::table::render(header, &rows).as_bytes())?;
            Ok(())
        }
        MerchantsAction::Show { name, json, store } => {
            check_merchant_name(&name)?;
            let store = store.open().await?;
            let merchant = named(&*store, &name).await?;
            let keys = store.api_keys(Some(merchant.id)).await?;
            report(view(merchant, KeyCounts::of(keys.iter())), json, out)
        }
        MerchantsAction::Set {
            name,
            code_ttl,
            max_check_attempts,
            store,
        } => {
            check_merchant_name(&name)?;
            if let Some(ttl) = code_ttl {
                anyhow::ensure!(
                    (CODE_TTL.0..=CODE_TTL.1).contains(&ttl),
                    "--code-ttl must be between 30s and 1h"
                );
            }
            let store = store.open().await?;
            let mut merchant = named(&*store, &name).await?;
            if let Some(ttl) = code_ttl {
                merchant.settings.code_ttl = ttl;
            }
            if let Some(attempts) = max_check_attempts {
                merchant.settings.max_check_attempts = attempts;
            }
            store
                .set_merchant_settings(merchant.id, &merchant.settings)
                .await?;
            let keys = store.api_keys(Some(merchant.id)).await?;
            report(view(merchant, KeyCounts::of(keys.iter())), false, out)
        }
    }
}

async fn named(store: &dyn Store, name: &str) -> anyhow::Result<Merchant> {
    store
        .merchant_by_name(name)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no merchant named {name:?} (`arsgate merchants list`)"))
}

fn view(merchant: Merchant, keys: KeyCounts) -> MerchantView {
    MerchantView {
        name: merchant.name,
        id: merchant.id,
        created_at: merchant.created_at,
        code_ttl_seconds: merchant.settings.code_ttl.as_secs_f64(),
        max_check_attempts: merchant.settings.max_check_attempts,
        keys,
    }
}

fn report(merchant: MerchantView, json: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    if json {
        serde_json::to_writer_pretty(&mut *out, &merchant)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(
        out,
        "merchant            {} ({})",
        merchant.name, merchant.id
    )?;
    writeln!(out, "created             {}", merchant.created_at)?;
    writeln!(
        out,
        "code ttl            {}",
        humantime::format_duration(Duration::from_secs_f64(merchant.code_ttl_seconds))
    )?;
    writeln!(out, "max check attempts  {}", merchant.max_check_attempts)?;
    writeln!(out, "keys                {}", merchant.keys)?;
    Ok(())
}
