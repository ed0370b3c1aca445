//! Property tests for the two places where the server's words turn into our
//! decisions: the output planner (which files, under which names) and the
//! link reader (what a link may show, when it dies). Whatever the server
//! sends, neither panics, names come only from the contract, a link never
//! shows its query, and an expiry is either read or assumed.
//! (tests/it/properties.rs checks the same end to end, through the public
//! library against the fake service.)

use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use proptest::prelude::*;
use proptest::test_runner::Config;
use reqwest::Url;
use serde_json::{Map, Value, json};

use crate::assets::{extension, file_name, media_type, plan};
use crate::link::{self, SecretUrl, SignedLink};
use crate::output_role::OutputRole;

#[path = "../tests/common/contract_table.rs"]
mod contract_table;
use contract_table::{KEYS, MULTIVIEW_OBJECTS, STEMS, key};

/// Text a server might put where a link goes: real-looking links with
/// hostile paths and queries, other schemes, and anything at all.
fn link_text() -> impl Strategy<Value = String> {
    let segment = "[a-zA-Z0-9._%~\\\\-]{0,12}";
    let ext = prop_oneof![
        Just(String::new()),
        "\\.[a-zA-Z0-9]{1,10}",
        "\\.[a-zA-Z0-9%./\\\\ -]{1,10}",
    ];
    let query = prop_oneof![
        Just(String::new()),
        "\\?[A-Za-z0-9=&%_~.-]{0,40}",
        "#[a-z]{0,5}",
    ];
    prop_oneof![
        3 => (
            prop_oneof![Just("https"), Just("http"), Just("HTTPS"), Just("file"), Just("ftp"), Just("data")],
            prop_oneof![Just("cdn.example"), Just("127.0.0.2:9"), Just("user:pw@h"), Just("")],
            proptest::collection::vec(segment, 0..4),
            ext,
            query,
        )
            .prop_map(|(scheme, host, segments, ext, query)| {
                format!("{scheme}://{host}/{}{ext}{query}", segments.join("/"))
            }),
        1 => Just("https://cdn.example/a/model.glb?Expires=1&Signature=x".to_owned()),
        1 => Just("https://cdn.example/a/model.glb?Expires=2&Signature=y".to_owned()),
        1 => Just("  ".to_owned()),
        1 => "\\PC{0,30}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(Value::Number)),
        6 => link_text().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 48, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(key(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An output object: mostly known keys holding link-like text (so most
/// cases plan files), with anything at all beside and under them.
fn output_object() -> impl Strategy<Value = Map<String, Value>> {
    let value = prop_oneof![
        4 => link_text().prop_map(Value::from),
        1 => json_value(),
    ];
    let view_key = proptest::sample::select(vec![
        "front_view_url",
        "left_view_url",
        "back_view_url",
        "right_view_url",
        "front",
    ])
    .prop_map(str::to_owned);
    let views = proptest::collection::btree_map(view_key, value.clone(), 0..5)
        .prop_map(|m| Value::Object(m.into_iter().collect()));
    let nested = (
        proptest::sample::select(MULTIVIEW_OBJECTS.to_vec()).prop_map(str::to_owned),
        views,
    );
    proptest::collection::vec(prop_oneof![4 => (key(), value), 1 => nested], 0..16)
        .prop_map(|entries| entries.into_iter().collect())
}

/// The link the contract says a stem gets from `output`, if any: the first
/// of its keys holding a non-blank string, flat in `output` and, for the
/// views, in the multiview objects.
fn expected_link(output: &Map<String, Value>, index: usize) -> Option<String> {
    let mut places = vec![output];
    if index >= 8 {
        places.extend(
            MULTIVIEW_OBJECTS
                .iter()
                .filter_map(|k| output.get(*k)?.as_object()),
        );
    }
    places
        .into_iter()
        .flat_map(|place| KEYS[index].iter().filter_map(|k| place.get(*k)?.as_str()))
        .map(str::trim)
        .find(|link| !link.is_empty())
        .map(str::to_owned)
}

fn is_documented_name(name: &str) -> bool {
    let Some((stem, ext)) = name.rsplit_once('.') else {
        return false;
    };
    STEMS.contains(&stem)
        && (1..=8).contains(&ext.len())
        && ext
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

proptest! {
    #![proptest_config(Config { cases: 512, failure_persistence: None, ..Config::default() })]

    #[test]
    fn any_output_plans_without_panic_into_documented_files_in_order(
        output in output_object(),
        content_type in proptest::option::of(prop_oneof![
            Just("image/png".to_owned()), Just("model/gltf-binary".to_owned()),
            Just("../../evil".to_owned()), "\\PC{0,20}",
        ]),
    ) {
        let planned = plan(&output);

        // Every role at most once, as a file or an alias, in the contract's
        // order: the table's roles, then the open-ended outputs (every
        // other link; their own properties are tested in the crate).
        let mut seen = Vec::new();
        let mut last = None;
        for asset in &planned {
            let table = OutputRole::table().count();
            let at = OutputRole::table()
                .position(|r| *r == asset.role)
                .unwrap_or(table);
            prop_assert!(asset.role.field().is_some() || at < table, "{planned:?}");
            prop_assert!(last.is_none_or(|l| l < at || at == table), "order: {planned:?}");
            last = Some(at);
            for role in asset.roles() {
                prop_assert!(!seen.contains(role), "{role:?} twice: {planned:?}");
                seen.push(role.clone());
            }
        }

        // Exactly the roles the contract finds a link for, each with that
        // link (or, for an alias, one equal but for its query).
        let table: Vec<&OutputRole> = OutputRole::table().collect();
        prop_assert_eq!(table.len(), STEMS.len());
        for (index, (stem, role)) in STEMS.iter().zip(table).enumerate() {
            let role = role.clone();
            prop_assert_eq!(role.stem(), *stem);
            let expected = expected_link(&output, index);
            let got = planned.iter().find(|a| a.role == role || a.aliases.contains(&role));
            match (&expected, got) {
                (None, None) => {}
                (Some(link), Some(asset)) if asset.role == role => {
                    prop_assert_eq!(&asset.link, &SecretUrl::parse(link));
                }
                (Some(link), Some(asset)) => {
                    // An alias: the same link but for its query.
                    let (Ok(got), Ok(want)) = (&asset.link, SecretUrl::parse(link)) else {
                        return Err(TestCaseError::fail(format!("{stem}: alias of a bad link {got:?}")));
                    };
                    prop_assert!(got.same_file(&want), "{stem}: {got} is not {want}");
                }
                _ => prop_assert!(false, "{stem}: expected {expected:?}, planned {got:?}"),
            }
        }

        // Whatever the link and the Content-Type, the name is the contract's.
        for asset in &planned {
            let Ok(url) = &asset.link else { continue };
            prop_assert!(matches!(url.expose().scheme(), "http" | "https"));
            // Printed, the link has no query or fragment.
            let (exposed, shown) = (url.expose().as_str(), url.to_string());
            prop_assert!(!shown.contains(['?', '#']), "{shown}");
            if exposed != shown {
                prop_assert!(!format!("{asset:?}").contains(exposed), "{asset:?}");
            }
            let ext = extension(url, content_type.as_deref());
            let name = file_name(&asset.role, &ext);
            let open_name = asset.role.field().is_some()
                && name.split_once('.').is_some_and(|(stem, ext)| {
                    stem.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                        && ext.bytes().all(|b| b.is_ascii_alphanumeric())
                });
            prop_assert!(is_documented_name(&name) || open_name, "{name} from {url}");
            let media = media_type(&ext, content_type.as_deref());
            let (kind, sub) = media.split_once('/').expect("type/subtype");
            prop_assert!(!kind.is_empty() && !sub.is_empty() && !sub.contains('/'), "{media}");
            prop_assert!(!media.contains(".."), "{media}");
        }
    }

    #[test]
    fn any_url_string_reads_an_expiry_or_falls_back_without_panic(
        text in prop_oneof![link_text(), "\\PC{0,60}", signed_link()],
        received in 0u64..4_000_000_000,
    ) {
        let shown = link::redact_text(&text);
        prop_assert!(!shown.contains(['?', '#']), "{shown}");
        let secret = SecretUrl::parse(&text);
        let Ok(url) = Url::parse(&text) else { return Ok(()) };
        let received = UNIX_EPOCH + Duration::from_secs(received);
        let read = link::read_expiry(&url);
        // Only http(s) links get as far as a transfer.
        let Ok(secret) = secret else { return Ok(()) };
        let signed = SignedLink::new(secret, received);
        match read.filter(|at| *at > received) {
            Some(at) => prop_assert_eq!(signed.expires_at(), at),
            None => prop_assert_eq!(signed.expires_at(), received + link::ASSUMED_LIFETIME),
        }
        prop_assert!(signed.expires_at() > received);
        prop_assert!(signed.about_to_expire(signed.expires_at()));
        prop_assert!(!signed.about_to_expire(received));
        let shown = signed.redacted();
        prop_assert!(!shown.contains('?') && !shown.contains('#'), "{shown}");
        let reparsed = Url::parse(&shown).expect("a redacted link is a link");
        prop_assert!(reparsed.username().is_empty() && reparsed.password().is_none(), "{shown}");
    }

    #[test]
    fn each_signing_style_reads_back_the_expiry_it_carries(
        expiry in 0u64..=4_102_444_800,
        lifetime in 0u64..=604_800,
        rand in "[a-z0-9]{1,8}",
        as_string in any::<bool>(),
    ) {
        let at = UNIX_EPOCH + Duration::from_secs(expiry);
        let base = "https://cdn.example/tcli_x/20261128/t/model.glb";
        let canned = format!("{base}?Expires={expiry}&Signature=s&Key-Pair-Id=K");
        prop_assert_eq!(link::read_expiry(&Url::parse(&canned).expect("url")), Some(at));

        let epoch = if as_string { json!(expiry.to_string()) } else { json!(expiry) };
        let policy = json!({"Statement": [{"Resource": base,
            "Condition": {"DateLessThan": {"AWS:EpochTime": epoch}}}]});
        let encoded: String = base64::engine::general_purpose::STANDARD
            .encode(policy.to_string())
            .chars()
            .map(|c| match c { '+' => '-', '=' => '_', '/' => '~', c => c })
            .collect();
        let custom = format!("{base}?Policy={encoded}&Signature=s&Key-Pair-Id=K");
        prop_assert_eq!(link::read_expiry(&Url::parse(&custom).expect("url")), Some(at));

        let auth = format!("{base}?auth_key={expiry}-{rand}-0-0123456789abcdef");
        prop_assert_eq!(link::read_expiry(&Url::parse(&auth).expect("url")), Some(at));

        let signed_at = jiff::Timestamp::try_from(at).expect("a time jiff holds").strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        let amz_date: String = signed_at.chars().filter(|c| *c != '-' && *c != ':').collect();
        let s3 = format!("{base}?X-Amz-Date={amz_date}&X-Amz-Expires={lifetime}&X-Amz-Signature=s");
        prop_assert_eq!(
            link::read_expiry(&Url::parse(&s3).expect("url")),
            Some(at + Duration::from_secs(lifetime)),
            "{}", s3
        );
    }
}

/// Links in the known signing styles, with values anything from right to absurd.
fn signed_link() -> impl Strategy<Value = String> {
    let number = prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        "[0-9]{15,40}",
        "[0-9eE.+-]{0,12}",
        "\\PC{0,10}",
    ];
    let policy_json = prop_oneof![
        number.clone().prop_map(
            |n| json!({"Statement": [{"Condition": {"DateLessThan": {"AWS:EpochTime": n}}}]})
        ),
        any::<f64>().prop_map(
            |f| json!({"Statement": [{"Condition": {"DateLessThan": {"AWS:EpochTime": f}}}]})
        ),
        Just(json!({"Statement": []})),
        Just(json!([1, 2])),
    ];
    let policy = prop_oneof![
        policy_json.prop_map(|j| base64::engine::general_purpose::STANDARD.encode(j.to_string())),
        "[A-Za-z0-9_~-]{0,40}",
    ];
    prop_oneof![
        number
            .clone()
            .prop_map(|n| format!("Expires={n}&Signature=s")),
        policy.prop_map(|p| format!("Policy={p}&Signature=s")),
        (number.clone(), "\\PC{0,10}").prop_map(|(n, r)| format!("auth_key={n}-{r}-0-ab")),
        ("[0-9TZ]{0,18}", number).prop_map(|(d, n)| format!("X-Amz-Date={d}&X-Amz-Expires={n}")),
    ]
    .prop_map(|query| {
        let mut url = Url::parse("https://cdn.example/a/model.glb").expect("url");
        // Through the encoder, so that any text survives as a query value.
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            url.query_pairs_mut().append_pair(k, v);
        }
        url.to_string()
    })
}
