//! `--config FILE` of the daemons (`mds`, `cs`, `gateway`, `mount`, `up`):
//! a flat TOML table whose keys are the command's long flags, e.g.
//!
//! ```toml
//! listen = "0.0.0.0:9000"
//! metrics-listen = "127.0.0.1:9300"
//! log-json = true
//! ```
//!
//! The file's settings are put before the command line's own arguments and
//! every argument overrides an earlier one, so a flag given on the command
//! line wins. A file that does not parse, names an unknown setting or gives
//! a value of the wrong kind is refused with its path and line.

use std::{ffi::OsString, path::Path};

use clap::{Arg, ArgAction, Command};

/// The commands that take `--config`.
pub const DAEMONS: &[&str] = &["mds", "cs", "gateway", "mount", "up"];

/// Adds `--config FILE` to the daemons' help and lets every argument
/// override an earlier one (the file's value, then the command line's).
pub fn prepare(cli: Command) -> Command {
    cli.args_override_self(true).mut_subcommands(|sub| {
        if !DAEMONS.contains(&sub.get_name()) {
            return sub;
        }
        sub.args_override_self(true).arg(
            Arg::new("config").long("config").value_name("FILE").help(
                "Read settings from a TOML file of FLAG = VALUE lines (the command line wins)",
            ),
        )
    })
}

/// Replaces `--config FILE` of a daemon command in `args` by the flags the
/// file holds. Other commands' arguments are returned as they are.
pub fn expand(args: Vec<OsString>, cli: &Command) -> Result<Vec<OsString>, String> {
    let Some(sub_at) = subcommand_position(&args, cli) else {
        return Ok(args);
    };
    let name = args[sub_at].to_string_lossy().into_owned();
    let Some(sub) = cli
        .find_subcommand(&name)
        .filter(|_| DAEMONS.contains(&name.as_str()))
    else {
        return Ok(args);
    };
    let mut rest: Vec<OsString> = Vec::new();
    let mut file: Option<OsString> = None;
    let mut it = args[sub_at + 1..].iter();
    while let Some(a) = it.next() {
        let text = a.to_string_lossy();
        if text == "--" {
            rest.push(a.clone());
            rest.extend(it.by_ref().cloned());
            break;
        }
        if text == "--config" {
            file = Some(
                it.next()
                    .cloned()
                    .ok_or("--config needs a FILE: cairn <command> --config settings.toml")?,
            );
        } else if let Some(path) = text.strip_prefix("--config=") {
            file = Some(path.into());
        } else {
            rest.push(a.clone());
        }
    }
    let Some(file) = file else {
        return Ok(args);
    };
    let from_file = flags_of(Path::new(&file), cli, sub)?;
    let mut out: Vec<OsString> = args[..=sub_at].to_vec();
    out.extend(from_file);
    out.extend(rest);
    Ok(out)
}

/// Where the subcommand's name is: the first argument that is not a
/// global option or its value.
fn subcommand_position(args: &[OsString], cli: &Command) -> Option<usize> {
    let mut i = 1;
    while i < args.len() {
        let a = args[i].to_string_lossy();
        if !a.starts_with('-') {
            return Some(i);
        }
        // A global option that takes a value in the next argument.
        let takes_value = cli.get_arguments().any(|arg| {
            let long = arg.get_long().is_some_and(|l| a == format!("--{l}"));
            let short = arg.get_short().is_some_and(|s| a == format!("-{s}"));
            (long || short) && arg.get_action().takes_values()
        });
        i += if takes_value { 2 } else { 1 };
    }
    None
}

/// The flags a config file gives to `sub` (its own and the global ones of
/// `cli`).
fn flags_of(path: &Path, cli: &Command, sub: &Command) -> Result<Vec<OsString>, String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the config file {shown}: {e}"))?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map(|s| line_of_offset(&text, s.start))
            .map_or(String::new(), |l| format!(":{l}"));
        format!("{shown}{line}: not valid TOML: {}", e.message())
    })?;
    let command = sub.get_name();
    let settable: Vec<&Arg> = sub
        .get_arguments()
        .chain(cli.get_arguments().filter(|a| a.is_global_set()))
        .filter(|a| a.get_long().is_some_and(|l| l != "config" && l != "help"))
        .collect();
    let mut flags = Vec::new();
    for (key, value) in &table {
        let at = format!("{shown}:{}", line_of_key(&text, key));
        let long = key.replace('_', "-");
        let Some(arg) = settable
            .iter()
            .find(|a| a.get_long() == Some(long.as_str()))
        else {
            let known: Vec<&str> = settable.iter().filter_map(|a| a.get_long()).collect();
            return Err(format!(
                "{at}: `{key}` is not a setting of `cairn {command}`; its settings are: {}",
                known.join(", ")
            ));
        };
        let flag = OsString::from(format!("--{long}"));
        let is_switch = matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::SetFalse);
        match value {
            toml::Value::Boolean(on) if is_switch => {
                if *on {
                    flags.push(flag);
                }
            }
            _ if is_switch => {
                return Err(format!(
                    "{at}: `{key}` is a switch: write `{key} = true` or `false`"
                ))
            }
            toml::Value::Array(items) => {
                for item in items {
                    flags.push(flag.clone());
                    flags.push(scalar(item).ok_or_else(|| {
                        format!("{at}: the items of `{key}` must be strings or numbers")
                    })?);
                }
            }
            other => {
                flags.push(flag);
                flags.push(scalar(other).ok_or_else(|| {
                    format!("{at}: `{key}` must be a string or a number (e.g. {key} = \"...\")")
                })?);
            }
        }
    }
    Ok(flags)
}

