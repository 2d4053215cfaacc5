//! `server --daemon` and `server stop`, with the real binary.

use std::path::PathBuf;
use std::process::Command;

use crate::util::Conn;

/// A fresh scratch directory for one test's pid and log files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("switchboard-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn server() -> Command {
    Command::new(env!("CARGO_BIN_EXE_server"))
}

backend_tests! {
    fn daemon_starts_refuses_a_second_copy_and_stops(backend) {
        let dir = scratch(&format!("daemon-{}", backend.name()));
        let (pidfile, log) = (dir.join("server.pid"), dir.join("server.log"));
        let start = |extra: &[&str]| {
            server()
                .args(["--daemon", "--port", "0", "--backend", backend.name()])
                .arg("--pidfile")
                .arg(&pidfile)
                .arg("--log-file")
                .arg(&log)
                .args(extra)
                .output()
                .unwrap()
        };
        let first = start(&[]);
        assert!(first.status.success(), "{first:?}");
        let stdout = String::from_utf8(first.stdout).unwrap();
        let addr = stdout.trim().strip_prefix("listening on ").expect("listening line").to_string();
        let pid: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
        let mut c = Conn::new(std::net::TcpStream::connect(&addr).unwrap());
        c.roundtrip(&[b"PING"], b"+PONG\r\n");
        drop(c);

        let second = start(&[]);
        assert!(!second.status.success());
        let err = String::from_utf8(second.stderr).unwrap();
        assert!(err.contains("already running") && err.contains(&pid.to_string()), "{err}");

        let stop = server().arg("stop").arg("--pidfile").arg(&pidfile).output().unwrap();
        assert!(stop.status.success(), "{stop:?}");
        assert_eq!(String::from_utf8(stop.stdout).unwrap(), format!("stopped (pid {pid})\n"));
        assert!(!pidfile.exists(), "the daemon removes its pid file");
        assert!(std::net::TcpStream::connect(&addr).is_err(), "nothing listens any more");
        let logged = std::fs::read_to_string(&log).unwrap();
        assert!(logged.contains("shutting down"), "{logged}");

        let again = server().arg("stop").arg("--pidfile").arg(&pidfile).output().unwrap();
        assert!(!again.status.success());
        assert!(String::from_utf8(again.stderr).unwrap().contains("not running"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn a_daemon_that_cannot_bind_says_so_and_leaves_no_pid_file() {
    let dir = scratch("daemon-bind");
    let pidfile = dir.join("server.pid");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out =
        server().args(["--daemon", "--port", &port, "--pidfile"]).arg(&pidfile).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8(out.stderr).unwrap().contains("Address already in use"));
    assert!(!pidfile.exists());
    let _ = std::fs::remove_dir_all(&dir);
}
