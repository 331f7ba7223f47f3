//! Small helpers for editing untyped Kubernetes objects.
//!
//! The engine works on `serde_json::Value`, not typed structs: a typed round-trip would silently drop
//! fields the typed model does not know (a newer API field, a CRD's extension), and the webhook's patch
//! would then delete them from the user's object.

use std::fmt::Write as _;

use serde_json::{Map, Value};

/// A field path in two spellings: dotted for people (`spec.containers[0].image`, as the API server
/// writes them) and a JSON Pointer for code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldPath {
    dotted: String,
    pointer: String,
}

impl FieldPath {
    pub fn root() -> Self {
        FieldPath::default()
    }

    /// The path of `key` under this one. Written with `push_str` rather than `format!`, with the
    /// escaping done only for keys that need it: the engine builds a few of these per template on
    /// every admission, and through the formatting machinery they cost ~3k instructions each
    /// (`webhook/bench/stage-ir.sh`).
    pub fn key(&self, key: &str) -> Self {
        let plain = !key.is_empty()
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        let mut dotted = String::with_capacity(self.dotted.len() + key.len() + 1);
        dotted.push_str(&self.dotted);
        if !plain {
            let _ = write!(dotted, "[{key:?}]");
        } else {
            if !self.dotted.is_empty() {
                dotted.push('.');
            }
            dotted.push_str(key);
        }
        let mut pointer = String::with_capacity(self.pointer.len() + key.len() + 1);
        pointer.push_str(&self.pointer);
        pointer.push('/');
        if key.contains(['~', '/']) {
            // RFC 6901: `~` as `~0`, `/` as `~1`.
            for c in key.chars() {
                match c {
                    '~' => pointer.push_str("~0"),
                    '/' => pointer.push_str("~1"),
                    c => pointer.push(c),
                }
            }
        } else {
            pointer.push_str(key);
        }
        FieldPath { dotted, pointer }
    }

    pub fn index(&self, i: usize) -> Self {
        FieldPath {
            dotted: format!("{}[{i}]", self.dotted),
            pointer: format!("{}/{i}", self.pointer),
        }
    }

    pub fn dotted(&self) -> &str {
        &self.dotted
    }

    pub fn pointer(&self) -> &str {
        &self.pointer
    }
}

/// JSON Pointer lookups (RFC 6901) that borrow their tokens. `serde_json::Value::pointer` builds two
/// `String`s per token to unescape it, whether or not it holds a `~`; the engine resolves a few
/// pointers per template on every admission, and those allocations were 5% of its instructions
/// (`webhook/bench/stage-ir.sh`). The answers are `Value::pointer`'s (a test compares them).
pub trait At {
    /// The value at `pointer`, as `Value::pointer` finds it.
    fn at(&self, pointer: &str) -> Option<&Value>;
    /// The value at `pointer`, as `Value::pointer_mut` finds it.
    fn at_mut(&mut self, pointer: &str) -> Option<&mut Value>;
}

impl At for Value {
    fn at(&self, pointer: &str) -> Option<&Value> {
        tokens(pointer)?.try_fold(self, |target, token| match target {
            Value::Object(map) => map.get(token.as_ref()),
            Value::Array(list) => list.get(array_index(&token)?),
            _ => None,
        })
    }

    fn at_mut(&mut self, pointer: &str) -> Option<&mut Value> {
        tokens(pointer)?.try_fold(self, |target, token| match target {
            Value::Object(map) => map.get_mut(token.as_ref()),
            Value::Array(list) => list.get_mut(array_index(&token)?),
            _ => None,
        })
    }
}

/// A pointer's unescaped tokens; `None` for a non-empty pointer without its leading `/`.
fn tokens(pointer: &str) -> Option<impl Iterator<Item = std::borrow::Cow<'_, str>>> {
    let rest = match pointer.strip_prefix('/') {
        Some(rest) => Some(rest),
        None if pointer.is_empty() => None,
        None => return None,
    };
    Some(rest.into_iter().flat_map(|r| r.split('/')).map(|t| {
        if t.contains('~') {
            std::borrow::Cow::Owned(t.replace("~1", "/").replace("~0", "~"))
        } else {
            std::borrow::Cow::Borrowed(t)
        }
    }))
}

