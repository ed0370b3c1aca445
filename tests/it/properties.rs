//! A property, end to end through the public library against the fake
//! service: whatever output a task names, only documented files land in the
//! folder. (The planner and the link reader have their own property tests
//! inside the crate, in src/properties.rs.)

use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{Map, Value, json};

#[path = "../common/contract_table.rs"]
mod contract_table;
use contract_table::{MULTIVIEW_OBJECTS, STEMS, key};

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

/// File names the fake can serve (one plain path segment each).
fn served_name() -> impl Strategy<Value = String> {
    proptest::sample::select(vec![
        "m.glb",
        "M.GLB",
        "x.png",
        "noext",
        "a.tar.gz",
        "v.mp4",
        "w.abcdefghi",
        "d.",
        ".hidden",
        "z.webp",
    ])
    .prop_map(str::to_owned)
}

fn served_output() -> impl Strategy<Value = Map<String, Value>> {
    let value = || {
        prop_oneof![
            4 => served_name().prop_map(|n| Value::from(format!("cdn:{n}"))),
            1 => Just(Value::from("")),
            1 => Just(Value::from(7)),
            1 => Just(json!({"url": "cdn:m.glb"})),
        ]
    };
    let view_key = proptest::sample::select(vec![
        "front_view_url",
        "left_view_url",
        "back_view_url",
        "right_view_url",
    ])
    .prop_map(str::to_owned);
    let nested = (
        proptest::sample::select(MULTIVIEW_OBJECTS.to_vec()),
        proptest::collection::btree_map(view_key, value(), 0..4),
    );
    (
        proptest::collection::vec((key(), value()), 0..10),
        proptest::option::of(nested),
    )
        .prop_map(|(entries, nested)| {
            let mut output: Map<String, Value> = entries.into_iter().collect();
            if let Some((name, views)) = nested {
                output.insert(name.to_owned(), Value::Object(views.into_iter().collect()));
            }
            output
        })
}

proptest! {
    #![proptest_config(Config { cases: 24, failure_persistence: None, ..Config::default() })]

    #[test]
    fn any_served_output_lands_only_documented_files(output in served_output()) {
        let answer = json!({"code": 0, "data": {
            "task_id": "prop-task", "type": "text_to_model", "status": "success",
            "input": {}, "output": output, "progress": 100, "create_time": 1_795_887_300,
        }});
        let fake = fake_tripo::FakeTripo::start(fake_tripo::Scenario::from_json(answer));
        let out = tempfile::tempdir().expect("tempdir");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
        let result = runtime.block_on(async {
            let client = fetch_assets::Client::builder()
                .api_key(fake.api_key())
                .api_base(fake.v3_base())
                .build()
                .expect("client");
            client.fetch("prop-task", out.path(), &fetch_assets::FetchOptions::default()).await
        });
        let mut listed: Vec<String> = std::fs::read_dir(out.path())
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        listed.sort();
        match result {
            Ok(manifest) => {
                for file in &manifest.files {
                    let open_name = file.role.field().is_some()
                        && file.path.split_once('.').is_some_and(|(stem, ext)| {
                            stem.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                                && ext.bytes().all(|b| b.is_ascii_alphanumeric())
                        });
                    prop_assert!(is_documented_name(&file.path) || open_name, "{}", file.path);
                }
                let mut expected: Vec<String> = manifest.files.iter().map(|f| f.path.clone()).collect();
                expected.extend(["SHA256SUMS".to_owned(), "manifest.json".to_owned()]);
                expected.sort();
                prop_assert_eq!(listed, expected);
            }
            Err(error) => {
                // No output at all, or a value under a `*_url` key that is
                // no link (refused like a bad link).
                prop_assert!(
                    matches!(
                        error,
                        fetch_assets::Error::NoOutputs { .. }
                            | fetch_assets::Error::Download {
                                cause: fetch_assets::DownloadCause::BadLink { .. },
                                ..
                            }
                    ),
                    "{error}"
                );
                prop_assert!(listed.is_empty(), "{listed:?}");
            }
        }
    }
}
