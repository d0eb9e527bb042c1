//! JSON read straight into protobuf's `Struct` and `Value` (the JSON mapping of the
//! well-known types: numbers as doubles), for the verified claims in the ext_authz
//! dynamic metadata: one pass over the payload, without a `serde_json::Value` tree to
//! build and then take apart.

use std::collections::HashMap;
use std::fmt;

use envoy_types::pb::google::protobuf::{ListValue, NullValue, Struct, Value, value::Kind};
use serde::de::{Deserialize, Deserializer, Error, MapAccess, SeqAccess, Visitor};

/// `json` as a `Struct`, if it is a JSON object.
pub(crate) fn json_object(json: &str) -> Option<Struct> {
    match serde_json::from_str::<ProtoValue>(json).ok()?.0.kind? {
        Kind::StructValue(object) => Some(object),
        _ => None,
    }
}

struct ProtoValue(Value);

fn value(kind: Kind) -> ProtoValue {
    ProtoValue(Value { kind: Some(kind) })
}

impl<'de> Deserialize<'de> for ProtoValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = ProtoValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: Error>(self, b: bool) -> Result<ProtoValue, E> {
        Ok(value(Kind::BoolValue(b)))
    }

    #[allow(clippy::cast_precision_loss)] // protobuf's JSON numbers are doubles
    fn visit_i64<E: Error>(self, n: i64) -> Result<ProtoValue, E> {
        Ok(value(Kind::NumberValue(n as f64)))
    }

    #[allow(clippy::cast_precision_loss)]
    fn visit_u64<E: Error>(self, n: u64) -> Result<ProtoValue, E> {
        Ok(value(Kind::NumberValue(n as f64)))
    }

    fn visit_f64<E: Error>(self, n: f64) -> Result<ProtoValue, E> {
        Ok(value(Kind::NumberValue(n)))
    }

    fn visit_str<E: Error>(self, s: &str) -> Result<ProtoValue, E> {
        Ok(value(Kind::StringValue(s.to_owned())))
    }

    fn visit_string<E: Error>(self, s: String) -> Result<ProtoValue, E> {
        Ok(value(Kind::StringValue(s)))
    }

    fn visit_unit<E: Error>(self) -> Result<ProtoValue, E> {
        Ok(value(Kind::NullValue(NullValue::NullValue.into())))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ProtoValue, A::Error> {
        let mut values = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(ProtoValue(item)) = seq.next_element()? {
            values.push(item);
        }
        Ok(value(Kind::ListValue(ListValue { values })))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ProtoValue, A::Error> {
        let mut fields = HashMap::with_capacity(map.size_hint().unwrap_or(0).min(64));
        while let Some((name, ProtoValue(member))) = map.next_entry::<String, ProtoValue>()? {
            fields.insert(name, member);
        }
        Ok(value(Kind::StructValue(Struct { fields })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_becomes_protobuf_values() {
        let s = json_object(
            r#"{"sub":"alice","n":3,"big":18446744073709551615,"neg":-2,"f":1.5,
                "ok":true,"none":null,"groups":["a","b"],"ext":{"tid":"t1"},"esc":"a\"b"}"#,
        )
        .unwrap();
        let kind = |name: &str| s.fields[name].kind.clone().unwrap();
        assert_eq!(kind("sub"), Kind::StringValue("alice".to_owned()));
        assert_eq!(kind("n"), Kind::NumberValue(3.0));
        assert_eq!(kind("big"), Kind::NumberValue(18_446_744_073_709_551_615.0));
        assert_eq!(kind("neg"), Kind::NumberValue(-2.0));
        assert_eq!(kind("f"), Kind::NumberValue(1.5));
        assert_eq!(kind("ok"), Kind::BoolValue(true));
        assert_eq!(kind("esc"), Kind::StringValue("a\"b".to_owned()));
        assert!(matches!(kind("none"), Kind::NullValue(_)));
        let Kind::ListValue(groups) = kind("groups") else {
            panic!("a list")
        };
        assert_eq!(groups.values.len(), 2);
        let Kind::StructValue(ext) = kind("ext") else {
            panic!("a struct")
        };
        assert_eq!(
            ext.fields["tid"].kind,
            Some(Kind::StringValue("t1".to_owned()))
        );
        assert!(json_object("[1]").is_none());
        assert!(json_object("{").is_none());
    }
}