fn scalar(value: &toml::Value) -> Option<OsString> {
    match value {
        toml::Value::String(s) => Some(s.into()),
        toml::Value::Integer(n) => Some(n.to_string().into()),
        toml::Value::Float(f) => Some(f.to_string().into()),
        _ => None,
    }
}

/// 1-based line of a byte offset.
fn line_of_offset(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// 1-based line where `key` is set (a flat table: `key = ...` at the start
/// of a line, bare or quoted).
fn line_of_key(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            let rest = l
                .strip_prefix(key)
                .or_else(|| l.strip_prefix(&format!("\"{key}\"")));
            rest.is_some_and(|r| r.trim_start().starts_with('='))
        })
        .map_or(1, |i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli() -> Command {
        prepare(
            Command::new("cairn")
                .arg(Arg::new("cluster").short('c').long("cluster"))
                .subcommand(
                    Command::new("gateway")
                        .arg(Arg::new("listen").long("listen"))
                        .arg(Arg::new("region").long("region"))
                        .arg(
                            Arg::new("log-json")
                                .long("log-json")
                                .action(ArgAction::SetTrue),
                        )
                        .arg(Arg::new("tag").long("tag").action(ArgAction::Append)),
                )
                .subcommand(Command::new("stat")),
        )
    }

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(f.path(), text).expect("write");
        f
    }

    #[test]
    fn the_file_goes_before_the_command_line() {
        let f = file("listen = \"0.0.0.0:9000\"\nlog_json = true\ntag = [\"a\", 2]\n");
        let p = f.path().to_str().expect("utf-8 path");
        let out = expand(
            args(&[
                "cairn", "-c", "prod", "gateway", "--config", p, "--region", "x",
            ]),
            &cli(),
        )
        .expect("expands");
        assert_eq!(
            out,
            args(&[
                "cairn",
                "-c",
                "prod",
                "gateway",
                "--listen",
                "0.0.0.0:9000",
                "--log-json",
                "--tag",
                "a",
                "--tag",
                "2",
                "--region",
                "x"
            ])
        );
        // The command line's flag wins over the file's.
        let m = cli()
            .try_get_matches_from(
                expand(
                    args(&["cairn", "gateway", "--config", p, "--listen", "1.2.3.4:5"]),
                    &cli(),
                )
                .expect("expands"),
            )
            .expect("parses");
        let g = m.subcommand_matches("gateway").expect("gateway");
        assert_eq!(
            g.get_one::<String>("listen").map(String::as_str),
            Some("1.2.3.4:5")
        );
    }

    #[test]
    fn bad_files_name_their_line() {
        let cases = [
            (
                "region = \"x\"\nlisn = \"a\"\n",
                ":2: `lisn` is not a setting of `cairn gateway`",
            ),
            ("region = \"x\"\nlisten = \n", ":2: not valid TOML"),
            ("\n\nlog-json = \"yes\"\n", ":3: `log-json` is a switch"),
            (
                "listen = { a = 1 }\n",
                ":1: `listen` must be a string or a number",
            ),
        ];
        for (text, want) in cases {
            let f = file(text);
            let p = f.path().to_str().expect("utf-8 path");
            let err = expand(args(&["cairn", "gateway", "--config", p]), &cli()).expect_err(text);
            assert!(err.contains(want), "{text:?}: {err}");
        }
        let err = expand(
            args(&["cairn", "gateway", "--config", "/nonexistent/x.toml"]),
            &cli(),
        )
        .expect_err("missing file");
        assert!(err.contains("cannot read the config file"), "{err}");
    }

    #[test]
    fn other_commands_are_left_alone() {
        let a = args(&["cairn", "stat", "--config", "x"]);
        assert_eq!(expand(a.clone(), &cli()).expect("unchanged"), a);
        let a = args(&["cairn", "-c", "gateway", "stat"]);
        assert_eq!(expand(a.clone(), &cli()).expect("unchanged"), a);
    }
}
