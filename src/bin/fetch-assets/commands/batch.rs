//! `fetch-assets batch`: gather the ids, run the library's batch, print a
//! JSON line per task as it ends (`--json`), and exit with the highest code
//! among the tasks.

use std::collections::HashSet;
use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

use fetch_assets::Error;
use fetch_assets::TaskReport;
use futures::StreamExt;

use crate::args::BatchArgs;
use crate::display::Mode;
use crate::display::batch::BatchDisplay;
use crate::{report, shell};

pub async fn run(args: BatchArgs) -> Result<ExitCode, Error> {
    let ids = task_ids(&args.task_ids, args.from.as_deref())?;
    let (quiet, verbose, json) = (args.options.quiet, args.options.verbose, args.options.json);
    let client = shell::client(args.api, false, quiet)?;
    shell::note_likely_slips(&args.options.only, quiet);
    let display = BatchDisplay::new(Mode::choose(quiet, verbose), &ids);
    let options = shell::fetch_options(&args.options).observer(display.clone());

    shell::survive_file_size_limit();
    let mut batch = client.fetch_many(ids, &args.out_root, &options)?;
    let mut ends = Ends {
        unfinished: batch.task_ids().iter().cloned().collect(),
        worst: 0,
        display: display.clone(),
        json,
    };
    let interrupted = shell::interrupted();
    tokio::pin!(interrupted);
    loop {
        tokio::select! {
            outcome = batch.next() => match outcome {
                Some(outcome) => ends.report(&TaskReport::new(&outcome.task_id, &outcome.dir, &outcome.result))?,
                None => break,
            },
            () = &mut interrupted => {
                // Stop every task: each folder is left as an interrupted
                // single run leaves it.
                drop(batch);
                let mut left: Vec<String> = ends.unfinished.iter().cloned().collect();
                left.sort();
                for task_id in left {
                    let dir = args.out_root.join(&task_id);
                    ends.report(&TaskReport::failed(&task_id, &dir, &Error::Interrupted))?;
                }
                display.finish();
                return Err(Error::Interrupted);
            }
        }
    }
    display.finish();
    Ok(ExitCode::from(ends.worst))
}

/// What the tasks that ended add up to.
struct Ends {
    unfinished: HashSet<String>,
    /// The highest exit code so far.
    worst: u8,
    display: BatchDisplay,
    json: bool,
}

impl Ends {
    fn report(&mut self, report: &TaskReport) -> Result<(), Error> {
        self.worst = self.worst.max(report.exit_code);
        self.unfinished.remove(&report.task_id);
        self.display.task_ended(report);
        if self.json {
            report::print_line(report).map_err(|source| Error::Io {
                action: "print a task's line to",
                path: "stdout".into(),
                source,
            })?;
        }
        Ok(())
    }
}

/// The ids from the arguments, then from `--from` (`-`: stdin), in order,
/// each once. Every one is checked before any request; a bad one is a usage
/// error naming where it came from.
fn task_ids(args: &[String], from: Option<&Path>) -> Result<Vec<String>, Error> {
    let mut ids: Vec<(String, String)> = args
        .iter()
        .enumerate()
        .map(|(i, id)| (id.trim().to_owned(), format!("argument {}", i + 1)))
        .collect();
    if let Some(path) = from {
        let (text, name) = read_list(path)?;
        // Notepad and PowerShell 5 start a UTF-8 file with a byte-order
        // mark: it is not part of the first id.
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        for (number, line) in text.lines().enumerate() {
            let id = line.split('#').next().unwrap_or_default().trim();
            if !id.is_empty() {
                ids.push((id.to_owned(), format!("{name}, line {}", number + 1)));
            }
        }
    }
    if ids.is_empty() {
        return Err(Error::Usage(
            "no task ids: give them after OUT_ROOT, or one a line with --from FILE (- for stdin)"
                .into(),
        ));
    }
    let mut seen = HashSet::new();
    let mut unique = Vec::with_capacity(ids.len());
    for (id, origin) in ids {
        fetch_assets::check_task_id(&id).map_err(|e| Error::Usage(format!("{origin}: {e}")))?;
        if seen.insert(id.clone()) {
            unique.push(id);
        }
    }
    Ok(unique)
}

/// The most of an id list read: about 200,000 ids, one a line. Every id
/// is read before the first request, so an endless stdin (`yes id |`)
/// would otherwise grow memory for ever.
const MAX_LIST_BYTES: u64 = 8 << 20;

/// The text of the id list, and how to name it in messages.
fn read_list(path: &Path) -> Result<(String, String), Error> {
    let mut text = String::new();
    if path == Path::new("-") {
        std::io::stdin()
            .take(MAX_LIST_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|source| Error::Io {
                action: "read task ids from",
                path: "stdin".into(),
                source,
            })?;
        return bounded(text, "stdin".into());
    }
    let name = path.display().to_string();
    std::fs::File::open(path)
        .and_then(|file| file.take(MAX_LIST_BYTES + 1).read_to_string(&mut text))
        .map_err(|source| Error::Usage(format!("cannot read task ids from {name}: {source}")))?;
    bounded(text, name)
}

/// The list, unless it is longer than [`MAX_LIST_BYTES`]: a usage error.
fn bounded(text: String, name: String) -> Result<(String, String), Error> {
    if text.len() as u64 > MAX_LIST_BYTES {
        return Err(Error::Usage(format!(
            "the task ids from {name} run past {} MiB (about 200,000 ids): split them into several batches",
            MAX_LIST_BYTES >> 20
        )));
    }
    Ok((text, name))
}
