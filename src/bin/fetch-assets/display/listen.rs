//! What `listen` shows: a timestamped line on stderr for each thing an
//! operator needs to know (the address, each finished task, each refused or
//! repeated delivery), and with `--json` one JSON line a finished task on
//! stdout, flushed at once. Never the secret, never a signed link.

use std::io::Write;
use std::time::SystemTime;

use fetch_assets::listen::ListenEvent;

pub struct Log {
    quiet: bool,
    verbose: bool,
    json: bool,
}

impl Log {
    pub fn new(quiet: bool, verbose: bool, json: bool) -> Log {
        Log {
            quiet,
            verbose,
            json,
        }
    }

    pub fn event(&self, event: &ListenEvent) {
        if let ListenEvent::Finished(report) = event
            && self.json
        {
            // A closed pipe is the reader's choice: the fetch itself went fine.
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}", report.to_json_line()).and_then(|()| out.flush());
        }
        let (line, is_trouble) = match event {
            ListenEvent::Listening {
                addr,
                journal,
                resumed,
            } => (
                format!(
                    "listening on http://{addr} (journal {}{})",
                    journal.display(),
                    match resumed {
                        0 => String::new(),
                        n => format!("; resuming {n} deliveries acknowledged before"),
                    }
                ),
                true,
            ),
            ListenEvent::Resumed { task_id, .. } => (
                format!("{task_id}: resuming (fresh links from the API)"),
                false,
            ),
            ListenEvent::Accepted {
                delivery,
                task_id,
                event_type,
            } if self.verbose => (
                format!("{task_id}: {event_type} accepted (delivery {delivery})"),
                false,
            ),
            ListenEvent::Accepted { .. } => return,
            ListenEvent::Duplicate {
                delivery,
                task_id,
                why,
            } => (
                format!("{task_id}: delivery {delivery} acknowledged, not fetched again: {why}"),
                false,
            ),
            ListenEvent::Ignored {
                delivery,
                event_type,
            } => (
                format!("{event_type} acknowledged (delivery {delivery}); nothing to fetch"),
                false,
            ),
            ListenEvent::Rejected { status, reason } => {
                (format!("refused a delivery with {status}: {reason}"), true)
            }
            ListenEvent::JournalFailed { error } => (
                format!(
                    "could not journal a delivery (answered 500; the service will send it again): {error}"
                ),
                true,
            ),
            ListenEvent::Finished(report) => (report.to_string(), !report.is_ok()),
            _ => return,
        };
        if self.quiet && !is_trouble {
            return;
        }
        let now = humantime::format_rfc3339_seconds(SystemTime::now());
        eprintln!("{now} fetch-assets: {line}");
    }
}
