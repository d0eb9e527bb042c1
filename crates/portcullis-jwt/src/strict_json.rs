//! A JSON object reader that refuses duplicate member names at every depth.
//!
//! serde_json keeps the last of duplicate members, so `{"aud":"a","aud":"b"}` would mean
//! whatever the last parser in a chain decided. RFC 7515 §5.2 and RFC 8725 §3.8 call for
//! rejecting such input; this reader does it in one pass over the text without building a
//! tree: the members a caller cares about are handed to a sink as they stream past,
//! everything else is checked and stepped over. Names are compared after unescaping, so
//! `"\u0065xp"` is `"exp"`.
//!
//! It is hand-written because it runs on every request: reading a header and a payload
//! through serde_json's `Deserializer` was the largest part of what verification adds to
//! the signature check (see `docs/benchmarks.md`). It accepts RFC 8259 JSON as
//! serde_json does, numbers beyond an `f64`'s range refused and nesting limited to
//! serde_json's depth, and is stricter in one corner: a string holding a lone UTF-16
//! surrogate escape is refused wherever it is (serde_json refuses it only in the strings
//! it decodes). So whatever passes here can be read again with serde_json
//! ([`crate::Claims::get`]). A property test holds it to serde_json's answers, and the
//! fuzz target checks that what it accepts serde_json reads.

use std::borrow::Cow;
use std::collections::HashSet;

/// The deepest nesting of objects and arrays accepted, the top-level object included
/// (serde_json's recursion limit).
pub(crate) const MAX_NESTING: usize = 127;

/// Why the input is not one strict JSON object. Deliberately without detail: callers map
/// it onto their own "malformed" error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed;

/// Receives the top-level members of an object, one at a time.
pub(crate) trait ObjectSink<'de> {
    /// Called with each member's name; read or skip its `value`. A value left untouched
    /// makes the object malformed (the reader would stand at its first byte): a sink
    /// that forgets a member fails closed.
    fn member(&mut self, name: &str, value: Value<'_, 'de>) -> Result<(), Malformed>;
}

/// Parses `input` as exactly one JSON object (surrounding whitespace allowed) and feeds
/// its members to `sink`.
pub(crate) fn parse_object<'de, S: ObjectSink<'de>>(input: &'de str, mut sink: S) -> Option<S> {
    read_object(input, &mut sink).then_some(sink)
}

/// [`parse_object`] into a sink the caller keeps (large sinks are not moved around).
/// `false` if `input` is not one strict JSON object.
pub(crate) fn read_object<'de, S: ObjectSink<'de>>(input: &'de str, sink: &mut S) -> bool {
    let mut reader = Reader {
        text: input,
        pos: 0,
    };
    reader.skip_whitespace();
    if reader.expect(b'{').is_err() || reader.object(sink, 1).is_err() {
        return false;
    }
    reader.skip_whitespace();
    reader.pos == input.len()
}

/// The value of the first top-level member named `wanted` of the object `input` holds,
/// reading no further: the members before it are checked as they are stepped over, the
/// rest of the input is not read at all. For a hint only (which issuer's verifier
/// parses the whole token), never for a decision. `Ok(None)` when the object has no
/// such member.
pub(crate) fn first_member<'de>(
    input: &'de str,
    wanted: &str,
) -> Result<Option<Member<'de>>, Malformed> {
    let mut reader = Reader {
        text: input,
        pos: 0,
    };
    reader.skip_whitespace();
    reader.expect(b'{')?;
    reader.skip_whitespace();
    if reader.peek() == Some(b'}') {
        return Ok(None);
    }
    loop {
        reader.expect(b'"')?;
        let name = reader.string()?;
        reader.skip_whitespace();
        reader.expect(b':')?;
        reader.skip_whitespace();
        if name == wanted {
            return reader.member(1).map(Some);
        }
        reader.skip_value(1)?;
        if reader.end_of_container(b'}')? {
            return Ok(None);
        }
    }
}

/// The value of a member, not yet read.
#[must_use = "read or skip the value, or the object is refused"]
pub(crate) struct Value<'r, 'de> {
    reader: &'r mut Reader<'de>,
    depth: usize,
}

