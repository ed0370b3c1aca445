//! A hostile or surprising output folder (issue 12, round two): special
//! files under our names, a folder renamed while a run waits for it, files
//! that are not ours, file modes, and when a file may be called done. Each
//! runs the real binary against the fake.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{Background, fetch_into, listing, sha256sum_accepts, wait_for};
use fake_tripo::{FakeTripo, FileFault, Scenario};
use serde_json::json;

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn mkfifo(path: &Path) {
    let made = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(made.success(), "mkfifo {}", path.display());
}

/// `fetch-assets verify DIR`'s output.
fn verify(dir: &Path) -> std::process::Output {
    common::verify(dir).output().expect("verify runs")
}

/// A complete folder of the `v3_model_pbr_same` task.
fn complete_folder(fake: &FakeTripo) -> tempfile::TempDir {
    let out = tempfile::tempdir().expect("tempdir");
    fetch_into(fake, &fake.v3_base(), out.path())
        .assert()
        .success();
    out
}

fn is_regular_file(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_file())
}

#[test]
fn a_fifo_under_a_listed_name_neither_hangs_verify_nor_the_fetch() {
    let fake = FakeTripo::start(Scenario::new("v3_model_pbr_same"));
    let out = complete_folder(&fake);
    let model = out.path().join("model.glb");
    std::fs::remove_file(&model).expect("rm");
    mkfifo(&model);

    let run = verify(out.path());
    assert_eq!(run.status.code(), Some(1), "{}", stderr_of(&run));
    assert!(
        stdout_of(&run).contains("model.glb: FAILED (not a regular file)"),
        "{}",
        stdout_of(&run)
    );

    // The fetch replaces it with the real file, without waiting on it.
    fetch_into(&fake, &fake.v3_base(), out.path())
        .timeout(Duration::from_secs(20))
        .assert()
        .success();
    assert!(is_regular_file(&model));
    assert!(sha256sum_accepts(out.path()));
}

#[test]
fn a_symlink_under_a_listed_name_is_never_followed_out_of_the_folder() {
    let fake = FakeTripo::start(Scenario::new("v3_model_pbr_same"));
    let out = complete_folder(&fake);
    // Outside the folder, a file with exactly the listed content: following
    // the link would say "OK".
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let outside = elsewhere.path().join("outside.glb");
    let model = out.path().join("model.glb");
    std::fs::rename(&model, &outside).expect("move out");
    std::os::unix::fs::symlink(&outside, &model).expect("symlink");

    let run = verify(out.path());
    assert_eq!(run.status.code(), Some(1), "{}", stdout_of(&run));
    assert!(
        stdout_of(&run).contains("model.glb: FAILED (not a regular file)"),
        "{}",
        stdout_of(&run)
    );

    // The fetch puts the real file in place of the link; the file the link
    // pointed at is not touched.
    let before = std::fs::read(&outside).expect("outside");
    fetch_into(&fake, &fake.v3_base(), out.path())
        .assert()
        .success();
    assert!(is_regular_file(&model), "a file, not the link");
    assert_eq!(std::fs::read(&outside).expect("outside"), before);
    assert!(sha256sum_accepts(out.path()));
}

#[test]
fn a_manifest_that_is_a_device_a_fifo_or_huge_is_not_read() {
    let fake = FakeTripo::start(Scenario::new("v3_model_pbr_same"));
    let huge = tempfile::NamedTempFile::new().expect("temp");
    // Over the 64 MiB a manifest may be: sparse, so it costs no disk.
    huge.as_file()
        .set_len((64 << 20) + 1)
        .expect("a sparse file");
    type Plant = Box<dyn Fn(&Path)>;
    let plants: [(&str, Plant); 3] = [
        (
            "/dev/zero",
            Box::new(|m: &Path| std::os::unix::fs::symlink("/dev/zero", m).expect("symlink")),
        ),
        ("a FIFO", Box::new(|m: &Path| mkfifo(m))),
        (
            "over 64 MiB",
            Box::new(move |m: &Path| {
                std::fs::hard_link(huge.path(), m).expect("link");
            }),
        ),
    ];
    for (what, plant) in plants {
        let out = tempfile::tempdir().expect("tempdir");
        plant(&out.path().join("manifest.json"));

        let run = verify(out.path());
        let stderr = stderr_of(&run);
        assert_eq!(run.status.code(), Some(1), "{what}: {stderr}");
        assert!(
            stderr.contains("manifest.json")
                && (stderr.contains("not a regular file") || stderr.contains("larger than 64 MiB")),
            "{what}: says what is wrong: {stderr}"
        );

        let run = fetch_into(&fake, &fake.v3_base(), out.path())
            .timeout(Duration::from_secs(20))
            .output()
            .expect("runs");
        assert_eq!(run.status.code(), Some(2), "{what}: {}", stderr_of(&run));
        assert!(stderr_of(&run).contains("--force"), "{}", stderr_of(&run));
        assert_eq!(
            fake.stats().cdn_requests.len(),
            0,
            "{what}: nothing fetched"
        );
    }
}

