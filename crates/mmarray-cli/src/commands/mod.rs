//! One module per subcommand.

mod convert;
mod create;
mod fill;
mod info;
mod stats;

use crate::args::{Cli, Command};
use crate::output::CliError;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Info(a) => info::run(&a),
        Command::Create(a) => create::run(&a),
        Command::Convert(a) => convert::run(&a),
        Command::Stats(a) => stats::run(&a),
    }
}
