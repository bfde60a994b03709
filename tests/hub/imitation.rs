//! An imitation of the Hugging Face Hub on 127.0.0.1, speaking the protocol huggingface_hub
//! and npu-whisper use (REFERENCES.md, "The Hugging Face Hub download protocol"):
//!
//! - `GET /api/models/ORG/NAME/revision/REV` -> `{"sha", "siblings": [{"rfilename"}]}`;
//! - `HEAD|GET /ORG/NAME/resolve/REV/FILE` -> for LFS files (`*.safetensors`) 302 to
//!   `/cdn/SHA256?sig=...` with `X-Repo-Commit`, `X-Linked-Etag` (the sha256, quoted),
//!   `X-Linked-Size` and `ETag`; for small files 200 with the git blob sha1 as `ETag`;
//! - `GET /cdn/SHA256` with `Range: bytes=N-` -> 206;
//! - 401 (`X-Error-Code: RepoNotFound` or `GatedRepo`) for private and gated repositories
//!   without the right token, 404 (`RepoNotFound`, `EntryNotFound`) for what does not exist;
//!
//! and the failures a real network has, per file (`Fault`). Every request is logged (method,
//! path, range, whether it carried a token) so tests can bound and inspect them.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha1::Digest as _;

/// A failure the imitation plays for one file's CDN download.
#[derive(Debug, Clone)]
pub enum Fault {
    /// The first CDN GET sends this many bytes of the body, then closes the connection.
    DropAfter(usize),
    /// Every CDN GET sends the file with one byte flipped.
    WrongBytes,
    /// The first CDN GET sends this many bytes, then stalls for the duration.
    StallAfter(usize, Duration),
    /// Every CDN GET stalls for the duration after this many bytes.
    AlwaysStallAfter(usize, Duration),
    /// The CDN sends this many bytes more than the announced size.
    TooLong(usize),
    /// Every CDN GET sends at most this many bytes per second (for overlapping fetches).
    Throttle(usize),
}

#[derive(Debug, Clone, Default)]
pub struct Repo {
    pub commit: String,
    pub files: BTreeMap<String, Vec<u8>>,
    /// Needs this token (a private repository).
    pub token: Option<String>,
    /// Gated: 401 GatedRepo without the token, 403 GatedRepo with any other.
    pub gated: bool,
}

/// One request as the imitation saw it.
#[derive(Debug, Clone)]
pub struct Logged {
    pub method: String,
    pub path: String,
    pub range: Option<String>,
    pub authorized: bool,
}

#[derive(Default)]
struct State {
    repos: BTreeMap<String, Repo>,
    faults: BTreeMap<String, Fault>,
    /// Answer the next N API requests with 500.
    api_failures: usize,
    /// CDN GETs per file so far.
    cdn_gets: BTreeMap<String, usize>,
    log: Vec<Logged>,
    /// A redirect loop on resolve URLs (same origin), to test the redirect bound.
    redirect_loop: bool,
    /// A PEP 691 simple index: project -> (file name, bytes, sha256 the index lists).
    pypi: BTreeMap<String, Vec<(String, Vec<u8>, String)>>,
    /// The CDN's origin.
    cdn: String,
}

/// Serve `state` on a new port of 127.0.0.1; its origin.
fn listen(state: &Arc<Mutex<State>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let shared = Arc::clone(state);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let state = Arc::clone(&shared);
            std::thread::spawn(move || {
                let _ = serve(stream, &state);
            });
        }
    });
    origin
}

/// The server; it stops with the test process. The Hub and its CDN listen on two ports (two
/// origins, as huggingface.co and its CDN hosts are).
pub struct ImitationHub {
    pub endpoint: String,
    state: Arc<Mutex<State>>,
}

