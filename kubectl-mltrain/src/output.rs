//! Printing objects the way kubectl does: `-o yaml` (documents separated by `---`), `-o json` (one
//! object, or a `v1 List` of several), `-o name` (`kind.group/name`), or a summary line per object.
//! A closed pipe (`... -o yaml | head`) ends the program quietly.

use std::io::Write;

use serde_json::{Value, json};

use crate::cli::OutputFormat;
use crate::error::CommandError;

/// `kind.group/name`, as `kubectl -o name` prints it.
pub fn name_of(obj: &Value) -> String {
    let kind = obj["kind"].as_str().unwrap_or("").to_lowercase();
    let api = obj["apiVersion"].as_str().unwrap_or("");
    // Pods made by controllers have only `generateName` until they are created.
    let generated = obj["metadata"]["generateName"]
        .as_str()
        .map(|g| format!("{g}*"));
    let name = match obj["metadata"]["name"].as_str().filter(|n| !n.is_empty()) {
        Some(n) => n.to_string(),
        None => generated.unwrap_or_default(),
    };
    match api.rsplit_once('/') {
        Some((group, _)) => format!("{kind}.{group}/{name}"),
        None => format!("{kind}/{name}"),
    }
}

/// Render objects in a format.
pub fn format(objects: &[Value], fmt: OutputFormat) -> String {
    match fmt {
        OutputFormat::Yaml => objects
            .iter()
            .map(|o| yaml_serde::to_string(o).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("---\n"),
        OutputFormat::Json => {
            let v = match objects {
                [one] => one.clone(),
                many => json!({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": many}),
            };
            serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
        }
        OutputFormat::Name => objects.iter().map(|o| name_of(o) + "\n").collect(),
    }
}

/// Write to stdout; a closed pipe (`... | head`) is not an error worth reporting.
pub fn print(text: &str) -> Result<(), CommandError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(CommandError::Output(e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_like_kubectl() {
        assert_eq!(
            name_of(&json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "x"}})),
            "job.batch/x"
        );
        assert_eq!(
            name_of(&json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}})),
            "service/x"
        );
        assert_eq!(
            name_of(
                &json!({"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": {"name": "x"}})
            ),
            "pytorchjob.kubeflow.org/x"
        );
    }

    #[test]
    fn json_of_several_is_a_list() {
        let objs = vec![json!({"a": 1}), json!({"b": 2})];
        let v: Value = serde_json::from_str(&format(&objs, OutputFormat::Json)).unwrap();
        assert_eq!(v["kind"], "List");
        assert_eq!(v["items"].as_array().unwrap().len(), 2);
        let one: Value = serde_json::from_str(&format(&objs[..1], OutputFormat::Json)).unwrap();
        assert_eq!(one, json!({"a": 1}));
    }

    #[test]
    fn yaml_documents_are_separated() {
        let s = format(&[json!({"a": 1}), json!({"b": 2})], OutputFormat::Yaml);
        assert_eq!(s, "a: 1\n---\nb: 2\n");
    }
}
