//! A run into a folder an earlier run filled: which planned files are kept
//! (they still verify against its manifest), which are to fetch, and which
//! of the earlier manifest's other entries (say, from a run with another
//! `--only`) are still complete and stay listed.
//!
//! Entries are matched to the plan by typed role
//! ([`OutputRole`](crate::OutputRole), what the manifest calls a role): a
//! planned file is done when an entry's role or one of its aliases names
//! the same output as the file's role. An open-ended output is known by its
//! name (its `field` may move between answers, and an alias has none).

use crate::assets::{Asset, ContractOrder};
use crate::folder::Folder;
use crate::manifest::{FileEntry, Manifest};
use crate::verify::{self, FileCheck};

/// The plan, split by what an earlier run left.
#[derive(Debug, Default)]
pub(crate) struct Rerun {
    /// Entries of the earlier manifest whose files still verify: kept as they are.
    pub kept: Vec<FileEntry>,
    /// Files to fetch.
    pub to_fetch: Vec<Asset>,
}

/// Splits the plan into files an earlier run already completed (they verify
/// against its manifest) and files to fetch. With `force`, or no earlier
/// run, everything is to fetch. Opens and hashes files: call it on a
/// blocking thread.
pub(crate) fn split(
    folder: &Folder,
    previous: Option<&Manifest>,
    planned: Vec<Asset>,
    force: bool,
) -> Rerun {
    let Some(previous) = previous.filter(|_| !force) else {
        return Rerun {
            kept: Vec::new(),
            to_fetch: planned,
        };
    };
    let mut rerun = Rerun::default();
    for asset in planned {
        let done = previous
            .files
            .iter()
            .find(|entry| entry.roles().any(|r| r.same_output(&asset.role)))
            .filter(|entry| verify::check(folder, entry) == FileCheck::Ok);
        match done {
            Some(entry) if !rerun.kept.contains(entry) => rerun.kept.push(entry.clone()),
            Some(_) => {}
            None => rerun.to_fetch.push(asset),
        }
    }
    rerun
}

/// Entries of the earlier manifest that name neither a file nor a role of
/// `files` (what this run kept and fetched) and whose files still verify:
/// they stay listed. Opens and hashes files: call it on a blocking thread.
pub(crate) fn still_complete(
    folder: &Folder,
    previous: Option<&Manifest>,
    files: &[FileEntry],
) -> Vec<FileEntry> {
    let Some(previous) = previous else {
        return Vec::new();
    };
    previous
        .files
        .iter()
        .filter(|old| {
            !files
                .iter()
                .any(|f| f.path == old.path || f.role.same_output(&old.role))
        })
        .filter(|old| verify::check(folder, old) == FileCheck::Ok)
        .cloned()
        .collect()
}

/// Puts entries, old and new, in the contract's order.
pub(crate) fn in_contract_order(files: &mut [FileEntry], order: &ContractOrder) {
    files.sort_by_key(|entry| order.place(&entry.role));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assets;
    use sha2::{Digest, Sha256};

    /// An entry of an earlier manifest for `path`, holding `content`.
    fn entry(wire: serde_json::Value, content: &[u8]) -> FileEntry {
        let mut wire = wire;
        wire["size"] = content.len().into();
        wire["sha256"] = format!("{:x}", Sha256::digest(content)).into();
        wire["media_type"] = "application/octet-stream".into();
        wire["source"] = "https://c/x".into();
        serde_json::from_value(wire).expect("an entry")
    }

    #[test]
    fn an_earlier_manifest_with_roles_this_version_does_not_know_still_reruns() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, content) in [
            ("model.glb", &b"m"[..]),
            ("splat_v2.ply", b"s"),
            ("multiview_4_top.png", b"v"),
        ] {
            std::fs::write(dir.path().join(name), content).expect("write");
        }
        let folder = Folder::open(dir.path()).expect("open");
        let model = entry(
            serde_json::json!({"role": "model", "path": "model.glb", "aliases": ["pbr_model", "gaussian_0"]}),
            b"m",
        );
        let splat = entry(
            serde_json::json!({"role": "splat_v2", "field": "splat_url", "path": "splat_v2.ply", "aliases": ["splat_preview"]}),
            b"s",
        );
        let top = entry(
            serde_json::json!({"role": "multiview", "view": "top", "index": 4, "path": "multiview_4_top.png"}),
            b"v",
        );
        let previous = Manifest {
            schema_version: 1,
            task_id: "t".into(),
            task_type: None,
            create_time: None,
            fetched_at: "2026-11-28T17:34:05Z".into(),
            generator: "fetch-assets 9.0.0".into(),
            files: vec![splat.clone(), model.clone(), top.clone()],
        };
        let output = serde_json::json!({
            "pbr_model_url": "https://c/m.glb",
            "thumbnail_url": "https://c/t.png",
        });
        let output = output.as_object().expect("an object");
        let planned = assets::plan(output);

        let rerun = split(&folder, Some(&previous), planned, false);
        assert_eq!(
            rerun.kept.iter().collect::<Vec<_>>(),
            [&model],
            "pbr_model is the model's alias"
        );
        let to_fetch: Vec<String> = rerun.to_fetch.iter().map(|a| a.role.stem()).collect();
        assert_eq!(to_fetch, ["thumbnail"]);

        let thumbnail = entry(
            serde_json::json!({"role": "thumbnail", "field": "thumbnail_url", "path": "thumbnail.png"}),
            b"t",
        );
        let mut files = vec![thumbnail.clone(), model.clone()];
        files.extend(still_complete(&folder, Some(&previous), &files));
        in_contract_order(&mut files, &ContractOrder::of(output));
        assert_eq!(files, [model, thumbnail, splat, top]);
    }

    #[test]
    fn an_open_output_is_kept_by_its_name_wherever_its_field_moved() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, content) in [("model.glb", &b"m"[..]), ("splat.ply", b"s")] {
            std::fs::write(dir.path().join(name), content).expect("write");
        }
        let folder = Folder::open(dir.path()).expect("open");
        let model = entry(
            serde_json::json!({"role": "model", "path": "model.glb", "aliases": ["thumbnail"]}),
            b"m",
        );
        let splat = entry(
            serde_json::json!({"role": "splat", "field": "splat_url", "path": "splat.ply"}),
            b"s",
        );
        let previous = Manifest {
            schema_version: 1,
            task_id: "t".into(),
            task_type: None,
            create_time: None,
            fetched_at: "2026-11-28T17:34:05Z".into(),
            generator: "fetch-assets 0.1.0".into(),
            files: vec![model.clone(), splat.clone()],
        };
        // The thumbnail was the model's alias, and the splat's key moved.
        let output = serde_json::json!({
            "thumbnail_url": "https://c/t.png",
            "splat": "https://c/s.ply",
        });
        let planned = assets::plan(output.as_object().expect("an object"));
        let fields: Vec<Option<&str>> = planned.iter().map(|a| a.role.field()).collect();
        assert_eq!(fields, [Some("splat"), Some("thumbnail_url")]);

        let rerun = split(&folder, Some(&previous), planned, false);
        assert_eq!(rerun.kept, [splat, model]);
        assert!(rerun.to_fetch.is_empty(), "{:?}", rerun.to_fetch);
    }
}
