//! Command-line parsing and dispatch. Exit codes are the same for every
//! subcommand: 0 success, 1 a scenario failed, 2 invalid usage or input,
//! 3 the app or the fake could not be started, 4 no scenario matched.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit code for invalid usage or an invalid input file.
pub const EXIT_USAGE: u8 = 2;
/// Exit code when the app or the fake could not be started.
pub const EXIT_START: u8 = 3;

#[derive(Debug, Parser)]
#[command(name = "fakestripe", version, about = "A stateful fake of Stripe's checkout API and a harness that tests integrations against it")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the fake Stripe API server.
    Serve(crate::serve::ServeArgs),
}

/// Runs a parsed command line and returns the process exit code.
pub fn main(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Serve(args) => crate::serve::main(args),
    }
}
