//! The judge of the JSON properties: `serde_json`'s generic reader, for the members a
//! property looks at, over a document that must be one JSON object in UTF-8.
//!
//! Members no one reads are checked for grammar only (`IgnoredAny`), as the crates'
//! readers do: JSON allows `1e99999`, and a reader may refuse to hold it as a number
//! (`serde_json::Value` does), but nothing needs to hold it when no one reads it.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};

/// The members of `json` named in `names` (the last of duplicates), or `None` if `json`
/// is not one JSON object in UTF-8.
pub(crate) fn members(json: &[u8], names: &[&str]) -> Option<Map<String, Value>> {
    let text = std::str::from_utf8(json).ok()?;
    let mut reader = serde_json::Deserializer::from_str(text);
    let members = Members(names).deserialize(&mut reader).ok()?;
    reader.end().ok()?;
    Some(members)
}

#[derive(Clone, Copy)]
struct Members<'a>(&'a [&'a str]);

impl<'de> DeserializeSeed<'de> for Members<'_> {
    type Value = Map<String, Value>;

    fn deserialize<D: Deserializer<'de>>(self, reader: D) -> Result<Self::Value, D::Error> {
        reader.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Members<'_> {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            if self.0.contains(&name.as_str()) {
                let value: Value = map.next_value()?;
                members.insert(name, value);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(members)
    }
}
