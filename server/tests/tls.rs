//! TLS on a second port, next to the plain one, on every backend: redis-cli `--tls`, redis-py
//! `ssl=True` (RESP2 and RESP3, TLS 1.2 and 1.3) and the `redis` crate over `rediss://` (its
//! rustls TLS, RESP2 and RESP3) with users and passwords, client certificates, plain text sent to the TLS port, and a client that stops mid-handshake.
//! Certificates are made at test time with rcgen.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use server::tls::{AuthClients, TlsSettings};
use server::Config;

use crate::util::{scratch_dir, wait_for, TestServer, PATIENCE};

/// A CA, a server certificate (localhost, 127.0.0.1) and a client certificate it signed,
/// as PEM files in a fresh directory.
pub struct Certs {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

impl Certs {
    pub fn make(name: &str) -> Certs {
        let dir = scratch_dir(&format!("tls-{name}"));
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, "switchboard test CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        let ca = ca.self_signed(&ca_key).unwrap();
        let leaf = |names: Vec<String>, usage: ExtendedKeyUsagePurpose| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(names).unwrap();
            params.distinguished_name.push(DnType::CommonName, "switchboard test");
            params.extended_key_usages = vec![usage];
            (params.signed_by(&key, &ca, &ca_key).unwrap(), key)
        };
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let (server, server_key) = leaf(names, ExtendedKeyUsagePurpose::ServerAuth);
        let (client, client_key) = leaf(vec!["client".into()], ExtendedKeyUsagePurpose::ClientAuth);
        let write = |file: &str, text: String| {
            let path = dir.join(file);
            std::fs::write(&path, text).unwrap();
            path
        };
        Certs {
            ca: write("ca.pem", ca.pem()),
            server_cert: write("server.pem", server.pem()),
            server_key: write("server.key", server_key.serialize_pem()),
            client_cert: write("client.pem", client.pem()),
            client_key: write("client.key", client_key.serialize_pem()),
        }
    }

    /// Sets `config` up for a TLS port (a free one) with these certificates.
    pub fn configure(&self, config: &mut Config, auth_clients: AuthClients) {
        config.tls_port = Some(0);
        config.tls = Some(TlsSettings {
            cert_file: self.server_cert.clone(),
            key_file: self.server_key.clone(),
            ca_cert_file: Some(self.ca.clone()),
            auth_clients,
        });
    }
}

const USERS: &str = "user default on nopass ~* &* +@all\n\
                     user alice on >wonderland resetchannels &news.* +@all\n";

fn acl_file(certs: &Certs) -> PathBuf {
    let path = certs.ca.with_file_name("users.acl");
    std::fs::write(&path, USERS).unwrap();
    path
}

/// Runs redis-cli with `args`; returns its standard output, trimmed.
fn redis_cli(args: &[&str]) -> String {
    redis_cli_all(args).0
}

/// Runs redis-cli with `args`; returns its standard output and error, trimmed.
fn redis_cli_all(args: &[&str]) -> (String, String) {
    let out = Command::new("redis-cli").args(args).output().expect("redis-cli is installed");
    let text = |b: &[u8]| String::from_utf8_lossy(b).trim().to_string();
    (text(&out.stdout), text(&out.stderr))
}

/// Waits until `counter` reaches `want` (a deadline, not a sleep).
#[track_caller]
fn wait_for_count(counter: &server::stats::Counter, want: u64) {
    wait_for(&format!("counter below {want}"), true, || counter.get() >= want);
}

/// A `redis` crate connection over TLS (`rediss://USER:PASS@127.0.0.1:PORT`) that trusts
/// `root` (PEM) alone, or the system's roots when `root` is `None`.
fn redis_tls(
    server: &TestServer,
    login: &str,
    resp3: bool,
    root: Option<Vec<u8>>,
) -> redis::RedisResult<redis::Connection> {
    let proto = if resp3 { "?protocol=resp3" } else { "" };
    let url = format!("rediss://{login}@{}/{proto}", server.tls_addr());
    let certs = redis::TlsCertificates { client_tls: None, root_cert: root };
    let con = redis::Client::build_with_tls(url, certs)?.get_connection()?;
    con.set_read_timeout(Some(PATIENCE))?;
    Ok(con)
}