impl<'de> Value<'_, 'de> {
    /// Reads the value in one of the shapes registered members have.
    pub(crate) fn read(self) -> Result<Member<'de>, Malformed> {
        self.reader.member(self.depth)
    }

    /// Steps over the value, still checking it.
    pub(crate) fn skip(self) -> Result<(), Malformed> {
        self.reader.skip_value(self.depth)
    }

    /// Steps over the value, still checking it, and hands back its text as written
    /// (for a member read again with serde_json, such as a DPoP proof's `jwk`).
    pub(crate) fn raw(self) -> Result<&'de str, Malformed> {
        let start = self.reader.pos;
        self.reader.skip_value(self.depth)?;
        self.reader
            .text
            .get(start..self.reader.pos)
            .ok_or(Malformed)
    }
}

/// The value of a registered member, in the few shapes registered members can have.
/// Anything else (objects, mixed arrays, null) is `Other`, still checked for duplicates.
#[derive(Debug, PartialEq)]
pub(crate) enum Member<'de> {
    /// A string, borrowed from the input unless it held escapes.
    Str(Cow<'de, str>),
    Number(f64),
    Bool(bool),
    /// An array whose elements are all strings.
    Strings(Vec<Cow<'de, str>>),
    Other,
}

struct Reader<'de> {
    text: &'de str,
    pos: usize,
}

const ONES: u64 = u64::from_le_bytes([0x01; 8]);
const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);

/// The high bit of each byte of `word` (read little-endian) that is a quote, a
/// backslash or a control character (below 0x20). The lowest flagged byte is exact;
/// bytes after it may be false alarms, which is why only the lowest is ever used.
fn special_bytes(word: u64) -> u64 {
    fn zero_bytes(v: u64) -> u64 {
        v.wrapping_sub(ONES) & !v & HIGHS
    }
    let quote = zero_bytes(word ^ (ONES * u64::from(b'"')));
    let backslash = zero_bytes(word ^ (ONES * u64::from(b'\\')));
    let control = word.wrapping_sub(ONES * 0x20) & !word & HIGHS;
    quote | backslash | control
}

fn is_special(byte: u8) -> bool {
    matches!(byte, b'"' | b'\\' | 0x00..=0x1f)
}

