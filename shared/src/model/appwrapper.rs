//! The AppWrapper's fault-tolerance settings (MLBatch, DESIGN §2): one table pairing each annotation
//! the controller reads ([`crate::vocab::appwrapper`], which is also the key MLBatch's settings file
//! writes) with the flag that sets it and what its value is.
//!
//! Validation names the flag a bad value came from, the settings-file loader maps that flag back to
//! the file's key, rendering writes the annotation, and the plugin builds its flags from the table:
//! no flag is matched to its key by position, and a key the table lacks cannot be stored.

use super::ModelError;
use crate::duration;
use crate::vocab::appwrapper as annotation;

/// One AppWrapper fault-tolerance setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AppWrapperSetting {
    AdmissionGracePeriod,
    WarmupGracePeriod,
    FailureGracePeriod,
    RetryPausePeriod,
    RetryLimit,
    ForcefulDeletionGracePeriod,
    DeletionOnFailureGracePeriod,
    SuccessTtl,
}

/// What a setting's value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingValue {
    /// A duration as the AppWrapper controller reads it (`90s`, `2h`; `d` is converted).
    Duration,
    /// A whole number.
    Count,
}

impl AppWrapperSetting {
    /// Every setting, in the order DESIGN §2 lists them (and `--help` shows them).
    pub const ALL: [AppWrapperSetting; 8] = [
        AppWrapperSetting::AdmissionGracePeriod,
        AppWrapperSetting::WarmupGracePeriod,
        AppWrapperSetting::FailureGracePeriod,
        AppWrapperSetting::RetryPausePeriod,
        AppWrapperSetting::RetryLimit,
        AppWrapperSetting::ForcefulDeletionGracePeriod,
        AppWrapperSetting::DeletionOnFailureGracePeriod,
        AppWrapperSetting::SuccessTtl,
    ];

    /// The annotation key after [`annotation::ANNOTATION_PREFIX`], and the settings-file key.
    pub fn key(self) -> &'static str {
        match self {
            AppWrapperSetting::AdmissionGracePeriod => annotation::ADMISSION_GRACE_PERIOD,
            AppWrapperSetting::WarmupGracePeriod => annotation::WARMUP_GRACE_PERIOD,
            AppWrapperSetting::FailureGracePeriod => annotation::FAILURE_GRACE_PERIOD,
            AppWrapperSetting::RetryPausePeriod => annotation::RETRY_PAUSE_PERIOD,
            AppWrapperSetting::RetryLimit => annotation::RETRY_LIMIT,
            AppWrapperSetting::ForcefulDeletionGracePeriod => {
                annotation::FORCEFUL_DELETION_GRACE_PERIOD
            }
            AppWrapperSetting::DeletionOnFailureGracePeriod => {
                annotation::DELETION_ON_FAILURE_GRACE_PERIOD
            }
            AppWrapperSetting::SuccessTtl => annotation::SUCCESS_TTL,
        }
    }

    /// The flag that sets it, as [`ModelError::field`] names it (with its dashes).
    pub fn flag(self) -> &'static str {
        match self {
            AppWrapperSetting::AdmissionGracePeriod => "--admission-grace-period",
            AppWrapperSetting::WarmupGracePeriod => "--warmup-grace-period",
            AppWrapperSetting::FailureGracePeriod => "--failure-grace-period",
            AppWrapperSetting::RetryPausePeriod => "--retry-pause-period",
            AppWrapperSetting::RetryLimit => "--retry-limit",
            AppWrapperSetting::ForcefulDeletionGracePeriod => "--forceful-deletion-grace-period",
            AppWrapperSetting::DeletionOnFailureGracePeriod => "--deletion-on-failure-grace-period",
            AppWrapperSetting::SuccessTtl => "--success-ttl",
        }
    }

    pub fn value(self) -> SettingValue {
        match self {
            AppWrapperSetting::RetryLimit => SettingValue::Count,
            _ => SettingValue::Duration,
        }
    }

    /// The setting a flag sets.
    pub fn from_flag(flag: &str) -> Option<AppWrapperSetting> {
        Self::ALL.into_iter().find(|s| s.flag() == flag)
    }

    /// `value` as the annotation says it to the controller: a count as written, a duration
    /// normalised (`1d` becomes `24h`: Go's parser has no days, and the controller silently ignores
    /// what it cannot parse). A value the controller could not read is an error naming the flag, so
    /// validation and rendering judge it the same way.
    pub fn annotation_value(self, value: &str) -> Result<String, ModelError> {
        let problem = |message: String| ModelError {
            field: self.flag(),
            value: value.to_string(),
            message,
        };
        match self.value() {
            SettingValue::Count => match value.parse::<u32>() {
                Ok(_) => Ok(value.to_string()),
                Err(_) => Err(problem("must be a whole number".into())),
            },
            SettingValue::Duration => duration::normalise(value).map_err(|e| {
                problem(format!(
                    "not a duration: {}; write e.g. 90s, 30m, 1h30m or 2d",
                    e.reason
                ))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_setting_has_its_own_key_and_flag() {
        for (i, s) in AppWrapperSetting::ALL.iter().enumerate() {
            for other in &AppWrapperSetting::ALL[..i] {
                assert_ne!(s.key(), other.key());
                assert_ne!(s.flag(), other.flag());
            }
            assert_eq!(AppWrapperSetting::from_flag(s.flag()), Some(*s));
        }
        assert_eq!(AppWrapperSetting::from_flag("--max-restarts"), None);
    }

    #[test]
    fn values_are_said_the_way_the_controller_reads_them() {
        use AppWrapperSetting::*;
        assert_eq!(FailureGracePeriod.annotation_value("1d").unwrap(), "24h");
        assert_eq!(RetryLimit.annotation_value("3").unwrap(), "3");
        let e = FailureGracePeriod.annotation_value("1y").unwrap_err();
        assert_eq!(e.field, "--failure-grace-period");
        assert!(e.message.starts_with("not a duration: "), "{e}");
        assert_eq!(
            RetryLimit.annotation_value("many").unwrap_err().to_string(),
            "--retry-limit \"many\": must be a whole number"
        );
    }
}
