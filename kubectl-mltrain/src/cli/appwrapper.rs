//! The AppWrapper fault-tolerance flags, built from the model's table of its eight settings
//! ([`AppWrapperSetting`]): each flag's name, its value and the annotation key (also the settings.yaml
//! key) it stands for are that table's, so no flag is matched to its key by position, and the
//! model's validation names the same flag. A hand-written `clap::Args`, since derive needs one field
//! per flag.

use clap::builder::ValueParser;
use clap::{Arg, ArgMatches, Args, Command, FromArgMatches};
use mltrain_shared::model::{AppWrapperSetting, SettingValue};

const HEADING: &str = "Fault tolerance (AppWrapper)";

/// The flag's id and long name: the model's flag without its dashes.
fn long(s: AppWrapperSetting) -> &'static str {
    s.flag().trim_start_matches('-')
}

fn arg(s: AppWrapperSetting) -> Arg {
    let (value_name, parser) = match s.value() {
        SettingValue::Duration => ("DURATION", ValueParser::string()),
        SettingValue::Count => ("N", clap::value_parser!(u32).into()),
    };
    Arg::new(long(s))
        .long(long(s))
        .value_name(value_name)
        .value_parser(parser)
        .help(format!("AppWrapper {}", s.key()))
        .help_heading(HEADING)
}

fn value(s: AppWrapperSetting, m: &ArgMatches) -> Result<Option<String>, clap::Error> {
    let wrong_type = |e: clap::parser::MatchesError| {
        clap::Error::raw(
            clap::error::ErrorKind::InvalidValue,
            format!("{}: {e}", s.flag()),
        )
    };
    Ok(match s.value() {
        SettingValue::Duration => m
            .try_get_one::<String>(long(s))
            .map_err(wrong_type)?
            .cloned(),
        SettingValue::Count => m
            .try_get_one::<u32>(long(s))
            .map_err(wrong_type)?
            .map(u32::to_string),
    })
}

/// The AppWrapper settings given as flags, in table order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppWrapperArgs {
    pub values: Vec<(AppWrapperSetting, String)>,
}

impl Args for AppWrapperArgs {
    fn augment_args(cmd: Command) -> Command {
        AppWrapperSetting::ALL
            .into_iter()
            .fold(cmd, |cmd, s| cmd.arg(arg(s)))
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

impl FromArgMatches for AppWrapperArgs {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let mut args = AppWrapperArgs::default();
        args.update_from_arg_matches(m)?;
        Ok(args)
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        for s in AppWrapperSetting::ALL {
            if let Some(v) = value(s, m)? {
                self.values.retain(|(k, _)| *k != s);
                self.values.push((s, v));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        aw: AppWrapperArgs,
    }

    #[test]
    fn each_flag_lands_under_its_own_key() {
        let cli = Cli::try_parse_from([
            "x",
            "--success-ttl",
            "90m",
            "--retry-limit",
            "2",
            "--admission-grace-period",
            "1d",
        ])
        .unwrap();
        assert_eq!(
            cli.aw.values,
            [
                (AppWrapperSetting::AdmissionGracePeriod, "1d".to_string()),
                (AppWrapperSetting::RetryLimit, "2".to_string()),
                (AppWrapperSetting::SuccessTtl, "90m".to_string()),
            ]
        );
        assert!(Cli::try_parse_from(["x", "--retry-limit", "many"]).is_err());
        assert_eq!(Cli::try_parse_from(["x"]).unwrap().aw.values, []);
    }
}
