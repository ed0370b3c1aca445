//! The command line, as the contract names it (DESIGN.md, "Command line").

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::{PossibleValue, StringValueParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};
use fetch_assets::RoleSelector;

use crate::units::{parse_duration, parse_size};

const EXIT_CODES: &str = "\
Exit codes:
  0    every requested output is on disk, verified, and in the manifest
  1    an unexpected error (a bug)
  2    usage error
  3    the API refused or failed (bad key, task not found, ...)
  4    gave up waiting (--timeout)
  5    a download or a local write failed after retries and link refreshes
  6    the task finished without success (failed, banned, expired, cancelled, unknown)
  130  interrupted; no partial file is left under a final name

Examples:
  TRIPO_API_KEY=tsk_... fetch-assets 916e2b2c-... ./out
  fetch-assets --only model,multiview --json 916e2b2c-... ./out > manifest.json
  fetch-assets verify ./out
  fetch-assets batch --from ids.txt --json ./assets > results.jsonl";

const BATCH_HELP: &str = "\
Each task lands in OUT_ROOT/<task_id>/ exactly as a single-task run would leave it.
With --json, stdout gets one line per task as it ends:
{\"task_id\",\"dir\",\"status\":\"ok\"|\"error\",\"exit_code\",\"files\",\"bytes\",\"error\"}

Exit code: 0 when every task is ok, else the highest exit code among the tasks
(the codes of a single-task run; 130 when interrupted).

Examples:
  fetch-assets batch ./assets 916e2b2c-... 0c3f9a7d-...
  fetch-assets batch --from ids.txt --json ./assets > results.jsonl
  generate-tasks | fetch-assets batch --from - ./assets";

/// Wait for a Tripo task, then download every output before its links
/// expire, verified, with a checksummed manifest.
#[derive(Debug, Parser)]
#[command(
    name = "fetch-assets",
    version,
    after_help = EXIT_CODES,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub fetch: FetchArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Re-hash the files of a folder against its manifest.json (exit 0: all
    /// match; 1: some file is missing or differs).
    Verify {
        /// The folder a fetch wrote.
        out_dir: PathBuf,
        /// Print only failures.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Print a shell completion script (e.g. `fetch-assets completions bash >
    /// ~/.local/share/bash-completion/completions/fetch-assets`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Fetch many tasks in one run, each into OUT_ROOT/<task_id>/.
    #[command(after_help = BATCH_HELP)]
    Batch(BatchArgs),
    /// Print the man page (e.g. `fetch-assets man > fetch-assets.1`).
    Man,
    /// Receive the service's webhooks and fetch each completed task into
    /// OUT_ROOT/<task_id>/ the moment it completes (no polling). Runs until
    /// SIGINT or SIGTERM, then exits 0; deliveries not yet done are kept in
    /// OUT_ROOT/.fetch-assets/ and resumed on the next start.
    #[command(after_help = LISTEN_HELP)]
    Listen(ListenArgs),
}

const LISTEN_HELP: &str = "\
Point the webhook in the developer console at this address (through a
reverse proxy with TLS), with the same whsec_... secret. Each finished task
gets a line on stderr; with --json also one JSON object a line on stdout:
{\"task_id\",\"dir\",\"status\":\"ok\"|\"error\",\"exit_code\",\"files\",\"bytes\",\"error\"}

Example:
  TRIPO_WEBHOOK_SECRET=whsec_... TRIPO_API_KEY=tsk_... fetch-assets listen ./assets";

#[derive(Debug, Args)]
pub struct ListenArgs {
    /// The folder under which each task gets its own folder; created if missing.
    pub out_root: PathBuf,

    /// The address to listen on (a reverse proxy in front adds TLS).
    #[arg(long, default_value = fetch_assets::listen::DEFAULT_ADDR)]
    pub addr: std::net::SocketAddr,

    /// The webhook's secret (whsec_...), as the developer console shows it.
    /// Required; prefer the environment variable, which `ps` does not show.
    #[arg(long, env = "TRIPO_WEBHOOK_SECRET", hide_env_values = true)]
    pub secret: Option<String>,

    #[command(flatten)]
    pub api: ApiArgs,

    /// At most this many transfers at once, across all tasks.
    #[arg(long, value_name = "N", default_value = "32", value_parser = parse_concurrency)]
    pub concurrency: NonZeroUsize,

    #[command(flatten)]
    pub transfer: TransferArgs,

    /// One JSON line a finished task on stdout.
    #[arg(long)]
    pub json: bool,

    /// Only failures and refused deliveries on stderr.
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Also every delivery as it is accepted.
    #[arg(short, long)]
    pub verbose: bool,
}

#[derive(Debug, Args)]
pub struct BatchArgs {
    /// The folder that receives one folder per task; created if missing.
    pub out_root: PathBuf,

    /// Task ids (more with --from).
    pub task_ids: Vec<String>,

    /// Read task ids from FILE ('-' for stdin), one a line; blank lines and
    /// '#' comments are skipped.
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,

    #[command(flatten)]
    pub api: ApiArgs,

    #[command(flatten)]
    pub options: TaskOptions,
}

/// Where the API is and how to reach it.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// The API key (tsk_...). Sent to the API host only, never shown.
    #[arg(
        long,
        env = "TRIPO_API_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub api_key: Option<String>,

    /// The API base URL; a path ending in /v2/openapi speaks the v2 API.
    // `hide_env_values`: else help shows `[env: TRIPO_API_BASE=]` when it is
    // unset, which reads as "set to nothing".
    #[arg(
        long,
        env = "TRIPO_API_BASE",
        hide_env_values = true,
        value_name = "URL",
        default_value = fetch_assets::DEFAULT_API_BASE
    )]
    pub api_base: String,

    /// Override the API dialect the base suggests.
    #[arg(long, value_enum)]
    pub api_version: Option<ApiVersionArg>,
}

