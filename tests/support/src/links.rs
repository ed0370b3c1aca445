//! Signed CDN links in the styles seen on real Tripo outputs. The fake only
//! needs the signature id back to look the link up; the rest of each style is
//! there so the client's expiry reading meets the real shapes.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;

/// How output links are signed. Every style carries a signature id the CDN
/// looks up; the expiry the CDN enforces is its own record, not the link's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LinkStyle {
    /// `?Expires=<unix secs, rounded up>&Signature=<id>&Key-Pair-Id=KFAKE`.
    #[default]
    CloudFrontCanned,
    /// `?Policy=<policy>&Signature=<id>&Key-Pair-Id=KFAKE`, where the policy is
    /// `{"Statement":[{"Resource":"<link>","Condition":{"DateLessThan":{"AWS:EpochTime":N}}}]}`
    /// in base64 with CloudFront's swaps (`+`→`-`, `=`→`_`, `/`→`~`).
    CloudFrontPolicy,
    /// `?auth_key=<unix expiry>-<rand>-0-<32 hex>` (CDN type-A auth).
    AuthKey,
    /// `?token=<id>`: nothing in the link tells when it expires.
    Opaque,
}

/// The query string of a link to `resource` (the link without query).
pub(crate) fn query(
    style: LinkStyle,
    id: &str,
    rand: u64,
    expires_unix: u64,
    resource: &str,
) -> String {
    match style {
        LinkStyle::CloudFrontCanned => {
            format!("Expires={expires_unix}&Signature={id}&Key-Pair-Id=KFAKE")
        }
        LinkStyle::CloudFrontPolicy => {
            let policy = serde_json::json!({
                "Statement": [{
                    "Resource": resource,
                    "Condition": {"DateLessThan": {"AWS:EpochTime": expires_unix}}
                }]
            });
            let encoded = base64::engine::general_purpose::STANDARD
                .encode(policy.to_string())
                .replace('+', "-")
                .replace('=', "_")
                .replace('/', "~");
            format!("Policy={encoded}&Signature={id}&Key-Pair-Id=KFAKE")
        }
        LinkStyle::AuthKey => format!("auth_key={expires_unix}-{}-0-{id}", rand % 1_000_000_000),
        LinkStyle::Opaque => format!("token={id}"),
    }
}

/// The signature id a link carries, whatever its style.
pub(crate) fn signature_id(query: &str) -> Option<&str> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        match key {
            "Signature" | "token" => Some(value),
            "auth_key" => value.rsplit('-').next(),
            _ => None,
        }
    })
}

/// Unix seconds of `at`, rounded up, as CloudFront-style links state them.
pub(crate) fn unix_secs_ceil(at: SystemTime) -> u64 {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    since.as_secs() + u64::from(since.subsec_nanos() > 0)
}

/// `YYYYMMDD` (UTC) for the date folder of CDN paths.
pub(crate) fn yyyymmdd(at: SystemTime) -> String {
    let days = at
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
        / 86_400;
    // Howard Hinnant's civil_from_days, for days since 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}{month:02}{day:02}")
}

/// `%XX` decoding, lossy, for spotting a key hidden in an encoded query.
pub(crate) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_style_gives_its_id_back() {
        let id = "0123456789abcdef0123456789abcdef";
        for style in [
            LinkStyle::CloudFrontCanned,
            LinkStyle::CloudFrontPolicy,
            LinkStyle::AuthKey,
            LinkStyle::Opaque,
        ] {
            let q = query(
                style,
                id,
                42,
                1_800_000_000,
                "http://127.0.0.2:1/a/model.glb",
            );
            assert_eq!(signature_id(&q), Some(id), "{style:?}: {q}");
        }
    }

    #[test]
    fn policy_decodes_to_the_expiry() {
        let q = query(
            LinkStyle::CloudFrontPolicy,
            "abc",
            0,
            1_800_000_123,
            "http://h/x.glb",
        );
        let policy = q
            .strip_prefix("Policy=")
            .and_then(|rest| rest.split('&').next());
        let policy = policy
            .expect("a Policy parameter")
            .replace('-', "+")
            .replace('_', "=")
            .replace('~', "/");
        let json = base64::engine::general_purpose::STANDARD
            .decode(policy)
            .expect("base64");
        let json: serde_json::Value = serde_json::from_slice(&json).expect("json");
        assert_eq!(
            json["Statement"][0]["Condition"]["DateLessThan"]["AWS:EpochTime"],
            1_800_000_123
        );
    }

    #[test]
    fn dates_and_decoding() {
        assert_eq!(yyyymmdd(UNIX_EPOCH), "19700101");
        assert_eq!(
            yyyymmdd(UNIX_EPOCH + Duration::from_secs(1_795_888_800)),
            "20261128"
        );
        assert_eq!(
            yyyymmdd(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "20000229"
        );
        assert_eq!(unix_secs_ceil(UNIX_EPOCH + Duration::from_millis(1500)), 2);
        assert_eq!(unix_secs_ceil(UNIX_EPOCH + Duration::from_secs(7)), 7);
        assert_eq!(percent_decode("a%5Fb%zz%"), "a_b%zz%");
    }
}