impl ImitationHub {
    pub fn start() -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let endpoint = listen(&state);
        let cdn = listen(&state);
        state.lock().unwrap().cdn = cdn;
        ImitationHub { endpoint, state }
    }

    pub fn add_repo(&self, id: &str, repo: Repo) {
        self.state.lock().unwrap().repos.insert(id.into(), repo);
    }

    /// Play `fault` for `file`'s CDN downloads.
    pub fn fault(&self, file: &str, fault: Fault) {
        self.state.lock().unwrap().faults.insert(file.into(), fault);
    }

    pub fn fail_api(&self, times: usize) {
        self.state.lock().unwrap().api_failures = times;
    }

    pub fn redirect_loop(&self, on: bool) {
        self.state.lock().unwrap().redirect_loop = on;
    }

    /// List `file` for `project` on the imitation's simple index (`ENDPOINT/simple/`), with
    /// `listed_sha256` as its digest.
    pub fn add_wheel(&self, project: &str, file: &str, bytes: Vec<u8>, listed_sha256: &str) {
        self.state
            .lock()
            .unwrap()
            .pypi
            .entry(project.into())
            .or_default()
            .push((file.into(), bytes, listed_sha256.into()));
    }

    pub fn log(&self) -> Vec<Logged> {
        self.state.lock().unwrap().log.clone()
    }

    pub fn clear_log(&self) {
        let mut s = self.state.lock().unwrap();
        s.log.clear();
        s.cdn_gets.clear();
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(bytes))
}

