//! A JSON object reader that refuses duplicate member names at every depth.
//!
//! serde_json keeps the last of duplicate members, so `{"aud":"a","aud":"b"}` would mean
//! whatever the last parser in a chain decided. RFC 7515 §5.2 and RFC 8725 §3.8 call for
//! rejecting such input; this reader does it without building a `Value` tree: registered
//! members are handed to a sink as they stream past, everything else is walked and
//! dropped. Names are compared after unescaping, so `"\u0065xp"` is `"exp"`.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

/// Receives the top-level members of an object, one at a time.
pub(crate) trait ObjectSink<'de> {
    /// Consumes the value of member `name` from `map` (exactly once).
    fn member<A: MapAccess<'de>>(&mut self, name: &str, map: &mut A) -> Result<(), A::Error>;
}

/// Parses `input` as exactly one JSON object and feeds its members to `sink`.
pub(crate) fn parse_object<'de, S: ObjectSink<'de>>(input: &'de [u8], sink: S) -> Option<S> {
    parse_with(serde_json::Deserializer::from_slice(input), sink)
}

/// [`parse_object`] for input already known to be UTF-8, which spares serde_json
/// re-validating every string in it.
pub(crate) fn parse_object_str<'de, S: ObjectSink<'de>>(input: &'de str, sink: S) -> Option<S> {
    parse_with(serde_json::Deserializer::from_str(input), sink)
}

fn parse_with<'de, R, S>(mut de: serde_json::Deserializer<R>, sink: S) -> Option<S>
where
    R: serde_json::de::Read<'de>,
    S: ObjectSink<'de>,
{
    let sink = de.deserialize_map(ObjectVisitor(sink)).ok()?;
    de.end().ok()?;
    Some(sink)
}

struct ObjectVisitor<S>(S);

impl<'de, S: ObjectSink<'de>> Visitor<'de> for ObjectVisitor<S> {
    type Value = S;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<S, A::Error> {
        let mut names = Names::default();
        while let Some(Name(name)) = map.next_key::<Name<'de>>()? {
            self.0.member(&name, &mut map)?;
            names.insert(name)?;
        }
        Ok(self.0)
    }
}

/// The member names seen so far in one object. Linear for the small objects of real
/// tokens, hashed beyond that so a hostile object cannot make the check quadratic.
/// The first names live inline: a heap allocation per object was a measurable part of
/// verifying a token.
struct Names<'de> {
    few: [Cow<'de, str>; LINEAR_NAMES],
    len: usize,
    /// One bit per (length, last byte) class of the names in `few`: a name whose bit is
    /// clear is new without comparing it to anything.
    classes: u64,
    many: Option<HashSet<Cow<'de, str>>>,
}

fn class_bit(name: &str) -> u64 {
    let last = name.as_bytes().last().copied().unwrap_or(0);
    1 << ((name.len() ^ usize::from(last).wrapping_mul(7)) % 64)
}

const LINEAR_NAMES: usize = 24;

impl Default for Names<'_> {
    fn default() -> Self {
        Names {
            few: std::array::from_fn(|_| Cow::Borrowed("")),
            len: 0,
            classes: 0,
            many: None,
        }
    }
}

impl<'de> Names<'de> {
    fn insert<E: de::Error>(&mut self, name: Cow<'de, str>) -> Result<(), E> {
        let fresh = match &mut self.many {
            Some(set) => set.insert(name),
            None if self.len < LINEAR_NAMES => {
                let bit = class_bit(&name);
                if self.classes & bit != 0 && self.few[..self.len].contains(&name) {
                    false
                } else {
                    self.classes |= bit;
                    self.few[self.len] = name;
                    self.len += 1;
                    true
                }
            }
            None => {
                let mut set: HashSet<Cow<'de, str>> =
                    self.few.iter_mut().map(std::mem::take).collect();
                let fresh = set.insert(name);
                self.many = Some(set);
                fresh
            }
        };
        if fresh {
            Ok(())
        } else {
            Err(E::custom("duplicate member name"))
        }
    }
}

/// A member name, borrowed from the input unless it contained escapes.
struct Name<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl<'de> Visitor<'de> for NameVisitor {
            type Value = Name<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(NameVisitor)
    }
}

/// Any JSON value, walked for duplicate names and then dropped.
pub(crate) struct Skip;

impl<'de> de::Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SkipVisitor)
    }
}

struct SkipVisitor;

impl<'de> Visitor<'de> for SkipVisitor {
    type Value = Skip;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_str<E>(self, _: &str) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_unit<E>(self) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Skip)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
        let mut names = Names::default();
        while let Some(Name(name)) = map.next_key::<Name<'de>>()? {
            map.next_value::<Skip>()?;
            names.insert(name)?;
        }
        Ok(Skip)
    }
}