impl<'de> Reader<'de> {
    fn bytes(&self) -> &'de [u8] {
        self.text.as_bytes()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.pos).copied()
    }

    fn expect(&mut self, byte: u8) -> Result<(), Malformed> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(Malformed)
        }
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.pos += 1;
        }
    }

    /// The members of an object whose `{` was just consumed, to `sink`.
    fn object<S: ObjectSink<'de>>(&mut self, sink: &mut S, depth: usize) -> Result<(), Malformed> {
        let mut names = Names::default();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.expect(b'"')?;
            let name = self.string()?;
            self.skip_whitespace();
            self.expect(b':')?;
            self.skip_whitespace();
            sink.member(
                &name,
                Value {
                    reader: self,
                    depth,
                },
            )?;
            names.insert(name)?;
            if self.end_of_container(b'}')? {
                return Ok(());
            }
        }
    }

    /// After a value: `,` (then whitespace) or the closing byte.
    fn end_of_container(&mut self, close: u8) -> Result<bool, Malformed> {
        self.skip_whitespace();
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                self.skip_whitespace();
                Ok(false)
            }
            Some(b) if b == close => {
                self.pos += 1;
                Ok(true)
            }
            _ => Err(Malformed),
        }
    }

    /// Enters a container one level below `depth`.
    fn nest(depth: usize) -> Result<usize, Malformed> {
        if depth >= MAX_NESTING {
            Err(Malformed)
        } else {
            Ok(depth + 1)
        }
    }

    fn member(&mut self, depth: usize) -> Result<Member<'de>, Malformed> {
        match self.peek() {
            Some(b'"') => {
                self.pos += 1;
                self.string().map(Member::Str)
            }
            Some(b'-' | b'0'..=b'9') => self.number().map(Member::Number),
            Some(b't') => self.literal(b"true").map(|()| Member::Bool(true)),
            Some(b'f') => self.literal(b"false").map(|()| Member::Bool(false)),
            Some(b'[') => {
                self.pos += 1;
                let depth = Self::nest(depth)?;
                let mut strings = Some(Vec::new());
                self.skip_whitespace();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                } else {
                    loop {
                        if self.peek() == Some(b'"') {
                            self.pos += 1;
                            let s = self.string()?;
                            if let Some(list) = &mut strings {
                                list.push(s);
                            }
                        } else {
                            strings = None;
                            self.skip_value(depth)?;
                        }
                        if self.end_of_container(b']')? {
                            break;
                        }
                    }
                }
                Ok(strings.map_or(Member::Other, Member::Strings))
            }
            _ => self.skip_value(depth).map(|()| Member::Other),
        }
    }

    /// Checks and steps over one value of any kind.
    fn skip_value(&mut self, depth: usize) -> Result<(), Malformed> {
        match self.peek() {
            Some(b'"') => {
                self.pos += 1;
                self.string().map(drop)
            }
            Some(b'-' | b'0'..=b'9') => self.number().map(drop),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'[') => {
                self.pos += 1;
                let depth = Self::nest(depth)?;
                self.skip_whitespace();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                    return Ok(());
                }
                loop {
                    self.skip_value(depth)?;
                    if self.end_of_container(b']')? {
                        return Ok(());
                    }
                }
            }
            Some(b'{') => {
                self.pos += 1;
                let depth = Self::nest(depth)?;
                self.object(&mut SkipAll, depth)
            }
            _ => Err(Malformed),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), Malformed> {
        if self
            .bytes()
            .get(self.pos..)
            .is_some_and(|rest| rest.starts_with(word))
        {
            self.pos += word.len();
            Ok(())
        } else {
            Err(Malformed)
        }
    }

    /// A string whose opening quote was just consumed: borrowed from the input when it
    /// has no escapes.
    fn string(&mut self) -> Result<Cow<'de, str>, Malformed> {
        let start = self.pos;
        let i = self.skip_plain(start);
        match self.bytes().get(i) {
            Some(b'"') => {
                self.pos = i + 1;
                Ok(Cow::Borrowed(&self.text[start..i]))
            }
            Some(b'\\') => {
                let mut owned = String::with_capacity(i - start + 16);
                owned.push_str(&self.text[start..i]);
                self.pos = i;
                self.escaped_string(owned).map(Cow::Owned)
            }
            _ => Err(Malformed),
        }
    }

    /// The index of the first quote, backslash or control character at or after `i`,
    /// or the end of the input; eight bytes at a time.
    fn skip_plain(&self, mut i: usize) -> usize {
        let bytes = self.bytes();
        while let Some(word) = bytes.get(i..i + 8) {
            let mut chunk = [0; 8];
            chunk.copy_from_slice(word);
            let special = special_bytes(u64::from_le_bytes(chunk));
            if special != 0 {
                return i + (special.trailing_zeros() / 8) as usize;
            }
            i += 8;
        }
        while bytes.get(i).is_some_and(|&b| !is_special(b)) {
            i += 1;
        }
        i
    }

    /// The rest of a string from the backslash at `self.pos`, unescaped into `out`.
    fn escaped_string(&mut self, mut out: String) -> Result<String, Malformed> {
        let mut i = self.pos;
        loop {
            let run = i;
            i = self.skip_plain(i);
            out.push_str(&self.text[run..i]);
            match self.bytes().get(i) {
                Some(b'"') => {
                    self.pos = i + 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    let escape = self.bytes().get(i + 1).copied().ok_or(Malformed)?;
                    i += 2;
                    let c = match escape {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let (c, next) = self.unicode_escape(i)?;
                            i = next;
                            c
                        }
                        _ => return Err(Malformed),
                    };
                    out.push(c);
                }
                _ => return Err(Malformed),
            }
        }
    }

    /// The character of a `\uXXXX` escape whose hex digits start at `i` (a surrogate
    /// pair takes two escapes; a lone surrogate is refused), and the index after it.
    fn unicode_escape(&self, i: usize) -> Result<(char, usize), Malformed> {
        let unit = self.hex4(i)?;
        match unit {
            0xD800..=0xDBFF => {
                if self.bytes().get(i + 4..i + 6) != Some(b"\\u") {
                    return Err(Malformed);
                }
                let low = self.hex4(i + 6)?;
                if !(0xDC00..=0xDFFF).contains(&low) {
                    return Err(Malformed);
                }
                let code = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                char::from_u32(code).map(|c| (c, i + 10)).ok_or(Malformed)
            }
            0xDC00..=0xDFFF => Err(Malformed),
            _ => char::from_u32(unit).map(|c| (c, i + 4)).ok_or(Malformed),
        }
    }

    fn hex4(&self, i: usize) -> Result<u32, Malformed> {
        let digits = self.bytes().get(i..i + 4).ok_or(Malformed)?;
        digits.iter().try_fold(0u32, |acc, &b| {
            let digit = match b {
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                b'A'..=b'F' => b - b'A' + 10,
                _ => return Err(Malformed),
            };
            Ok(acc << 4 | u32::from(digit))
        })
    }

    /// A number (RFC 8259 §6), as an `f64`. Integers of up to 15 digits, which is every
    /// date a token carries, are converted exactly without the general parser.
    fn number(&mut self) -> Result<f64, Malformed> {
        let start = self.pos;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.pos += 1;
        }
        let int_start = self.pos;
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.skip_digits(),
            _ => return Err(Malformed),
        }
        let int_digits = self.pos - int_start;
        let mut plain = true;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            plain = false;
            self.require_digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            plain = false;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            self.require_digits()?;
        }
        if plain && int_digits <= 15 {
            let magnitude = self.bytes()[int_start..self.pos]
                .iter()
                .fold(0u64, |acc, b| acc * 10 + u64::from(b - b'0'));
            // Exact: below 2^53.
            let value = magnitude as f64;
            return Ok(if negative { -value } else { value });
        }
        // The general case, correctly rounded; a value beyond f64's range is refused
        // (as serde_json refuses it), so no claim ever reads as infinite.
        self.text[start..self.pos]
            .parse::<f64>()
            .ok()
            .filter(|value| value.is_finite())
            .ok_or(Malformed)
    }

    fn skip_digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }

    fn require_digits(&mut self) -> Result<(), Malformed> {
        let before = self.pos;
        self.skip_digits();
        if self.pos == before {
            Err(Malformed)
        } else {
            Ok(())
        }
    }
}

