//! The `strap` binary: parse the command line, set up logging, run the library, map the
//! outcome to an exit status.

use std::process::ExitCode;

fn main() -> ExitCode {
    strap::cli::main()
}