/// The value of a registered member, in the few shapes registered members can have.
/// Anything else (objects, mixed arrays, null) is `Other`, still checked for duplicates.
#[derive(Debug, PartialEq)]
pub(crate) enum Member<'de> {
    Str(Cow<'de, str>),
    Number(f64),
    Bool(bool),
    Strings(Vec<Cow<'de, str>>),
    Other,
}

impl<'de> de::Deserialize<'de> for Member<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(MemberVisitor)
    }
}

struct MemberVisitor;

impl<'de> Visitor<'de> for MemberVisitor {
    type Value = Member<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Member<'de>, E> {
        Ok(Member::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Member<'de>, E> {
        Ok(Member::Number(v as f64))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Member<'de>, E> {
        Ok(Member::Number(v as f64))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Member<'de>, E> {
        Ok(Member::Number(v))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Member<'de>, E> {
        Ok(Member::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Member<'de>, E> {
        Ok(Member::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Member<'de>, E> {
        Ok(Member::Str(Cow::Owned(v)))
    }
    fn visit_unit<E>(self) -> Result<Member<'de>, E> {
        Ok(Member::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Member<'de>, A::Error> {
        let mut strings = Some(Vec::new());
        while let Some(element) = seq.next_element::<Member<'de>>()? {
            match (element, &mut strings) {
                (Member::Str(s), Some(list)) => list.push(s),
                _ => strings = None,
            }
        }
        Ok(strings.map_or(Member::Other, Member::Strings))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Member<'de>, A::Error> {
        SkipVisitor.visit_map(map).map(|_| Member::Other)
    }
}

/// Reads a registered member's value.
pub(crate) fn member<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Member<'de>, A::Error> {
    map.next_value::<Member<'de>>()
}

/// Walks and drops an unregistered member's value.
pub(crate) fn skip<'de, A: MapAccess<'de>>(map: &mut A) -> Result<(), A::Error> {
    map.next_value::<Skip>().map(|_| ())
}

/// Checks that `input` is one JSON value without duplicate member names at any depth.
#[cfg(test)]
pub(crate) fn is_strict(input: &[u8]) -> bool {
    let mut de = serde_json::Deserializer::from_slice(input);
    de.deserialize_any(SkipVisitor).is_ok() && de.end().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Collect(Vec<(String, String)>);

    impl<'de> ObjectSink<'de> for Collect {
        fn member<A: MapAccess<'de>>(&mut self, name: &str, map: &mut A) -> Result<(), A::Error> {
            let value = format!("{:?}", member(map)?);
            self.0.push((name.to_owned(), value));
            Ok(())
        }
    }

    fn parse(input: &str) -> Option<Vec<(String, String)>> {
        parse_object(input.as_bytes(), Collect(Vec::new())).map(|c| c.0)
    }

    #[test]
    fn reads_objects() {
        let members = parse(r#"{"a":"x","b":1,"c":[ "y" ],"d":{"e":null}}"#).unwrap();
        assert_eq!(members.len(), 4);
        assert_eq!(members[0], ("a".into(), r#"Str("x")"#.into()));
        assert_eq!(members[1], ("b".into(), "Number(1.0)".into()));
        assert_eq!(members[2], ("c".into(), r#"Strings(["y"])"#.into()));
        assert_eq!(members[3], ("d".into(), "Other".into()));
    }

    #[test]
    fn refuses_non_objects_and_trailing_input() {
        for input in [
            "[]", "1", "\"s\"", "null", "", "{} {}", "{},", "{\"a\":1", "{'a':1}",
        ] {
            assert!(parse(input).is_none(), "{input:?}");
        }
    }

    #[test]
    fn refuses_duplicates_at_every_depth_and_after_unescaping() {
        for input in [
            r#"{"a":1,"a":1}"#,
            r#"{"exp":1,"\u0065xp":2}"#,
            r#"{"x":{"b":1,"b":2}}"#,
            r#"{"x":[{"b":1,"b":2}]}"#,
            r#"{"x":{"y":{"z":[1,{"q":1,"q":1}]}}}"#,
        ] {
            assert!(parse(input).is_none(), "{input}");
            assert!(!is_strict(input.as_bytes()), "{input}");
        }
    }

    #[test]
    fn many_names_switch_to_hashing_and_still_catch_duplicates() {
        let mut members: Vec<String> = (0..100).map(|i| format!("\"m{i}\":{i}")).collect();
        let ok = format!("{{{}}}", members.join(","));
        assert_eq!(parse(&ok).unwrap().len(), 100);
        members.push("\"m7\":0".into());
        let dup = format!("{{{}}}", members.join(","));
        assert!(parse(&dup).is_none());
        assert!(!is_strict(dup.as_bytes()));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse(&deep).is_none());
    }
}
