use clap::Parser;

/// arsgate: phone authentication over FreeSWITCH.
#[derive(Parser)]
#[command(version, about)]
struct Cli {}

fn main() {
    Cli::parse();
}
