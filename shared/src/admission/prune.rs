//! Reading a review's objects the way the engine needs them: the JSON value minus `status` and
//! `metadata.managedFields`, which no rule reads (and no patch touches) and which are a quarter of a
//! pod's bytes. They are skipped while parsing, without being built; anything else, of any shape, comes
//! out as `serde_json` would build it.

use std::fmt;

use serde::Deserializer;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// `deserialize_with` for `object` and `oldObject`: the pruned object, `None` for null or absent.
pub(super) fn pruned<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    match Prune::OBJECT.deserialize(d)? {
        Value::Null => Ok(None),
        v => Ok(Some(v)),
    }
}

/// Build a value, skipping the key `skip` of a top-level map and, when `metadata`, pruning the map
/// under `metadata` the same way (of `managedFields`).
#[derive(Clone, Copy)]
struct Prune {
    skip: &'static str,
    metadata: bool,
}

impl Prune {
    const OBJECT: Prune = Prune {
        skip: "status",
        metadata: true,
    };
    const METADATA: Prune = Prune {
        skip: "managedFields",
        metadata: false,
    };
}

impl<'de> DeserializeSeed<'de> for Prune {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Prune {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if key == self.skip {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let value = if self.metadata && key == "metadata" {
                map.next_value_seed(Prune::METADATA)?
            } else {
                map.next_value::<Value>()?
            };
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }

    // Everything else as serde_json's own visitor builds it.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(v) = seq.next_element::<Value>()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }
}
