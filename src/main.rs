use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match orc::cli::Cli::try_parse() {
        Ok(cli) => cli,
        // Help and the version are orc's own text; a usage error echoes the user's argument,
        // which is made safe for the terminal like everything else orc prints.
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            eprint!("{}", orc::term::safe(&e.render().to_string()));
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    match orc::cli::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {}", orc::term::safe(&format!("{e:#}")));
            ExitCode::from(1)
        }
    }
}
