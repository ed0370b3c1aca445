//! `fetch-assets man`: one page for the command and its subcommands.
//! clap_mangen's own subcommand section points at a page per subcommand
//! (`fetch-assets-verify(1)`) that nothing installs; here each subcommand is
//! described in place instead, with its arguments and options.

use std::io::Write;

use clap::Command;
use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, italic, roman};

/// The page for `cmd`, written to `out`.
pub fn render(cmd: Command, out: &mut dyn Write) -> std::io::Result<()> {
    let commands = commands_section(&cmd);
    let man = Man::new(cmd);
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    commands.to_writer(out)?;
    man.render_extra_section(out)?;
    man.render_version_section(out)
}

/// COMMANDS: each visible subcommand with its synopsis, what it does, and
/// each of its arguments.
fn commands_section(cmd: &Command) -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["COMMANDS"]);
    let name = cmd.get_name();
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        if sub.get_name() == "help" {
            continue;
        }
        // `fetch-assets verify [-q] OUT_DIR`: options first, in brackets.
        let mut synopsis = vec![bold(format!("{name} {}", sub.get_name()))];
        let (positionals, options): (Vec<_>, Vec<_>) =
            arguments(sub).partition(|arg| arg.is_positional());
        for option in options {
            let flag = match (option.get_short(), option.get_long()) {
                (Some(short), _) => format!("-{short}"),
                (None, Some(long)) => format!("--{long}"),
                (None, None) => continue,
            };
            synopsis.extend([roman(" ["), bold(flag), roman("]")]);
        }
        for positional in positionals {
            synopsis.push(roman(" "));
            synopsis.extend(usage(positional));
        }
        roff.control("TP", []).text(synopsis);
        if let Some(about) = sub.get_long_about().or_else(|| sub.get_about()) {
            roff.text([roman(about.to_string())]);
        }
        let args: Vec<_> = arguments(sub).collect();
        if !args.is_empty() {
            roff.control("RS", []);
            for arg in args {
                roff.control("TP", []).text(usage(arg));
                let mut help = arg
                    .get_long_help()
                    .or_else(|| arg.get_help())
                    .map(ToString::to_string)
                    .unwrap_or_default();
                let takes_values = arg.get_action().takes_values();
                let values: Vec<String> = (if takes_values {
                    arg.get_possible_values()
                } else {
                    Vec::new()
                })
                .iter()
                .map(|v| v.get_name().to_owned())
                .collect();
                if !values.is_empty() {
                    help.push_str(&format!(": {}", values.join(", ")));
                }
                roff.text([roman(help)]);
            }
            roff.control("RE", []);
        }
    }
    roff
}

/// A subcommand's own arguments, without the generated `--help`.
fn arguments(sub: &Command) -> impl Iterator<Item = &clap::Arg> {
    sub.get_arguments()
        .filter(|arg| !arg.is_hide_set() && arg.get_id() != "help")
}

/// `\fB-q\fR, \fB--quiet\fR` or `\fIOUT_DIR\fR`.
fn usage(arg: &clap::Arg) -> Vec<clap_mangen::roff::Inline> {
    if arg.is_positional() {
        let value = arg
            .get_value_names()
            .and_then(|names| names.first())
            .map_or_else(
                || arg.get_id().to_string().to_uppercase(),
                |n| n.to_string(),
            );
        return vec![italic(value)];
    }
    let mut parts = Vec::new();
    if let Some(short) = arg.get_short() {
        parts.push(bold(format!("-{short}")));
    }
    if let Some(long) = arg.get_long() {
        if !parts.is_empty() {
            parts.push(roman(", "));
        }
        parts.push(bold(format!("--{long}")));
    }
    parts
}
