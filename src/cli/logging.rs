//! Log output for the binary: human-readable lines or JSON, filtered by
//! `RUST_LOG` (each command picks its default level).

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per record.
    #[default]
    Text,
    /// One JSON object per record (for log shippers).
    Json,
}

/// Targets held back whatever `RUST_LOG` asks: tokio-postgres logs every
/// query's parameters at `debug` (webhook secrets, PIN hashes), and
/// refinery logs each migration it applies with its whole SQL (and an empty
/// report on every later start): arsgate logs one line per migration
/// instead.
const QUIET: &[&str] = &["tokio_postgres::query=info", "refinery_core=warn"];

/// The filter of the binary's log: `RUST_LOG`, else `default_level`, with
/// the targets that would log secrets held back at `info`.
pub fn filter(default_level: &str) -> EnvFilter {
    let mut filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    for directive in QUIET {
        if let Ok(directive) = directive.parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}

/// Installs the global subscriber, writing to stderr so that a command's
/// own output on stdout stays clean. `default_level` applies when `RUST_LOG`
/// is not set.
pub fn init(format: LogFormat, default_level: &str) {
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(default_level))
        // Colour codes only for a person at a terminal, not in files or
        // journald.
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    // A second init (tests) keeps the first subscriber.
    drop(result);
}
