//! From a task's `output` to the ordered list of files to fetch, and how
//! each file is named on disk (DESIGN.md, "Files"). The table's roles, with
//! the output keys each may come under, are the table in
//! [`crate::output_role`]; this module looks them up (flat in `output`, or
//! in the multiview objects) and plans each role's file. Every other link
//! in `output` is an open-ended output, found and named by
//! [`crate::open_outputs`].

use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value};

use crate::hosts::HostRules;
use crate::link::SecretUrl;
use crate::open_outputs::{self, FieldPath, Found, Step};
use crate::output_role::OutputRole;

/// A choice of outputs for `--only`: one role, `multiview` for all four
/// views, or the name of an open-ended output (`thumbnail`, `model_1`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RoleSelector(String);

impl RoleSelector {
    /// The names `--only` takes besides an open-ended output's name (which
    /// the task gives): the table's names, each once, in its order
    /// (`model`, …, `multiview` for all four views). For a shell's help
    /// and completion.
    pub fn names() -> impl Iterator<Item = &'static str> {
        OutputRole::table_names()
    }

    /// True when the selector picks this role.
    pub(crate) fn selects(&self, role: &OutputRole) -> bool {
        role.name() == self.0
    }

    /// The selector's name.
    pub fn name(&self) -> &str {
        &self.0
    }
}

impl FromStr for RoleSelector {
    type Err = String;

    /// A table role's name, or a name an open-ended output can have: 1 to
    /// 64 of `a-z`, `0-9`, `_`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let wanted = text.trim();
        let open_name = (1..=open_outputs::MAX_NAME).contains(&wanted.len())
            && wanted
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if Self::names().any(|name| name == wanted) || open_name {
            Ok(RoleSelector(wanted.to_owned()))
        } else {
            Err(format!(
                "'{}' is not an output name; choose from {}, or an open-ended output's name (thumbnail, model_1, ...: lower-case letters, digits and _)",
                wanted.escape_default(),
                Self::names().collect::<Vec<_>>().join(", ")
            ))
        }
    }
}

impl RoleSelector {
    /// The table's name this one is likely a slip for (`modle`: `model`),
    /// when it is not one of the table's names itself. Such a name may still
    /// be an open-ended output's, known only once the task succeeds; a shell
    /// says so before the wait, rather than after it.
    pub fn likely_meant(&self) -> Option<&'static str> {
        if Self::names().any(|name| name == self.0) {
            return None;
        }
        Self::names()
            .map(|name| (edits(name, &self.0), name))
            .filter(|(distance, _)| *distance <= 2)
            .min()
            .map(|(_, name)| name)
    }
}

/// How many single-character edits (insert, delete, replace) turn `a`
/// into `b`: Levenshtein's distance, over bytes (names are ASCII).
fn edits(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != cb))
                .min(above + 1)
                .min(row[j] + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

impl fmt::Display for RoleSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One file to fetch: the first role that named its link, the other roles
/// that named the same link, and the link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asset {
    /// The role whose file this is.
    pub role: OutputRole,
    /// Other roles that carried the same link (fetched once, listed in the manifest).
    pub aliases: Vec<OutputRole>,
    /// The link, read once by the planner; or why the value the API gave
    /// is not a link we follow (a number under a `*_url` key, an `ftp:`
    /// link): the run refuses such an output unless `--only` leaves it out.
    pub link: Result<SecretUrl, String>,
}

impl Asset {
    /// The file's role, then its aliases.
    pub fn roles(&self) -> impl Iterator<Item = &OutputRole> {
        std::iter::once(&self.role).chain(&self.aliases)
    }

    /// The link, if a request may follow it: an http(s) link that `hosts`
    /// allows. The one check every link passes before any byte is sent,
    /// for the plan and for every renewed link alike; the error says why not.
    pub(crate) fn usable_link(&self, hosts: HostRules) -> Result<&SecretUrl, String> {
        let link = self.link.as_ref().map_err(String::clone)?;
        match hosts.refusal(&link.without_secrets()) {
            Some(refusal) => Err(refusal),
            None => Ok(link),
        }
    }
}

/// The output objects multiview images may be nested in; the four
/// `*_view_url` keys may also stand flat in `output`.
const MULTIVIEW_OBJECTS: [&str; 2] = ["generate_multiview_image", "edit_multiview_image"];

