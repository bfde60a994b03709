//! Model downloads against an imitation of the Hugging Face Hub on 127.0.0.1 (`imitation.rs`):
//! the protocol, the cache layout Python tools share, and every failure a network has. No test
//! here reaches beyond 127.0.0.1; each bounds its requests and its time.

#[path = "../common/mod.rs"]
mod common;
mod imitation;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use imitation::{Fault, ImitationHub, Repo, sha256_hex};

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
const WEIGHTS: &str = "model.safetensors";

/// A scratch cache pair and the binary's environment pointing at `hub`.
struct Scene {
    dir: tempfile::TempDir,
    endpoint: String,
}

impl Scene {
    fn new(hub: &ImitationHub) -> Self {
        Scene {
            dir: tempfile::tempdir().unwrap(),
            endpoint: hub.endpoint.clone(),
        }
    }

    fn hub_cache(&self) -> PathBuf {
        self.dir.path().join("hub")
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_npu-whisper"));
        for var in [
            "HF_TOKEN",
            "HUGGING_FACE_HUB_TOKEN",
            "HF_HUB_OFFLINE",
            "HF_HOME",
            "NPU_WHISPER_MODEL",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("HF_ENDPOINT", &self.endpoint)
            .env("HF_HUB_CACHE", self.hub_cache())
            .env("HF_TOKEN_PATH", self.dir.path().join("no-token"))
            .env("NPU_WHISPER_MODEL_DIR", self.dir.path().join("models"))
            .env("PIP_INDEX_URL", format!("{}/simple", self.endpoint))
            .env("HF_HUB_DOWNLOAD_TIMEOUT", "2")
            .env("HF_HUB_ETAG_TIMEOUT", "2");
        cmd
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = self.command();
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        run_bounded(cmd, Duration::from_secs(120))
    }

    fn repo_dir(&self, repo: &str) -> PathBuf {
        self.hub_cache()
            .join(format!("models--{}", repo.replace('/', "--")))
    }
}

/// Run a command, killing it if it takes longer than `limit`.
fn run_bounded(mut cmd: Command, limit: Duration) -> Output {
    use std::io::Read;
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() > limit {
            child.kill().unwrap();
            panic!("{cmd:?} ran longer than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = child.wait().unwrap();
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut stderr)
        .unwrap();
    Output {
        status,
        stdout,
        stderr,
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Exit code `code` and a last stderr line containing `needle`.
fn assert_fails(out: &Output, code: i32, needle: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "{err}");
    let last = err.lines().last().unwrap_or("");
    assert!(
        last.starts_with("npu-whisper: error: ") && last.contains(needle),
        "expected `{needle}` in the error line: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

/// The files of a model directory, by name.
fn files_of(dir: &Path, names: &[&str]) -> BTreeMap<String, Vec<u8>> {
    names
        .iter()
        .map(|n| (n.to_string(), std::fs::read(dir.join(n)).unwrap()))
        .collect()
}

/// The tiny random encoder (1.3 MB of weights, config.json) as a Hub repository.
fn tiny_repo() -> Repo {
    Repo {
        commit: COMMIT.into(),
        files: files_of(
            &common::fixture("models/tiny-random-hf"),
            &["config.json", WEIGHTS],
        ),
        ..Repo::default()
    }
}

fn weights_len() -> usize {
    tiny_repo().files[WEIGHTS].len()
}

fn cdn_gets(hub: &ImitationHub) -> Vec<imitation::Logged> {
    hub.log()
        .into_iter()
        .filter(|l| l.method == "GET" && l.path.starts_with("/cdn/"))
        .collect()
}

/// Nothing of `repo` in the cache but what a failed download may leave: no blob named by the
/// weights' sha256, no partial file, no snapshot.
fn assert_nothing_cached(scene: &Scene, repo: &str) {
    let dir = scene.repo_dir(repo);
    let sha = sha256_hex(&tiny_repo().files[WEIGHTS]);
    assert!(!dir.join("blobs").join(&sha).exists(), "blob left behind");
    assert!(
        !dir.join("blobs").join(format!("{sha}.incomplete")).exists(),
        "partial file left behind"
    );
    assert!(!dir.join("snapshots").join(COMMIT).join(WEIGHTS).exists());
}

/// The model fetched into the Hub cache works: the snapshot's files are relative links to
/// blobs, refs/main names the commit, and the encoder runs from it.
fn assert_fetched_and_usable(scene: &Scene, repo: &str) {
    let dir = scene.repo_dir(repo);
    assert_eq!(
        std::fs::read_to_string(dir.join("refs/main"))
            .unwrap()
            .trim(),
        COMMIT
    );
    let link = dir.join("snapshots").join(COMMIT).join(WEIGHTS);
    let target = std::fs::read_link(&link).unwrap();
    let sha = sha256_hex(&tiny_repo().files[WEIGHTS]);
    assert_eq!(target, PathBuf::from(format!("../../blobs/{sha}")));
    assert_eq!(std::fs::read(&link).unwrap(), tiny_repo().files[WEIGHTS]);
    let leftovers: Vec<_> = std::fs::read_dir(dir.join("blobs"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".incomplete"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let out = scene.run(
        &[
            "--offline",
            "encode",
            "--model",
            repo,
            common::fixture("audio/sine_440hz_2s.wav").to_str().unwrap(),
            "-o",
            scene.dir.path().join("e.npy").to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_model_is_fetched_into_the_hub_cache_layout_and_then_used_offline() {
    let hub = ImitationHub::start();
    hub.add_repo("org/tiny", tiny_repo());
    let scene = Scene::new(&hub);
    let out = scene.run(&["model", "fetch", "org/tiny"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_fetched_and_usable(&scene, "org/tiny");
    // The API once, a HEAD per file, the weights from the CDN once, config.json once.
    let log = hub.log();
    assert_eq!(
        log.iter().filter(|l| l.path.starts_with("/api/")).count(),
        1
    );
    assert_eq!(cdn_gets(&hub).len(), 1);
    assert!(log.len() <= 8, "{log:?}");
    // Cached: a second fetch and an encode make no request at all.
    hub.clear_log();
    let out = scene.run(&["model", "fetch", "org/tiny"], &[]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("cached"));
    assert!(hub.log().is_empty(), "{:?}", hub.log());
    // `model list` shows it; `model rm` removes it.
    let list = scene.run(&["model", "list"], &[]);
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(
        text.contains("org/tiny")
            && text.contains("hub")
            && text.contains(&COMMIT[..12])
            && text.contains("d_model 128, layers 2+0, 80 mels"),
        "{text}"
    );
    let rm = scene.run(&["model", "rm", "org/tiny"], &[]);
    assert!(rm.status.success(), "{}", stderr(&rm));
    assert!(!scene.repo_dir("org/tiny").exists());
    assert_fails(
        &scene.run(&["model", "rm", "org/tiny"], &[]),
        3,
        "not in the cache",
    );
}

#[test]
fn a_dropped_connection_is_resumed_with_a_range_request() {
    let hub = ImitationHub::start();
    hub.add_repo("org/tiny", tiny_repo());
    let half = weights_len() / 2;
    hub.fault(WEIGHTS, Fault::DropAfter(half));
    let scene = Scene::new(&hub);
    let out = scene.run(&["model", "fetch", "org/tiny"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let gets = cdn_gets(&hub);
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert_eq!(gets[0].range, None);
    assert_eq!(
        gets[1].range.as_deref(),
        Some(format!("bytes={half}-").as_str())
    );
    assert_fetched_and_usable(&scene, "org/tiny");
}

#[test]
fn wrong_bytes_are_refused_deleted_and_exit_3() {
    let hub = ImitationHub::start();
    hub.add_repo("org/tiny", tiny_repo());
    hub.fault(WEIGHTS, Fault::WrongBytes);
    let scene = Scene::new(&hub);
    let out = scene.run(&["model", "fetch", "org/tiny"], &[]);
    assert_fails(&out, 3, "sha256 mismatch");
    assert_nothing_cached(&scene, "org/tiny");
}

#[test]
fn more_bytes_than_announced_are_refused() {
    let hub = ImitationHub::start();
    hub.add_repo("org/tiny", tiny_repo());
    hub.fault(WEIGHTS, Fault::TooLong(4096));
    let scene = Scene::new(&hub);
    let out = scene.run(&["model", "fetch", "org/tiny"], &[]);
    assert_fails(&out, 3, "more than the announced");
    assert_nothing_cached(&scene, "org/tiny");
}

#[test]
fn a_private_repository_needs_hf_token_which_is_never_shown_or_sent_to_the_cdn() {
    let hub = ImitationHub::start();
    let secret = "hf_imitationSecret123";
    hub.add_repo(
        "org/private",
        Repo {
            token: Some(secret.into()),
            ..tiny_repo()
        },
    );
    let scene = Scene::new(&hub);
    assert_fails(
        &scene.run(&["model", "fetch", "org/private"], &[]),
        3,
        "needs HF_TOKEN",
    );
    let wrong = scene.run(
        &["model", "fetch", "org/private"],
        &[("HF_TOKEN", "hf_wrong")],
    );
    assert_fails(&wrong, 3, "refused HF_TOKEN");
    assert!(!stderr(&wrong).contains("hf_wrong"));
    hub.clear_log();
    let out = scene.run(
        &["-vv", "model", "fetch", "org/private"],
        &[("HF_TOKEN", secret)],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(!all.contains(secret), "the token appeared in the output");
    // The token went to the Hub's own URLs and never to the CDN (which refuses it).
    let log = hub.log();
    assert!(
        log.iter()
            .filter(|l| !l.path.starts_with("/cdn/"))
            .all(|l| l.authorized)
    );
    assert!(cdn_gets(&hub).iter().all(|l| !l.authorized));
    assert_fetched_and_usable(&scene, "org/private");
}

#[test]
fn a_gated_repository_says_to_accept_the_licence() {
    let hub = ImitationHub::start();
    hub.add_repo(
        "org/gated",
        Repo {
            token: Some("hf_granted".into()),
            gated: true,
            ..tiny_repo()
        },
    );
    let scene = Scene::new(&hub);
    assert_fails(
        &scene.run(&["model", "fetch", "org/gated"], &[]),
        3,
        "gated: accept the licence",
    );
    let out = scene.run(
        &["model", "fetch", "org/gated"],
        &[("HF_TOKEN", "hf_not_accepted")],
    );
    assert_fails(&out, 3, "gated: accept the licence on the model page");
}

#[test]
fn what_does_not_exist_is_named() {
    let hub = ImitationHub::start();
    hub.add_repo("org/tiny", tiny_repo());
    let scene = Scene::new(&hub);
    // Without a token the Hub does not say whether a private repository of that name exists.
    assert_fails(
        &scene.run(&["model", "fetch", "org/nosuch"], &[]),
        3,
        "none of that name",
    );
    let with_token = scene.run(&["model", "fetch", "org/nosuch"], &[("HF_TOKEN", "hf_x")]);
    assert_fails(&with_token, 3, "no such model/file");
    assert_fails(
        &scene.run(&["model", "fetch", "org/tiny@v9"], &[]),
        3,
        "no such revision `v9`",
    );
    // A repository without safetensors weights.
    let mut no_weights = tiny_repo();
    no_weights.files.remove(WEIGHTS);
    no_weights
        .files
        .insert("pytorch_model.bin".into(), vec![0; 16]);
    hub.add_repo("org/pickle", no_weights);
    assert_fails(
        &scene.run(&["model", "fetch", "org/pickle"], &[]),
        3,
        "npu-whisper reads safetensors only",
    );
}

#[test]
fn server_errors_are_retried_then_succeed() {
    let hub = ImitationHub::start();
    hub.add_repo("org/tiny", tiny_repo());
    hub.fail_api(2);
    let scene = Scene::new(&hub);
    let out = scene.run(&["model", "fetch", "org/tiny"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        hub.log()
            .iter()
            .filter(|l| l.path.starts_with("/api/"))
            .count(),
        3
    );
    assert_fetched_and_usable(&scene, "org/tiny");
    // Errors that never stop: a bounded number of attempts, exit 1 naming the endpoint.
    hub.fail_api(100);
    hub.clear_log();
    let out = scene.run(&["model", "fetch", "org/other"], &[]);
    assert_fails(&out, 1, &format!("cannot fetch from {}", hub.endpoint));
    assert_eq!(hub.log().len(), 4, "{:?}", hub.log());
}

#[test]
fn a_stalled_transfer_times_out_and_resumes() {
    let hub = ImitationHub::start();
    hub.add_repo("org/tiny", tiny_repo());
    let third = weights_len() / 3;
    hub.fault(WEIGHTS, Fault::StallAfter(third, Duration::from_secs(60)));
    let scene = Scene::new(&hub);
    let started = Instant::now();
    let out = scene.run(
        &["model", "fetch", "org/tiny"],
        &[("HF_HUB_DOWNLOAD_TIMEOUT", "1")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let gets = cdn_gets(&hub);
    assert_eq!(
        gets[1].range.as_deref(),
        Some(format!("bytes={third}-").as_str())
    );
    assert_fetched_and_usable(&scene, "org/tiny");

    // A server that never sends anything: a few attempts, then exit 1 naming it.
    let hub = ImitationHub::start();
    hub.add_repo("org/tiny", tiny_repo());
    hub.fault(WEIGHTS, Fault::AlwaysStallAfter(0, Duration::from_secs(60)));
    let scene = Scene::new(&hub);
    let started = Instant::now();
    let out = scene.run(
        &["model", "fetch", "org/tiny"],
        &[("HF_HUB_DOWNLOAD_TIMEOUT", "1")],
    );
    // The error names the origin that stalled: the CDN's.
    assert_fails(&out, 1, "timeout: per read (after 4 attempts)");
    assert!(stderr(&out).contains("cannot fetch from http://127.0.0.1:"));
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(cdn_gets(&hub).len(), 4);
}

#[test]
fn an_interrupted_command_resumes_its_partial_file_on_the_next_run() {
    let hub = ImitationHub::start();
    hub.add_repo("org/tiny", tiny_repo());
    let half = weights_len() / 2;
    hub.fault(WEIGHTS, Fault::StallAfter(half, Duration::from_secs(60)));
    let scene = Scene::new(&hub);
    let mut cmd = scene.command();
    cmd.args(["model", "fetch", "org/tiny"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let sha = sha256_hex(&tiny_repo().files[WEIGHTS]);
    let partial = scene
        .repo_dir("org/tiny")
        .join("blobs")
        .join(format!("{sha}.incomplete"));
    let started = Instant::now();
    while std::fs::metadata(&partial).map_or(0, |m| m.len()) < half as u64 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no partial file appeared"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL: no clean-up of any kind
    child.wait().unwrap();
    assert!(
        !scene
            .repo_dir("org/tiny")
            .join("snapshots")
            .join(COMMIT)
            .join(WEIGHTS)
            .exists()
    );
    hub.clear_log();
    let out = scene.run(&["model", "fetch", "org/tiny"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let gets = cdn_gets(&hub);
    assert_eq!(gets.len(), 1);
    assert_eq!(
        gets[0].range.as_deref(),
        Some(format!("bytes={half}-").as_str())
    );
    assert_fetched_and_usable(&scene, "org/tiny");
}

#[test]
fn two_processes_fetching_at_once_leave_one_good_copy() {
    let hub = ImitationHub::start();
    hub.add_repo("org/tiny", tiny_repo());
    // About two seconds a transfer, so the two overlap.
    hub.fault(WEIGHTS, Fault::Throttle(weights_len() / 2));
    let scene = Scene::new(&hub);
    let spawn = || {
        let mut cmd = scene.command();
        cmd.args(["model", "fetch", "org/tiny"]);
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd.spawn().unwrap()
    };
    let (a, b) = (spawn(), spawn());
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    assert_eq!(
        cdn_gets(&hub).len(),
        1,
        "the second process waited for the first's download"
    );
    let blobs: Vec<String> = std::fs::read_dir(scene.repo_dir("org/tiny").join("blobs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(blobs.len(), 2, "the weights and config.json: {blobs:?}");
    assert_fetched_and_usable(&scene, "org/tiny");
}

#[test]
fn redirects_are_bounded_and_no_network_names_the_endpoint() {
    let hub = ImitationHub::start();
    hub.add_repo("org/tiny", tiny_repo());
    hub.redirect_loop(true);
    let scene = Scene::new(&hub);
    assert_fails(
        &scene.run(&["model", "fetch", "org/tiny"], &[]),
        1,
        "more than 5 redirects",
    );
    assert!(hub.log().len() <= 8, "{}", hub.log().len());
    // A port nothing listens on.
    let out = scene.run(
        &["model", "fetch", "org/tiny"],
        &[("HF_ENDPOINT", "http://127.0.0.1:9")],
    );
    assert_fails(&out, 1, "cannot fetch from http://127.0.0.1:9");
}

#[test]
fn a_sharded_repository_is_fetched_and_loads() {
    use safetensors::SafeTensors;
    let bytes = tiny_repo().files[WEIGHTS].clone();
    let parsed = SafeTensors::deserialize(&bytes).unwrap();
    let mut names: Vec<String> = parsed.names().into_iter().map(String::from).collect();
    names.sort();
    let mut files = BTreeMap::new();
    let mut weight_map = BTreeMap::new();
    for (i, part) in names.chunks(names.len().div_ceil(2)).enumerate() {
        let file = format!("model-{:05}-of-00002.safetensors", i + 1);
        let views: Vec<_> = part
            .iter()
            .map(|n| (n.clone(), parsed.tensor(n).unwrap()))
            .collect();
        files.insert(file.clone(), safetensors::serialize(views, None).unwrap());
        for n in part {
            weight_map.insert(n.clone(), file.clone());
        }
    }
    files.insert(
        "model.safetensors.index.json".into(),
        serde_json::json!({"metadata": {}, "weight_map": weight_map})
            .to_string()
            .into_bytes(),
    );
    files.insert(
        "config.json".into(),
        tiny_repo().files["config.json"].clone(),
    );
    let hub = ImitationHub::start();
    hub.add_repo(
        "org/sharded",
        Repo {
            commit: COMMIT.into(),
            files,
            ..Repo::default()
        },
    );
    let scene = Scene::new(&hub);
    let out = scene.run(&["model", "fetch", "org/sharded"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let snapshot = scene.repo_dir("org/sharded").join("snapshots").join(COMMIT);
    for f in [
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "model.safetensors.index.json",
    ] {
        assert!(std::fs::read_link(snapshot.join(f)).is_ok(), "{f}");
    }
    let out = scene.run(
        &[
            "--offline",
            "encode",
            "--model",
            "org/sharded",
            common::fixture("audio/sine_440hz_2s.wav").to_str().unwrap(),
            "--json",
            "-o",
            scene.dir.path().join("s.npy").to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["model"]["name"], "org/sharded");
}

#[test]
fn a_cache_written_by_python_tools_is_used_as_it_is() {
    // The layout huggingface_hub writes: blobs named by ETag, relative snapshot links,
    // refs/main. No server is involved: HF_HUB_OFFLINE=1 and a closed endpoint.
    let scene = Scene {
        dir: tempfile::tempdir().unwrap(),
        endpoint: "http://127.0.0.1:9".into(),
    };
    let repo_dir = scene.repo_dir("openai/whisper-tiny");
    let snapshot = repo_dir.join("snapshots").join(COMMIT);
    std::fs::create_dir_all(repo_dir.join("blobs")).unwrap();
    std::fs::create_dir_all(&snapshot).unwrap();
    std::fs::create_dir_all(repo_dir.join("refs")).unwrap();
    std::fs::write(repo_dir.join("refs/main"), COMMIT).unwrap();
    for (name, bytes) in tiny_repo().files {
        let blob = sha256_hex(&bytes);
        std::fs::write(repo_dir.join("blobs").join(&blob), &bytes).unwrap();
        std::os::unix::fs::symlink(format!("../../blobs/{blob}"), snapshot.join(&name)).unwrap();
    }
    // `tiny` is the catalogue's name for openai/whisper-tiny.
    let out = scene.run(
        &[
            "encode",
            "--model",
            "tiny",
            common::fixture("audio/sine_440hz_2s.wav").to_str().unwrap(),
            "--json",
            "-o",
            scene.dir.path().join("t.npy").to_str().unwrap(),
        ],
        &[("HF_HUB_OFFLINE", "1")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["model"]["name"], "tiny");
    let list = scene.run(&["model", "list"], &[]);
    let text = String::from_utf8_lossy(&list.stdout);
    let row = text.lines().find(|l| l.starts_with("tiny ")).unwrap_or("");
    assert!(
        row.contains("hub openai/whisper-tiny") && row.contains("0123456789ab (main)"),
        "{text}"
    );
}

#[test]
fn the_pypi_route_is_taken_when_the_hub_cannot_be_reached_and_refuses_unpinned_wheels() {
    // The Hub endpoint is closed; the index (the imitation) lists a faster-whisper wheel whose
    // digest is not the one the catalogue pins: the fallback happens, the wheel is refused
    // before a byte of it is downloaded.
    let hub = ImitationHub::start();
    hub.add_wheel(
        "faster-whisper",
        "faster_whisper-1.2.1-py3-none-any.whl",
        vec![1, 2, 3],
        &"ab".repeat(32),
    );
    let scene = Scene::new(&hub);
    let out = scene.run(
        &["model", "fetch", "silero-vad"],
        &[("HF_ENDPOINT", "http://127.0.0.1:9")],
    );
    assert_fails(&out, 3, "the catalogue pins 79a66ad5");
    assert!(
        stderr(&out).contains("from http://127.0.0.1:"),
        "{}",
        stderr(&out)
    );
    assert!(hub.log().iter().all(|l| !l.path.starts_with("/files/")));
    // base: the Hub is unreachable, PyPI is the route; the index does not list the wheel.
    let out = scene.run(
        &["model", "fetch", "base"],
        &[("HF_ENDPOINT", "http://127.0.0.1:9")],
    );
    let err = stderr(&out);
    assert!(
        err.contains("the Hub cannot be reached") && err.contains("base comes from PyPI instead"),
        "{err}"
    );
    assert_fails(&out, 3, "no such project on the index");
}

#[test]
fn vad_on_an_empty_cache_fetches_silero_vad_through_pypi_first() {
    // `--vad` with nothing cached takes the catalogue's PyPI route for silero-vad on its own
    // (no `model fetch` first); the imitation index offers a wheel whose digest is not the
    // pinned one, so the fetch stops there, before any audio is read, in one line.
    let hub = ImitationHub::start();
    hub.add_wheel(
        "faster-whisper",
        "faster_whisper-1.2.1-py3-none-any.whl",
        vec![1, 2, 3],
        &"cd".repeat(32),
    );
    let scene = Scene::new(&hub);
    let tiny = npu_whisper::ModelCache::from_env(true)
        .dir()
        .join("tiny.en");
    let out = scene.run(
        &[
            "transcribe",
            common::sample("jfk.wav").to_str().unwrap(),
            "--model",
            tiny.to_str().unwrap(),
            "--vad",
        ],
        &[],
    );
    assert_fails(&out, 3, "the catalogue pins 79a66ad5");
    assert!(stderr(&out).contains("silero-vad"), "{}", stderr(&out));
    assert!(hub.log().iter().any(|l| l.path.contains("faster-whisper")));
    assert!(out.stdout.is_empty());
}

#[test]
#[ignore = "needs the cached base model: run scripts/test"]
fn real_base_weights_through_the_imitation_hub_encode_jfk_as_the_local_copy_does() {
    let local = npu_whisper::ModelCache::from_env(true).dir().join("base");
    assert!(
        local.join(WEIGHTS).exists(),
        "{} is missing: run `scripts/fetch-model --source pypi base` (scripts/test does)",
        local.display()
    );
    let hub = ImitationHub::start();
    hub.add_repo(
        "openai/whisper-base",
        Repo {
            commit: COMMIT.into(),
            files: files_of(
                &local,
                &[
                    "config.json",
                    WEIGHTS,
                    "tokenizer.json",
                    "generation_config.json",
                ],
            ),
            ..Repo::default()
        },
    );
    let scene = Scene::new(&hub);
    let jfk = common::sample("jfk.wav");
    let via_hub = scene.dir.path().join("hub.npy");
    // `--model base` is not cached in this scene: it is fetched from the (imitation) Hub.
    let out = scene.run(
        &[
            "--threads",
            "2",
            "encode",
            "--model",
            "base",
            jfk.to_str().unwrap(),
            "-o",
            via_hub.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("fetching openai/whisper-base"),
        "{}",
        stderr(&out)
    );
    let direct = scene.dir.path().join("direct.npy");
    let out = scene.run(
        &[
            "--threads",
            "2",
            "encode",
            "--model",
            local.to_str().unwrap(),
            jfk.to_str().unwrap(),
            "-o",
            direct.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(&via_hub).unwrap(),
        std::fs::read(&direct).unwrap()
    );
    // And it transcribes from the Hub cache, offline.
    let out = scene.run(
        &[
            "--offline",
            "transcribe",
            "--model",
            "base",
            jfk.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("ask not what your country can do for you")
    );
}
