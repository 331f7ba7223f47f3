//! Parsers for the compound flag values (`K=V`, `CLAIM:PATH[:ro]`, `KEY[=VALUE]:EFFECT`, env sources),
//! each failing with the flag, the value and the expected form.

use mltrain_shared::model::{EnvValue, Scratch, Toleration, VolumeMount};

use crate::error::UsageError;

fn usage(flag: &'static str, value: &str, message: impl Into<String>) -> UsageError {
    UsageError {
        flag,
        value: value.to_string(),
        message: message.into(),
    }
}

/// `K=V`; the value may contain `=` and commas.
pub fn key_value(flag: &'static str, s: &str) -> Result<(String, String), UsageError> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(usage(flag, s, "expected KEY=VALUE")),
    }
}

/// `K=V`, `K=secret:NAME/KEY` or `K=configmap:NAME/KEY`.
pub fn env(s: &str) -> Result<(String, EnvValue), UsageError> {
    let (k, v) = key_value("--env", s)?;
    let reference = |rest: &str, secret: bool| {
        let (name, key) = rest
            .split_once('/')
            .filter(|(n, k)| !n.is_empty() && !k.is_empty())
            .ok_or_else(|| {
                usage(
                    "--env",
                    s,
                    format!(
                        "expected {k}={}:NAME/KEY",
                        if secret { "secret" } else { "configmap" }
                    ),
                )
            })?;
        Ok::<_, UsageError>((name.to_string(), key.to_string()))
    };
    let value = if let Some(rest) = v.strip_prefix("secret:") {
        let (name, key) = reference(rest, true)?;
        EnvValue::Secret { name, key }
    } else if let Some(rest) = v.strip_prefix("configmap:") {
        let (name, key) = reference(rest, false)?;
        EnvValue::ConfigMap { name, key }
    } else {
        EnvValue::Literal(v)
    };
    Ok((k, value))
}

/// `CLAIM:MOUNTPATH[:ro]`.
pub fn volume(s: &str) -> Result<VolumeMount, UsageError> {
    let parts: Vec<&str> = s.split(':').collect();
    let (claim, path, ro) = match parts.as_slice() {
        [c, p] => (*c, *p, false),
        [c, p, "ro"] => (*c, *p, true),
        [_, _, other] => {
            return Err(usage(
                "--volume",
                s,
                format!("the third part must be ro, not {other:?}"),
            ));
        }
        _ => {
            return Err(usage(
                "--volume",
                s,
                "expected CLAIM:MOUNTPATH or CLAIM:MOUNTPATH:ro",
            ));
        }
    };
    if claim.is_empty() || path.is_empty() {
        return Err(usage(
            "--volume",
            s,
            "expected CLAIM:MOUNTPATH or CLAIM:MOUNTPATH:ro",
        ));
    }
    Ok(VolumeMount {
        name: None,
        claim: claim.into(),
        mount_path: path.into(),
        read_only: ro,
    })
}

/// `SIZE[:PATH]`.
pub fn scratch(s: &str, storage_class: Option<String>) -> Result<Scratch, UsageError> {
    let (size, path) = s.split_once(':').unwrap_or((s, "/workspace/scratch"));
    if size.is_empty() {
        return Err(usage(
            "--scratch",
            s,
            "expected SIZE or SIZE:PATH, e.g. 500Gi:/scratch",
        ));
    }
    Ok(Scratch {
        size: size.into(),
        mount_path: path.into(),
        storage_class,
    })
}

/// `KEY[=VALUE]:EFFECT`.
pub fn toleration(s: &str) -> Result<Toleration, UsageError> {
    let (kv, effect) = s.rsplit_once(':').ok_or_else(|| {
        usage(
            "--toleration",
            s,
            "expected KEY[=VALUE]:EFFECT, e.g. nvidia.com/gpu:NoSchedule",
        )
    })?;
    let (key, value) = match kv.split_once('=') {
        Some((k, v)) => (k, Some(v.to_string())),
        None => (kv, None),
    };
    Ok(Toleration {
        key: key.into(),
        value,
        effect: effect.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_forms() {
        assert_eq!(
            env("A=b=c,d").unwrap(),
            ("A".into(), EnvValue::Literal("b=c,d".into()))
        );
        assert_eq!(
            env("T=secret:hf/token").unwrap(),
            (
                "T".into(),
                EnvValue::Secret {
                    name: "hf".into(),
                    key: "token".into()
                }
            )
        );
        assert_eq!(
            env("C=configmap:cfg/k").unwrap(),
            (
                "C".into(),
                EnvValue::ConfigMap {
                    name: "cfg".into(),
                    key: "k".into()
                }
            )
        );
        assert_eq!(
            env("T=secret:hf").unwrap_err().to_string(),
            "--env \"T=secret:hf\": expected T=secret:NAME/KEY"
        );
        assert_eq!(
            env("=x").unwrap_err().to_string(),
            "--env \"=x\": expected KEY=VALUE"
        );
    }

    #[test]
    fn volume_forms() {
        let v = volume("data:/data:ro").unwrap();
        assert_eq!(
            (v.claim.as_str(), v.mount_path.as_str(), v.read_only),
            ("data", "/data", true)
        );
        assert!(volume("data").is_err());
        assert_eq!(
            volume("d:/x:rw").unwrap_err().to_string(),
            "--volume \"d:/x:rw\": the third part must be ro, not \"rw\""
        );
    }

    #[test]
    fn toleration_forms() {
        let t = toleration("nvidia.com/gpu:NoSchedule").unwrap();
        assert_eq!(
            (t.key.as_str(), t.value, t.effect.as_str()),
            ("nvidia.com/gpu", None, "NoSchedule")
        );
        let t = toleration("pool=a100:NoExecute").unwrap();
        assert_eq!(t.value.as_deref(), Some("a100"));
        assert!(toleration("nocolon").is_err());
    }

    #[test]
    fn scratch_forms() {
        assert_eq!(
            scratch("500Gi", None).unwrap().mount_path,
            "/workspace/scratch"
        );
        assert_eq!(scratch("1Ti:/nvme", None).unwrap().mount_path, "/nvme");
        assert!(scratch(":/x", None).is_err());
    }
}