/// Turns a task's `output` into the files to fetch, in the contract's order:
/// the table's roles, then every other link in `output` (at any depth) as an
/// open-ended output, in path order. Empty strings, `null`, and values that
/// are not links (except under `*_url` keys) are ignored; two roles whose
/// links differ only in their query are one file. A table role's value, or
/// a value under a `*_url` key, that is not a link is planned as it is, for
/// the run to refuse.
pub fn plan(output: &Map<String, Value>) -> Vec<Asset> {
    let mut assets: Vec<Asset> = Vec::new();
    for (role, found) in every_output(output) {
        let link = match found {
            Found::Link(link) => link,
            Found::NotALink(why) => {
                // Planned as it is, never merged: the run refuses it.
                assets.push(Asset {
                    role,
                    aliases: Vec::new(),
                    link: Err(why),
                });
                continue;
            }
        };
        let same_file = assets
            .iter_mut()
            .find(|a| a.link.as_ref().is_ok_and(|known| known.same_file(&link)));
        match same_file {
            Some(asset) => asset.aliases.push(role),
            None => assets.push(Asset {
                role,
                aliases: Vec::new(),
                link: Ok(link),
            }),
        }
    }
    assets
}

/// The contract's order of a task's files, by role: the table's roles in
/// its order, then the open-ended outputs of `output` in path order. The
/// order of the manifest, of `SHA256SUMS` and of the outputs a message
/// lists.
pub(crate) struct ContractOrder(Vec<OutputRole>);

impl ContractOrder {
    /// The order for a task whose output is `output`.
    pub(crate) fn of(output: &Map<String, Value>) -> ContractOrder {
        let open = every_output(output)
            .into_iter()
            .map(|(role, _)| role)
            .filter(|role| matches!(role, OutputRole::Open { .. }));
        ContractOrder(OutputRole::table().cloned().chain(open).collect())
    }

    /// Where the file of this role goes; a role the order does not know (an
    /// output an earlier answer had) goes last.
    pub(crate) fn place(&self, role: &OutputRole) -> usize {
        self.0
            .iter()
            .position(|known| known.same_output(role))
            .unwrap_or(self.0.len())
    }
}

/// Every output, before shared links are merged: the table's roles in
/// order, then the open-ended outputs in path order.
fn every_output(output: &Map<String, Value>) -> Vec<(OutputRole, Found)> {
    let mut taken: Vec<FieldPath> = Vec::new();
    let mut found: Vec<(OutputRole, Found)> = Vec::new();
    for role in OutputRole::table() {
        if let Some((path, link)) = link_for(output, role) {
            taken.push(path);
            let link = SecretUrl::parse(link).map_or_else(Found::NotALink, Found::Link);
            found.push((role.clone(), link));
        }
    }
    let stems: Vec<String> = OutputRole::table().map(OutputRole::stem).collect();
    let mut reserved: Vec<&str> = stems.iter().map(String::as_str).collect();
    for name in OutputRole::table_names().chain(BESIDE_THE_OUTPUTS) {
        reserved.push(name);
    }
    for open in open_outputs::find(output, &|path| taken.contains(path), &reserved) {
        let role = OutputRole::open(&open.name, &open.field.to_string());
        found.push((role, open.found));
    }
    found
}

/// The stems of the files beside the outputs: names no open-ended output
/// may have, as it may have no table role's stem or name (`multiview`).
const BESIDE_THE_OUTPUTS: [&str; 2] = ["manifest", "sha256sums"];

/// The role's link and where it was found: the first non-empty string among
/// its keys, flat in `output` first, then in the multiview objects.
fn link_for<'a>(output: &'a Map<String, Value>, role: &OutputRole) -> Option<(FieldPath, &'a str)> {
    let mut places: Vec<(Option<&str>, &Map<String, Value>)> = vec![(None, output)];
    if role.view().is_some() {
        places.extend(
            MULTIVIEW_OBJECTS
                .iter()
                .filter_map(|key| Some((Some(*key), output.get(*key)?.as_object()?))),
        );
    }
    places.into_iter().find_map(|(parent, place)| {
        role.output_keys().iter().find_map(|key| {
            let link = place.get(*key)?.as_str()?.trim();
            let path = parent
                .into_iter()
                .chain([*key])
                .map(|k| Step::Key(k.to_owned()))
                .collect();
            (!link.is_empty()).then_some((FieldPath(path), link))
        })
    })
}

