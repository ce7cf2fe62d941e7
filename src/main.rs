use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = orc::cli::Cli::parse();
    match orc::cli::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