fn git_sha1_hex(bytes: &[u8]) -> String {
    let mut h = sha1::Sha1::new();
    h.update(format!("blob {}\0", bytes.len()).as_bytes());
    h.update(bytes);
    hex(&h.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn is_lfs(file: &str) -> bool {
    file.ends_with(".safetensors")
}

struct Request {
    method: String,
    path: String,
    headers: BTreeMap<String, String>,
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    Some(Request {
        method,
        path,
        headers,
    })
}

fn respond(
    stream: &mut TcpStream,
    status: u16,
    headers: &[(&str, String)],
    body: &[u8],
    head: bool,
) {
    let mut text = format!("HTTP/1.1 {status} X\r\nConnection: close\r\n");
    let mut has_length = false;
    for (k, v) in headers {
        has_length |= k.eq_ignore_ascii_case("content-length");
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    if !has_length {
        text.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    text.push_str("\r\n");
    let _ = stream.write_all(text.as_bytes());
    if !head {
        let _ = stream.write_all(body);
    }
    let _ = stream.flush();
}

fn serve(stream: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut stream = stream;
    let Some(req) = read_request(&mut reader) else {
        return Ok(());
    };
    let head = req.method == "HEAD";
    let token = req
        .headers
        .get("authorization")
        .and_then(|a| a.strip_prefix("Bearer "))
        .map(str::to_string);
    state.lock().unwrap().log.push(Logged {
        method: req.method.clone(),
        path: req.path.clone(),
        range: req.headers.get("range").cloned(),
        authorized: token.is_some(),
    });
    let path = req.path.split('?').next().unwrap_or("").to_string();
    if let Some(rest) = path.strip_prefix("/api/models/") {
        let Some((repo_id, revision)) = rest.split_once("/revision/") else {
            respond(&mut stream, 404, &[], b"{}", head);
            return Ok(());
        };
        let mut s = state.lock().unwrap();
        if s.api_failures > 0 {
            s.api_failures -= 1;
            drop(s);
            respond(&mut stream, 500, &[], b"{\"error\": \"internal\"}", head);
            return Ok(());
        }
        let repo = s.repos.get(repo_id).cloned();
        drop(s);
        match access(repo.as_ref(), token.as_deref()) {
            Ok(repo) => {
                if revision != "main" && revision != repo.commit {
                    respond(
                        &mut stream,
                        404,
                        &[("X-Error-Code", "RevisionNotFound".into())],
                        b"{}",
                        head,
                    );
                    return Ok(());
                }
                let siblings: Vec<_> = repo
                    .files
                    .keys()
                    .map(|f| serde_json::json!({"rfilename": f}))
                    .collect();
                let body =
                    serde_json::json!({"id": repo_id, "sha": repo.commit, "siblings": siblings})
                        .to_string();
                respond(
                    &mut stream,
                    200,
                    &[("Content-Type", "application/json".into())],
                    body.as_bytes(),
                    head,
                );
            }
            Err((status, code)) => respond(
                &mut stream,
                status,
                &[("X-Error-Code", code.into())],
                b"{\"error\": \"denied\"}",
                head,
            ),
        }
        return Ok(());
    }
    if let Some(project) = path.strip_prefix("/simple/") {
        let project = project.trim_end_matches('/');
        let listed = state.lock().unwrap().pypi.get(project).cloned();
        let Some(listed) = listed else {
            respond(&mut stream, 404, &[], b"", head);
            return Ok(());
        };
        let files: Vec<_> = listed
            .iter()
            .map(|(name, bytes, sha)| {
                serde_json::json!({"filename": name, "url": format!("../../files/{name}"),
                    "hashes": {"sha256": sha}, "size": bytes.len()})
            })
            .collect();
        let body =
            serde_json::json!({"meta": {"api-version": "1.1"}, "name": project, "files": files});
        respond(
            &mut stream,
            200,
            &[("Content-Type", "application/vnd.pypi.simple.v1+json".into())],
            body.to_string().as_bytes(),
            head,
        );
        return Ok(());
    }
    if let Some(name) = path.strip_prefix("/files/") {
        let found = state
            .lock()
            .unwrap()
            .pypi
            .values()
            .flatten()
            .find(|(f, _, _)| f == name)
            .map(|(_, b, _)| b.clone());
        match found {
            Some(bytes) => respond(&mut stream, 200, &[], &bytes, head),
            None => respond(&mut stream, 404, &[], b"", head),
        }
        return Ok(());
    }
    if let Some(sha) = path.strip_prefix("/cdn/") {
        let s = state.lock().unwrap();
        let found = s
            .repos
            .values()
            .flat_map(|r| r.files.iter())
            .find(|(_, bytes)| sha256_hex(bytes) == sha)
            .map(|(f, b)| (f.clone(), b.clone()));
        drop(s);
        let Some((file, bytes)) = found else {
            respond(&mut stream, 404, &[], b"", head);
            return Ok(());
        };
        serve_cdn(
            &mut stream,
            state,
            &file,
            bytes,
            req.headers.get("range"),
            token.is_some(),
        );
        return Ok(());
    }
    // /ORG/NAME/resolve/REV/FILE
    let parts: Vec<&str> = path.trim_start_matches('/').splitn(5, '/').collect();
    if parts.len() == 5 && parts[2] == "resolve" {
        let repo_id = format!("{}/{}", parts[0], parts[1]);
        let file = parts[4].to_string();
        let s = state.lock().unwrap();
        let repo = s.repos.get(&repo_id).cloned();
        let looping = s.redirect_loop;
        let cdn = s.cdn.clone();
        drop(s);
        if looping {
            respond(
                &mut stream,
                302,
                &[("Location", format!("{path}x"))],
                b"",
                head,
            );
            return Ok(());
        }
        let repo = match access(repo.as_ref(), token.as_deref()) {
            Ok(repo) => repo,
            Err((status, code)) => {
                respond(
                    &mut stream,
                    status,
                    &[("X-Error-Code", code.into())],
                    b"",
                    head,
                );
                return Ok(());
            }
        };
        let Some(bytes) = repo.files.get(&file) else {
            respond(
                &mut stream,
                404,
                &[("X-Error-Code", "EntryNotFound".into())],
                b"",
                head,
            );
            return Ok(());
        };
        let commit = ("X-Repo-Commit", repo.commit.clone());
        if is_lfs(&file) {
            let sha = sha256_hex(bytes);
            respond(
                &mut stream,
                302,
                &[
                    commit,
                    (
                        "Location",
                        format!("{cdn}/cdn/{sha}?X-Amz-Signature=secret"),
                    ),
                    ("X-Linked-Etag", format!("\"{sha}\"")),
                    ("X-Linked-Size", bytes.len().to_string()),
                    ("ETag", format!("\"{}\"", git_sha1_hex(sha.as_bytes()))),
                ],
                b"",
                head,
            );
        } else {
            respond(
                &mut stream,
                200,
                &[commit, ("ETag", format!("\"{}\"", git_sha1_hex(bytes)))],
                bytes,
                head,
            );
        }
        return Ok(());
    }
    respond(&mut stream, 404, &[], b"", head);
    Ok(())
}

/// The repository if the token may read it, else the status and X-Error-Code the Hub sends.
fn access<'a>(
    repo: Option<&'a Repo>,
    token: Option<&str>,
) -> Result<&'a Repo, (u16, &'static str)> {
    match repo {
        // The Hub answers 401 for an unknown repository without a token (it does not say
        // whether a private one exists), 404 with one.
        None if token.is_none() => Err((401, "RepoNotFound")),
        None => Err((404, "RepoNotFound")),
        Some(r) if r.token.is_none() => Ok(r),
        Some(r) if r.token.as_deref() == token => Ok(r),
        Some(r) if r.gated && token.is_some() => Err((403, "GatedRepo")),
        Some(r) if r.gated => Err((401, "GatedRepo")),
        Some(_) => Err((401, "RepoNotFound")),
    }
}

fn serve_cdn(
    stream: &mut TcpStream,
    state: &Mutex<State>,
    file: &str,
    mut bytes: Vec<u8>,
    range: Option<&String>,
    authorized: bool,
) {
    let (fault, nth) = {
        let mut s = state.lock().unwrap();
        let n = s.cdn_gets.entry(file.to_string()).or_insert(0);
        *n += 1;
        let nth = *n;
        (s.faults.get(file).cloned(), nth)
    };
    // A CDN presigned URL needs no token; the real one would refuse or ignore it. Refuse, so a
    // leaked token fails the test.
    if authorized {
        respond(
            stream,
            400,
            &[],
            b"Authorization header sent to the CDN",
            false,
        );
        return;
    }
    let total = bytes.len();
    if let Some(Fault::WrongBytes) = fault {
        bytes[total / 2] ^= 0xFF;
    }
    let from = range
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.trim_end_matches('-').parse::<usize>().ok())
        .unwrap_or(0);
    if from > total {
        respond(stream, 416, &[], b"", false);
        return;
    }
    let mut body = bytes[from..].to_vec();
    if let Some(Fault::TooLong(extra)) = fault {
        body.extend(std::iter::repeat_n(0u8, extra));
    }
    let (status, mut headers) = if from > 0 {
        (
            206,
            vec![(
                "Content-Range",
                format!("bytes {from}-{}/{total}", total - 1),
            )],
        )
    } else {
        (200, vec![])
    };
    headers.push(("Content-Length", body.len().to_string()));
    let mut text = format!("HTTP/1.1 {status} X\r\nConnection: close\r\n");
    for (k, v) in &headers {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    text.push_str("\r\n");
    if stream.write_all(text.as_bytes()).is_err() {
        return;
    }
    match fault {
        Some(Fault::DropAfter(n)) if nth == 1 => {
            let _ = stream.write_all(&body[..n.min(body.len())]);
            let _ = stream.flush();
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
        Some(Fault::StallAfter(n, pause)) if nth == 1 => {
            let _ = stream.write_all(&body[..n.min(body.len())]);
            let _ = stream.flush();
            std::thread::sleep(pause);
        }
        Some(Fault::AlwaysStallAfter(n, pause)) => {
            let _ = stream.write_all(&body[..n.min(body.len())]);
            let _ = stream.flush();
            std::thread::sleep(pause);
        }
        Some(Fault::Throttle(per_second)) => {
            for chunk in body.chunks(per_second.max(1) / 10 + 1) {
                if stream.write_all(chunk).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        _ => {
            let _ = stream.write_all(&body);
        }
    }
    let _ = stream.flush();
    // Drain anything the client still sends, then close.
    let _ = stream.set_read_timeout(Some(Duration::from_millis(10)));
    let _ = stream.read(&mut [0u8; 16]);
}
