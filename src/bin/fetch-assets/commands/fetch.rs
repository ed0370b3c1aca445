//! `fetch-assets TASK_ID OUT_DIR`: one task into one folder, with a
//! display, and with `--json` the manifest on stdout.

use std::process::ExitCode;

use fetch_assets::Error;

use crate::args::FetchArgs;
use crate::display::Mode;
use crate::display::fetch::Display;
use crate::{report, shell};

pub async fn run(args: FetchArgs) -> Result<ExitCode, Error> {
    let (Some(task_id), Some(out_dir)) = (args.task_id, args.out_dir) else {
        return Err(Error::Usage("a task id and a folder are required".into()));
    };
    let args_options = args.options;
    let client = shell::client(args.api, false, args_options.quiet)?;
    shell::note_likely_slips(&args_options.only, args_options.quiet);
    let display = Display::new(Mode::choose(args_options.quiet, args_options.verbose));
    let options = shell::fetch_options(&args_options).observer(display.clone());

    shell::survive_file_size_limit();
    let manifest = tokio::select! {
        result = client.fetch(&task_id, &out_dir, &options) => result,
        () = shell::interrupted() => Err(Error::Interrupted),
    };
    display.finish(manifest.as_ref().ok(), &out_dir);
    let manifest = manifest?;
    if args_options.json {
        report::print_manifest(&manifest.to_json()?).map_err(|source| Error::Io {
            action: "print the manifest to",
            path: "stdout".into(),
            source,
        })?;
    }
    Ok(ExitCode::SUCCESS)
}