#[test]
fn files_no_run_of_ours_wrote_are_not_replaced_without_force() {
    let fake = FakeTripo::start(Scenario::new("v3_model_pbr_same"));
    let out = tempfile::tempdir().expect("tempdir");
    std::fs::write(out.path().join("SHA256SUMS"), b"mine\n").expect("write");
    std::fs::write(out.path().join("model.glb"), b"my own model").expect("write");

    let run = fetch_into(&fake, &fake.v3_base(), out.path())
        .output()
        .expect("runs");
    let stderr = stderr_of(&run);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("model.glb") && stderr.contains("SHA256SUMS") && stderr.contains("--force"),
        "names the files and the way out: {stderr}"
    );
    assert_eq!(listing(out.path()), ["SHA256SUMS", "model.glb"]);
    assert_eq!(
        std::fs::read(out.path().join("model.glb")).expect("r"),
        b"my own model"
    );
    assert_eq!(
        std::fs::read(out.path().join("SHA256SUMS")).expect("r"),
        b"mine\n"
    );
    assert!(
        fake.stats().cdn_requests.is_empty(),
        "nothing fetched in vain"
    );

    fetch_into(&fake, &fake.v3_base(), out.path())
        .arg("--force")
        .assert()
        .success();
    assert!(sha256sum_accepts(out.path()));
}

#[test]
fn a_file_named_only_once_its_type_is_known_is_not_replaced_either() {
    // No extension in the link: the name (model.bin) comes from the answer's
    // Content-Type, so it is checked again before anything is put in place.
    let fake = FakeTripo::start(Scenario::from_json(json!({"code": 0, "data": {
        "task_id": "t-1", "status": "success", "output": {"model_url": "cdn:model"},
    }})));
    let out = tempfile::tempdir().expect("tempdir");
    std::fs::write(out.path().join("model.bin"), b"my own").expect("write");
    let run = fetch_into(&fake, &fake.v3_base(), out.path())
        .output()
        .expect("runs");
    let stderr = stderr_of(&run);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("model.bin"), "{stderr}");
    assert_eq!(
        listing(out.path()),
        [".fetch-assets", "model.bin"],
        "what arrived is kept aside, and nothing else is written"
    );
    assert_eq!(
        std::fs::read(out.path().join("model.bin")).expect("r"),
        b"my own"
    );
}

/// The binary run under `umask`.
fn fetch_under_umask(fake: &FakeTripo, umask: &str, out: &Path) {
    let command = common::command(fake, &fake.v3_base());
    let program = command.get_program().to_owned();
    let mut shell = Command::new("sh");
    shell
        .args(["-c", &format!("umask {umask} && exec \"$0\" \"$@\"")])
        .arg(program)
        .arg(fake.task_id())
        .arg(out);
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => shell.env(key, value),
            None => shell.env_remove(key),
        };
    }
    let run = shell.output().expect("sh runs");
    assert!(run.status.success(), "{}", stderr_of(&run));
}

#[test]
fn files_get_the_mode_the_umask_gives_not_owner_only() {
    let fake = FakeTripo::start(Scenario::new("v3_model_pbr_same"));
    for (umask, mode) in [("022", 0o644), ("027", 0o640), ("002", 0o664)] {
        let out = tempfile::tempdir().expect("tempdir");
        fetch_under_umask(&fake, umask, out.path());
        for name in listing(out.path()) {
            let got = std::fs::metadata(out.path().join(&name))
                .expect("meta")
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(got, mode, "umask {umask}: {name} is {got:o}");
        }
    }
}

