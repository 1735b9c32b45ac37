//! The `fakestripe` command line: `serve`, `run`, `fuzz`, `schema`.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = fakestripe::cli::Cli::parse();
    fakestripe::cli::main(cli)
}
