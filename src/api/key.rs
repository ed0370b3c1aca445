//! The API key: checked once, never shown (`Debug` redacts it), and blanked
//! out of every answer before anything reads it (a gateway that echoes the
//! request, headers and all, must not get the key printed or passed on).

use std::fmt;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::hint::Setting;

/// An API key. Its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

/// What stands in for the key wherever an answer repeats it.
const REDACTED_KEY: &str = "<the API key>";

impl ApiKey {
    /// Checks that the key can travel in a header.
    pub fn new(key: impl Into<String>) -> Result<ApiKey> {
        let key = key.into().trim().to_owned();
        check(&key)?;
        Ok(ApiKey(key))
    }

    pub(super) fn secret(&self) -> &str {
        &self.0
    }

    /// `bytes` with every copy of the key blanked out: a gateway that echoes
    /// the request, headers and all, into its answer must not get the key
    /// printed in an error, nor passed on in a link.
    pub(super) fn scrub(&self, bytes: Vec<u8>) -> Vec<u8> {
        let key = self.0.as_bytes();
        if !bytes.windows(key.len()).any(|w| w == key) {
            return bytes;
        }
        let mut out = Vec::with_capacity(bytes.len());
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            if rest.starts_with(key) {
                out.extend_from_slice(REDACTED_KEY.as_bytes());
                rest = &rest[key.len()..];
            } else {
                out.push(rest[0]);
                rest = &rest[1..];
            }
        }
        out
    }

    pub(super) fn scrub_text(&self, text: &str) -> String {
        text.replace(&self.0, REDACTED_KEY)
    }

    /// Every string of a parsed answer (keys included) with the key blanked
    /// out: JSON may spell the key with escapes (`tsk\u005f…`, `\/`) that
    /// the byte scrub cannot see, and parsing undoes them.
    pub(super) fn scrub_json(&self, value: &mut Value) {
        match value {
            Value::String(text) if text.contains(&self.0) => *text = self.scrub_text(text),
            Value::Array(items) => items.iter_mut().for_each(|item| self.scrub_json(item)),
            Value::Object(map) => {
                if map.keys().any(|k| k.contains(&self.0)) {
                    *map = std::mem::take(map)
                        .into_iter()
                        .map(|(k, v)| (self.scrub_text(&k), v))
                        .collect();
                }
                map.values_mut().for_each(|item| self.scrub_json(item));
            }
            _ => {}
        }
    }
}

/// Whether a key (trimmed) can be sent at all: not empty, and only
/// characters a header carries. Both refusals live here, together.
fn check(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::Usage(format!(
            "the API key is empty: pass {} or set TRIPO_API_KEY",
            Setting::ApiKey
        )));
    }
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::Usage(format!(
            "the API key has spaces or characters that cannot be sent: check {} or TRIPO_API_KEY",
            Setting::ApiKey
        )));
    }
    Ok(())
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_never_shown() {
        let key = ApiKey::new("tsk_secret").expect("key");
        assert!(!format!("{key:?}").contains("secret"));
        assert!(ApiKey::new("  ").is_err());
        assert!(ApiKey::new("tsk_a\nb").is_err());
    }

    #[test]
    fn answers_that_repeat_the_key_are_scrubbed() {
        let key = ApiKey::new("tsk_echo").expect("key");
        let body = br#"{"message":"Bearer tsk_echo, tsk_echotsk_echo","x":"tsk_ech"}"#.to_vec();
        let scrubbed = String::from_utf8(key.scrub(body)).expect("utf-8");
        assert_eq!(
            scrubbed,
            r#"{"message":"Bearer <the API key>, <the API key><the API key>","x":"tsk_ech"}"#
        );
        assert_eq!(key.scrub(b"tsk_ech".to_vec()), b"tsk_ech");
        assert_eq!(key.scrub_text("id tsk_echo"), "id <the API key>");

        // Escaped in JSON: invisible to the byte scrub, caught once parsed.
        let key = ApiKey::new("tsk_a/b").expect("key");
        let body = br#"{"message":"tsk\u005fa\/b","x":["tsk_a\/b"],"tsk\u005fa/b":1}"#;
        let mut json: Value = serde_json::from_slice(&key.scrub(body.to_vec())).expect("json");
        key.scrub_json(&mut json);
        assert_eq!(
            json,
            json!({"message": "<the API key>", "x": ["<the API key>"], "<the API key>": 1})
        );
    }
}
