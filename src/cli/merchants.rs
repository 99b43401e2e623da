//! `arsgate merchants`: a merchant's settings, shown and changed by the
//! operator (how long a spoken code may be checked, how many wrong checks
//! lock it).

use std::io::Write;
use std::time::Duration;

use super::keys::check_merchant_name;
use super::serve::StoreArgs;
use crate::domain::Merchant;

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
    /// Prints a merchant's settings.
    Show {
        /// The merchant's name.
        name: String,
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

/// Runs `arsgate merchants`, writing its report to `out`.
pub async fn run(args: MerchantsArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    match args.action {
        MerchantsAction::Show { name, store } => {
            check_merchant_name(&name)?;
            let store = store.open().await?;
            let merchant = store
                .merchant_by_name(&name)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no merchant named {name:?}"))?;
            report(&merchant, out)
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
            let mut merchant = store
                .merchant_by_name(&name)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no merchant named {name:?}"))?;
            if let Some(ttl) = code_ttl {
                merchant.settings.code_ttl = ttl;
            }
            if let Some(attempts) = max_check_attempts {
                merchant.settings.max_check_attempts = attempts;
            }
            store
                .set_merchant_settings(merchant.id, &merchant.settings)
                .await?;
            report(&merchant, out)
        }
    }
}

fn report(merchant: &Merchant, out: &mut dyn Write) -> anyhow::Result<()> {
    writeln!(
        out,
        "merchant            {} ({})",
        merchant.name, merchant.id
    )?;
    writeln!(
        out,
        "code ttl            {}",
        humantime::format_duration(merchant.settings.code_ttl)
    )?;
    writeln!(
        out,
        "max check attempts  {}",
        merchant.settings.max_check_attempts
    )?;
    Ok(())
}
