//! One module per subcommand.

mod append;
mod apply;
mod convert;
mod demo;
mod create;
mod fill;
mod info;
mod plot;
mod repair;
mod rolling;
mod show;
mod stats;

use crate::args::{Cli, Command};
use crate::output::CliError;

/// Runs the parsed command line (`matches` gives the order of flags where
/// it matters).
pub fn run(cli: Cli, matches: &clap::ArgMatches) -> Result<(), CliError> {
    match cli.command {
        Command::Apply(a) => apply::run(&a, matches.subcommand_matches("apply").ok_or("no apply arguments")?),
        Command::Info(a) => {
            crate::test_panic("info");
            info::run(&a)
        }
        Command::Repair(a) => repair::run(&a),
        Command::Append(a) => append::run(&a),
        Command::Resize(a) => append::resize(&a),
        Command::Create(a) => create::run(&a),
        Command::Convert(a) => convert::run(&a),
        Command::Stats(a) => stats::run(&a),
        Command::Rolling(a) => rolling::run(&a),
        Command::Show(a) => {
            crate::test_panic("show");
            show::run(&a)
        }
        Command::Plot(a) => plot::run(&a),
        Command::Demo(a) => {
            crate::test_panic("demo");
            demo::run(&a)
        }
    }
}
