//! `loadtest run` as a user runs it against the real `server` binary with a TLS port and an
//! ACL file: every scenario over TLS with a user and a password (publishers, the multiplexed
//! subscribers, open and closed loop, idle connections, connections reopened with
//! `--reconnect`), the password from the environment and
//! never in the report, and the failures a user meets (a wrong password, no CA, the wrong CA),
//! each one line and a non-zero exit. Certificates are made at test time with rcgen.
//!
//! The `server` binary must sit next to `loadtest` (`cargo test --workspace` builds both;
//! `cargo build -p server` otherwise): these tests fail, not skip, without it.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long a loadtest run or a server start may take before the test calls it a hang.
const PATIENCE: Duration = Duration::from_secs(60);

/// A fresh directory for one test's files.
fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("loadtest-tls-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A CA certificate and a server certificate (localhost, 127.0.0.1) it signed, with the key.
struct Certs {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl Certs {
    fn make(dir: &Path, name: &str) -> Certs {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, format!("loadtest test CA {name}"));
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        let ca = ca.self_signed(&ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let params = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        let leaf = params.signed_by(&key, &ca, &ca_key).unwrap();
        let write = |file: String, text: String| {
            let path = dir.join(file);
            std::fs::write(&path, text).unwrap();
            path
        };
        Certs {
            ca: write(format!("{name}-ca.pem"), ca.pem()),
            cert: write(format!("{name}-server.pem"), leaf.pem()),
            key: write(format!("{name}-server.key"), key.serialize_pem()),
        }
    }
}

/// The server binary, next to `loadtest`.
fn server_bin() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_loadtest")).with_file_name("server");
    assert!(
        bin.exists(),
        "{} is missing: build it first (cargo build -p server; cargo test --workspace builds it)",
        bin.display()
    );
    bin
}

/// The real server binary with a plain port and a TLS port, users from an ACL file; killed on
/// drop.
struct TlsServer {
    child: Child,
    plain: String,
    tls: String,
}

/// `default` needs the password `sesame`; `alice` (password `wonderland`) may use only this
/// tool's channels.
const USERS: &str = "user default on >sesame ~* &* +@all\n\
                     user alice on >wonderland resetchannels &loadtest:* +@all\n";

impl TlsServer {
    /// With `users`, the server reads them as its ACL file; without, nobody needs a password.
    fn start(dir: &Path, certs: &Certs, users: Option<&str>) -> TlsServer {
        let mut cmd = Command::new(server_bin());
        if let Some(users) = users {
            let acl = dir.join("users.acl");
            std::fs::write(&acl, users).unwrap();
            cmd.arg("--aclfile").arg(acl);
        }
        let mut child = cmd
            .args(["--port", "0", "--bind", "127.0.0.1", "--tls-port", "0"])
            .args(["--tls-auth-clients", "no", "--log-level", "info", "--tls-cert-file"])
            .arg(&certs.cert)
            .arg("--tls-key-file")
            .arg(&certs.key)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The TLS address is in the log (`tls_addr=...`), the plain one on stdout.
        let mut log = BufReader::new(child.stderr.take().unwrap()).lines();
        let tls = loop {
            let line = log.next().expect("the server exited before listening for TLS").unwrap();
            if let Some((_, rest)) = line.split_once("tls_addr=") {
                break rest.split_whitespace().next().unwrap().to_string();
            }
        };
        std::thread::spawn(move || for _ in log {});
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = out.next().expect("the server printed nothing").unwrap();
        let plain = first.strip_prefix("listening on ").expect("a `listening on` line").to_string();
        std::thread::spawn(move || for _ in out {});
        TlsServer { child, plain, tls }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `loadtest run ARGS...` with `SWITCHBOARD_PASS` set to `pass` (or unset), and waits for
/// it to exit; a run still going after [`PATIENCE`] is killed and fails the test.
#[track_caller]
fn loadtest(args: &[&str], pass: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_loadtest"));
    cmd.arg("run").args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.env_remove("SWITCHBOARD_PASS");
    if let Some(pass) = pass {
        cmd.env("SWITCHBOARD_PASS", pass);
    }
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + PATIENCE;
    // Readers of both pipes, so a chatty run never blocks on a full pipe.
    let (out, err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let read = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            v
        })
    };
    let (out, err) = (read(Box::new(out)), read(Box::new(err)));
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("loadtest {args:?} did not finish within {PATIENCE:?}: a hang");
        }
        std::thread::sleep(Duration::from_millis(20)); // polling a child's exit
    };
    Output { status, stdout: out.join().unwrap(), stderr: err.join().unwrap() }
}

