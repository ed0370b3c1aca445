//! Open-ended outputs: every link in a task's `output` that the table of
//! roles does not name (`thumbnail_url`, `model_urls[1]`,
//! `textures.albedo_url`, the outputs of convert and rig tasks), found
//! at any depth, and the name each one gets (DESIGN.md, "Open-ended
//! outputs"). Pure: the planner says which places the table took, and which
//! names are reserved; this module walks the rest.
//!
//! The naming rule, in one place ([`name_of`]): the JSON path lower-cased,
//! each key's trailing `_url`/`_urls` dropped, list indexes as `_<i>`, keys
//! joined by `_`, any other character as `_`, at most [`MAX_NAME`]
//! characters; a name already taken gets `_2`, `_3`, … ([`assign`]), and so
//! does a name Windows keeps for a device ([`WINDOWS_DEVICE_NAMES`]), on
//! every platform, so a folder means the same everywhere.

use std::collections::HashSet;
use std::fmt;

use serde_json::{Map, Value};

use crate::link::SecretUrl;

/// The longest name an open-ended output gets.
pub(crate) const MAX_NAME: usize = 64;

/// The name an output gets when its path leaves nothing (a key `_url`).
const UNNAMED: &str = "output";

/// One step of a path into `output`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Step {
    /// An object key.
    Key(String),
    /// A list index.
    Index(usize),
}

/// Where a value sits in `output`: `thumbnail_url`, `model_urls[1]`,
/// `textures.albedo_url` (the manifest's `field`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct FieldPath(pub Vec<Step>);

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.0.iter().enumerate() {
            match step {
                Step::Key(key) if i == 0 => f.write_str(key)?,
                Step::Key(key) => write!(f, ".{key}")?,
                Step::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// What the walk found at a place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Found {
    /// An absolute `http`/`https` link, read once here.
    Link(SecretUrl),
    /// A value under a `*_url`/`*_urls` key that is neither a link nor
    /// empty: why it is not a link, in words. The run refuses it (unless
    /// `--only` leaves it out), as it refuses a table role's bad link.
    NotALink(String),
}

/// One open-ended output, named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OpenOutput {
    /// Where it sits in `output`.
    pub field: FieldPath,
    /// Its name: the file stem, its role in the manifest and for `--only`.
    pub name: String,
    /// The link, or why the value is not one.
    pub found: Found,
}

/// Every open-ended output of `output`, in path order (keys by code point,
/// list indexes numerically), named. `taken(path)` says the table of roles
/// already took that place; `reserved` are names no open-ended output may
/// have (the table's file stems, `multiview`, `manifest`, `sha256sums`).
pub(crate) fn find(
    output: &Map<String, Value>,
    taken: &dyn Fn(&FieldPath) -> bool,
    reserved: &[&str],
) -> Vec<OpenOutput> {
    let mut found = Vec::new();
    let mut path = Vec::new();
    walk_object(output, &mut path, taken, &mut found);
    assign(found, reserved)
}

/// The names Windows keeps for devices, whatever their extension
/// (`con.glb` is the console there): never an open-ended output's name, on
/// any platform.
pub(crate) const WINDOWS_DEVICE_NAMES: [&str; 22] = [
    "con", "prn", "aux", "nul", "com1", "com2", "com3", "com4", "com5", "com6", "com7", "com8",
    "com9", "lpt1", "lpt2", "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9",
];

/// Names the found values in order: each its [`name_of`], or, when that is
/// reserved, a Windows device's, or an earlier value's, the first of `name_2`, `name_3`, … that
/// is free (shortened so that it stays within [`MAX_NAME`]).
pub(crate) fn assign(found: Vec<(FieldPath, Found)>, reserved: &[&str]) -> Vec<OpenOutput> {
    let mut used: HashSet<String> = reserved
        .iter()
        .chain(&WINDOWS_DEVICE_NAMES)
        .map(|name| (*name).to_owned())
        .collect();
    found
        .into_iter()
        .map(|(field, found)| {
            let base = name_of(&field.0);
            let name = std::iter::once(base.clone())
                .chain((2..).map(|n| {
                    let suffix = format!("_{n}");
                    let keep = MAX_NAME - suffix.len();
                    // Names are ASCII: any byte is a character's end.
                    let kept = base.get(..base.len().min(keep)).unwrap_or(&base);
                    format!("{kept}{suffix}")
                }))
                .find(|candidate| !used.contains(candidate))
                .unwrap_or(base);
            used.insert(name.clone());
            OpenOutput { field, name, found }
        })
        .collect()
}

