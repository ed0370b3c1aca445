//! The subcommands that do more than print.

pub mod batch;
