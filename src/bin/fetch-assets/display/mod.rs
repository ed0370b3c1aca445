//! What the command shows on stderr while it runs.

pub mod batch;
pub mod fetch;
pub mod fit;
pub mod listen;
