//! The `dirac-init` command: parse, validate, write. Messages go to stderr, data to stdout.

mod cli;

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            e.exit()
        }
        Err(e) => {
            // clap's own words, on one line.
            let text = e.render().to_string();
            let line: Vec<&str> = text
                .lines()
                .map(str::trim)
                .filter(|l| {
                    !l.is_empty()
                        && !l.starts_with("For more information")
                        && !l.starts_with("Usage:")
                })
                .collect();
            eprintln!("dirac-init: {}", line.join(" "));
            return ExitCode::from(2);
        }
    };
    // Interrupted (SIGINT, SIGTERM, SIGHUP): no temporary file is left behind.
    let _ = ctrlc::set_handler(|| {
        dirac_init::remove_pending();
        std::process::exit(130);
    });
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dirac-init: error: {e:#}");
            let code = e
                .downcast_ref::<dirac_init::Error>()
                .map_or(1, |e| e.exit_code());
            ExitCode::from(code as u8)
        }
    }
}

fn run(cli: cli::Cli) -> anyhow::Result<()> {
    let (output, target) = cli.into_job()?;
    output.write(&target)?;
    Ok(())
}

/// A reader that stopped reading (`dirac-init ... | head -c 100`) is not an error, as for
/// other Unix filters.
fn broken_pipe(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}