/// Known file types: extension and media type, one table for both directions.
const MEDIA_TYPES: &[(&str, &str)] = &[
    ("glb", "model/gltf-binary"),
    ("gltf", "model/gltf+json"),
    ("fbx", "application/octet-stream"),
    ("obj", "model/obj"),
    ("stl", "model/stl"),
    ("usdz", "model/vnd.usdz+zip"),
    ("zip", "application/zip"),
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("webp", "image/webp"),
    ("gif", "image/gif"),
    ("mp4", "video/mp4"),
    ("webm", "video/webm"),
];

/// The extension the contract gives a file: from the link's last path
/// segment when that is 1 to 8 ASCII letters or digits, else from the
/// response's Content-Type, else `bin`. Nothing else the server sends can
/// choose a name, so no server can write outside the folder.
pub fn extension(link: &SecretUrl, content_type: Option<&str>) -> String {
    extension_from_link(link)
        .or_else(|| content_type.and_then(extension_from_media_type))
        .unwrap_or_else(|| "bin".to_owned())
}

/// The extension of the link's last path segment, when the contract accepts it.
pub fn extension_from_link(link: &SecretUrl) -> Option<String> {
    let shown = link.without_secrets();
    let last = shown.path_segments()?.next_back()?;
    let (_, ext) = last.rsplit_once('.')?;
    let acceptable = (1..=8).contains(&ext.len()) && ext.bytes().all(|b| b.is_ascii_alphanumeric());
    acceptable.then(|| ext.to_ascii_lowercase())
}

fn extension_from_media_type(content_type: &str) -> Option<String> {
    let essence = content_type.split(';').next()?.trim().to_ascii_lowercase();
    MEDIA_TYPES
        .iter()
        .find(|(_, media)| *media == essence && essence != "application/octet-stream")
        .map(|(ext, _)| (*ext).to_owned())
}

/// The media type the manifest records: from the extension where it is
/// known, else what the server said, else `application/octet-stream`.
pub fn media_type(ext: &str, content_type: Option<&str>) -> String {
    MEDIA_TYPES
        .iter()
        .find(|(known, _)| *known == ext)
        .map(|(_, media)| (*media).to_owned())
        .or_else(|| {
            content_type
                .and_then(|c| c.split(';').next())
                .map(str::trim)
                .filter(|c| is_media_type(c))
                .map(str::to_ascii_lowercase)
        })
        .unwrap_or_else(|| "application/octet-stream".to_owned())
}

fn is_media_type(text: &str) -> bool {
    let token = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    matches!(text.split_once('/'), Some((kind, sub)) if token(kind) && token(sub))
}