/// An array index as RFC 6901 spells it: digits, no sign, no leading zero.
fn array_index(token: &str) -> Option<usize> {
    if token.starts_with('+') || (token.starts_with('0') && token.len() != 1) {
        return None;
    }
    token.parse().ok()
}

/// The object under `key`, created when missing or null. `None` when the field holds something else
/// (the API server will refuse that object; the engine must not panic on it).
pub fn child_obj<'a>(
    m: &'a mut Map<String, Value>,
    key: &str,
) -> Option<&'a mut Map<String, Value>> {
    let v = m
        .entry(key.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if v.is_null() {
        *v = Value::Object(Map::new());
    }
    v.as_object_mut()
}

/// The array under `key`, created when missing or null.
pub fn child_arr<'a>(m: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Vec<Value>> {
    let v = m
        .entry(key.to_string())
        .or_insert_with(|| Value::Array(Vec::new()));
    if v.is_null() {
        *v = Value::Array(Vec::new());
    }
    v.as_array_mut()
}

/// Whether `key` holds something other than null.
pub fn has(m: &Map<String, Value>, key: &str) -> bool {
    m.get(key).is_some_and(|v| !v.is_null())
}

/// Set `key` to `value` unless it is already set; returns whether it set it.
pub fn set_default(m: &mut Map<String, Value>, key: &str, value: Value) -> bool {
    if has(m, key) {
        return false;
    }
    m.insert(key.to_string(), value);
    true
}

/// A string-valued map entry (labels, annotations).
pub fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str()
}

/// The containers of a pod spec, under their field name (`initContainers` then `containers`).
pub fn containers(spec: &Value) -> impl Iterator<Item = (&'static str, usize, &Value)> {
    ["initContainers", "containers"]
        .into_iter()
        .flat_map(move |field| {
            spec.get(field)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
                .map(move |(i, c)| (field, i, c))
        })
}

/// Whether a container has an env entry named `name`.
pub fn has_env(container: &Map<String, Value>, name: &str) -> bool {
    container
        .get("env")
        .and_then(Value::as_array)
        .is_some_and(|env| {
            env.iter()
                .any(|e| e.get("name").and_then(Value::as_str) == Some(name))
        })
}

/// The string value of a literal env var.
pub fn env_value<'a>(container: &'a Value, name: &str) -> Option<&'a str> {
    container
        .get("env")?
        .as_array()?
        .iter()
        .find(|e| e.get("name").and_then(Value::as_str) == Some(name))?
        .get("value")?
        .as_str()
}

/// Whether a container mounts something at `path` (trailing slashes ignored).
pub fn mounts_at(container: &Value, path: &str) -> bool {
    container
        .as_object()
        .is_some_and(|c| map_mounts_at(c, path))
}

/// [`mounts_at`] for a container already seen as a map.
pub fn map_mounts_at(container: &Map<String, Value>, path: &str) -> bool {
    container
        .get("volumeMounts")
        .and_then(Value::as_array)
        .is_some_and(|ms| {
            ms.iter().any(|m| {
                m.get("mountPath")
                    .and_then(Value::as_str)
                    .is_some_and(|p| p.trim_end_matches('/') == path)
            })
        })
}

