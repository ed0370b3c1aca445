//! The behaviour tests, as one test binary: each file here is a module (run
//! one with `cargo test --test it hostile::`, or one test by its name), all
//! sharing `tests/common` and one link of the crate and the fake service.
//! One binary instead of one per file: the crate, the fake and their
//! dependencies are linked once, not seventeen times.
//!
//! The tests share one process, so none may change what is the process's:
//! the environment, the current folder, signal handlers or the umask are
//! set on the child a test runs (the binary, or a shell around it), never
//! here.

#[path = "../common/mod.rs"]
mod common;

mod batch;
mod carry_on;
mod cli;
// Unix only: signals, pseudo-terminals, symlinks, FIFOs or modes.
#[cfg(unix)]
mod commit_crash;
mod concurrent;
mod content_checks;
// Unix only: signals, pseudo-terminals, symlinks, FIFOs or modes.
#[cfg(unix)]
mod display;
mod expiry;
mod hostile;
// Unix only: signals, pseudo-terminals, symlinks, FIFOs or modes.
#[cfg(unix)]
mod hostile_folder;
// Unix only: signals, pseudo-terminals, symlinks, FIFOs or modes.
#[cfg(unix)]
mod hostile_three;
// Unix only: signals, pseudo-terminals, symlinks, FIFOs or modes.
#[cfg(unix)]
mod interrupt;
mod listen;
mod mistakes;
mod open_outputs;
mod parts;
mod pipeline;
mod properties;
mod v3_endings;
