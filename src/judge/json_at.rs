//! The value at a JSON Pointer, parsed without building the whole document.
//!
//! `json_value` assertions read up to 8 MiB of agent output; as a `serde_json::Value` that can
//! take 40 times its size (an array of 4 million zeros is over 300 MB). Here everything off
//! the pointer's path is skipped (still checked to be JSON), so memory stays near the text.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

/// The value at `pointer` (RFC 6901, e.g. `/a/0`; `""` is the whole document) in the JSON
/// `text`: `Ok(None)` when there is none, `Err` when `text` is not JSON.
pub fn value_at(text: &str, pointer: &str) -> Result<Option<Value>, serde_json::Error> {
    let tokens: Option<Vec<String>> = match pointer {
        "" => Some(Vec::new()),
        p if p.starts_with('/') => Some(
            p[1..]
                .split('/')
                .map(|t| t.replace("~1", "/").replace("~0", "~"))
                .collect(),
        ),
        _ => None,
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let found = match &tokens {
        Some(t) => At(t).deserialize(&mut de)?,
        None => {
            IgnoredAny::deserialize(&mut de)?;
            None
        }
    };
    de.end()?;
    Ok(found)
}

/// The tokens of the pointer still to follow.
struct At<'p>(&'p [String]);

impl<'de> DeserializeSeed<'de> for At<'_> {
    type Value = Option<Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        match self.0.split_first() {
            None => Value::deserialize(d).map(Some),
            Some((token, rest)) => d.deserialize_any(Step { token, rest }),
        }
    }
}

/// One step down: the member or element named `token`, then `rest`.
struct Step<'p> {
    token: &'p str,
    rest: &'p [String],
}

impl Step<'_> {
    /// The array index a token names (no sign, no leading zeros, as serde_json's `pointer`).
    fn index(&self) -> Option<usize> {
        let t = self.token;
        if t.is_empty() || (t.len() > 1 && t.starts_with('0')) || t.starts_with('+') {
            return None;
        }
        t.parse().ok()
    }
}

impl<'de> Visitor<'de> for Step<'_> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == self.token {
                // A repeated key: the last one wins, as in serde_json's own maps.
                found = map.next_value_seed(At(self.rest))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let want = self.index();
        let mut found = None;
        let mut i = 0usize;
        loop {
            if Some(i) == want {
                match seq.next_element_seed(At(self.rest))? {
                    Some(v) => found = v,
                    None => break,
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            i += 1;
        }
        Ok(found)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::value_at;
    use serde_json::json;

    #[test]
    fn agrees_with_serde_json_pointer() {
        let text = r#"{"a": {"b/c": [1, {"x~y": "z"}, null]}, "n": 2.5, "a2": [], "d": 1, "d": 2}"#;
        let whole: serde_json::Value = serde_json::from_str(text).unwrap();
        for p in [
            "",
            "/a",
            "/a/b~1c",
            "/a/b~1c/0",
            "/a/b~1c/1/x~0y",
            "/a/b~1c/2",
            "/a/b~1c/3",
            "/a/b~1c/01",
            "/a/b~1c/-",
            "/n",
            "/n/0",
            "/missing",
            "/a2/0",
            "/d",
            "a",
        ] {
            assert_eq!(value_at(text, p).unwrap(), whole.pointer(p).cloned(), "{p}");
        }
        assert_eq!(value_at(text, "/d").unwrap(), Some(json!(2)));
        assert!(value_at("{\"a\": 1} trailing", "/a").is_err());
        assert!(
            value_at("[1, 2, oops]", "/0").is_err(),
            "skipped parts are checked too"
        );
    }
}