/// The file name on disk: the role's stem and the extension.
pub fn file_name(role: &OutputRole, ext: &str) -> String {
    format!("{}.{ext}", role.stem())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output_role::View;
    use serde_json::json;

    fn output(value: Value) -> Map<String, Value> {
        let Value::Object(output) = value else {
            panic!("an object: {value}");
        };
        output
    }

    fn roles(assets: &[Asset]) -> Vec<OutputRole> {
        assets.iter().map(|a| a.role.clone()).collect()
    }

    #[test]
    fn v2_names_plan_in_table_order() {
        let assets = plan(&output(json!({
            "rendered_image": "https://c/r.webp?s=1",
            "model": "https://c/m.glb?s=1",
            "generate_multiview_image": {
                "right_view_url": "https://c/r.png", "front_view_url": "https://c/f.png",
                "left_view_url": "https://c/l.png", "back_view_url": "https://c/b.png"
            },
            "pbr_model": "https://c/p.glb?s=1",
        })));
        assert_eq!(
            roles(&assets),
            vec![
                OutputRole::Model,
                OutputRole::PbrModel,
                OutputRole::RenderedImage,
                OutputRole::Multiview(View::Front),
                OutputRole::Multiview(View::Left),
                OutputRole::Multiview(View::Back),
                OutputRole::Multiview(View::Right),
            ]
        );
    }

    #[test]
    fn v3_names_and_aliases() {
        let assets = plan(&output(json!({
            "model_url": "https://c/m.glb?Expires=1&Signature=a",
            "pbr_model_url": "https://c/m.glb?Expires=1&Signature=b",
            "image_url": "https://c/g.png",
            "depth_image_url": "https://c/d.png",
            "uv_render_url": "https://c/u.png",
            "rendered_video_url": "https://c/v.mp4",
        })));
        assert_eq!(
            roles(&assets),
            vec![
                OutputRole::Model,
                OutputRole::GeneratedImage,
                OutputRole::DepthImage,
                OutputRole::UvRender,
                OutputRole::RenderedVideo
            ]
        );
        assert_eq!(assets[0].aliases, vec![OutputRole::PbrModel]);
    }

    #[test]
    fn flat_and_edit_multiview_keys() {
        let flat = plan(&output(
            json!({"front_view_url": "https://c/f.png", "back_view_url": "https://c/b.png"}),
        ));
        assert_eq!(
            roles(&flat),
            vec![
                OutputRole::Multiview(View::Front),
                OutputRole::Multiview(View::Back)
            ]
        );
        let edit = plan(&output(
            json!({"edit_multiview_image": {"left_view_url": "https://c/l.png"}}),
        ));
        assert_eq!(roles(&edit), vec![OutputRole::Multiview(View::Left)]);
    }

    #[test]
    fn every_other_link_is_an_open_output_after_the_table() {
        let assets = plan(&output(json!({
            "model": {"type": "glb", "url": "https://c/m.glb"},
            "base_model": "",
            "thumbnail": "https://c/t.png",
            "riggable": true,
            "rendered_image_url": "https://c/r.webp?s=1",
            "image_urls": ["https://c/r.webp?s=2", "https://c/i.png"],
            "splat_url": 42,
        })));
        let names: Vec<(&str, Option<&str>)> = assets
            .iter()
            .map(|a| (a.role.name(), a.role.field()))
            .collect();
        assert_eq!(
            names,
            [
                ("rendered_image", None),
                ("image_1", Some("image_urls[1]")),
                ("model_url", Some("model.url")),
                ("splat", Some("splat_url")),
                ("thumbnail", Some("thumbnail")),
            ]
        );
        let alias = &assets[0].aliases;
        assert_eq!(alias.len(), 1, "image_urls[0] is the rendered image's link");
        assert_eq!(
            (alias[0].name(), alias[0].field()),
            ("image_0", Some("image_urls[0]"))
        );
        assert_eq!(
            assets[3].link.as_ref().err().map(String::as_str),
            Some("the value is 42, not a link")
        );
        assert!(
            assets
                .iter()
                .filter(|a| a.role.field().is_some())
                .all(|a| a.role.view().is_none())
        );
    }

    #[test]
    fn a_table_role_s_other_key_with_another_link_is_an_open_output() {
        let assets = plan(&output(json!({
            "model": "https://c/a.glb",
            "model_url": "https://c/b.glb",
            "pbr_model_url": "https://c/a.glb?x=1",
        })));
        let names: Vec<&str> = assets.iter().map(|a| a.role.name()).collect();
        assert_eq!(names, ["model", "model_2"]);
        assert_eq!(assets[0].aliases, [OutputRole::PbrModel]);
        assert_eq!(assets[1].link, SecretUrl::parse("https://c/b.glb"));
        assert_eq!(assets[1].role.field(), Some("model_url"));
    }

    #[test]
    fn a_plan_shows_its_links_without_their_queries() {
        let planned = plan(&output(json!({
            "model_url": "https://c/m.glb?Expires=1&Signature=sig-a&Key-Pair-Id=K",
            "pbr_model_url": "https://c/m.glb?Expires=1&Signature=sig-b",
            "thumbnail_url": "https://u:pw@c/t.png?token=tok-c#frag",
            "splat_url": "ftp://c/s.ply?token=tok-d",
        })));
        assert_eq!(planned.len(), 3, "{planned:?}");
        for shown in [format!("{planned:?}"), format!("{planned:#?}")] {
            for secret in [
                "sig-",
                "tok-",
                "Signature",
                "Expires",
                "Key-Pair",
                "pw",
                "frag",
            ] {
                assert!(!shown.contains(secret), "{secret} in {shown}");
            }
            assert!(shown.contains("https://c/m.glb") && shown.contains("https://c/t.png"));
        }
        let shown: Vec<String> = planned
            .iter()
            .filter_map(|a| a.link.as_ref().ok().map(ToString::to_string))
            .collect();
        assert_eq!(shown, ["https://c/m.glb", "https://c/t.png"]);
    }

    #[test]
    fn the_contract_order_is_the_table_then_open_outputs_in_path_order() {
        let order = ContractOrder::of(&output(json!({
            "thumbnail_url": "https://c/t.png",
            "model_url": "https://c/m.glb",
            "extra": {"a_url": "https://c/a.png"},
        })));
        let stems = [
            "model",
            "pbr_model",
            "multiview_0_front",
            "multiview_3_right",
            "extra_a",
            "thumbnail",
            "gone",
        ];
        let places: Vec<usize> = stems
            .iter()
            .map(|s| order.place(&OutputRole::from_stem(s)))
            .collect();
        assert_eq!(places, [0, 2, 8, 11, 12, 13, 14]);
    }

    #[test]
    fn only_accepts_table_roles_and_open_names() {
        for good in [
            "model",
            "multiview",
            "thumbnail",
            "model_1",
            "textures_albedo",
        ] {
            assert_eq!(
                good.parse::<RoleSelector>().map(|s| s.to_string()),
                Ok(good.to_owned())
            );
        }
        for bad in ["", "Model", "model.glb", "a b", &"x".repeat(65)] {
            assert!(bad.parse::<RoleSelector>().is_err(), "{bad}");
        }
    }

    #[test]
    fn extension_from_link_path_or_content_type() {
        let link = |s: &str| SecretUrl::parse(s).expect("test link");
        assert_eq!(
            extension(&link("https://c/a/MODEL.GLB?x=y.png"), None),
            "glb"
        );
        assert_eq!(
            extension(&link("https://c/a/model"), Some("image/png")),
            "png"
        );
        assert_eq!(
            extension(&link("https://c/a/model.tar-gz"), Some("x/y")),
            "bin"
        );
        assert_eq!(extension(&link("https://c/a/model.abcdefghi"), None), "bin");
        assert_eq!(extension(&link("https://c/a/..%2F..%2Fetc"), None), "bin");
        assert_eq!(
            extension(&link("https://c/a/x"), Some("application/octet-stream")),
            "bin"
        );
    }

    #[test]
    fn only_names_each_table_name_once_in_the_table_s_order() {
        let names: Vec<&str> = RoleSelector::names().collect();
        assert_eq!(
            names,
            [
                "model",
                "base_model",
                "pbr_model",
                "generated_image",
                "rendered_image",
                "depth_image",
                "uv_render",
                "rendered_video",
                "multiview",
            ]
        );
        let refused = "Model".parse::<RoleSelector>().expect_err("not a name");
        assert!(refused.contains(&names.join(", ")), "{refused}");
    }

    #[test]
    fn file_names_follow_the_contract() {
        assert_eq!(file_name(&OutputRole::Model, "glb"), "model.glb");
        assert_eq!(
            file_name(&OutputRole::Multiview(View::Back), "png"),
            "multiview_2_back.png"
        );
        assert_eq!(
            file_name(&OutputRole::RenderedVideo, "mp4"),
            "rendered_video.mp4"
        );
    }

    #[test]
    fn media_types() {
        assert_eq!(
            media_type("glb", Some("application/octet-stream")),
            "model/gltf-binary"
        );
        assert_eq!(
            media_type("bin", Some("Text/Plain; charset=x")),
            "text/plain"
        );
        assert_eq!(
            media_type("bin", Some("<script>")),
            "application/octet-stream"
        );
        assert_eq!(media_type("bin", None), "application/octet-stream");
    }

    #[test]
    fn a_slip_of_a_table_name_is_told_and_other_names_are_not() {
        let meant = |text: &str| text.parse::<RoleSelector>().expect("a name").likely_meant();
        let cases = [
            ("modle", Some("model")),
            ("mdel", Some("model")),
            ("multiveiw", Some("multiview")),
            ("pbr_modle", Some("pbr_model")),
            ("model", None),
            ("multiview", None),
            ("thumbnail", None),
            ("model_1", Some("model")),
            ("textures_albedo", None),
        ];
        for (text, expected) in cases {
            assert_eq!(meant(text), expected, "{text}");
        }
        assert_eq!(edits("kitten", "sitting"), 3);
        assert_eq!(edits("", "abc"), 3);
    }
}