#[derive(Debug, Args)]
pub struct FetchArgs {
    /// The task id returned when the task was created.
    #[arg(required = true)]
    pub task_id: Option<String>,

    /// The folder to fill; created if missing.
    #[arg(required = true)]
    pub out_dir: Option<PathBuf>,

    #[command(flatten)]
    pub api: ApiArgs,

    #[command(flatten)]
    pub options: TaskOptions,
}

/// How to fetch a task: for a single run, or each task of a batch.
#[derive(Debug, Args)]
pub struct TaskOptions {
    /// How long to wait for the task to finish (90s, 5m, 1h, or seconds).
    #[arg(long, value_parser = parse_duration, default_value = "30m", value_name = "DURATION")]
    pub timeout: Duration,

    /// Print the manifest as JSON on stdout (and nothing else there); with
    /// batch, one JSON line per task as it ends.
    #[arg(long)]
    pub json: bool,

    /// No progress display; errors still go to stderr.
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Show details: requests, retries, trace ids, links (without their query).
    #[arg(short, long)]
    pub verbose: bool,

    // The help lists the names from the library's table, written once there.
    #[arg(help = format!("Fetch only these outputs (comma-separated): {}", RoleSelector::names().collect::<Vec<_>>().join(", ")))]
    #[arg(long, value_delimiter = ',', value_name = "ROLE,...", value_parser = RoleNames, hide_possible_values = true)]
    pub only: Vec<RoleSelector>,

    /// Download everything again, even files a previous run completed.
    #[arg(long)]
    pub force: bool,

    /// At most this many transfers at once (default: 32; batch: 32 across
    /// all tasks).
    #[arg(long, value_name = "N", value_parser = parse_concurrency)]
    pub concurrency: Option<NonZeroUsize>,

    #[command(flatten)]
    pub transfer: TransferArgs,
}

/// How each file is received and checked: the same for a single run, a
/// batch and `listen`.
#[derive(Debug, Args)]
pub struct TransferArgs {
    /// A transfer that receives no byte for this long (or averages under
    /// 1 KiB/s over it) is abandoned and resumed.
    #[arg(long, value_parser = parse_duration, default_value = "30s", value_name = "DURATION")]
    pub stall_timeout: Duration,

    /// Keep files as they arrive, without checking their content against
    /// their type (an error page saved as a model, a damaged GLB).
    #[arg(long)]
    pub no_content_check: bool,

    /// The most one file may bring when the CDN announces no length (bytes,
    /// or 500MB, 4GiB, ...); never more than an announced length.
    #[arg(long, value_parser = parse_size, default_value = "4GiB", value_name = "SIZE")]
    pub max_size: u64,

    /// At most this many connections for one big file (8 MiB or more, from
    /// a CDN that serves ranges): its parts arrive at once. 1 turns it off.
    /// Each connection counts against --concurrency.
    #[arg(long, value_name = "N", default_value = "8", value_parser = parse_connections)]
    pub connections: NonZeroUsize,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ApiVersionArg {
    V2,
    V3,
}

impl From<ApiVersionArg> for fetch_assets::ApiVersion {
    fn from(arg: ApiVersionArg) -> Self {
        match arg {
            ApiVersionArg::V2 => fetch_assets::ApiVersion::V2,
            ApiVersionArg::V3 => fetch_assets::ApiVersion::V3,
        }
    }
}

/// `--concurrency`: a whole number of transfers, at least 1.
pub fn parse_concurrency(text: &str) -> Result<NonZeroUsize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("at least 1 transfer must run at a time: give 1 or more, or leave --concurrency out for the default (32)".into()),
        Ok(n) => Ok(NonZeroUsize::MIN.saturating_add(n - 1)),
        Err(_) => Err(format!("'{text}' is not a number of transfers: give a whole number, 1 or more")),
    }
}

/// `--connections`: a whole number of connections, at least 1.
pub fn parse_connections(text: &str) -> Result<NonZeroUsize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("a file needs at least 1 connection: give 1 (one stream) or more".into()),
        Ok(n) => Ok(NonZeroUsize::MIN.saturating_add(n - 1)),
        Err(_) => Err(format!(
            "'{text}' is not a number of connections: give a whole number, 1 or more"
        )),
    }
}

/// `--only`'s values: parsed by [`RoleSelector`], and offered by name to
/// shell completion (which would otherwise offer file names).
#[derive(Debug, Clone, Copy)]
struct RoleNames;

impl TypedValueParser for RoleNames {
    type Value = RoleSelector;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<RoleSelector, clap::Error> {
        StringValueParser::new()
            .try_map(|text| text.parse::<RoleSelector>())
            .parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(RoleSelector::names().map(PossibleValue::new)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_is_a_positive_number() {
        assert_eq!(parse_connections("4").map(NonZeroUsize::get), Ok(4));
        assert_eq!(parse_connections("1").map(NonZeroUsize::get), Ok(1));
        for bad in ["0", "-1", "many", ""] {
            assert!(parse_connections(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn concurrency_is_a_positive_number() {
        assert_eq!(parse_concurrency("3").map(NonZeroUsize::get), Ok(3));
        for bad in ["0", "-1", "many", ""] {
            assert!(parse_concurrency(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