/// A short run of `scenario` on `addr`, writing its report to `json`.
fn short_run(scenario: &str, addr: &str, json: &Path) -> Vec<String> {
    let args = [
        "--scenario",
        scenario,
        "--addr",
        addr,
        "--warmup",
        "0.2",
        "--duration",
        "0.5",
        "--drain",
        "20",
        "--no-floor",
        "--json",
    ];
    let mut v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    v.push(json.display().to_string());
    v
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Checks that `out` succeeded; returns its report.
#[track_caller]
fn report(out: &Output, json: &Path) -> serde_json::Value {
    assert!(out.status.success(), "stdout: {}\nstderr: {}", text(&out.stdout), text(&out.stderr));
    let raw = std::fs::read_to_string(json).unwrap();
    serde_json::from_str(&raw).unwrap()
}

/// Checks that `out` failed with exit code 1 and one stderr line containing `want`.
#[track_caller]
fn fails_with(out: &Output, want: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "stderr: {stderr}");
    assert!(stderr.starts_with("loadtest: ") && stderr.contains(want), "stderr: {stderr}");
}

#[test]
fn pubsub_over_tls_as_a_user_delivers_everything_and_keeps_the_password_out_of_the_report() {
    let dir = scratch_dir("pubsub");
    let certs = Certs::make(&dir, "good");
    let server = TlsServer::start(&dir, &certs, Some(USERS));
    let json = dir.join("pubsub.json");
    let mut args = short_run("pubsub", &server.tls, &json);
    let ca = certs.ca.display().to_string();
    let more = ["--tls", "--cacert", &ca, "--user", "alice", "--rate", "400"];
    args.extend(more.iter().map(|s| s.to_string()));
    args.extend(
        ["--publishers", "2", "--subscribers", "30", "--topics", "3", "--readers", "2"]
            .iter()
            .map(|s| s.to_string()),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = loadtest(&args, Some("wonderland"));
    let r = report(&out, &json);
    let p = &r["pubsub"];
    assert!(p["published"].as_u64().unwrap() > 0, "{p}");
    // 10 subscribers per topic heard every message, and the server's counters (read over TLS,
    // as alice) agree.
    assert_eq!(p["received"], p["publish_replies_sum"], "{p}");
    assert_eq!(p["received"].as_u64(), Some(p["published"].as_u64().unwrap() * 10), "{p}");
    assert_eq!((p["lost"].as_u64(), p["duplicates"].as_u64()), (Some(0), Some(0)), "{p}");
    assert_eq!(p["server_dropped"].as_u64(), Some(0), "{p}");
    assert_eq!(p["accounting_ok"], true, "{p}");
    assert_eq!(r["errors"].as_u64(), Some(0), "{r}");
    // The report says how it connected, never with what password.
    assert_eq!(r["settings"]["security"]["tls"], true);
    assert_eq!(r["settings"]["security"]["user"], "alice");
    let raw = std::fs::read_to_string(&json).unwrap();
    assert!(!raw.contains("wonderland") && !text(&out.stdout).contains("wonderland"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn ping_open_and_closed_loop_and_idle_over_tls_with_and_without_a_password() {
    let dir = scratch_dir("ping");
    let certs = Certs::make(&dir, "good");
    let ca = certs.ca.display().to_string();
    // No password first: then the server's first TLS records after the handshake (its session
    // tickets, no plaintext) reach the connections' readers before any reply does.
    let open = TlsServer::start(&dir, &certs, None);
    for (name, extra) in [
        ("open", vec!["--rate", "500", "--connections", "4", "--pipeline", "2"]),
        // One request per batch: the closed loop's replies are small and come back one at a
        // time, so a batch sent twice (an unsolicited TLS record taken for a reply) shows.
        ("closed", vec!["--rate", "max", "--connections", "3"]),
        ("batches", vec!["--rate", "max", "--connections", "2", "--pipeline", "4"]),
        (
            "echo",
            vec!["--rate", "max", "--connections", "2", "--command", "echo", "--size", "3000"],
        ),
    ] {
        let json = dir.join(format!("{name}.json"));
        let mut args = short_run("ping", &open.tls, &json);
        args.extend(["--tls", "--cacert", &ca].iter().map(|s| s.to_string()));
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = report(&loadtest(&args, None), &json);
        let (sent, errors) = (&r["sent"], &r["error_samples"]);
        assert!(r["replies"].as_u64().unwrap() > 0, "{name}: sent {sent}, errors {errors}");
        assert_eq!(r["replies"], r["sent"], "{name}: errors {errors}");
        assert_eq!(r["errors"].as_u64(), Some(0), "{name}: errors {errors}");
        assert_eq!(r["unanswered"].as_u64(), Some(0), "{name}: errors {errors}");
    }
    // Idle connections over TLS answer before and after the load; --pass on the command line
    // works as well as the environment.
    drop(open);
    let server = TlsServer::start(&dir, &certs, Some(USERS));
    let json = dir.join("idle.json");
    let mut args = short_run("idle", &server.tls, &json);
    args.extend(
        ["--tls", "--cacert", &ca, "--pass", "sesame", "--connections", "20", "--active", "2"]
            .iter()
            .map(|s| s.to_string()),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = report(&loadtest(&args, None), &json);
    assert_eq!(r["idle"]["alive_at_start"].as_u64(), Some(20), "{r}");
    assert_eq!(r["idle"]["alive_at_end"].as_u64(), Some(20), "{r}");
    assert_eq!(r["errors"].as_u64(), Some(0), "{r}");
    // The plain port of the same server, with a password and no TLS.
    let json = dir.join("plain.json");
    let mut args = short_run("ping", &server.plain, &json);
    args.extend(["--user", "default", "--rate", "max"].iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = report(&loadtest(&args, Some("sesame")), &json);
    assert_eq!(
        (r["errors"].as_u64(), r["settings"]["security"]["tls"].as_bool()),
        (Some(0), Some(false))
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_wrong_password_a_missing_ca_and_the_wrong_ca_are_one_line_each_and_insecure_connects() {
    let dir = scratch_dir("fail");
    let certs = Certs::make(&dir, "good");
    let other = Certs::make(&dir, "other");
    let server = TlsServer::start(&dir, &certs, Some(USERS));
    let json = dir.join("fail.json");
    let base = short_run("pubsub", &server.tls, &json);
    let run = |extra: &[&str], pass: Option<&str>| {
        let mut args: Vec<&str> = base.iter().map(String::as_str).collect();
        args.extend(["--rate", "100", "--subscribers", "2", "--topics", "1"]);
        args.extend(extra);
        loadtest(&args, pass)
    };
    let (good_ca, other_ca) = (certs.ca.display().to_string(), other.ca.display().to_string());
    let tls = &server.tls;
    fails_with(
        &run(&["--tls", "--cacert", &good_ca, "--user", "alice"], Some("nope")),
        &format!(
            "AUTH as alice refused by {tls}: WRONGPASS invalid username-password pair or user is \
             disabled."
        ),
    );
    fails_with(
        &run(&["--tls", "--cacert", &good_ca], Some("nope")),
        &format!("AUTH as default refused by {tls}: WRONGPASS"),
    );
    fails_with(
        &run(&["--tls"], Some("sesame")),
        "TLS needs --cacert FILE (the CA that signed the server's certificate), or --insecure",
    );
    fails_with(
        &run(&["--tls", "--cacert", "/nonexistent/ca.pem"], Some("sesame")),
        "--cacert /nonexistent/ca.pem: No such file or directory",
    );
    fails_with(
        &run(&["--tls", "--cacert", &other_ca], Some("sesame")),
        &format!("TLS handshake with {tls} failed: invalid peer certificate: UnknownIssuer"),
    );
    // --insecure takes the certificate nobody vouches for.
    let r = report(&run(&["--tls", "--insecure"], Some("sesame")), &json);
    assert_eq!(r["pubsub"]["accounting_ok"], true, "{r}");
    assert_eq!(r["errors"].as_u64(), Some(0), "{r}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The ids of the connections logged in as `user` that `admin` sees in `CLIENT LIST`.
fn connections_of(admin: &mut client::Client, user: &str) -> Vec<String> {
    let shared::Frame::Bulk(list) = admin.request(&["CLIENT", "LIST"]).unwrap() else {
        panic!("CLIENT LIST is a bulk string")
    };
    let wanted = format!(" user={user} ");
    String::from_utf8_lossy(&list)
        .lines()
        .filter(|l| l.contains(&wanted))
        .filter_map(|l| l.strip_prefix("id=")?.split(' ').next().map(str::to_string))
        .collect()
}

/// Waits until `done` holds (asking again every 20 ms), at most [`PATIENCE`].
#[track_caller]
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < deadline, "waited {PATIENCE:?} for {what}");
        std::thread::sleep(Duration::from_millis(20)); // between two looks at the server
    }
}

#[test]
fn with_reconnect_connections_the_server_closes_are_reopened_over_tls_and_log_in_again() {
    let dir = scratch_dir("reconnect");
    let certs = Certs::make(&dir, "good");
    let server = TlsServer::start(&dir, &certs, Some(USERS));
    let json = dir.join("reconnect.json");
    let args: Vec<String> = [
        "--scenario",
        "ping",
        "--addr",
        &server.tls,
        "--rate",
        "200",
        "--connections",
        "2",
        "--warmup",
        "0.2",
        "--duration",
        "6",
        "--drain",
        "20",
        "--no-floor",
        "--reconnect",
        "--tls",
        "--cacert",
        &certs.ca.display().to_string(),
        "--user",
        "alice",
        "--json",
        &json.display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let run = std::thread::spawn(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        loadtest(&args, Some("wonderland"))
    });
    let mut admin = client::Client::connect(&server.plain).unwrap();
    admin.auth(None, "sesame").unwrap();
    let mut first = Vec::new();
    wait_until("the run's two connections", || {
        first = connections_of(&mut admin, "alice");
        first.len() == 2
    });
    // The server closes both (as a restart or CLIENT KILL would): every connection on its TLS
    // port, which only the run uses.
    let killed = admin.request(&["CLIENT", "KILL", "LADDR", &server.tls]).unwrap();
    assert_eq!(killed, shared::Frame::Integer(2));
    wait_until("two new connections of the run, logged in again", || {
        let now = connections_of(&mut admin, "alice");
        now.iter().filter(|id| !first.contains(id)).count() == 2
    });
    let r = report(&run.join().unwrap(), &json);
    assert!(r["reconnects"].as_u64().unwrap() >= 2, "{r}");
    assert!(r["replies"].as_u64().unwrap() > 0, "{r}");
    let notes = r["notes"].to_string();
    assert!(notes.contains("reopened"), "{notes}");
    std::fs::remove_dir_all(&dir).unwrap();
}