/// The name a path gives, before collisions: see the module's docs.
pub(crate) fn name_of(path: &[Step]) -> String {
    let parts: Vec<String> = path
        .iter()
        .map(|step| match step {
            Step::Key(key) => {
                let key = key.to_ascii_lowercase();
                let key = key
                    .strip_suffix("_urls")
                    .or_else(|| key.strip_suffix("_url"))
                    .unwrap_or(&key);
                key.chars()
                    .map(|c| match c {
                        'a'..='z' | '0'..='9' | '_' => c,
                        _ => '_',
                    })
                    .collect()
            }
            Step::Index(index) => index.to_string(),
        })
        .collect();
    let name: String = parts.join("_").chars().take(MAX_NAME).collect();
    if name.is_empty() {
        UNNAMED.to_owned()
    } else {
        name
    }
}

/// Whether values under this key must be links: `*_url` and `*_urls`.
fn holds_links(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key.ends_with("_url") || key.ends_with("_urls")
}

fn walk_object(
    object: &Map<String, Value>,
    path: &mut Vec<Step>,
    taken: &dyn Fn(&FieldPath) -> bool,
    found: &mut Vec<(FieldPath, Found)>,
) {
    let mut keys: Vec<&String> = object.keys().collect();
    keys.sort();
    for key in keys {
        path.push(Step::Key(key.clone()));
        walk(&object[key], path, holds_links(key), taken, found);
        path.pop();
    }
}

