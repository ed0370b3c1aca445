//! A crash during the commit: the process killed (`SIGKILL`) after each
//! step of a many-file commit in turn, over an earlier complete run of other
//! bytes. Every time, either `verify` passes or there is no manifest, and
//! the next run (the same command, no `--force`) exits 0 with the new files,
//! verified, without fetching any of them again.
//!
//! The crash comes from the commit itself (`FETCH_ASSETS_TEST_CRASH_AT_STEP`
//! kills the process after that many steps), so every step is tried and no
//! run depends on timing.

use crate::common;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;

use common::{V2_ALL_OUTPUTS, fetch_into, listing, sha256sum_accepts, verify, verify_passes};
use fake_tripo::{FakeTripo, FileFault, Scenario};

const CRASH_AT_STEP: &str = "FETCH_ASSETS_TEST_CRASH_AT_STEP";

/// The ten files, each served as a second version (other bytes, a new
/// `ETag`) from the first request on.
fn new_versions() -> Scenario {
    V2_ALL_OUTPUTS
        .iter()
        .fold(Scenario::new("v2_all_outputs"), |scenario, (_, served)| {
            scenario.fault(
                served,
                FileFault {
                    new_version_after: Some(0),
                    ..FileFault::default()
                },
            )
        })
}

fn assert_new_versions(fake: &FakeTripo, dir: &Path, step: u32) {
    for (on_disk, served) in V2_ALL_OUTPUTS {
        let got = std::fs::read(dir.join(on_disk)).unwrap_or_else(|e| panic!("{on_disk}: {e}"));
        assert!(
            got == fake.file_version_bytes(served, 1),
            "step {step}: {on_disk} is the new version"
        );
    }
}

#[test]
fn a_crash_at_any_step_of_a_commit_leaves_a_verifying_folder_or_none_and_the_next_run_repairs_it() {
    let old = FakeTripo::start(Scenario::new("v2_all_outputs"));
    let new = FakeTripo::start(new_versions());
    let mut crashed_at = Vec::new();
    for step in 1.. {
        assert!(step < 40, "the commit never ran through");
        let root = tempfile::tempdir().expect("tempdir");
        let out = root.path().join("out");
        fetch_into(&old, &old.v2_base(), &out).assert().success();

        let run = fetch_into(&new, &new.v2_base(), &out)
            .arg("--force")
            .env(CRASH_AT_STEP, step.to_string())
            .output()
            .expect("the run starts");
        if run.status.success() {
            // Past the last step: the commit ran through.
            assert_new_versions(&new, &out, step);
            assert!(verify_passes(&out));
            assert!(!out.join(".fetch-assets").exists());
            break;
        }
        assert_eq!(
            run.status.signal(),
            Some(9),
            "step {step}: killed by the crash point: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        crashed_at.push(step);
        let has_manifest = out.join("manifest.json").exists();
        assert!(
            !has_manifest || verify_passes(&out),
            "step {step}: a manifest stands whose files do not verify: {:?}",
            listing(&out)
        );
        if !has_manifest {
            let checked = verify(&out).output().expect("verify runs");
            let said = String::from_utf8_lossy(&checked.stderr);
            assert_eq!(checked.status.code(), Some(1), "step {step}: {said}");
            assert!(
                said.contains("did not finish")
                    && said.contains("run the same fetch-assets command again"),
                "step {step}: verify says what to do: {said}"
            );
        }

        let asked_before = new.stats().cdn_requests.len();
        fetch_into(&new, &new.v2_base(), &out).assert().success();
        assert!(verify_passes(&out), "step {step}: repaired");
        assert_eq!(
            new.stats().cdn_requests.len(),
            asked_before,
            "step {step}: every file was in place or staged: nothing fetched again"
        );
        assert!(sha256sum_accepts(&out), "step {step}");
        assert_new_versions(&new, &out, step);
        let mut expected: Vec<String> = V2_ALL_OUTPUTS.iter().map(|(n, _)| n.to_string()).collect();
        expected.extend(["SHA256SUMS".to_owned(), "manifest.json".to_owned()]);
        expected.sort();
        assert_eq!(listing(&out), expected, "step {step}: nothing else is left");
    }
    // A step for commit.json, two for moving the manifest and sums aside,
    // ten renames, the sync, the sums, the manifest.
    assert_eq!(crashed_at.len(), 16, "every step was tried: {crashed_at:?}");
}
