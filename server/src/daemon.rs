//! Unix daemon mode: `server --daemon` detaches from the terminal, and `server stop` ends a
//! daemon through its pid file.
//!
//! The classic recipe: fork, `setsid` to leave the terminal's session, fork again so the
//! daemon can never reacquire a terminal, `chdir /`, set the umask, point stdin/stdout at
//! `/dev/null` and stderr at the log file. It must all happen before any thread starts, since
//! `fork` copies only the calling thread. The first process waits on a pipe until the daemon
//! has bound its socket (or failed), so `server --daemon` still prints `listening on ADDR` and
//! exits non-zero when the daemon could not start.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::stat::{umask, Mode};
use nix::unistd::{
    chdir, dup2_stderr, dup2_stdin, dup2_stdout, fork, pipe, setsid, ForkResult, Pid,
};
use thiserror::Error;

/// What can go wrong starting or stopping a daemon.
#[derive(Debug, Error)]
pub enum DaemonError {
    /// The pid file names a process that is alive.
    #[error("already running: {path} names live process {pid}")]
    AlreadyRunning {
        /// The pid file.
        path: PathBuf,
        /// The process it names.
        pid: i32,
    },
    /// The pid file names no live process (it was left behind, or the daemon is gone).
    #[error("not running: no live process for {0}")]
    NotRunning(PathBuf),
    /// The pid file does not hold a process id.
    #[error("{0} does not hold a process id")]
    BadPidFile(PathBuf),
    /// The daemon did not exit within the time allowed.
    #[error("process {0} did not exit in time")]
    StillRunning(i32),
    /// The daemon exited before reporting that it was ready.
    #[error("the daemon exited before it was ready (see its log file)")]
    DiedEarly,
    /// The daemon reported an error while starting.
    #[error("{0}")]
    Failed(String),
    /// A system call failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: io::Error,
    },
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> DaemonError {
    let context = context.into();
    move |source| DaemonError::Io { context, source }
}

fn errno_err(context: &str) -> impl FnOnce(Errno) -> DaemonError + '_ {
    move |errno| DaemonError::Io { context: context.into(), source: errno.into() }
}

/// The detached daemon's handle: it reports readiness to the waiting terminal and owns the
/// pid file, which it removes when dropped.
pub struct Daemon {
    pidfile: PathBuf,
    /// Write end of the pipe the first process reads; `None` once reported.
    report: Option<File>,
}

/// Detaches the calling process. Returns only in the daemon; the first process waits for the
/// daemon's report, prints it and exits. Must be called before any thread is started.
pub fn daemonize(pidfile: &Path, log_file: Option<&Path>) -> Result<Daemon, DaemonError> {
    // After `chdir /`, relative paths would mean something else.
    let pidfile = std::path::absolute(pidfile).map_err(io_err("pid file path"))?;
    if let Some(pid) = live_pid(&pidfile)? {
        return Err(DaemonError::AlreadyRunning { path: pidfile, pid });
    }
    let log = match log_file {
        Some(path) => OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io_err(format!("open log file {}", path.display())))?,
        None => File::options().write(true).open("/dev/null").map_err(io_err("open /dev/null"))?,
    };
    let (read_end, write_end) = pipe().map_err(errno_err("pipe"))?;
    // SAFETY: the caller guarantees no other thread exists, so the child is a full copy of a
    // single-threaded process and may do anything.
    match unsafe { fork() }.map_err(errno_err("fork"))? {
        ForkResult::Parent { child } => {
            drop(write_end);
            // The first child exits right after the second fork.
            let _ = nix::sys::wait::waitpid(child, None);
            std::process::exit(wait_for_report(read_end));
        }
        ForkResult::Child => {}
    }
    drop(read_end);
    setsid().map_err(errno_err("setsid"))?;
    // SAFETY: still single-threaded (see above).
    if let ForkResult::Parent { .. } = unsafe { fork() }.map_err(errno_err("second fork"))? {
        std::process::exit(0);
    }
    chdir("/").map_err(errno_err("chdir /"))?;
    umask(Mode::from_bits_truncate(0o027));
    let null = File::options()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(io_err("open /dev/null"))?;
    dup2_stdin(&null).map_err(errno_err("redirect stdin"))?;
    dup2_stdout(&null).map_err(errno_err("redirect stdout"))?;
    dup2_stderr(&log).map_err(errno_err("redirect stderr"))?;
    Ok(Daemon { pidfile, report: Some(File::from(write_end)) })
}