/// Visits one value; `must_be_link` when the nearest key is `*_url(s)`.
fn walk(
    value: &Value,
    path: &mut Vec<Step>,
    must_be_link: bool,
    taken: &dyn Fn(&FieldPath) -> bool,
    found: &mut Vec<(FieldPath, Found)>,
) {
    let here = || FieldPath(path.clone());
    match value {
        Value::Object(object) => walk_object(object, path, taken, found),
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                path.push(Step::Index(index));
                walk(item, path, must_be_link, taken, found);
                path.pop();
            }
        }
        Value::Null => {}
        Value::String(text) if text.trim().is_empty() => {}
        _ if taken(&here()) => {}
        Value::String(text) => match SecretUrl::parse(text.trim()) {
            Ok(link) => found.push((here(), Found::Link(link))),
            Err(cause) if must_be_link => found.push((here(), Found::NotALink(cause))),
            Err(_) => {}
        },
        Value::Bool(_) | Value::Number(_) if must_be_link => {
            found.push((
                here(),
                Found::NotALink(format!("the value is {value}, not a link")),
            ));
        }
        Value::Bool(_) | Value::Number(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const RESERVED: [&str; 4] = ["model", "multiview", "manifest", "sha256sums"];

    fn key(k: &str) -> Step {
        Step::Key(k.to_owned())
    }

    fn open(output: Value) -> Vec<(String, String, Found)> {
        let Value::Object(output) = output else {
            panic!("an object: {output}");
        };
        find(&output, &|_| false, &RESERVED)
            .into_iter()
            .map(|o| (o.field.to_string(), o.name, o.found))
            .collect()
    }

    fn link(text: &str) -> Found {
        Found::Link(SecretUrl::parse(text).expect("a test link"))
    }

    #[test]
    fn names_follow_the_rule() {
        let cases: [(&[Step], &str); 9] = [
            (&[key("thumbnail_url")], "thumbnail"),
            (&[key("model_urls"), Step::Index(1)], "model_1"),
            (&[key("textures"), key("albedo_url")], "textures_albedo"),
            (&[key("Rendered-Sequence_URL")], "rendered_sequence"),
            (&[key("a_urls_url")], "a_urls"),
            (&[key("views"), Step::Index(10), key("x.y")], "views_10_x_y"),
            (&[key("façade_url")], "fa_ade"),
            (&[key("_url")], "output"),
            (&[key("x"), key("_url")], "x_"),
        ];
        for (path, name) in cases {
            assert_eq!(name_of(path), name, "{path:?}");
        }
        assert_eq!(name_of(&[key(&"a".repeat(100))]).len(), MAX_NAME);
        assert_eq!(
            FieldPath(vec![key("animations"), Step::Index(1), key("model_url")]).to_string(),
            "animations[1].model_url"
        );
    }

    #[test]
    fn walks_every_depth_in_path_order() {
        let found = open(json!({
            "thumbnail_url": "https://c/t.webp?s=1",
            "model_urls": ["https://c/a.glb", "https://c/b.fbx"],
            "textures": {"normal_url": "https://c/n.png", "albedo_url": " https://c/a.png "},
            "Zeta": "http://c/z.bin",
            "animations": [{"model_url": "https://c/idle.fbx", "name": "idle", "frames": 60}],
            "nested": [["https://c/deep.png"]],
        }));
        let fields: Vec<(&str, &str)> = found
            .iter()
            .map(|(field, name, _)| (field.as_str(), name.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                ("Zeta", "zeta"),
                ("animations[0].model_url", "animations_0_model"),
                ("model_urls[0]", "model_0"),
                ("model_urls[1]", "model_1"),
                ("nested[0][0]", "nested_0_0"),
                ("textures.albedo_url", "textures_albedo"),
                ("textures.normal_url", "textures_normal"),
                ("thumbnail_url", "thumbnail"),
            ]
        );
        assert_eq!(found[5].2, link("https://c/a.png"), "trimmed");
    }

    #[test]
    fn list_indexes_sort_numerically() {
        let links: Vec<String> = (0..12).map(|i| format!("https://c/{i}.png")).collect();
        let names: Vec<String> = open(json!({ "image_urls": links }))
            .into_iter()
            .map(|(_, name, _)| name)
            .collect();
        let expected: Vec<String> = (0..12).map(|i| format!("image_{i}")).collect();
        assert_eq!(names, expected);
    }

    #[test]
    fn ignores_what_is_not_an_output() {
        let found = open(json!({
            "mask_url": null,
            "seg_model_url": "",
            "blank_url": "   ",
            "riggable": true,
            "face_count": 12000,
            "topology": "quad",
            "note": "see https://c/x in the docs",
            "scheme": "ftp://c/file.glb",
            "model_urls": [],
            "meta": {"count": 2, "ok": false, "list": [1, "two"]},
        }));
        assert_eq!(found, []);
    }

    #[test]
    fn bad_values_under_url_keys_are_found_as_such() {
        let found = open(json!({
            "splat_url": 42,
            "mask_url": "not a link",
            "rig_urls": [true, "ftp://c/x.fbx"],
            "textures": {"albedo_url": {"deep_url": 1.5}},
        }));
        let bad: Vec<(&str, &str)> = found
            .iter()
            .map(|(field, name, found)| {
                assert!(matches!(found, Found::NotALink(_)), "{field}: {found:?}");
                (field.as_str(), name.as_str())
            })
            .collect();
        assert_eq!(
            bad,
            [
                ("mask_url", "mask"),
                ("rig_urls[0]", "rig_0"),
                ("rig_urls[1]", "rig_1"),
                ("splat_url", "splat"),
                ("textures.albedo_url.deep_url", "textures_albedo_deep"),
            ]
        );
        let Found::NotALink(why) = &found[3].2 else {
            unreachable!()
        };
        assert_eq!(why, "the value is 42, not a link");
        let Found::NotALink(why) = &found[2].2 else {
            unreachable!()
        };
        assert!(why.contains("'ftp'"), "{why}");
    }

    #[test]
    fn taken_places_are_skipped_and_taken_names_get_suffixes() {
        let output = json!({
            "model": "https://c/a.glb",
            "model_url": "https://c/b.glb",
            "model_2_url": "https://c/c.glb",
            "manifest_url": "https://c/m.json",
            "SHA256SUMS_url": "https://c/s.txt",
            "multiview_url": "https://c/mv.png",
        });
        let output = output.as_object().cloned().expect("an object");
        let table_took = |field: &FieldPath| field.0 == [key("model")];
        let named: Vec<(String, String)> = find(&output, &table_took, &RESERVED)
            .into_iter()
            .map(|o| (o.field.to_string(), o.name))
            .collect();
        let expected = [
            ("SHA256SUMS_url", "sha256sums_2"),
            ("manifest_url", "manifest_2"),
            ("model_2_url", "model_2"),
            ("model_url", "model_3"),
            ("multiview_url", "multiview_2"),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(f, n)| ((*f).to_owned(), (*n).to_owned()))
            .collect();
        assert_eq!(named, expected);
    }

    #[test]
    fn names_windows_keeps_for_devices_get_suffixes_on_every_platform() {
        let cases = [
            ("con_url", "con_2"),
            ("PRN_url", "prn_2"),
            ("aux", "aux_2"),
            ("nul", "nul_2"),
            ("com1_url", "com1_2"),
            ("com9_url", "com9_2"),
            ("lpt1_url", "lpt1_2"),
            ("lpt9_url", "lpt9_2"),
            // Not devices: kept as they are.
            ("com0_url", "com0"),
            ("com10_url", "com10"),
            ("lpt_url", "lpt"),
            ("console_url", "console"),
            ("nul_1_url", "nul_1"),
        ];
        for (field, name) in cases {
            let named: Vec<String> = open(json!({ field: "https://c/1.png" }))
                .into_iter()
                .map(|(_, name, _)| name)
                .collect();
            assert_eq!(named, [name], "{field}");
        }
        // `con` and `con_2` both present: `con` takes `con_2` (path order),
        // so the field `con_2` moves on.
        let named: Vec<String> = open(json!({ "con": "https://c/1", "con_2": "https://c/2" }))
            .into_iter()
            .map(|(_, name, _)| name)
            .collect();
        assert_eq!(named, ["con_2", "con_2_2"]);
    }

    #[test]
    fn long_names_stay_within_the_limit_with_their_suffix() {
        let long = "x".repeat(70);
        let output =
            json!({ format!("{long}_url"): "https://c/1.png", long.clone(): "https://c/2.png" });
        let names: Vec<String> = open(output).into_iter().map(|(_, name, _)| name).collect();
        assert_eq!(names[0], "x".repeat(64));
        assert_eq!(names[1], format!("{}_2", "x".repeat(62)));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Keys a live output might have, odd ones included.
        fn any_key() -> impl Strategy<Value = String> {
            prop_oneof![
                proptest::sample::select(vec![
                    "model_url",
                    "model_urls",
                    "thumbnail_url",
                    "textures",
                    "albedo_url",
                    "Model_URL",
                    "x",
                    "_url",
                    "manifest_url",
                    "multiview",
                    "name",
                    "é_url",
                ])
                .prop_map(str::to_owned),
                "[a-zA-Z0-9_.é -]{0,80}",
            ]
        }

        fn any_output() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                Just(json!("")),
                Just(json!(7)),
                Just(json!(true)),
                Just(json!("not a link")),
                "[a-z]{1,6}".prop_map(|p| json!(format!("https://cdn.example/{p}.glb?sig=1"))),
            ];
            let value = leaf.prop_recursive(3, 40, 5, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                    proptest::collection::btree_map(any_key(), inner, 0..5)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            });
            proptest::collection::btree_map(any_key(), value, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect()))
        }

        /// Every link string in the tree, counted independently of the walk.
        fn links_in(value: &Value) -> usize {
            match value {
                Value::String(s) => usize::from(s.starts_with("https://")),
                Value::Array(items) => items.iter().map(links_in).sum(),
                Value::Object(map) => map.values().map(links_in).sum(),
                _ => 0,
            }
        }

        proptest! {
            #[test]
            fn every_link_once_with_a_unique_safe_name_in_path_order(output in any_output()) {
                let map = output.as_object().cloned().expect("an object");
                let found = find(&map, &|_| false, &RESERVED);
                let links = found.iter().filter(|o| matches!(o.found, Found::Link(_))).count();
                prop_assert_eq!(links, links_in(&output));
                let mut names = HashSet::new();
                for o in &found {
                    prop_assert!(!o.name.is_empty() && o.name.chars().count() <= MAX_NAME, "{}", o.name);
                    prop_assert!(o.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'), "{}", o.name);
                    prop_assert!(!RESERVED.contains(&o.name.as_str()), "{}", o.name);
                    prop_assert!(names.insert(o.name.clone()), "{} twice", o.name);
                }
                let paths: Vec<&FieldPath> = found.iter().map(|o| &o.field).collect();
                let mut sorted = paths.clone();
                sorted.sort();
                prop_assert_eq!(paths, sorted);
            }
        }
    }
}
