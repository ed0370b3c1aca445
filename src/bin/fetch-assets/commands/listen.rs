//! `fetch-assets listen`: serve webhooks until Ctrl-C or SIGTERM, then exit
//! 0 (work not done stays journaled for the next start); a line on stderr
//! for what an operator should know, and with `--json` one JSON line a
//! finished task on stdout.

use std::process::ExitCode;

use fetch_assets::listen::{ListenEvent, ListenOptions};
use fetch_assets::webhook::WebhookSecret;
use fetch_assets::{Error, TransferLimit};

use crate::args::ListenArgs;
use crate::display::listen::Log;
use crate::{report, shell};

pub async fn run(args: ListenArgs) -> Result<ExitCode, Error> {
    let secret = args.secret.ok_or_else(|| {
        Error::Usage(
            "no webhook secret: set TRIPO_WEBHOOK_SECRET (or pass --secret) to the whsec_… secret the developer console shows for the webhook".into(),
        )
    })?;
    let secret = WebhookSecret::new(secret)?;
    // The key only renews links that died; without one such a task fails (exit code 3).
    let client = shell::client(args.api, true, args.quiet)?;
    let fetch = shell::transfer_options(&args.transfer)
        .shared_limit(TransferLimit::new(args.concurrency))
        .concurrency(args.concurrency);
    let (log, json) = (Log::new(args.quiet, args.verbose), args.json);
    let options = ListenOptions::new(args.addr, secret)
        .fetch(fetch)
        .on_event(move |event| {
            // The line on stderr first: whoever reads the JSON line finds
            // the task's line already written.
            log.event(event);
            if let (true, ListenEvent::Finished(report)) = (json, event) {
                // A closed pipe is the reader's choice: the fetch itself went fine.
                let _ = report::print_line(report);
            }
        });
    shell::survive_file_size_limit();
    fetch_assets::listen::listen(&client, &args.out_root, options, shell::interrupted()).await?;
    Ok(ExitCode::SUCCESS)
}
