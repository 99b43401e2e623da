//! The `arsgate` command line: parses arguments and hands over to
//! [`arsgate::cli`].

use std::process::ExitCode;

use arsgate::cli::config_check::ConfigArgs;
use arsgate::cli::demo::DemoArgs;
use arsgate::cli::dialplan::DialplanArgs;
use arsgate::cli::esl::EslArgs;
use arsgate::cli::init::InitArgs;
use arsgate::cli::keys::KeysArgs;
use arsgate::cli::loadtest::LoadtestArgs;
use arsgate::cli::logging::{self, LogFormat};
use arsgate::cli::merchants::MerchantsArgs;
use arsgate::cli::nodes::NodesArgs;
use arsgate::cli::scenarios::ScenariosArgs;
use arsgate::cli::serve::ServeArgs;
use arsgate::cli::sim::SimArgs;
use clap::{Parser, Subcommand};

/// arsgate: phone (ARS) authentication over FreeSWITCH.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Log format on stderr (filter with RUST_LOG).
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Everything in one process: the sandbox, a demo merchant, one
    /// verification of each scenario A–F, then the API keeps serving.
    Demo(DemoArgs),
    /// Write the example configuration, scenarios, prompts, phones and
    /// dialplan into a directory, to edit.
    Init(InitArgs),
    /// Check a configuration as `serve` would at start, without serving.
    Config(ConfigArgs),
    /// Run the service as the configuration file describes.
    Serve(ServeArgs),
    /// Create, list and revoke merchants' API keys.
    Keys(KeysArgs),
    /// List merchants; show or change a merchant's settings.
    Merchants(MerchantsArgs),
    /// Measure arsgate under load: simulated nodes, `serve`, a fixed rate
    /// of verifications.
    Loadtest(LoadtestArgs),
    /// See the live FreeSWITCH nodes of a running arsgate; drain or resume one.
    Nodes(NodesArgs),
    /// Run the FreeSWITCH simulator: a real ESL server with scripted phones.
    Sim(SimArgs),
    /// Talk to a FreeSWITCH (or the simulator) over the event socket.
    Esl(EslArgs),
    /// Check the scenario definitions.
    Scenarios(ScenariosArgs),
    /// Render the scenarios as FreeSWITCH XML dialplan.
    Dialplan(DialplanArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => {
            logging::init(cli.log_format, "warn");
            arsgate::cli::demo::run(args, Box::new(std::io::stdout())).await
        }
        Command::Config(args) => {
            logging::init(cli.log_format, "warn");
            arsgate::cli::config_check::run(args, &mut std::io::stdout()).await
        }
        Command::Serve(args) => {
            logging::init(cli.log_format, "info");
            arsgate::cli::serve::run(args).await
        }
        Command::Keys(args) => {
            logging::init(cli.log_format, "warn");
            arsgate::cli::keys::run(args, &mut std::io::stdout()).await
        }
        Command::Loadtest(args) => {
            logging::init(cli.log_format, "warn");
            arsgate::cli::loadtest::run(args).await
        }
        Command::Merchants(args) => {
            logging::init(cli.log_format, "warn");
            arsgate::cli::merchants::run(args, &mut std::io::stdout()).await
        }
        Command::Nodes(args) => {
            logging::init(cli.log_format, "warn");
            arsgate::cli::nodes::run(args, &mut std::io::stdout()).await
        }
        Command::Sim(args) => {
            logging::init(cli.log_format, "info");
            arsgate::cli::sim::run(args).await
        }
        Command::Esl(args) => {
            // A one-shot tool: connection chatter only when asked for.
            logging::init(cli.log_format, "warn");
            arsgate::cli::esl::run(args).await
        }
        Command::Init(args) => arsgate::cli::init::run(args, &mut std::io::stdout()),
        Command::Scenarios(args) => arsgate::cli::scenarios::run(args, &mut std::io::stdout()),
        Command::Dialplan(args) => arsgate::cli::dialplan::run(args, &mut std::io::stdout()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
