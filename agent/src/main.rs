//! The `strap` binary: parse the command line, set up logging, run the library, map the
//! outcome to an exit status.

use std::process::ExitCode;

/// The static build allocates through dlmalloc rather than musl's allocator, which maps
/// and unmaps a page or two at a time (the book's Deployment page has the figures).
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOC: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

fn main() -> ExitCode {
    strap::cli::main()
}