/// The sink of nested objects: every member skipped (and checked).
struct SkipAll;

impl<'de> ObjectSink<'de> for SkipAll {
    fn member(&mut self, _: &str, value: Value<'_, 'de>) -> Result<(), Malformed> {
        value.skip()
    }
}

/// The member names seen so far in one object. Linear for the small objects of real
/// tokens, hashed beyond that so a hostile object cannot make the check quadratic.
/// The first names live inline as plain borrowed slices (nothing to drop): a heap
/// allocation per object was a measurable part of verifying a token. A name that held
/// escapes, which real tokens do not have, sends the object to the hashed set.
struct Names<'de> {
    few: [&'de str; LINEAR_NAMES],
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
            few: [""; LINEAR_NAMES],
            len: 0,
            classes: 0,
            many: None,
        }
    }
}

impl<'de> Names<'de> {
    fn insert(&mut self, name: Cow<'de, str>) -> Result<(), Malformed> {
        let fresh = match (&mut self.many, name) {
            (Some(set), name) => set.insert(name),
            (None, Cow::Borrowed(name)) if self.len < LINEAR_NAMES => {
                let bit = class_bit(name);
                if self.classes & bit != 0 && self.few[..self.len].contains(&name) {
                    false
                } else {
                    self.classes |= bit;
                    self.few[self.len] = name;
                    self.len += 1;
                    true
                }
            }
            (None, name) => {
                let mut set: HashSet<Cow<'de, str>> = self.few[..self.len]
                    .iter()
                    .map(|&name| Cow::Borrowed(name))
                    .collect();
                let fresh = set.insert(name);
                self.many = Some(set);
                fresh
            }
        };
        if fresh { Ok(()) } else { Err(Malformed) }
    }
}

#[cfg(test)]
mod tests {
    use std::fmt;

    use proptest::prelude::*;
    use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

    use super::*;

    struct Collect(Vec<(String, String)>);

