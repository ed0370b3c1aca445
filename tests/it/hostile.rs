//! A server can send anything, and disks fill up: every threat here is
//! reproduced against the real binary, and each run must end with nothing
//! lost (no lie on disk, no file outside OUT_DIR) and nothing leaked (not
//! the key, not a signed link's query).
//!
//! What the fake cannot send (a redirect, a body longer than announced, an
//! API that echoes the key) comes from [`RawServer`], a bare HTTP/1.1
//! server whose answers the test writes byte by byte.

use crate::common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{fetch_assets, fetch_into, listing, manifest, manifest_paths, sha256sum_accepts};
use fake_tripo::{ApiFault, FakeTripo, FileFault, LinkStyle, Scenario};
use serde_json::{Value, json};

const TASK: &str = "7f3c2a10-0b1e-4d2a-9c3f-5e6d7a8b9c0d";

/// A successful v3 task whose output is `output`.
fn task_with(output: Value) -> Value {
    let mut answer = json!({"code": 0, "data": {
        "task_id": TASK, "type": "text_to_model", "status": "success",
        "input": {}, "progress": 100, "create_time": 1_795_887_300,
    }});
    answer["data"]["output"] = output;
    answer
}

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Every path under `root`, relative to it, sorted.
fn tree(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("readable") {
            let path = entry.expect("entry").path();
            out.push(
                path.strip_prefix(root)
                    .expect("under root")
                    .display()
                    .to_string(),
            );
            if path.is_dir() && !path.is_symlink() {
                walk(root, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

fn temp_files(dir: &Path) -> Vec<String> {
    listing(dir)
        .into_iter()
        .filter(|n| n.starts_with(".fetch-assets-"))
        .collect()
}

// ---------------------------------------------------------------------------
// A raw HTTP server, for answers no well-behaved server gives.

/// What a [`RawServer`] handler gets: the request's number (from 0), its head
/// as text, and the connection to write the answer on.
type Handler = dyn Fn(usize, &str, &mut TcpStream) + Send + Sync;

/// A bare HTTP/1.1 server on a loopback address of its own. It records every
/// request head and closes each connection after one answer.
struct RawServer {
    addr: SocketAddr,
    heads: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl RawServer {
    fn start(
        host: &str,
        handler: impl Fn(usize, &str, &mut TcpStream) + Send + Sync + 'static,
    ) -> RawServer {
        let listener = TcpListener::bind((host, 0)).expect("bind a loopback address");
        let addr = listener.local_addr().expect("addr");
        let heads = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let (seen, stopped) = (heads.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut stream) = stream else { continue };
                let (seen, handler) = (seen.clone(), handler.clone());
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                    let Some(head) = read_head(&mut stream) else {
                        return;
                    };
                    let n = {
                        let mut seen = seen.lock().expect("heads");
                        seen.push(head.clone());
                        seen.len() - 1
                    };
                    handler(n, &head, &mut stream);
                    let _ = stream.flush();
                    let _ = stream.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        RawServer { addr, heads, stop }
    }

    fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn heads(&self) -> Vec<String> {
        self.heads.lock().expect("heads").clone()
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).ok()? == 0 || head.len() > 64 * 1024 {
            return None;
        }
        head.push(byte[0]);
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

fn has_header(head: &str, name: &str) -> bool {
    head.lines().any(|line| {
        line.split_once(':')
            .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case(name))
    })
}

/// Writes an answer: status line, the headers given plus `Connection: close`,
/// and `body` (nothing else is added: no `Content-Length` unless given).
fn answer(stream: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &[u8]) {
    let mut out = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    let _ = stream.write_all(out.as_bytes());
    let _ = stream.write_all(body);
}

/// A chunked body: `data` in chunks of at most 16 KiB, then the last chunk.
fn chunked(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in data.chunks(16 * 1024) {
        out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

// ---------------------------------------------------------------------------
// Links

#[test]
fn links_that_are_not_http_exit_5_naming_the_output_and_the_scheme() {
    for (link, says) in [
        ("file:///etc/passwd", "'file'"),
        ("ftp://127.0.0.2/model.glb", "'ftp'"),
        ("data:application/octet-stream;base64,AAAA", "'data'"),
        ("javascript:alert(1)", "'javascript'"),
        ("//127.0.0.2/model.glb", "not a valid URL"),
        ("https://", "not a valid URL"),
    ] {
        let fake = FakeTripo::start(Scenario::from_json(task_with(json!({
            "rendered_image_url": "cdn:preview.webp",
            "pbr_model_url": link,
        }))));
        let out = tempfile::tempdir().expect("tempdir");
        let run = fetch_assets(&fake, &fake.v3_base())
            .arg(TASK)
            .arg(out.path())
            .output()
            .expect("runs");
        let stderr = stderr_of(&run);
        assert_eq!(run.status.code(), Some(5), "{link}: {stderr}");
        assert!(
            stderr.contains("pbr_model") && stderr.contains(says),
            "{link}: the message names the output and the scheme: {stderr}"
        );
        assert!(listing(out.path()).is_empty(), "{link}: nothing written");
        assert!(
            fake.stats().cdn_requests.is_empty(),
            "{link}: no file fetched before the plan was checked"
        );
    }
}

#[test]
fn hostile_paths_and_headers_only_ever_land_as_role_dot_ext_in_out_dir() {
    let cdn = RawServer::start("127.0.0.2", |_, _, stream| {
        answer(
            stream,
            "200 OK",
            &[
                ("Content-Length", "100".into()),
                ("Content-Type", "../../../evil".into()),
                (
                    "Content-Disposition",
                    "attachment; filename=\"../../../evil.sh\"".into(),
                ),
            ],
            &[7u8; 100],
        );
    });
    let base = cdn.base();
    let fake = FakeTripo::start(Scenario::from_json(task_with(json!({
        "model_url": format!("{base}/x/..%2F..%2Fevil?Signature=s"),
        "base_model_url": format!("{base}/a/model.glb%2F..%2F..%2Fx"),
        "pbr_model_url": format!("{base}/a/%2e%2e/%2e%2e/%2e%2e/etc/passwd"),
        "generated_image_url": format!("{base}/a/..\\..\\evil.PNG"),
        "rendered_image_url": format!("{base}/a/evil.p%6eg"),
        "depth_image_url": format!("{base}/a/x.abcdefghi"),
        "uv_render_url": format!("{base}/a/x.tar.gz"),
        "rendered_video_url": format!("{base}/a/x.%2F%2E%2E"),
        "front_view_url": format!("{base}/a/x.glb/"),
        "left_view_url": format!("{base}/a/.hidden"),
        "back_view_url": format!("{base}/a/x.%00"),
        "right_view_url": format!("{base}/a/x.%E2%80%AE"),
    }))));
    let root = tempfile::tempdir().expect("tempdir");
    let (out, cwd) = (root.path().join("out"), root.path().join("cwd"));
    std::fs::create_dir(&cwd).expect("cwd");
    // The same 100 bytes behind every link: names are what is tested here,
    // not content (which would rightly refuse them as a PNG).
    fetch_assets(&fake, &fake.v3_base())
        .current_dir(&cwd)
        .arg("--no-content-check")
        .arg(TASK)
        .arg(&out)
        .assert()
        .success();

    let files = [
        "model.bin",
        "base_model.bin",
        "pbr_model.bin",
        "generated_image.png",
        "rendered_image.bin",
        "depth_image.bin",
        "uv_render.gz",
        "rendered_video.bin",
        "multiview_0_front.bin",
        "multiview_1_left.hidden",
        "multiview_2_back.bin",
        "multiview_3_right.bin",
    ];
    assert_eq!(manifest_paths(&out), files);
    let mut expected: Vec<String> = ["cwd", "out", "out/SHA256SUMS", "out/manifest.json"]
        .into_iter()
        .map(str::to_owned)
        .chain(files.iter().map(|f| format!("out/{f}")))
        .collect();
    expected.sort();
    assert_eq!(
        tree(root.path()),
        expected,
        "every file is <role>.<ext> directly in OUT_DIR; nothing anywhere else"
    );
    assert!(sha256sum_accepts(&out));
    for file in manifest(&out)["files"].as_array().expect("files") {
        let expected = match file["path"].as_str() {
            Some("generated_image.png") => "image/png",
            _ => "application/octet-stream",
        };
        assert_eq!(
            file["media_type"], expected,
            "a hostile Content-Type is not recorded: {file}"
        );
    }
    assert!(
        cdn.heads()
            .iter()
            .all(|h| !has_header(h, "authorization") && !h.contains(fake.api_key())),
        "the CDN never sees the key"
    );
}

#[test]
fn a_redirect_to_a_link_that_is_not_http_is_refused() {
    for location in [
        "file:///etc/passwd",
        "ftp://127.0.0.2/model.glb",
        "data:,hello",
    ] {
        let cdn = RawServer::start("127.0.0.2", move |_, _, stream| {
            answer(
                stream,
                "302 Found",
                &[
                    ("Location", location.into()),
                    ("Content-Length", "0".into()),
                ],
                b"",
            );
        });
        let fake = FakeTripo::start(Scenario::from_json(task_with(json!({
            "model_url": format!("{}/a/model.glb?Signature=secret-sig", cdn.base()),
        }))));
        let out = tempfile::tempdir().expect("tempdir");
        let run = fetch_assets(&fake, &fake.v3_base())
            .arg(TASK)
            .arg(out.path())
            .output()
            .expect("runs");
        let stderr = stderr_of(&run);
        assert_eq!(run.status.code(), Some(5), "{location}: {stderr}");
        assert!(stderr.contains("model"), "{location}: {stderr}");
        assert!(!stderr.contains("secret-sig"), "{location}: {stderr}");
        assert!(listing(out.path()).is_empty(), "{location}: nothing kept");
    }
}

#[test]
fn an_api_redirect_to_another_host_does_not_take_the_key_along() {
    let elsewhere = RawServer::start("127.0.0.2", |_, _, stream| {
        let body = r#"{"code":1002,"message":"Authentication failed"}"#;
        answer(
            stream,
            "401 Unauthorized",
            &[
                ("Content-Type", "application/json".into()),
                ("Content-Length", body.len().to_string()),
            ],
            body.as_bytes(),
        );
    });
    let to = format!("{}/v3/tasks/{TASK}", elsewhere.base());
    let api = RawServer::start("127.0.0.1", move |_, _, stream| {
        answer(
            stream,
            "307 Temporary Redirect",
            &[("Location", to.clone()), ("Content-Length", "0".into())],
            b"",
        );
    });
    let fake = FakeTripo::start(Scenario::from_json(task_with(json!({}))));
    let run = fetch_assets(&fake, &api.base())
        .arg(TASK)
        .arg(tempfile::tempdir().expect("tempdir").path())
        .output()
        .expect("runs");
    assert_eq!(run.status.code(), Some(3), "{}", stderr_of(&run));
    assert!(
        api.heads().iter().all(|h| has_header(h, "authorization")),
        "the API host itself gets the key"
    );
    let heads = elsewhere.heads();
    assert!(!heads.is_empty(), "the redirect was followed");
    assert!(
        heads
            .iter()
            .all(|h| !has_header(h, "authorization") && !h.contains(fake.api_key())),
        "another host never gets the key: {heads:?}"
    );
}

// ---------------------------------------------------------------------------
// Bodies

#[test]
fn a_body_shorter_than_announced_is_retried_then_not_kept() {
    let cdn = RawServer::start("127.0.0.2", |n, _, stream| {
        if n == 0 {
            // 10 000 announced, 4 000 sent, then the connection closes.
            answer(
                stream,
                "200 OK",
                &[("Content-Length", "10000".into())],
                &[1u8; 4000],
            );
        } else {
            // Every resume is "granted", and then nothing comes.
            answer(
                stream,
                "206 Partial Content",
                &[
                    ("Content-Length", "6000".into()),
                    ("Content-Range", "bytes 4000-9999/10000".into()),
                ],
                b"",
            );
        }
    });
    let fake = FakeTripo::start(Scenario::from_json(task_with(json!({
        "model_url": format!("{}/a/model.glb?Signature=s", cdn.base()),
    }))));
    let out = tempfile::tempdir().expect("tempdir");
    let run = fetch_assets(&fake, &fake.v3_base())
        .arg(TASK)
        .arg(out.path())
        .output()
        .expect("runs");
    let stderr = stderr_of(&run);
    assert_eq!(run.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("could not download model") && stderr.contains("5 requests"),
        "{stderr}"
    );
    assert!(cdn.heads().len() > 2, "it was retried");
    assert_eq!(
        listing(out.path()),
        [".fetch-assets"],
        "nothing under a final name; what arrived is kept for the next run"
    );
}

#[test]
fn a_body_longer_than_announced_is_refused_and_not_kept() {
    // The resume's Content-Range says 6 000 bytes are left; the chunked body
    // (no Content-Length to stop at) goes on to 12 000.
    let cdn = RawServer::start("127.0.0.2", |n, _, stream| {
        if n == 0 {
            // A strong ETag: the resume is of the same version, so only
            // the length is at fault.
            answer(
                stream,
                "200 OK",
                &[
                    ("Content-Length", "10000".into()),
                    ("ETag", "\"v1\"".into()),
                ],
                &[1u8; 4000],
            );
        } else {
            answer(
                stream,
                "206 Partial Content",
                &[
                    ("Transfer-Encoding", "chunked".into()),
                    ("Content-Range", "bytes 4000-9999/10000".into()),
                    ("ETag", "\"v1\"".into()),
                ],
                &chunked(&[2u8; 12_000]),
            );
        }
    });
    let fake = FakeTripo::start(Scenario::from_json(task_with(json!({
        "model_url": format!("{}/a/model.glb?Signature=s", cdn.base()),
    }))));
    let out = tempfile::tempdir().expect("tempdir");
    let run = fetch_assets(&fake, &fake.v3_base())
        .arg(TASK)
        .arg(out.path())
        .output()
        .expect("runs");
    let stderr = stderr_of(&run);
    assert_eq!(run.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("more than the 10000 bytes it announced"),
        "{stderr}"
    );
    assert!(listing(out.path()).is_empty(), "nothing kept");
}

#[test]
fn a_task_answer_of_several_mebibytes_exits_3_at_once_with_a_clear_message() {
    let mut answer_json = task_with(json!({"model_url": "cdn:model.glb"}));
    answer_json["data"]["padding"] = Value::from("x".repeat(6 << 20));
    let fake = FakeTripo::start(Scenario::from_json(answer_json));
    let out = tempfile::tempdir().expect("tempdir");
    let run = fetch_assets(&fake, &fake.v3_base())
        .arg(TASK)
        .arg(out.path())
        .output()
        .expect("runs");
    let stderr = stderr_of(&run);
    assert_eq!(run.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("larger than 4 MiB") && stderr.contains("--api-base"),
        "{stderr}"
    );
    assert_eq!(fake.stats().task_requests, 1, "not retried");
    assert!(listing(out.path()).is_empty());

    // The same without a Content-Length to refuse it by: the cap counts bytes.
    let api = RawServer::start("127.0.0.1", |_, _, stream| {
        let mut body = br#"{"code":0,"data":{"status":"success","pad":""#.to_vec();
        body.extend(std::iter::repeat_n(b'x', 6 << 20));
        body.extend_from_slice(br#""}}"#);
        answer(
            stream,
            "200 OK",
            &[
                ("Content-Type", "application/json".into()),
                ("Transfer-Encoding", "chunked".into()),
            ],
            &chunked(&body),
        );
    });
    let run = fetch_assets(&fake, &api.base())
        .arg(TASK)
        .arg(out.path())
        .output()
        .expect("runs");
    let stderr = stderr_of(&run);
    assert_eq!(run.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("larger than 4 MiB"), "{stderr}");
    assert_eq!(api.heads().len(), 1, "not retried");
}

fn api_body(status: u16, body: &str) -> ApiFault {
    ApiFault::Status {
        status,
        body: body.to_owned(),
        retry_after: None,
    }
}

#[test]
fn malformed_json_is_retried_then_ends_with_a_clear_message() {
    // Once, then a good answer: retried, and the run succeeds. A JSON bomb
    // (nested far past any parser's depth) is malformed too, not a crash.
    let fake = FakeTripo::start(
        Scenario::new("v3_model_pbr_same")
            .api_fault(api_body(200, r#"{"code":0,"data":{"task_id":"#))
            .api_fault(api_body(200, &"[".repeat(200_000))),
    );
    let out = tempfile::tempdir().expect("tempdir");
    fetch_into(&fake, &fake.v3_base(), out.path())
        .assert()
        .success();
    assert!(sha256sum_accepts(out.path()));

    // Always: exit 3, saying what came and how often it was tried.
    let mut scenario = Scenario::new("v3_model_pbr_same");
    for _ in 0..10 {
        scenario = scenario.api_fault(api_body(200, r#"{"code":0,"data":{"task_id":"#));
    }
    let fake = FakeTripo::start(scenario);
    let out = tempfile::tempdir().expect("tempdir");
    let run = fetch_into(&fake, &fake.v3_base(), out.path())
        .output()
        .expect("runs");
    let stderr = stderr_of(&run);
    assert_eq!(run.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("not JSON") && stderr.contains("5 tries") && stderr.contains("trace id"),
        "{stderr}"
    );
    assert_eq!(fake.stats().task_requests, 5);
    assert!(listing(out.path()).is_empty());
}

#[test]
fn hostile_fields_in_the_task_answer_do_not_crash_the_run() {
    // Multi-byte characters where a date's offset would be, numbers where
    // text belongs and the other way round, absurd sizes.
    let fake = FakeTripo::start(Scenario::from_json(json!({"code": 0, "data": {
        "task_id": TASK, "type": ["not", "text"], "status": "success",
        "created_at": "2026-01-20T06:01:59é00:00",
        "progress": 1e300, "queuing_num": -1e300, "running_left_time": "1e999",
        "error_code": {"x": 1}, "error_msg": 42,
        "output": {"model_url": "cdn:model.glb", "pbr_model_url": 7, "base_model": null,
                   "generate_multiview_image": "cdn:model.glb"},
    }})));
    let out = tempfile::tempdir().expect("tempdir");
    let run = fetch_assets(&fake, &fake.v3_base())
        .arg(TASK)
        .arg(out.path())
        .output()
        .expect("runs");
    let stderr = stderr_of(&run);
    // A panic ends the run with exit 1 and the panic hook's "internal error".
    assert!(!stderr.contains("internal error"), "{stderr}");
    // A number under a `*_url` key is refused like a bad link, naming it...
    assert_eq!(run.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("field pbr_model_url"), "{stderr}");
    // ...unless --only leaves it out.
    let run = fetch_assets(&fake, &fake.v3_base())
        .args(["--only", "model", TASK])
        .arg(out.path())
        .output()
        .expect("runs");
    let stderr = stderr_of(&run);
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    assert_eq!(manifest_paths(out.path()), ["model.glb"]);
}

// ---------------------------------------------------------------------------
// Disk

#[test]
fn an_out_dir_that_is_a_file_is_a_usage_error_naming_it_and_leaves_it_alone() {
    let fake = FakeTripo::start(Scenario::new("v3_model_pbr_same"));
    let root = tempfile::tempdir().expect("tempdir");
    let file = root.path().join("not-a-folder");
    std::fs::write(&file, b"mine").expect("write");
    for out in [file.clone(), file.join("below")] {
        let run = fetch_into(&fake, &fake.v3_base(), &out)
            .output()
            .expect("runs");
        let stderr = stderr_of(&run);
        assert_eq!(run.status.code(), Some(2), "{}: {stderr}", out.display());
        assert!(
            stderr.contains(&out.display().to_string())
                && stderr.contains(&format!("{} is a file", file.display())),
            "names the path and the file in the way: {stderr}"
        );
        assert_eq!(std::fs::read(&file).expect("read"), b"mine");
    }
    assert_eq!(tree(root.path()), ["not-a-folder"]);
    assert_eq!(fake.stats().task_requests, 0, "stopped before asking");
}

/// A file system mounted for one test (as root), unmounted when dropped.
struct Mount(PathBuf);

impl Mount {
    /// Mounts a tmpfs with `options` on `at`, or says why not and gives `None`.
    fn tmpfs(at: &Path, options: &str) -> Option<Mount> {
        std::fs::create_dir_all(at).expect("mount point");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(at)
            .output();
        match mounted {
            Ok(output) if output.status.success() => Some(Mount(at.to_owned())),
            Ok(output) => {
                eprintln!(
                    "SKIPPED: cannot mount a tmpfs ({}) here: {}",
                    options,
                    String::from_utf8_lossy(&output.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("SKIPPED: no `mount` command here: {e}");
                None
            }
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[cfg(unix)]
fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

// Unix only: file modes.
#[cfg(unix)]
#[test]
fn an_unwritable_out_dir_exits_2_before_the_wait_naming_it_and_what_to_do() {
    let fake = FakeTripo::start(Scenario::new("v3_model_pbr_same"));
    let root = tempfile::tempdir().expect("tempdir");
    let out = root.path().join("ro");
    // Root writes through permissions: a read-only mount bites root too.
    let _mount = if running_as_root() {
        match Mount::tmpfs(&out, "ro,size=64k") {
            Some(mount) => Some(mount),
            None => return,
        }
    } else {
        std::fs::create_dir(&out).expect("mkdir");
        let mut perms = std::fs::metadata(&out).expect("meta").permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o555);
        std::fs::set_permissions(&out, perms).expect("chmod");
        None
    };
    for dir in [out.clone(), out.join("sub")] {
        let run = fetch_into(&fake, &fake.v3_base(), &dir)
            .output()
            .expect("runs");
        let stderr = stderr_of(&run);
        assert_eq!(run.status.code(), Some(2), "{}: {stderr}", dir.display());
        assert!(
            stderr.contains(&format!("{} is not writable", dir.display()))
                && stderr.contains(&out.display().to_string())
                && (stderr.contains("Read-only") || stderr.contains("ermission denied"))
                && stderr.contains("choose another folder or fix its permissions"),
            "names the path, the cause and what to do: {stderr}"
        );
    }
    assert!(listing(&out).is_empty());
    // Said before the wait: not one request, to the API or the CDN.
    let stats = fake.stats();
    assert!(stats.api_requests.is_empty(), "{:?}", stats.api_requests);
    assert!(stats.cdn_requests.is_empty());
}

#[test]
fn a_full_disk_exits_5_naming_the_path_and_the_cause_and_keeps_the_earlier_run() {
    let root = tempfile::tempdir().expect("tempdir");
    let out = root.path().join("small");
    let Some(_mount) = Mount::tmpfs(&out, "size=1m") else {
        return;
    };
    // An earlier complete run of a small output...
    let small = FakeTripo::start(
        Scenario::from_json(task_with(json!({"model_url": "cdn:model.glb"})))
            .file_size("model.glb", 100_000),
    );
    fetch_assets(&small, &small.v3_base())
        .arg(TASK)
        .arg(&out)
        .assert()
        .success();
    let before = std::fs::read(out.join("manifest.json")).expect("manifest");
    // ...then the same task again, now with a file larger than the disk:
    // announced (refused before a byte is written, issue 12 item 2), and
    // unannounced (refused by the disk).
    let large = FakeTripo::start(
        Scenario::from_json(task_with(json!({"model_url": "cdn:model.glb"})))
            .file_size("model.glb", 3_000_000),
    );
    let chunked_cdn = RawServer::start("127.0.0.2", |_, _, stream| {
        answer(
            stream,
            "200 OK",
            &[("Transfer-Encoding", "chunked".into())],
            &chunked(&[5u8; 3_000_000]),
        );
    });
    let unannounced = FakeTripo::start(Scenario::from_json(task_with(json!({
        "model_url": format!("{}/a/model.glb?Signature=s", chunked_cdn.base()),
    }))));
    for (fake, cause) in [
        (&large, "not enough free space"),
        (&unannounced, "No space left"),
    ] {
        let run = fetch_assets(fake, &fake.v3_base())
            .args(["--force", TASK])
            .arg(&out)
            .output()
            .expect("runs");
        let stderr = stderr_of(&run);
        assert_eq!(run.status.code(), Some(5), "{stderr}");
        assert!(
            stderr.contains(&out.display().to_string()) && stderr.contains(cause),
            "names the path and the cause ({cause}): {stderr}"
        );
        assert!(temp_files(&out).is_empty(), "temp files removed");
        assert_eq!(
            listing(&out),
            ["SHA256SUMS", "manifest.json", "model.glb"],
            "the earlier run is intact"
        );
        assert_eq!(std::fs::read(out.join("manifest.json")).expect("m"), before);
        assert!(sha256sum_accepts(&out));
    }
}

#[test]
fn a_file_size_limit_fails_the_write_instead_of_killing_the_run() {
    let fake = FakeTripo::start(
        Scenario::from_json(task_with(json!({"model_url": "cdn:model.glb"})))
            .file_size("model.glb", 2_000_000),
    );
    let out = tempfile::tempdir().expect("tempdir");
    let run = Command::new("sh")
        .args(["-c", "ulimit -f 200 && exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_fetch-assets"))
        .arg(TASK)
        .arg(out.path())
        .env("TRIPO_API_KEY", fake.api_key())
        .env("TRIPO_API_BASE", fake.v3_base())
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("all_proxy")
        .env_remove("ALL_PROXY")
        .output()
        .expect("sh runs");
    let stderr = stderr_of(&run);
    assert_eq!(
        run.status.code(),
        Some(5),
        "exit 5, not killed by SIGXFSZ ({:?}): {stderr}",
        run.status
    );
    assert!(
        stderr.contains(&out.path().display().to_string()) && stderr.contains("too large"),
        "names the path and the cause: {stderr}"
    );
    assert!(listing(out.path()).is_empty(), "temp file removed");
}

// ---------------------------------------------------------------------------
// Secrets

/// Every way the fake signs links.
const SIGNING_STYLES: [LinkStyle; 4] = [
    LinkStyle::CloudFrontCanned,
    LinkStyle::CloudFrontPolicy,
    LinkStyle::AuthKey,
    LinkStyle::Opaque,
];

/// What the key or a signed link's query would show as, in any printing.
fn secrets_of(fake: &FakeTripo) -> [&str; 7] {
    [
        fake.api_key(),
        "Signature",
        "Expires=",
        "Policy=",
        "auth_key=",
        "token=",
        "Key-Pair-Id",
    ]
}

/// Runs the binary with `-v`, the key given on the command line, and checks
/// that neither the key nor any signed query shows in what it prints.
fn assert_no_secret_shows(fake: &FakeTripo, args: &[&str], out: &Path) -> std::process::Output {
    let run = fetch_assets(fake, &fake.v3_base())
        .env_remove("TRIPO_API_KEY")
        .args(["-v", "--api-key", fake.api_key()])
        .args(args)
        .arg(out)
        .output()
        .expect("runs");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        stderr_of(&run)
    );
    for secret in secrets_of(fake) {
        assert!(
            !printed.contains(secret),
            "`{secret}` shows in the output of {args:?}:\n{printed}"
        );
    }
    if let Ok(text) = std::fs::read_to_string(out.join("manifest.json")) {
        assert!(
            !text.contains(fake.api_key()) && !text.contains('?'),
            "{text}"
        );
    }
    run
}

#[test]
fn neither_the_key_nor_a_signed_query_shows_in_verbose_output_or_errors() {
    for style in SIGNING_STYLES {
        // Success with a refusal, a retry and a refresh along the way.
        let fake = FakeTripo::start(
            Scenario::new("v3_model_pbr_same")
                .link_style(style)
                .phase("running", Duration::from_millis(200))
                .api_fault(ApiFault::html_502())
                .fault("model.glb", FileFault::refuse(1))
                .fault("rendered_image.webp", FileFault::status(503, Some("0"))),
        );
        let out = tempfile::tempdir().expect("tempdir");
        let run = assert_no_secret_shows(&fake, &["--json", fake.task_id()], out.path());
        assert!(run.status.success(), "{style:?}: {}", stderr_of(&run));
        assert!(
            stderr_of(&run).contains("links refreshed"),
            "the verbose run did go through a refresh"
        );

        // Failures whose messages name the link.
        let fake = FakeTripo::start(
            Scenario::new("v3_model_pbr_same")
                .link_style(style)
                .fault("model.glb", FileFault::status(404, None)),
        );
        let out = tempfile::tempdir().expect("tempdir");
        let run = assert_no_secret_shows(&fake, &[fake.task_id()], out.path());
        assert_eq!(run.status.code(), Some(5), "{}", stderr_of(&run));
        assert!(
            stderr_of(&run).contains(&format!("{}/tcli_", fake.cdn_base())),
            "the link is named, without its query: {}",
            stderr_of(&run)
        );
        let fake = FakeTripo::start(Scenario::new("v3_model_pbr_same").link_style(style).fault(
            "model.glb",
            FileFault {
                refuse_always: true,
                ..FileFault::default()
            },
        ));
        let out = tempfile::tempdir().expect("tempdir");
        let run = assert_no_secret_shows(&fake, &[fake.task_id()], out.path());
        assert_eq!(run.status.code(), Some(5), "{}", stderr_of(&run));
    }
    // API failures: a wrong key, a task that is not there.
    let fake = FakeTripo::start(Scenario::new("v3_model_pbr_same").api_key("tsk_other"));
    let out = tempfile::tempdir().expect("tempdir");
    let run = assert_no_secret_shows(&fake, &["some-task"], out.path());
    assert_eq!(run.status.code(), Some(3));
}

#[test]
fn an_api_that_echoes_the_key_back_does_not_get_it_printed() {
    // A misconfigured gateway that puts the request's headers in its error.
    let api = RawServer::start("127.0.0.1", |_, head, stream| {
        let echoed: String = head
            .lines()
            .filter(|l| l.to_ascii_lowercase().starts_with("authorization"))
            .collect();
        let body = json!({"code": 1004, "message": format!("bad request: {echoed}"),
                          "suggestion": format!("check {echoed}")})
        .to_string();
        answer(
            stream,
            "400 Bad Request",
            &[
                ("Content-Type", "application/json".into()),
                ("Content-Length", body.len().to_string()),
                ("X-Tripo-Trace-ID", "trace-echo".into()),
            ],
            body.as_bytes(),
        );
    });
    let fake = FakeTripo::start(Scenario::new("v3_model_pbr_same"));
    let run = fetch_assets(&fake, &api.base())
        .arg("-v")
        .arg(fake.task_id())
        .arg(tempfile::tempdir().expect("tempdir").path())
        .output()
        .expect("runs");
    let stderr = stderr_of(&run);
    assert_eq!(run.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("bad request"), "{stderr}");
    assert!(!stderr.contains(fake.api_key()), "{stderr}");
}

#[test]
fn the_library_client_does_not_show_the_key_in_debug_output() {
    let key = "tsk_debug_secret_0123456789";
    let client = fetch_assets::Client::builder()
        .api_key(key)
        .api_base("http://127.0.0.1:9")
        .build()
        .expect("client");
    let shown = format!("{client:?} {client:#?}");
    assert!(!shown.contains(key), "{shown}");
    assert!(!shown.contains("debug_secret"), "{shown}");
    let builder = fetch_assets::Client::builder().api_key(key);
    assert!(!format!("{builder:?}").contains(key));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_shows_no_signed_query_in_a_task_its_events_or_its_errors() {
    let quick = fetch_assets::RetryPolicy {
        base_delay: Duration::from_millis(10),
        ..fetch_assets::RetryPolicy::default()
    };
    for style in SIGNING_STYLES {
        let fake = FakeTripo::start(
            Scenario::new("v3_model_pbr_same")
                .link_style(style)
                .fault("model.glb", FileFault::refuse(1))
                .fault("rendered_image.webp", FileFault::status(503, Some("0"))),
        );
        let client = common::client(&fake, &fake.v3_base(), quick);
        let mut printed: Vec<String> = Vec::new();

        // The task, as `Client::task` (and a webhook delivery) hands it out.
        let task = client.task(fake.task_id()).await.expect("the task");
        let links = Value::Object(task.output.clone()).to_string();
        assert!(links.contains('?'), "the links are signed: {links}");
        printed.extend([format!("{task:?}"), format!("{task:#?}")]);

        // Every event of a run with a refusal, a refresh and retries.
        let events = Arc::new(Mutex::new(Vec::new()));
        let seen = events.clone();
        let options =
            fetch_assets::FetchOptions::default().observer(move |e: &fetch_assets::Event| {
                seen.lock().expect("events").push(format!("{e:?}\n{e:#?}"));
            });
        let out = tempfile::tempdir().expect("tempdir");
        let manifest = client
            .fetch(fake.task_id(), out.path(), &options)
            .await
            .expect("the run recovers");
        printed.push(format!("{manifest:?}"));
        let events = events.lock().expect("events").clone();
        for kind in [
            "Planned",
            "Request",
            "LinkExpired",
            "LinksRefreshed",
            "TransferRetry",
        ] {
            assert!(
                events.iter().any(|e| e.starts_with(kind)),
                "{style:?}: no {kind}"
            );
        }
        printed.extend(events);

        // Errors that name the link, and one after the CDN refused for good.
        for fault in [
            FileFault::status(404, None),
            FileFault {
                refuse_always: true,
                ..FileFault::default()
            },
        ] {
            let fake = FakeTripo::start(
                Scenario::new("v3_model_pbr_same")
                    .link_style(style)
                    .fault("model.glb", fault),
            );
            let client = common::client(&fake, &fake.v3_base(), quick);
            let out = tempfile::tempdir().expect("tempdir");
            let error = client
                .fetch(fake.task_id(), out.path(), &Default::default())
                .await
                .expect_err("the file cannot be had");
            let mut chain = format!("{error}\n{error:?}\n{error:#?}");
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                chain.push_str(&format!("\n{cause}\n{cause:?}"));
                source = cause.source();
            }
            printed.push(chain);
        }
        assert!(
            printed
                .iter()
                .any(|p| p.contains(&format!("{}/tcli_", fake.cdn_base()))),
            "the links are shown, without their queries"
        );
        for text in &printed {
            // No query at all: the library's output names no URL with one.
            for secret in secrets_of(&fake).into_iter().chain(["?"]) {
                assert!(!text.contains(secret), "{style:?}: `{secret}` in {text}");
            }
        }
    }
}

#[test]
fn tls_verification_is_never_turned_off() {
    // One public client retries with verification off after a certificate
    // error. A guard against that ever creeping in here.
    let mut folders = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    let mut files = Vec::new();
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                folders.push(path);
            } else {
                files.push(path);
            }
        }
    }
    assert!(files.len() > 10, "{files:?}");
    for path in files {
        let text = std::fs::read_to_string(&path).expect("readable");
        for forbidden in [
            "danger_accept_invalid_certs",
            "danger_accept_invalid_hostnames",
            "tls_danger",
            "dangerous()",
        ] {
            assert!(
                !text.contains(forbidden),
                "{} turns TLS verification off ({forbidden})",
                path.display()
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Round two (issue 12): who chooses where requests go, and what reaches the
// terminal.

/// The binary with `http_proxy` pointing at `proxy`: every plain-http
/// request for a host not in `no_proxy` goes there instead (absolute-form
/// request lines), so a test can serve "remote" hosts, and see any request
/// that would have left the machine, without any leaving it.
fn through_proxy(
    fake: &FakeTripo,
    base: &str,
    proxy: &RawServer,
    no_proxy: &str,
) -> assert_cmd::Command {
    let mut command = fetch_assets(fake, base);
    for name in ["http_proxy", "HTTP_PROXY"] {
        command.env(name, proxy.base());
    }
    for name in ["no_proxy", "NO_PROXY"] {
        command.env(name, no_proxy);
    }
    command
}

/// The request line of each head a server saw.
fn request_lines(server: &RawServer) -> Vec<String> {
    server
        .heads()
        .iter()
        .map(|h| h.lines().next().unwrap_or_default().to_owned())
        .collect()
}

fn json_answer(stream: &mut TcpStream, status: &str, body: &Value) {
    let body = body.to_string();
    answer(
        stream,
        status,
        &[
            ("Content-Type", "application/json".into()),
            ("Content-Length", body.len().to_string()),
        ],
        body.as_bytes(),
    );
}

#[test]
fn an_answer_for_another_task_is_refused_and_refreshes_ask_for_the_task_asked_for() {
    // The answer names another task (a path, even): exit 3, and no request
    // ever goes anywhere but the task asked for.
    let api = RawServer::start("127.0.0.1", |_, _, stream| {
        json_answer(
            stream,
            "200 OK",
            &task_with(json!({"model_url": "http://127.0.0.2:9/a/model.glb"})).tap(|answer| {
                answer["data"]["task_id"] = json!("../../../collect/x");
            }),
        );
    });
    let fake = FakeTripo::start(Scenario::new("v3_model_pbr_same"));
    let out = tempfile::tempdir().expect("tempdir");
    let run = fetch_assets(&fake, &api.base())
        .arg(TASK)
        .arg(out.path())
        .output()
        .expect("runs");
    let stderr = stderr_of(&run);
    assert_eq!(run.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("not for task"), "{stderr}");
    assert_eq!(
        request_lines(&api),
        [format!("GET /v3/tasks/{TASK} HTTP/1.1")]
    );
    assert!(listing(out.path()).is_empty());

    // An answer with no id at all: its links are used, and the refresh a
    // refused link needs asks for the task asked for, not `…/tasks/`.
    let cdn = RawServer::start("127.0.0.2", |n, _, stream| {
        if n == 0 {
            answer(
                stream,
                "403 Forbidden",
                &[("Content-Length", "0".into())],
                b"",
            );
        } else {
            answer(
                stream,
                "200 OK",
                &[("Content-Length", "5".into())],
                b"hello",
            );
        }
    });
    let link = format!("{}/a/model.glb?Signature=s", cdn.base());
    let api = RawServer::start("127.0.0.1", move |_, _, stream| {
        let mut body = task_with(json!({ "model_url": link }));
        body["data"]
            .as_object_mut()
            .expect("task")
            .remove("task_id");
        json_answer(stream, "200 OK", &body);
    });
    // "hello" is no GLB: what is tested is the task asked for, not content.
    let run = fetch_assets(&fake, &api.base())
        .arg("--no-content-check")
        .arg(TASK)
        .arg(out.path())
        .output()
        .expect("runs");
    assert_eq!(run.status.code(), Some(0), "{}", stderr_of(&run));
    assert_eq!(
        request_lines(&api),
        vec![format!("GET /v3/tasks/{TASK} HTTP/1.1"); 2],
        "the first request, and the refresh"
    );
    assert_eq!(
        std::fs::read(out.path().join("model.glb")).expect("file"),
        b"hello"
    );
}

/// `value.tap(f)`: `f` applied to a value, in an expression.
trait Tap: Sized {
    fn tap(mut self, f: impl FnOnce(&mut Self)) -> Self {
        f(&mut self);
        self
    }
}
impl Tap for Value {}

#[test]
fn durations_too_long_to_count_mean_no_deadline_not_a_panic() {
    let fake = FakeTripo::start(Scenario::new("v3_model_pbr_same"));
    for args in [
        ["--timeout", "1e20"],
        ["--timeout", "1e19"],
        ["--timeout", "1e18"],
        ["--stall-timeout", "1e20"],
        ["--stall-timeout", "1e19"],
    ] {
        let out = tempfile::tempdir().expect("tempdir");
        let run = fetch_into(&fake, &fake.v3_base(), out.path())
            .args(args)
            .output()
            .expect("runs");
        let stderr = stderr_of(&run);
        assert!(!stderr.contains("internal error"), "{args:?}: {stderr}");
        assert_eq!(run.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(sha256sum_accepts(out.path()), "{args:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_takes_duration_max_as_no_deadline() {
    let fake = FakeTripo::start(Scenario::new("v3_model_pbr_same"));
    let client = common::client(&fake, &fake.v3_base(), fetch_assets::RetryPolicy::default());
    let out = tempfile::tempdir().expect("tempdir");
    let options = fetch_assets::FetchOptions::default()
        .timeout(Duration::MAX)
        .stall_timeout(Duration::MAX);
    let manifest = client
        .fetch(fake.task_id(), out.path(), &options)
        .await
        .expect("a fetch with no deadline");
    assert_eq!(manifest.files.len(), 2);
}

/// What a hostile server would like a terminal to do: clear the screen, set
/// the window title, write the clipboard (OSC 52), and forge a log line.
const ESCAPES: &str =
    "\u{1b}[2J\u{1b}]0;pwned\u{7}\u{1b}]52;c;ZXZpbA==\u{7}\nfetch-assets: done\u{9b}31m";

fn assert_no_raw_escapes(what: &str, text: &str) {
    for raw in ['\u{1b}', '\u{7}', '\u{9b}'] {
        assert!(
            !text.contains(raw),
            "{what}: a raw {raw:?} reached the terminal: {text:?}"
        );
    }
    assert!(
        !text.lines().any(|l| l.starts_with("fetch-assets: done")),
        "{what}: a forged line: {text:?}"
    );
}

#[test]
fn terminal_escapes_from_the_server_are_shown_escaped_never_raw() {
    // An API error: message, suggestion and request id.
    let api = RawServer::start("127.0.0.1", |_, _, stream| {
        json_answer(
            stream,
            "400 Bad Request",
            &json!({"code": 1004, "message": format!("bad {ESCAPES}"),
                    "suggestion": format!("try {ESCAPES}"), "request_id": format!("r{ESCAPES}")}),
        );
    });
    let fake = FakeTripo::start(Scenario::new("v3_model_pbr_same"));
    let run = fetch_assets(&fake, &api.base())
        .args(["-v", TASK])
        .arg(tempfile::tempdir().expect("tempdir").path())
        .output()
        .expect("runs");
    let stderr = stderr_of(&run);
    assert_eq!(run.status.code(), Some(3), "{stderr}");
    assert_no_raw_escapes("an API error", &stderr);
    assert!(
        stderr.contains("\\u{1b}[2J") && stderr.contains("try "),
        "{stderr}"
    );

    // A task that fails with such a message, after statuses made of them.
    let fake = FakeTripo::start(
        Scenario::from_json(json!({"code": 0, "data": {
            "task_id": TASK, "status": "failed", "output": {},
            "error_code": 1001, "error_msg": format!("boom {ESCAPES}"),
        }}))
        .phase(&format!("thinking{ESCAPES}"), Duration::from_millis(1500)),
    );
    let run = fetch_assets(&fake, &fake.v3_base())
        .args(["-v", TASK])
        .arg(tempfile::tempdir().expect("tempdir").path())
        .output()
        .expect("runs");
    let stderr = stderr_of(&run);
    assert_eq!(run.status.code(), Some(6), "{stderr}");
    assert_no_raw_escapes("a failed task", &stderr);
    assert!(
        stderr.contains("thinking\\u{1b}"),
        "the status is shown, escaped: {stderr}"
    );
    assert!(stderr.contains("boom \\u{1b}"), "{stderr}");
}

#[test]
fn a_redirect_to_another_host_carries_no_referer() {
    let file = RawServer::start("127.0.0.1", |_, _, stream| {
        answer(
            stream,
            "200 OK",
            &[("Content-Length", "5".into())],
            b"hello",
        );
    });
    let to = format!("{}/elsewhere/model.glb", file.base());
    let cdn = RawServer::start("127.0.0.2", move |_, _, stream| {
        answer(
            stream,
            "302 Found",
            &[("Location", to.clone()), ("Content-Length", "0".into())],
            b"",
        );
    });
    let fake = FakeTripo::start(Scenario::from_json(task_with(json!({
        "model_url": format!("{}/a/model.glb?Signature=secret-sig", cdn.base()),
    }))));
    let out = tempfile::tempdir().expect("tempdir");
    // "hello" is no GLB: what is tested is the redirect, not content.
    fetch_assets(&fake, &fake.v3_base())
        .arg("--no-content-check")
        .arg(TASK)
        .arg(out.path())
        .assert()
        .success();
    assert_eq!(
        std::fs::read(out.path().join("model.glb")).expect("file"),
        b"hello"
    );
    let heads = file.heads();
    assert_eq!(heads.len(), 1, "{heads:?}");
    assert!(
        !has_header(&heads[0], "referer") && !heads[0].contains("secret-sig"),
        "the signed link does not travel to the redirect's host: {}",
        heads[0]
    );
}

#[test]
fn a_plain_http_api_elsewhere_gets_one_warning_and_a_local_one_none() {
    // "Elsewhere" is a name only the proxy serves.
    let proxy = RawServer::start("127.0.0.1", |_, _, stream| {
        json_answer(
            stream,
            "401 Unauthorized",
            &json!({"code": 1002, "message": "Authentication failed"}),
        );
    });
    let fake = FakeTripo::start(Scenario::new("v3_model_pbr_same"));
    let run = through_proxy(&fake, "http://tripo-gateway.test", &proxy, "")
        .arg(TASK)
        .arg(tempfile::tempdir().expect("tempdir").path())
        .output()
        .expect("runs");
    let stderr = stderr_of(&run);
    assert_eq!(run.status.code(), Some(3), "{stderr}");
    assert_eq!(
        stderr.matches("clear text").count(),
        1,
        "one warning: {stderr}"
    );
    assert_eq!(
        request_lines(&proxy),
        [format!(
            "GET http://tripo-gateway.test/v3/tasks/{TASK} HTTP/1.1"
        )]
    );

    let run = fetch_into(
        &fake,
        &fake.v3_base(),
        tempfile::tempdir().expect("tempdir").path(),
    )
    .output()
    .expect("runs");
    assert!(run.status.success());
    assert!(
        !stderr_of(&run).contains("clear text"),
        "{}",
        stderr_of(&run)
    );
}

/// Links a cloud machine must never fetch: its metadata service hands out
/// the machine's own credentials.
const FORBIDDEN_LINKS: [&str; 6] = [
    "http://169.254.169.254/latest/meta-data/iam/model.glb",
    "http://169.254.10.20/model.glb",
    "http://[fe80::1]/model.glb",
    "http://[fd00:ec2::254]/latest/model.glb",
    "http://100.100.100.200/latest/model.glb",
    "http://metadata.google.internal/computeMetadata/v1/model.glb",
];

#[test]
fn output_links_to_metadata_and_link_local_addresses_are_refused_unfetched() {
    // Anything that did try to reach them would reach this proxy instead.
    let proxy = RawServer::start("127.0.0.1", |_, _, stream| {
        answer(
            stream,
            "200 OK",
            &[("Content-Length", "5".into())],
            b"creds",
        );
    });
    for link in FORBIDDEN_LINKS {
        let fake = FakeTripo::start(Scenario::from_json(task_with(json!({
            "rendered_image_url": "cdn:preview.webp",
            "model_url": link,
        }))));
        let out = tempfile::tempdir().expect("tempdir");
        let run = through_proxy(&fake, &fake.v3_base(), &proxy, "127.0.0.1,127.0.0.2")
            .arg(TASK)
            .arg(out.path())
            .output()
            .expect("runs");
        let stderr = stderr_of(&run);
        assert_eq!(run.status.code(), Some(5), "{link}: {stderr}");
        assert!(
            stderr.contains("model")
                && (stderr.contains("metadata") || stderr.contains("link-local")),
            "{link}: says which output and why: {stderr}"
        );
        assert!(listing(out.path()).is_empty(), "{link}");
        assert!(
            fake.stats().cdn_requests.is_empty(),
            "{link}: nothing fetched"
        );
    }
    assert!(
        proxy.heads().is_empty(),
        "no request: {:?}",
        request_lines(&proxy)
    );
}

#[test]
fn redirects_to_metadata_and_link_local_addresses_are_refused() {
    let proxy = RawServer::start("127.0.0.1", |_, _, stream| {
        answer(
            stream,
            "200 OK",
            &[("Content-Length", "5".into())],
            b"creds",
        );
    });
    for location in FORBIDDEN_LINKS {
        let cdn = RawServer::start("127.0.0.2", move |_, _, stream| {
            answer(
                stream,
                "302 Found",
                &[
                    ("Location", location.into()),
                    ("Content-Length", "0".into()),
                ],
                b"",
            );
        });
        let fake = FakeTripo::start(Scenario::from_json(task_with(json!({
            "model_url": format!("{}/a/model.glb?Signature=secret-sig", cdn.base()),
        }))));
        let out = tempfile::tempdir().expect("tempdir");
        let run = through_proxy(&fake, &fake.v3_base(), &proxy, "127.0.0.1,127.0.0.2")
            .arg(TASK)
            .arg(out.path())
            .output()
            .expect("runs");
        let stderr = stderr_of(&run);
        assert_eq!(run.status.code(), Some(5), "{location}: {stderr}");
        assert!(stderr.contains("redirect"), "{location}: {stderr}");
        assert!(!stderr.contains("secret-sig"), "{location}: {stderr}");
        assert!(listing(out.path()).is_empty(), "{location}");
    }
    assert!(
        proxy.heads().is_empty(),
        "no request: {:?}",
        request_lines(&proxy)
    );
}

#[test]
fn links_to_this_machine_are_refused_when_the_api_is_elsewhere() {
    // The API is a remote name (served by the proxy); its answer sends the
    // run to a service on this machine.
    let local = RawServer::start("127.0.0.2", |_, _, stream| {
        answer(
            stream,
            "200 OK",
            &[("Content-Length", "5".into())],
            b"local",
        );
    });
    for link in [
        format!("{}/admin/model.glb", local.base()),
        "http://localhost:9/model.glb".to_owned(),
        "http://[::1]:9/model.glb".to_owned(),
    ] {
        let answer_json = task_with(json!({ "model_url": link }));
        let proxy = RawServer::start("127.0.0.1", move |_, _, stream| {
            json_answer(stream, "200 OK", &answer_json);
        });
        let fake = FakeTripo::start(Scenario::new("v3_model_pbr_same"));
        let out = tempfile::tempdir().expect("tempdir");
        let run = through_proxy(&fake, "http://tripo-gateway.test", &proxy, "")
            .arg(TASK)
            .arg(out.path())
            .output()
            .expect("runs");
        let stderr = stderr_of(&run);
        assert_eq!(run.status.code(), Some(5), "{link}: {stderr}");
        assert!(stderr.contains("this machine"), "{link}: {stderr}");
        assert_eq!(request_lines(&proxy).len(), 1, "only the task: {link}");
    }
    assert!(
        local.heads().is_empty(),
        "the local service was not reached"
    );
}

// ---------------------------------------------------------------------------
// Unbounded bodies (issue 12, item 2).

#[test]
fn a_body_of_no_announced_length_stops_at_max_size() {
    // A chunked body that never ends: the run stops at --max-size, exit 5.
    let cdn = RawServer::start("127.0.0.2", |_, _, stream| {
        let out =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
        if stream.write_all(&out).is_err() {
            return;
        }
        let piece = chunked(&[9u8; 16 * 1024]);
        let piece = &piece[..piece.len() - 5]; // without the last chunk
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) && stream.write_all(piece).is_ok() {}
    });
    let fake = FakeTripo::start(Scenario::from_json(task_with(json!({
        "model_url": format!("{}/a/model.glb?Signature=s", cdn.base()),
    }))));
    let out = tempfile::tempdir().expect("tempdir");
    let run = fetch_assets(&fake, &fake.v3_base())
        .args(["--max-size", "1MiB", TASK])
        .arg(out.path())
        .output()
        .expect("runs");
    let stderr = stderr_of(&run);
    assert_eq!(run.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("model") && stderr.contains("--max-size") && stderr.contains("1048576"),
        "{stderr}"
    );
    assert!(listing(out.path()).is_empty(), "nothing kept");
    assert_eq!(cdn.heads().len(), 1, "not retried: the cap is final");

    // Under the cap, the same kind of body is fine.
    let small = RawServer::start("127.0.0.2", |_, _, stream| {
        answer(
            stream,
            "200 OK",
            &[("Transfer-Encoding", "chunked".into())],
            &chunked(&[3u8; 200_000]),
        );
    });
    let fake = FakeTripo::start(Scenario::from_json(task_with(json!({
        "model_url": format!("{}/a/model.bin?Signature=s", small.base()),
    }))));
    fetch_assets(&fake, &fake.v3_base())
        .args(["--max-size", "1MiB", TASK])
        .arg(out.path())
        .assert()
        .success();
    assert_eq!(
        std::fs::metadata(out.path().join("model.bin"))
            .expect("m")
            .len(),
        200_000
    );

    let run = fetch_assets(&fake, &fake.v3_base())
        .args(["--max-size", "lots", TASK])
        .arg(out.path())
        .output()
        .expect("runs");
    assert_eq!(run.status.code(), Some(2), "{}", stderr_of(&run));
}

#[test]
fn a_trickle_under_1_kib_per_second_counts_as_stalled() {
    // 300 bytes a second: never a whole second without a byte, and never
    // done either (100 000 bytes would take five minutes).
    let fake = FakeTripo::start(
        Scenario::from_json(task_with(json!({"model_url": "cdn:model.glb"})))
            .file_size("model.glb", 100_000)
            .fault(
                "model.glb",
                FileFault {
                    throttle: Some(300),
                    ..FileFault::default()
                },
            ),
    );
    let out = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    let run = fetch_assets(&fake, &fake.v3_base())
        .timeout(Duration::from_secs(40))
        .args(["--stall-timeout", "1s", TASK])
        .arg(out.path())
        .output()
        .expect("runs");
    let stderr = stderr_of(&run);
    assert_eq!(
        run.status.code(),
        Some(5),
        "{:?}: {stderr}",
        started.elapsed()
    );
    assert!(stderr.contains("under 1 KiB/s"), "{stderr}");
    assert_eq!(
        listing(out.path()),
        [".fetch-assets"],
        "nothing under a final name"
    );
}

#[test]
fn a_cdn_that_hands_out_a_byte_between_refusals_is_given_up_on() {
    // One byte, a cut, a 403, one byte, ...: each byte is new, but it is no
    // progress worth another task request.
    let cdn = RawServer::start("127.0.0.2", |n, head, stream| {
        if n % 2 == 1 {
            answer(
                stream,
                "403 Forbidden",
                &[("Content-Length", "0".into())],
                b"",
            );
            return;
        }
        let from: u64 = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("range: bytes=")
                    .map(str::to_owned)
            })
            .and_then(|r| r.trim_end_matches('-').parse().ok())
            .unwrap_or(0);
        let total = 100_000u64;
        let (status, range) = if from == 0 {
            ("200 OK", None)
        } else {
            (
                "206 Partial Content",
                Some(format!("bytes {from}-{}/{total}", total - 1)),
            )
        };
        let mut headers = vec![("Content-Length", (total - from).to_string())];
        if let Some(range) = range {
            headers.push(("Content-Range", range));
        }
        answer(stream, status, &headers, b"x");
    });
    let fake = FakeTripo::start(Scenario::from_json(task_with(json!({
        "model_url": format!("{}/a/model.glb?Signature=s", cdn.base()),
    }))));
    let out = tempfile::tempdir().expect("tempdir");
    let run = fetch_assets(&fake, &fake.v3_base())
        .timeout(Duration::from_secs(40))
        .arg(TASK)
        .arg(out.path())
        .output()
        .expect("runs");
    let stderr = stderr_of(&run);
    assert_eq!(run.status.code(), Some(5), "{stderr}");
    let task_requests = fake.stats().task_requests;
    assert!(
        task_requests <= 7,
        "{task_requests} task requests for a few bytes: {stderr}"
    );
    assert_eq!(
        listing(out.path()),
        [".fetch-assets"],
        "nothing under a final name"
    );
}

#[test]
fn a_key_echoed_with_json_escapes_is_not_printed_either() {
    // The same echo, spelled the way JSON may spell it: `\u005f` for `_`,
    // every letter as `\u00xx`, `\/` for `/`. Parsing undoes the escapes,
    // and the key must not come out the other side.
    let api = RawServer::start("127.0.0.1", |_, head, stream| {
        let key = head
            .lines()
            .find_map(|l| l.strip_prefix("authorization: Bearer "))
            .unwrap_or_default()
            .to_owned();
        let underscore = key.replace('_', "\\u005f");
        let every: String = key
            .chars()
            .map(|c| format!("\\u{:04x}", c as u32))
            .collect();
        let body = format!(
            r#"{{"code":1004,"message":"bad key {underscore}","suggestion":"check {every}","request_id":"{every}"}}"#
        );
        answer(
            stream,
            "400 Bad Request",
            &[
                ("Content-Type", "application/json".into()),
                ("Content-Length", body.len().to_string()),
            ],
            body.as_bytes(),
        );
    });
    let fake = FakeTripo::start(Scenario::new("v3_model_pbr_same"));
    let run = fetch_assets(&fake, &api.base())
        .args(["-v", TASK])
        .arg(tempfile::tempdir().expect("tempdir").path())
        .output()
        .expect("runs");
    let stderr = stderr_of(&run);
    assert_eq!(run.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("bad key <the API key>"), "{stderr}");
    assert!(!stderr.contains(fake.api_key()), "{stderr}");
}
