//! Name syntax the API server enforces: DNS-1035 labels (Service names), DNS-1123 labels and subdomains
//! (object and host names), label keys and values, environment variable names.
//!
//! Checked here so that a bad name is refused with the field and the fix before anything reaches the
//! cluster (<https://kubernetes.io/docs/concepts/overview/working-with-objects/names/>).

/// Why a name is invalid, in words that tell the user what to change.
pub type NameProblem = String;

fn is_alnum_lower(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

fn label_like(s: &str, max: usize, first_alpha: bool) -> Result<(), NameProblem> {
    if s.is_empty() {
        return Err("it is empty".into());
    }
    if s.len() > max {
        return Err(format!(
            "it is {} characters long, the maximum is {max}",
            s.len()
        ));
    }
    let b = s.as_bytes();
    if let Some(c) = b.iter().find(|c| !(is_alnum_lower(**c) || **c == b'-')) {
        return Err(format!(
            "it contains {:?}; only lowercase letters, digits and '-' are allowed",
            *c as char
        ));
    }
    if first_alpha && !b[0].is_ascii_lowercase() {
        return Err("it must start with a lowercase letter".into());
    }
    if !is_alnum_lower(b[0]) || !is_alnum_lower(b[b.len() - 1]) {
        return Err("it must start and end with a lowercase letter or digit".into());
    }
    Ok(())
}

/// A DNS-1035 label: Service names, and job names (their pods' host names derive from them).
pub fn dns1035_label(s: &str, max: usize) -> Result<(), NameProblem> {
    label_like(s, max.min(63), true)
}

/// A DNS-1123 label (≤ 63): namespaces, container names, volume names.
pub fn dns1123_label(s: &str) -> Result<(), NameProblem> {
    label_like(s, 63, false)
}

/// A DNS-1123 subdomain (≤ 253): node (host) names and most object names.
pub fn dns1123_subdomain(s: &str) -> Result<(), NameProblem> {
    if s.len() > 253 {
        return Err(format!(
            "it is {} characters long, the maximum is 253",
            s.len()
        ));
    }
    if s.is_empty() {
        return Err("it is empty".into());
    }
    for part in s.split('.') {
        label_like(part, 63, false).map_err(|p| {
            if part.is_empty() {
                "it has an empty part between dots".to_string()
            } else {
                p
            }
        })?;
    }
    Ok(())
}

/// A label value: ≤ 63, alphanumerics with `-_.` inside, may be empty.
pub fn label_value(s: &str) -> Result<(), NameProblem> {
    if s.is_empty() {
        return Ok(());
    }
    if s.len() > 63 {
        return Err(format!(
            "it is {} characters long, the maximum is 63",
            s.len()
        ));
    }
    let b = s.as_bytes();
    let ok_inner = |c: &u8| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.');
    if !b.iter().all(ok_inner) {
        return Err("only letters, digits, '-', '_' and '.' are allowed".into());
    }
    if !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
        return Err("it must start and end with a letter or digit".into());
    }
    Ok(())
}

/// A label or annotation key: optional DNS-1123 subdomain prefix, `/`, and a name part.
pub fn qualified_name(s: &str) -> Result<(), NameProblem> {
    let (prefix, name) = match s.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    if let Some(p) = prefix {
        dns1123_subdomain(p).map_err(|e| format!("its prefix {p:?} is invalid: {e}"))?;
    }
    if name.is_empty() {
        return Err("its name part is empty".into());
    }
    label_value(name).map_err(|e| format!("its name part {name:?} is invalid: {e}"))
}

/// An environment variable name the kubelet accepts (C identifier, which is also what shells accept).
pub fn env_var_name(s: &str) -> Result<(), NameProblem> {
    let b = s.as_bytes();
    if b.is_empty() {
        return Err("it is empty".into());
    }
    if b[0].is_ascii_digit() {
        return Err("it must not start with a digit".into());
    }
    if !b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_') {
        return Err("only letters, digits and '_' are allowed".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns1035_labels() {
        assert!(dns1035_label("llama-ft", 50).is_ok());
        assert!(dns1035_label("a", 50).is_ok());
        for bad in ["", "1abc", "Abc", "a_b", "a-", "-a", &"a".repeat(51)] {
            assert!(dns1035_label(bad, 50).is_err(), "{bad}");
        }
    }

    #[test]
    fn dns1123_subdomains() {
        for good in ["node-1", "gpu-node-01.cluster.local", "10.0.0.1", "a"] {
            assert!(dns1123_subdomain(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Node-1",
            "node..a",
            "node_1",
            ".a",
            "a.",
            &"a".repeat(254),
        ] {
            assert!(dns1123_subdomain(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn label_keys_and_values() {
        assert!(qualified_name("kueue.x-k8s.io/queue-name").is_ok());
        assert!(qualified_name("app").is_ok());
        assert!(qualified_name("Bad_Prefix/x").is_err());
        assert!(qualified_name("x/").is_err());
        assert!(label_value("").is_ok());
        assert!(label_value("v1.2_a").is_ok());
        assert!(label_value("-a").is_err());
    }

    #[test]
    fn env_names() {
        assert!(env_var_name("NCCL_DEBUG").is_ok());
        assert!(env_var_name("1X").is_err());
        assert!(env_var_name("A-B").is_err());
    }
}
