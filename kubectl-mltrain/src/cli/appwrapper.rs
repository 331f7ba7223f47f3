//! The eight MLBatch AppWrapper fault-tolerance settings in one table ([`GRACE_SETTINGS`]): each
//! flag, and the settings.yaml key it stands for, which is also the key the job keeps them under
//! ([`mltrain_shared::model::APPWRAPPER_ANNOTATIONS`]). The flags are built from the table (a
//! hand-written `clap::Args`, since derive needs one field per flag) and the settings file reads the
//! same keys, so no flag is matched to its key by position.

use clap::builder::ValueParser;
use clap::{Arg, ArgMatches, Args, Command, FromArgMatches};

/// What a setting's value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraceValue {
    /// A duration as the AppWrapper controller reads it (`90s`, `2h`; `d` is converted).
    Duration,
    /// A whole number.
    Count,
}

/// One AppWrapper fault-tolerance setting.
#[derive(Debug, Clone, Copy)]
pub struct GraceSetting {
    /// The flag, without its dashes.
    pub flag: &'static str,
    /// The settings.yaml key, which is also the key of the job's AppWrapper annotations.
    pub key: &'static str,
    pub value: GraceValue,
}

const fn duration(flag: &'static str, key: &'static str) -> GraceSetting {
    GraceSetting {
        flag,
        key,
        value: GraceValue::Duration,
    }
}

/// Every AppWrapper fault-tolerance setting, in help order.
pub const GRACE_SETTINGS: [GraceSetting; 8] = [
    duration("admission-grace-period", "admissionGracePeriodDuration"),
    duration("warmup-grace-period", "warmupGracePeriodDuration"),
    duration("failure-grace-period", "failureGracePeriodDuration"),
    duration("retry-pause-period", "retryPausePeriodDuration"),
    GraceSetting {
        flag: "retry-limit",
        key: "retryLimit",
        value: GraceValue::Count,
    },
    duration(
        "forceful-deletion-grace-period",
        "forcefulDeletionGracePeriodDuration",
    ),
    duration(
        "deletion-on-failure-grace-period",
        "deletionOnFailureGracePeriodDuration",
    ),
    duration("success-ttl", "successTTLDuration"),
];

const HEADING: &str = "Fault tolerance (AppWrapper)";

impl GraceSetting {
    fn arg(&self) -> Arg {
        let (value_name, parser) = match self.value {
            GraceValue::Duration => ("DURATION", ValueParser::string()),
            GraceValue::Count => ("N", clap::value_parser!(u32).into()),
        };
        Arg::new(self.flag)
            .long(self.flag)
            .value_name(value_name)
            .value_parser(parser)
            .help(format!("AppWrapper {}", self.key))
            .help_heading(HEADING)
    }

    fn value(&self, m: &ArgMatches) -> Result<Option<String>, clap::Error> {
        let wrong_type = |e: clap::parser::MatchesError| {
            clap::Error::raw(
                clap::error::ErrorKind::InvalidValue,
                format!("--{}: {e}", self.flag),
            )
        };
        Ok(match self.value {
            GraceValue::Duration => m
                .try_get_one::<String>(self.flag)
                .map_err(wrong_type)?
                .cloned(),
            GraceValue::Count => m
                .try_get_one::<u32>(self.flag)
                .map_err(wrong_type)?
                .map(u32::to_string),
        })
    }
}

/// The AppWrapper settings given as flags, by settings key, in table order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppWrapperArgs {
    pub values: Vec<(&'static str, String)>,
}

impl Args for AppWrapperArgs {
    fn augment_args(cmd: Command) -> Command {
        GRACE_SETTINGS.iter().fold(cmd, |cmd, s| cmd.arg(s.arg()))
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
        for s in &GRACE_SETTINGS {
            if let Some(v) = s.value(m)? {
                self.values.retain(|(k, _)| *k != s.key);
                self.values.push((s.key, v));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        aw: AppWrapperArgs,
    }

    #[test]
    fn the_table_covers_every_key_the_job_keeps() {
        let table: BTreeSet<&str> = GRACE_SETTINGS.iter().map(|s| s.key).collect();
        let model: BTreeSet<&str> = mltrain_shared::model::APPWRAPPER_ANNOTATIONS
            .into_iter()
            .collect();
        assert_eq!(table, model);
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
                ("admissionGracePeriodDuration", "1d".to_string()),
                ("retryLimit", "2".to_string()),
                ("successTTLDuration", "90m".to_string()),
            ]
        );
        assert!(Cli::try_parse_from(["x", "--retry-limit", "many"]).is_err());
        assert_eq!(Cli::try_parse_from(["x"]).unwrap().aw.values, []);
    }
}