#[test]
fn no_file_is_called_done_before_it_is_in_place() {
    // model.glb arrives at once; the image keeps failing until the run
    // gives up. model.glb was never put in place, so it was never "done".
    let fake = FakeTripo::start(Scenario::new("v3_model_pbr_same").fault(
        "rendered_image.webp",
        FileFault {
            status_first: vec![(503, Some("1".into())); 10],
            ..FileFault::default()
        },
    ));
    let out = tempfile::tempdir().expect("tempdir");
    let run = fetch_into(&fake, &fake.v3_base(), out.path())
        .arg("-v")
        .output()
        .expect("runs");
    let stderr = stderr_of(&run);
    assert_eq!(run.status.code(), Some(5), "{stderr}");
    assert!(
        fake.stats()
            .cdn_requests
            .iter()
            .any(|r| r.file == "model.glb" && r.status == 200),
        "model.glb did arrive"
    );
    assert!(
        !stderr.contains(": done"),
        "nothing is called done: {stderr}"
    );
    assert_eq!(listing(out.path()), [".fetch-assets"], "nothing in place");

    // And on success, each file is called done once.
    let fake = FakeTripo::start(Scenario::new("v3_model_pbr_same"));
    let run = fetch_into(&fake, &fake.v3_base(), out.path())
        .output()
        .expect("runs");
    let stderr = stderr_of(&run);
    assert!(run.status.success(), "{stderr}");
    assert_eq!(stderr.matches("model.glb: done").count(), 1, "{stderr}");
}

#[test]
fn a_folder_renamed_while_a_run_waits_for_it_gets_no_files_of_the_other() {
    // The first run holds the folder, slowly; the second waits for it. The
    // folder is renamed away and made anew under its name: each run must
    // fill exactly one folder, each folder verify on its own.
    let fake = FakeTripo::start(
        Scenario::new("v3_model_pbr_same")
            .file_size("model.glb", 3_000_000)
            .throttle(1_000_000),
    );
    let root = tempfile::tempdir().expect("tempdir");
    let out = root.path().join("out");
    let moved = root.path().join("moved");
    std::fs::create_dir(&out).expect("mkdir");
    let mut first = Background::start(&fake, &[fake.task_id()], &out);
    wait_for("the first run downloads", Duration::from_secs(20), || {
        !listing(&out).is_empty()
    });
    let mut second = Background::start(&fake, &[fake.task_id()], &out);
    wait_for("the second run waits", Duration::from_secs(20), || {
        second.stderr().contains("waiting for another")
    });
    std::fs::rename(&out, &moved).expect("rename");
    std::fs::create_dir(&out).expect("mkdir again");

    assert!(
        first.exit(Duration::from_secs(30)).success(),
        "{}",
        first.stderr()
    );
    assert!(
        second.exit(Duration::from_secs(30)).success(),
        "{}",
        second.stderr()
    );
    for dir in [&moved, &out] {
        assert_eq!(
            listing(dir),
            [
                "SHA256SUMS",
                "manifest.json",
                "model.glb",
                "rendered_image.webp"
            ],
            "{}",
            dir.display()
        );
        assert!(sha256sum_accepts(dir), "{}", dir.display());
    }
    common::assert_same_bytes(&fake, &out, &[("model.glb", "model.glb")]);
}

#[test]
fn a_file_or_symlink_named_like_the_staging_folder_is_not_ours() {
    let fake = FakeTripo::start(Scenario::new("v3_model_pbr_same"));
    let outside = tempfile::tempdir().expect("tempdir");
    for kind in ["file", "symlink"] {
        let out = tempfile::tempdir().expect("tempdir");
        let staging = out.path().join(".fetch-assets");
        match kind {
            "file" => std::fs::write(&staging, b"mine").expect("write"),
            _ => std::os::unix::fs::symlink(outside.path(), &staging).expect("symlink"),
        }
        let run = fetch_into(&fake, &fake.v3_base(), out.path())
            .output()
            .expect("runs");
        assert_eq!(run.status.code(), Some(2), "{kind}: {}", stderr_of(&run));
        assert!(stderr_of(&run).contains(".fetch-assets"), "{kind}");
        assert_eq!(listing(out.path()), [".fetch-assets"], "{kind}: untouched");
        assert!(
            std::fs::read_dir(outside.path())
                .expect("dir")
                .next()
                .is_none(),
            "{kind}: nothing written through the symlink"
        );

        // --force replaces it (the link itself, never what it points to).
        fetch_into(&fake, &fake.v3_base(), out.path())
            .arg("--force")
            .assert()
            .success();
        assert!(sha256sum_accepts(out.path()), "{kind}");
        assert!(!listing(out.path()).contains(&".fetch-assets".to_owned()));
    }
}