/// A volume name not yet used in the pod spec, starting with `base`.
pub fn free_volume_name(spec: &Map<String, Value>, base: &str) -> String {
    let used = |n: &str| {
        spec.get("volumes")
            .and_then(Value::as_array)
            .is_some_and(|vs| {
                vs.iter()
                    .any(|v| v.get("name").and_then(Value::as_str) == Some(n))
            })
    };
    if !used(base) {
        return base.to_string();
    }
    (2..)
        .map(|i| format!("{base}-{i}"))
        .find(|n| !used(n))
        .unwrap_or_else(|| base.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn at_finds_what_value_pointer_finds() {
        let mut doc = json!({
            "": {"": 1},
            "a/b": {"m~n": [10, 20, {"~1": "tilde-one"}]},
            "spec": {"containers": [{"name": "c0"}, {"name": "c1"}]},
            "0": "zero-key",
            "n": null,
        });
        let pointers = [
            "",
            "/",
            "//",
            "/a~1b",
            "/a~1b/m~0n",
            "/a~1b/m~0n/2/~01",
            "/a~1b/m~0n/02",
            "/a~1b/m~0n/+1",
            "/a~1b/m~0n/-",
            "/a~1b/m~0n/1",
            "/a~1b/m~0n/9",
            "/spec/containers/1/name",
            "/spec/containers/1/name/x",
            "/0",
            "/n",
            "/n/x",
            "spec",
            "/missing",
            "/a~2b",
            "/a~",
            "/spec/containers/18446744073709551616",
        ];
        for p in pointers {
            assert_eq!(doc.at(p), doc.pointer(p), "{p:?}");
            let want = doc.clone().pointer_mut(p).cloned();
            assert_eq!(doc.at_mut(p).cloned(), want, "{p:?} (mut)");
        }
        *doc.at_mut("/a~1b/m~0n/1").unwrap() = json!(21);
        assert_eq!(doc.pointer("/a~1b/m~0n/1"), Some(&json!(21)));
    }

    #[test]
    fn keys_are_spelled_as_format_spelled_them() {
        // The spelling `key` had when it was written with `format!` and `str::replace`.
        let reference = |parent: &FieldPath, key: &str| {
            let plain = !key.is_empty()
                && key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            let dotted = match (parent.dotted().is_empty(), plain) {
                (true, true) => key.to_string(),
                (false, true) => format!("{}.{key}", parent.dotted()),
                (_, false) => format!("{}[{key:?}]", parent.dotted()),
            };
            let escaped = key.replace('~', "~0").replace('/', "~1");
            (dotted, format!("{}/{escaped}", parent.pointer()))
        };
        let keys = [
            "spec",
            "",
            "a~b/c",
            "~1",
            "x.y",
            "é/ü",
            "with space",
            "q\"quote",
            "_-9",
        ];
        for parent in [FieldPath::root(), FieldPath::root().key("spec").index(3)] {
            for key in keys {
                let p = parent.key(key);
                assert_eq!(
                    (p.dotted().to_string(), p.pointer().to_string()),
                    reference(&parent, key),
                    "{key:?}"
                );
            }
        }
    }

    #[test]
    fn paths_spell_both_ways() {
        let p = FieldPath::root()
            .key("spec")
            .key("containers")
            .index(0)
            .key("image");
        assert_eq!(p.dotted(), "spec.containers[0].image");
        assert_eq!(p.pointer(), "/spec/containers/0/image");
        let a = FieldPath::root()
            .key("metadata")
            .key("annotations")
            .key("mltrain.io/host-ignore-list");
        assert_eq!(
            a.dotted(),
            "metadata.annotations[\"mltrain.io/host-ignore-list\"]"
        );
        assert_eq!(
            a.pointer(),
            "/metadata/annotations/mltrain.io~1host-ignore-list"
        );
    }

    #[test]
    fn child_helpers_refuse_wrong_types_without_panicking() {
        let mut m = json!({"a": null, "b": "text"}).as_object().unwrap().clone();
        assert!(child_obj(&mut m, "a").is_some());
        assert!(child_obj(&mut m, "b").is_none());
        assert!(child_arr(&mut m, "c").is_some());
    }

    #[test]
    fn volume_names_do_not_clash() {
        let spec = json!({"volumes": [{"name": "mltrain-shm"}, {"name": "mltrain-shm-2"}]});
        let spec = spec.as_object().unwrap();
        assert_eq!(free_volume_name(spec, "mltrain-shm"), "mltrain-shm-3");
        assert_eq!(free_volume_name(spec, "x"), "x");
    }
}
