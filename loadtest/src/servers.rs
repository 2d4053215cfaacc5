//! The servers under test as child processes: our `server` with one backend, or
//! `redis-server`, each started on a free loopback port and stopped when dropped.

use anyhow::{anyhow, bail, Context};
use crossbeam_channel::{bounded, RecvTimeoutError};
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Every backend the server's `--backend` accepts, from the server's own list (a new variant
/// there is a new row here).
pub fn all_backends() -> Vec<String> {
    use clap::ValueEnum;
    server::Backend::value_variants().iter().map(|b| b.name().to_string()).collect()
}

/// A `server` child process, stopped (SIGTERM) when dropped.
pub struct ServerProcess {
    child: Option<Child>,
    /// Where it listens, from its `listening on ADDR` line.
    pub addr: String,
    pub pid: u32,
    /// The command line that started it.
    pub command: String,
}

impl ServerProcess {
    /// Starts `bin --backend BACKEND --port 0 --bind 127.0.0.1 --protocol PROTOCOL EXTRA...`,
    /// with stderr going to `log`, confined to `cpus` when given (every thread it starts
    /// inherits the mask), and waits for its `listening on` line.
    pub fn start(
        bin: &Path,
        backend: &str,
        protocol: &str,
        extra: &[String],
        log: &Path,
        cpus: Option<&[usize]>,
    ) -> anyhow::Result<ServerProcess> {
        let mut args: Vec<String> =
            ["--backend", backend, "--port", "0", "--bind", "127.0.0.1", "--protocol", protocol]
                .iter()
                .map(|s| s.to_string())
                .collect();
        args.extend(extra.iter().cloned());
        let command = std::iter::once(bin.display().to_string())
            .chain(args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ");
        let log_file =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let mut child = pinned(Command::new(bin), cpus)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let pid = child.id();
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = bounded(1);
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next();
            let _ = tx.send(first);
            // Keep draining so the server never blocks writing to a full pipe.
            for _ in lines {}
        });
        let mut server = ServerProcess { child: Some(child), addr: String::new(), pid, command };
        let tail = || {
            std::fs::read_to_string(log)
                .unwrap_or_default()
                .lines()
                .last()
                .unwrap_or("")
                .to_string()
        };
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(Some(Ok(line))) => match line.trim().strip_prefix("listening on ") {
                Some(addr) => server.addr = addr.trim().to_string(),
                None => bail!("unexpected first line from the server: {line:?}"),
            },
            Ok(_) | Err(RecvTimeoutError::Disconnected) => {
                let status = server.wait_exit(Duration::from_secs(5));
                bail!(
                    "server exited before listening ({}): {}",
                    status.map_or("still running".into(), |s| s.to_string()),
                    tail()
                );
            }
            Err(RecvTimeoutError::Timeout) => {
                bail!("server printed no `listening on` line in 20 s")
            }
        }
        Ok(server)
    }

    /// Waits up to `limit` for the child to exit.
    fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let deadline = Instant::now() + limit;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    self.child = None;
                    return Some(status);
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => return None,
            }
        }
    }

    /// Sends SIGTERM and waits for the exit (SIGKILL after 10 s).
    pub fn stop(mut self) -> anyhow::Result<ExitStatus> {
        self.terminate().ok_or_else(|| anyhow!("server did not exit"))
    }

    fn terminate(&mut self) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        // SAFETY: kill only sends a signal, to our own child.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        if let Some(status) = self.wait_exit(Duration::from_secs(10)) {
            return Some(status);
        }
        let mut child = self.child.take()?;
        let _ = child.kill();
        child.wait().ok()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// The `server` next to the running executable.
pub fn default_server_bin() -> anyhow::Result<PathBuf> {
    Ok(std::env::current_exe()?.with_file_name("server"))
}

/// Starts `redis-server` on a free loopback port with persistence off and `extra` arguments,
/// stderr and stdout to `log`, confined to `cpus` when given; waits (up to 10 s) until it
/// answers PING.
pub fn start_redis(
    bin: &str,
    log: &Path,
    extra: &[String],
    cpus: Option<&[usize]>,
) -> anyhow::Result<ServerProcess> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut args: Vec<String> = ["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""]
        .iter()
        .chain(&["--appendonly", "no", "--protected-mode", "no"])
        .map(|s| s.to_string())
        .collect();
    args.extend(extra.iter().cloned());
    let command = std::iter::once(bin.to_string())
        .chain(args.iter().map(|a| if a.is_empty() { "''".into() } else { a.clone() }))
        .collect::<Vec<_>>()
        .join(" ");
    let out = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let child = pinned(Command::new(bin), cpus)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()
        .with_context(|| format!("starting {bin}"))?;
    let pid = child.id();
    let mut server =
        ServerProcess { child: Some(child), addr: format!("127.0.0.1:{port}"), pid, command };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ping =
            crate::conn::RespConn::connect(&server.addr).and_then(|mut c| c.request(&["PING"]));
        if matches!(ping, Ok(shared::Frame::Simple(ref s)) if s == "PONG") {
            return Ok(server);
        }
        if let Some(status) = server.wait_exit(Duration::ZERO) {
            bail!("redis-server exited before answering ({status})");
        }
        if Instant::now() >= deadline {
            bail!("redis-server did not answer PING within 10 s");
        }
        std::thread::sleep(Duration::from_millis(20)); // polling a child's readiness
    }
}

/// `cmd`, set to confine the child to `cpus` (when given) between fork and exec.
fn pinned(mut cmd: Command, cpus: Option<&[usize]>) -> Command {
    if let Some(cpus) = cpus {
        let set = crate::sys::cpu_set(cpus);
        // SAFETY: the closure makes one system call (sched_setaffinity) on a set built before
        // the fork: nothing that allocates or locks runs in the child.
        unsafe { cmd.pre_exec(move || crate::sys::pin(&set)) };
    }
    cmd
}

/// Returns true if and only if `bin` names an executable file, itself or on the PATH.
pub fn on_path(bin: &str) -> bool {
    let is_exe = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if bin.contains('/') {
        return is_exe(Path::new(bin));
    }
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| is_exe(&d.join(bin))))
}
