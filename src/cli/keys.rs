//! `arsgate keys create`: issues an API key for a merchant (creating the
//! merchant on first use) and prints it once.

use std::io::Write;

use super::serve::StoreArgs;
use crate::domain::Mode;
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
    }
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
