//! What `listen` shows on stderr: a timestamped line for each thing an
//! operator needs to know (the address, each finished task, each refused or
//! repeated delivery), worded in `lines.rs`. Never the secret, never a
//! signed link. (The `--json` lines on stdout are the command's.)

use fetch_assets::listen::ListenEvent;

use super::lines::{self, Level};
use super::print_line;

pub struct Log {
    level: Level,
}

impl Log {
    pub fn new(quiet: bool, verbose: bool) -> Log {
        Log {
            level: Level::of(quiet, verbose),
        }
    }

    pub fn event(&self, event: &ListenEvent) {
        if let Some(line) = lines::listen(event, self.level) {
            print_line(None, line.mark, &format!("fetch-assets: {}", line.text));
        }
    }
}