backend_tests! {
    fn redis_crate_over_tls_with_a_user_subscribes_and_publishes(backend) {
        let certs = Certs::make("crate");
        let users = acl_file(&certs);
        let server = TestServer::with(backend, |c| {
            certs.configure(c, AuthClients::No);
            c.aclfile = Some(users.clone());
        });
        let ctx = server.stop_ref().clone();
        let ca = std::fs::read(&certs.ca).unwrap();
        let alice = "alice:wonderland";
        let mut publisher = redis_tls(&server, alice, false, Some(ca.clone())).unwrap();
        let me: String = redis::cmd("ACL").arg("WHOAMI").query(&mut publisher).unwrap();
        assert_eq!(me, "alice");

        // RESP2: a channel and a pattern subscribed over TLS, published to over TLS.
        let mut sub_con = redis_tls(&server, alice, false, Some(ca.clone())).unwrap();
        let mut pubsub = sub_con.as_pubsub();
        pubsub.subscribe("news.tls").unwrap();
        pubsub.psubscribe("news.*").unwrap();
        let n: i64 = redis::cmd("PUBLISH").arg("news.tls").arg("sealed").query(&mut publisher).unwrap();
        assert_eq!(n, 2);
        let mut got = Vec::new();
        for _ in 0..2 {
            let msg = pubsub.get_message().unwrap();
            got.push((
                msg.get_channel_name().to_string(),
                msg.get_payload::<String>().unwrap(),
                msg.get_pattern::<String>().ok(),
            ));
        }
        got.sort();
        assert_eq!(got[0], ("news.tls".into(), "sealed".into(), None));
        assert_eq!(got[1], ("news.tls".into(), "sealed".into(), Some("news.*".into())));
        drop(pubsub);
        // Alice's channels are news.* only. (The crate's `PubSub::subscribe` does not return
        // the server's error replies, so the refusals are read through `query`.)
        for (cmd, name) in [("PUBLISH", "weather"), ("SUBSCRIBE", "weather"), ("PSUBSCRIBE", "*")] {
            let mut denied = redis::cmd(cmd);
            denied.arg(name);
            if cmd == "PUBLISH" {
                denied.arg("x");
            }
            let err = denied.query::<redis::Value>(&mut publisher).unwrap_err();
            assert_eq!(err.code(), Some("NOPERM"), "{cmd}: {err}");
        }
        assert_eq!(ctx.stats.acl_denied_channel.get(), 3);

        // RESP3 (HELLO 3 AUTH alice ...): the message arrives as a push frame.
        let mut sub3 = redis_tls(&server, alice, true, Some(ca.clone())).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        sub3.set_push_sender(tx);
        sub3.subscribe_resp3("news.resp3").unwrap();
        // The crate does not wait for the confirmation: a PING's reply says SUBSCRIBE ran.
        let _: String = redis::cmd("PING").query(&mut sub3).unwrap();
        let n: i64 = redis::cmd("PUBLISH").arg("news.resp3").arg("pushed").query(&mut publisher).unwrap();
        assert_eq!(n, 1);
        // A push reaches the sender when the connection next reads: a PING makes it read.
        let mut message = None;
        let deadline = Instant::now() + PATIENCE;
        while message.is_none() {
            assert!(Instant::now() < deadline, "no message push frame over TLS");
            let _: String = redis::cmd("PING").query(&mut sub3).unwrap();
            while let Ok(push) = rx.try_recv() {
                if push.kind == redis::PushKind::Message {
                    message = Some(push.data);
                }
            }
        }
        let payload: Vec<String> =
            message.unwrap().iter().map(|v| redis::from_redis_value_ref(v).unwrap()).collect();
        assert_eq!(payload, ["news.resp3", "pushed"]);

        // A wrong password, in either protocol, is refused and counted.
        let wrong = redis_tls(&server, "alice:nope", false, Some(ca.clone())).map(drop).unwrap_err();
        assert_eq!(wrong.kind(), redis::ErrorKind::AuthenticationFailed, "{wrong}");
        let wrong = redis_tls(&server, "alice:nope", true, Some(ca.clone())).map(drop).unwrap_err();
        assert!(wrong.to_string().contains("WRONGPASS"), "{wrong}");
        wait_for_count(&ctx.stats.acl_denied_auth, 2);
        // A client that does not trust the test CA refuses the server's certificate.
        let failures = ctx.stats.tls_handshake_failures.get();
        let untrusted = redis_tls(&server, alice, false, None).map(drop).unwrap_err();
        assert!(untrusted.is_io_error(), "{untrusted}");
        wait_for_count(&ctx.stats.tls_handshake_failures, failures + 1);

        drop((publisher, sub_con, sub3));
        let ctx = server.stop();
        assert!(ctx.stats.tls_handshakes.get() >= 5, "{}", ctx.stats.tls_handshakes.get());
        crate::util::assert_accounted(&ctx);
    }
    fn redis_cli_over_tls_with_a_user_next_to_the_plain_port(backend) {
        let certs = Certs::make("cli");
        let users = acl_file(&certs);
        let server = TestServer::with(backend, |c| {
            certs.configure(c, AuthClients::No);
            c.aclfile = Some(users.clone());
        });
        let port = server.tls_addr().port().to_string();
        let ca = certs.ca.to_str().unwrap();
        let tls = ["--tls", "--cacert", ca, "-h", "127.0.0.1", "-p", &port];
        let login = ["--user", "alice", "--pass", "wonderland", "--no-auth-warning"];
        let run = |cmd: &[&str]| redis_cli(&[&tls[..], &login[..], cmd].concat());
        assert_eq!(run(&["PING"]), "PONG");
        assert_eq!(run(&["ACL", "WHOAMI"]), "alice");
        assert_eq!(run(&["PUBLISH", "news.a", "x"]), "0");
        assert!(run(&["PUBLISH", "weather", "x"]).contains("NOPERM"));
        // redis-cli says the AUTH failed, then goes on as the default user.
        let (_, wrong) = redis_cli_all(&[&tls[..], &["--user", "alice", "--pass", "nope", "--no-auth-warning", "PING"]].concat());
        assert!(wrong.contains("WRONGPASS"), "{wrong}");
        // The plain port serves at the same time, without TLS.
        let plain = server.addr().port().to_string();
        assert_eq!(redis_cli(&["-h", "127.0.0.1", "-p", &plain, "PING"]), "PONG");
        let ctx = server.stop();
        assert!(ctx.stats.tls_handshakes.get() >= 5);
        assert_eq!(ctx.stats.tls_handshake_failures.get(), 0);
    }

    fn redis_py_over_tls_resp2_and_resp3_tls12_and_tls13(backend) {
        let certs = Certs::make("py");
        let users = acl_file(&certs);
        let server = TestServer::with(backend, |c| {
            certs.configure(c, AuthClients::No);
            c.aclfile = Some(users.clone());
        });
        let script = r#"
import socket, ssl, sys, redis
tls_port, plain_port, ca = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
plain = redis.Redis(port=plain_port)
for proto in (2, 3):
    r = redis.Redis(port=tls_port, ssl=True, ssl_ca_certs=ca, username="alice",
                    password="wonderland", protocol=proto)
    assert r.acl_whoami() in ("alice", b"alice"), proto
    sub = r.pubsub()
    sub.subscribe("news.tls")
    first = sub.get_message(timeout=20)
    assert first and first["type"] in ("subscribe", b"subscribe"), first
    assert plain.publish("news.tls", "over the plain port") == 1
    got = sub.get_message(timeout=20)
    assert got and got["data"] == b"over the plain port", got
    sub.close()
# Both protocol versions, by hand.
for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.minimum_version = ctx.maximum_version = version
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", tls_port)), server_hostname="localhost") as s:
        s.sendall(b"PING\r\n")
        assert s.recv(100) == b"+PONG\r\n"
        assert s.version() == {ssl.TLSVersion.TLSv1_2: "TLSv1.2", ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version], s.version()
print("ok")
"#;
        let args = [
            server.tls_addr().port().to_string(),
            server.addr().port().to_string(),
            certs.ca.display().to_string(),
        ];
        assert_eq!(crate::util::python(script, &args), "ok\n");
        let ctx = server.stop();
        crate::util::assert_accounted(&ctx);
    }

    fn client_certificates_when_the_server_requires_them(backend) {
        let certs = Certs::make("mtls");
        let server = TestServer::with(backend, |c| certs.configure(c, AuthClients::Yes));
        let port = server.tls_addr().port().to_string();
        let ca = certs.ca.to_str().unwrap();
        let tls = ["--tls", "--cacert", ca, "-h", "127.0.0.1", "-p", &port];
        let without = redis_cli(&[&tls[..], &["PING"]].concat());
        assert_ne!(without, "PONG");
        let (cert, key) = (certs.client_cert.to_str().unwrap(), certs.client_key.to_str().unwrap());
        assert_eq!(redis_cli(&[&tls[..], &["--cert", cert, "--key", key, "PING"]].concat()), "PONG");
        let ctx = server.stop();
        assert!(ctx.stats.tls_handshake_failures.get() >= 1);
    }

    fn plain_text_on_the_tls_port_and_a_handshake_that_stops(backend) {
        let certs = Certs::make("bad");
        let server = TestServer::with(backend, |c| {
            certs.configure(c, AuthClients::No);
            c.tls_handshake_timeout = Duration::from_millis(200);
        });
        let ctx = server.stop_ref().clone();
        // Plain text: refused with a TLS alert and closed, never answered as RESP.
        let mut plain = TcpStream::connect(server.tls_addr()).unwrap();
        plain.set_read_timeout(Some(PATIENCE)).unwrap();
        plain.write_all(b"PING\r\n").unwrap();
        let mut got = Vec::new();
        let _ = plain.read_to_end(&mut got);
        assert!(!got.starts_with(b"+PONG"), "{got:?}");
        assert_eq!(got.first(), Some(&0x15), "a TLS alert record: {got:?}");
        wait_for_count(&ctx.stats.tls_handshake_failures, 1);
        // Half a ClientHello record, then nothing: cut off at the handshake timeout.
        let mut stalled = TcpStream::connect(server.tls_addr()).unwrap();
        stalled.set_read_timeout(Some(PATIENCE)).unwrap();
        stalled.write_all(&[0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0x00]).unwrap();
        let mut rest = Vec::new();
        let _ = stalled.read_to_end(&mut rest);
        wait_for_count(&ctx.stats.tls_handshake_failures, 2);
        // A client that connects and says nothing is cut off the same way.
        let mut silent = TcpStream::connect(server.tls_addr()).unwrap();
        silent.set_read_timeout(Some(PATIENCE)).unwrap();
        let _ = silent.read_to_end(&mut rest);
        wait_for_count(&ctx.stats.tls_handshake_failures, 3);
        // Meanwhile the server serves TLS and plain clients as before.
        let port = server.tls_addr().port().to_string();
        let ca = certs.ca.to_str().unwrap();
        assert_eq!(redis_cli(&["--tls", "--cacert", ca, "-p", &port, "PING"]), "PONG");
        let mut conn = server.connect();
        let handshakes = crate::util::info_field(&mut conn, "tls_handshake_failures");
        assert_eq!(handshakes, 3);
    }
}