    impl<'de> ObjectSink<'de> for Collect {
        fn member(&mut self, name: &str, value: Value<'_, 'de>) -> Result<(), Malformed> {
            let value = match value.read()? {
                Member::Number(n) => number(n),
                other => format!("{other:?}"),
            };
            self.0.push((name.to_owned(), value));
            Ok(())
        }
    }

    fn number(n: f64) -> String {
        format!("Number({:e})", n + 0.0)
    }

    fn parse(input: &str) -> Option<Vec<(String, String)>> {
        parse_object(input, Collect(Vec::new())).map(|c| c.0)
    }

    /// Skips every member, so nested values are only checked.
    fn accepts(input: &str) -> bool {
        parse_object(input, SkipAll).is_some()
    }

    /// A sink that leaves a value untouched.
    struct Forgetful;

    impl<'de> ObjectSink<'de> for Forgetful {
        fn member(&mut self, _: &str, value: Value<'_, 'de>) -> Result<(), Malformed> {
            drop(value);
            Ok(())
        }
    }

    #[test]
    fn an_untouched_value_fails_closed() {
        assert!(parse_object("{}", Forgetful).is_some());
        for input in [r#"{"a":1}"#, r#"{"a":"x"}"#, r#"{"a":[1]}"#, r#"{"a":{}}"#] {
            assert!(parse_object(input, Forgetful).is_none(), "{input}");
        }
    }