/// In the first process: relays the daemon's report and returns the exit code.
fn wait_for_report(read_end: OwnedFd) -> i32 {
    let mut report = String::new();
    let _ = File::from(read_end).read_to_string(&mut report);
    match report.strip_prefix("ok ") {
        Some(line) => {
            print!("{line}");
            0
        }
        None if report.is_empty() => {
            eprintln!("server: {}", DaemonError::DiedEarly);
            1
        }
        None => {
            eprint!("server: {}", report.trim_start_matches("error "));
            1
        }
    }
}

impl Daemon {
    /// Writes the pid file, then tells the waiting terminal that the server is listening.
    pub fn ready(&mut self, addr: SocketAddr) -> io::Result<()> {
        std::fs::write(&self.pidfile, format!("{}\n", std::process::id()))?;
        self.report(&format!("ok listening on {addr}\n"))
    }

    /// Tells the waiting terminal that the server could not start.
    pub fn failed(&mut self, why: &str) {
        let _ = self.report(&format!("error {why}\n"));
    }

    fn report(&mut self, line: &str) -> io::Result<()> {
        match self.report.take() {
            Some(mut pipe) => pipe.write_all(line.as_bytes()),
            None => Ok(()),
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // Only remove the pid file if it is still ours.
        if read_pid(&self.pidfile).ok().flatten() == Some(std::process::id() as i32) {
            let _ = std::fs::remove_file(&self.pidfile);
        }
    }
}

/// `server stop`: sends SIGTERM to the process named by `pidfile` and waits (at most
/// `timeout`) for it to exit. Returns its pid.
pub fn stop(pidfile: &Path, timeout: Duration) -> Result<i32, DaemonError> {
    let pid = live_pid(pidfile)?.ok_or_else(|| DaemonError::NotRunning(pidfile.to_owned()))?;
    let exited = ExitWatch::new(pid);
    kill(Pid::from_raw(pid), Signal::SIGTERM).map_err(errno_err("kill"))?;
    if exited.wait(timeout) {
        Ok(pid)
    } else {
        Err(DaemonError::StillRunning(pid))
    }
}

/// The pid in `pidfile` if the file exists and holds a number, `None` if there is no file.
fn read_pid(pidfile: &Path) -> Result<Option<i32>, DaemonError> {
    match std::fs::read_to_string(pidfile) {
        Ok(text) => text
            .trim()
            .parse::<i32>()
            .ok()
            .filter(|&pid| pid > 0)
            .map(Some)
            .ok_or_else(|| DaemonError::BadPidFile(pidfile.to_owned())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(format!("read {}", pidfile.display()))(e)),
    }
}

/// The pid in `pidfile` if it names a live process.
fn live_pid(pidfile: &Path) -> Result<Option<i32>, DaemonError> {
    Ok(read_pid(pidfile)?.filter(|&pid| alive(pid)))
}

fn alive(pid: i32) -> bool {
    // Signal 0 checks existence; EPERM means it exists but belongs to someone else.
    matches!(kill(Pid::from_raw(pid), None), Ok(()) | Err(Errno::EPERM))
}

/// Waits for another process's exit: with a pidfd where the kernel has them (readable when
/// the process exits), else by checking on it a few times a second.
struct ExitWatch {
    pid: i32,
    pidfd: Option<OwnedFd>,
}

impl ExitWatch {
    fn new(pid: i32) -> ExitWatch {
        // SAFETY: pidfd_open takes a pid and flags; a non-negative result is a new descriptor.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        let pidfd = (fd >= 0).then(|| {
            // SAFETY: the kernel just returned this descriptor to us alone.
            unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) }
        });
        ExitWatch { pid, pidfd }
    }

    /// True if and only if the process exited within `timeout`.
    fn wait(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if !alive(self.pid) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            match &self.pidfd {
                Some(fd) => {
                    let mut p =
                        libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
                    let ms = left.as_millis().min(i32::MAX as u128) as i32;
                    // SAFETY: one valid pollfd on a descriptor we own.
                    unsafe { libc::poll(&mut p, 1, ms) };
                    // A readable pidfd means exited; a zombie still answers `kill(pid, 0)`,
                    // so trust the pidfd.
                    if p.revents != 0 {
                        return true;
                    }
                }
                None => std::thread::sleep(left.min(Duration::from_millis(50))),
            }
        }
    }
}