#[test]
fn key_and_certificate_errors_stop_the_server_with_one_line() {
    let certs = Certs::make("errors");
    let run = |cert: &std::path::Path, key: &std::path::Path| {
        let out = Command::new(env!("CARGO_BIN_EXE_server"))
            .args([
                "--port",
                "0",
                "--log-level",
                "error",
                "--tls-port",
                "0",
                "--tls-auth-clients",
                "no",
            ])
            .arg("--tls-cert-file")
            .arg(cert)
            .arg("--tls-key-file")
            .arg(key)
            .output()
            .unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let missing = std::path::Path::new("/nonexistent/server.pem");
    assert_eq!(
        run(missing, &certs.server_key),
        "server: cannot load --tls-cert-file /nonexistent/server.pem: No such file or directory \
         (os error 2)\n"
    );
    assert_eq!(
        run(&certs.server_cert, &certs.server_cert),
        format!(
            "server: cannot load --tls-key-file {}: no PEM private key in it\n",
            certs.server_cert.display()
        )
    );
    let wrong = run(&certs.server_cert, &certs.client_key);
    assert!(
        wrong.starts_with("server: --tls-cert-file ")
            && wrong.contains("do not make a usable certificate"),
        "{wrong}"
    );
    assert_eq!(wrong.lines().count(), 1, "{wrong}");
    let out = Command::new(env!("CARGO_BIN_EXE_server"))
        .args(["--port", "0", "--log-level", "error", "--tls-port", "0"])
        .arg("--tls-cert-file")
        .arg(&certs.server_cert)
        .arg("--tls-key-file")
        .arg(&certs.server_key)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "server: --tls-auth-clients yes|optional needs --tls-ca-cert-file (the CA that signs \
         client certificates), or use --tls-auth-clients no\n"
    );
}