    #[test]
    fn reads_objects() {
        let members = parse(r#" {"a":"x","b":1,"c":[ "y" ],"d":{"e":null}, "f" : true} "#).unwrap();
        assert_eq!(members.len(), 5);
        assert_eq!(members[0], ("a".into(), r#"Str("x")"#.into()));
        assert_eq!(members[1], ("b".into(), number(1.0)));
        assert_eq!(members[2], ("c".into(), r#"Strings(["y"])"#.into()));
        assert_eq!(members[3], ("d".into(), "Other".into()));
        assert_eq!(members[4], ("f".into(), "Bool(true)".into()));
        assert_eq!(parse("{}").unwrap(), vec![]);
        assert_eq!(parse(r#"{"a":[]}"#).unwrap()[0].1, "Strings([])");
        assert_eq!(parse(r#"{"a":["x",1]}"#).unwrap()[0].1, "Other");
        assert_eq!(parse(r#"{"a":null}"#).unwrap()[0].1, "Other");
    }

    #[test]
    fn unescapes_strings_and_borrows_plain_ones() {
        let input = r#"{"plain":"a longer string than eight bytes","esc":"a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00z"}"#;
        let mut seen = Vec::new();
        struct Check<'a, 'de>(&'a mut Vec<Cow<'de, str>>);
        impl<'de> ObjectSink<'de> for Check<'_, 'de> {
            fn member(&mut self, _: &str, value: Value<'_, 'de>) -> Result<(), Malformed> {
                if let Member::Str(s) = value.read()? {
                    self.0.push(s);
                }
                Ok(())
            }
        }
        assert!(parse_object(input, Check(&mut seen)).is_some());
        assert!(matches!(
            &seen[0],
            Cow::Borrowed("a longer string than eight bytes")
        ));
        assert_eq!(seen[1], "a\"b\\c/d\u{8}\u{c}\n\r\té😀z");
    }

    #[test]
    fn reads_numbers_exactly_where_it_matters() {
        for (text, value) in [
            ("0", 0.0),
            ("-0", -0.0),
            ("1700000000", 1_700_000_000.0),
            ("999999999999999", 999_999_999_999_999.0),
            ("1700000000.5", 1_700_000_000.5),
            ("17e8", 1_700_000_000.0),
            ("1.7E+9", 1_700_000_000.0),
            ("-12345678901234567890", -12_345_678_901_234_567_890.0),
            ("1e-400", 0.0),
        ] {
            let members = parse(&format!(r#"{{"n":{text}}}"#)).unwrap();
            assert_eq!(members[0].1, number(value), "{text}");
        }
    }

    #[test]
    fn refuses_what_is_not_json() {
        for input in [
            "[]",
            "1",
            "\"s\"",
            "null",
            "",
            " ",
            "{",
            "}",
            "{} {}",
            "{},",
            "{\"a\":1",
            "{'a':1}",
            "{a:1}",
            "{\"a\" 1}",
            "{\"a\":}",
            "{\"a\":1,}",
            "{,}",
            "{\"a\":1 \"b\":2}",
            "{\"a\":01}",
            "{\"a\":1.}",
            "{\"a\":.5}",
            "{\"a\":+1}",
            "{\"a\":1e}",
            "{\"a\":1e+}",
            "{\"a\":-}",
            "{\"a\":--1}",
            "{\"a\":0x1}",
            "{\"a\":1e400}",
            "{\"a\":-1e400}",
            "{\"a\":NaN}",
            "{\"a\":Infinity}",
            "{\"a\":tru}",
            "{\"a\":nul}",
            "{\"a\":True}",
            "{\"a\":[1,]}",
            "{\"a\":[,1]}",
            "{\"a\":[1 2]}",
            "{\"a\":\"\t\"}",
            "{\"a\":\"\n\"}",
            "{\"a\":\"\\x\"}",
            "{\"a\":\"\\u12\"}",
            "{\"a\":\"\\u12g4\"}",
            "{\"a\":\"\\ud800\"}",
            "{\"a\":\"\\udc00\"}",
            "{\"a\":\"\\ud800\\u0041\"}",
            "{\"a\":\"\\ud800x\"}",
            "{\"a\":\"abc}",
            "{\"a\":\"abc\\\"}",
            "{\"a\" :1}\u{0}",
            "\u{feff}{}",
            "{\"a\":1}\u{a0}",
            "{\"a\":\"\u{1f}\"}",
            "{\"a\":{\"b\"}}",
            "{\"a\":[}",
            "{\"a\":{]}",
        ] {
            assert!(parse(input).is_none(), "{input:?}");
            assert!(!accepts(input), "{input:?}");
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
            assert!(!accepts(input), "{input}");
            assert!(!oracle(input), "{input}");
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
        assert!(!accepts(&dup));
    }

    #[test]
    fn nesting_is_limited_as_serde_json_limits_it() {
        let nested = |depth: usize| {
            // `depth` containers, the top-level object included.
            format!(
                "{{\"a\":{}1{}}}",
                "[".repeat(depth - 1),
                "]".repeat(depth - 1)
            )
        };
        assert!(accepts(&nested(MAX_NESTING)));
        assert!(parse(&nested(MAX_NESTING)).is_some());
        assert!(oracle(&nested(MAX_NESTING)));
        assert!(!accepts(&nested(MAX_NESTING + 1)));
        assert!(parse(&nested(MAX_NESTING + 1)).is_none());
        assert!(!oracle(&nested(MAX_NESTING + 1)));
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse(&deep).is_none());
        let deep = format!("{{\"a\":{}", "{\"a\":".repeat(100_000));
        assert!(!accepts(&deep));
    }

    // The reference: serde_json reads the input as a `Value` (decoding every string and
    // number) and, separately, walks it refusing duplicate names at every depth.
    fn oracle(input: &str) -> bool {
        let object = matches!(
            serde_json::from_str::<serde_json::Value>(input),
            Ok(serde_json::Value::Object(_))
        );
        let mut de = serde_json::Deserializer::from_str(input);
        object && de.deserialize_any(NoDuplicates).is_ok() && de.end().is_ok()
    }

    struct NoDuplicates;

    impl<'de> de::Deserialize<'de> for NoDuplicates {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            deserializer.deserialize_any(NoDuplicates)
        }
    }

    impl<'de> Visitor<'de> for NoDuplicates {
        type Value = NoDuplicates;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_bool<E>(self, _: bool) -> Result<Self, E> {
            Ok(self)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self, E> {
            Ok(self)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self, E> {
            Ok(self)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self, E> {
            Ok(self)
        }
        fn visit_str<E>(self, _: &str) -> Result<Self, E> {
            Ok(self)
        }
        fn visit_unit<E>(self) -> Result<Self, E> {
            Ok(self)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self, A::Error> {
            while seq.next_element::<NoDuplicates>()?.is_some() {}
            Ok(self)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
            let mut names = std::collections::HashSet::new();
            while let Some(name) = map.next_key::<String>()? {
                map.next_value::<NoDuplicates>()?;
                if !names.insert(name) {
                    return Err(de::Error::custom("duplicate"));
                }
            }
            Ok(self)
        }
    }

    /// JSON-ish text: mostly valid, with the mistakes a parser must catch.
    fn json_text() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("null".to_owned()),
            Just("true".to_owned()),
            Just("false".to_owned()),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<f64>().prop_map(|n| format!("{n:?}")),
            "-?(0|[1-9][0-9]{0,20})(\\.[0-9]{1,5})?([eE][+-]?[0-9]{1,3})?",
            "\"([a-z é😀]|\\\\[\"\\\\/bfnrt]|\\\\u[0-9a-fA-F]{4}|\\\\u[dD][89abAB][0-9a-fA-F]{2}\\\\u[dD][c-fC-F][0-9a-fA-F]{2}){0,12}\"",
            "[-+.eE0-9]{1,6}",
            "\"[\\x00-\\x7f]{0,4}\"",
        ];
        let value = leaf.prop_recursive(5, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5)
                    .prop_map(|items| format!("[{}]", items.join(","))),
                prop::collection::vec(("[a-c]{1,2}", inner), 0..5).prop_map(|members| {
                    let members: Vec<String> = members
                        .iter()
                        .map(|(k, v)| format!("\"{k}\":{v}"))
                        .collect();
                    format!("{{{}}}", members.join(","))
                }),
            ]
        });
        let object = prop::collection::vec(("[a-d]{1,3}", value), 0..8).prop_map(|members| {
            let members: Vec<String> = members
                .iter()
                .map(|(k, v)| format!("\"{k}\" : {v}"))
                .collect();
            format!(" {{ {} }}\n", members.join(" ,"))
        });
        // Now and then, a byte changed, dropped or added anywhere.
        (
            object,
            any::<prop::sample::Index>(),
            0u8..6,
            "[\\x00-\\x7f]",
        )
            .prop_map(|(text, at, mutation, byte)| {
                let mut text = text.into_bytes();
                let i = at.index(text.len());
                match mutation {
                    0 => text[i] = byte.as_bytes()[0],
                    1 => {
                        text.remove(i);
                    }
                    2 => text.insert(i, byte.as_bytes()[0]),
                    _ => {}
                }
                String::from_utf8_lossy(&text).into_owned()
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn agrees_with_serde_json(text in json_text()) {
            prop_assert_eq!(accepts(&text), oracle(&text), "{:?}", text);
            let ours = parse(&text);
            prop_assert_eq!(ours.is_some(), oracle(&text), "{:?}", text);
            // The members read are the ones serde_json reads.
            if let (Some(ours), Ok(serde_json::Value::Object(map))) =
                (ours, serde_json::from_str::<serde_json::Value>(&text))
            {
                prop_assert_eq!(ours.len(), map.len());
                for (name, value) in ours {
                    let expected = match &map[&name] {
                        serde_json::Value::String(s) => format!("Str({s:?})"),
                        serde_json::Value::Number(n) => number(n.as_f64().unwrap_or(f64::NAN)),
                        serde_json::Value::Bool(b) => format!("Bool({b})"),
                        serde_json::Value::Array(items)
                            if items.iter().all(serde_json::Value::is_string) =>
                        {
                            let items: Vec<&str> =
                                items.iter().filter_map(serde_json::Value::as_str).collect();
                            format!("Strings({items:?})")
                        }
                        _ => "Other".to_owned(),
                    };
                    let as_number = |s: &str| {
                        s.strip_prefix("Number(")
                            .and_then(|s| s.strip_suffix(')'))
                            .and_then(|n| n.parse::<f64>().ok())
                    };
                    match (as_number(&value), as_number(&expected)) {
                        // serde_json's default float parsing is not always correctly
                        // rounded (ours is): the last bit or two may differ, no more.
                        (Some(a), Some(b)) => prop_assert!(
                            a == b
                                || (a.is_sign_negative() == b.is_sign_negative()
                                    && a.to_bits().abs_diff(b.to_bits()) <= 2),
                            "{a} != {b}"
                        ),
                        _ => prop_assert_eq!(value, expected),
                    }
                }
            }
        }
    }
}
