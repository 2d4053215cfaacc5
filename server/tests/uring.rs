//! What only the `uring` backend does: where io_uring is refused (here: a seccomp filter, as
//! in a container under Docker's default profile), the server fails at start saying why, and
//! the suite's uring tests say they were skipped rather than pass.

use std::os::unix::process::CommandExt;
use std::process::{Command, Output};

/// Runs `command` with `io_uring_setup` failing with EPERM, as Docker's default seccomp
/// profile makes it fail.
fn without_io_uring(mut command: Command) -> Output {
    // SAFETY: the closure runs in the child between fork and exec and only calls prctl, which
    // is async-signal-safe, with a filter program of its own that outlives the calls.
    unsafe {
        command.pre_exec(|| {
            let nr = libc::SYS_io_uring_setup as u32;
            let mut program = [
                // The system call's number (`seccomp_data.nr`, at offset 0).
                libc::BPF_STMT((libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16, 0),
                libc::BPF_JUMP((libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16, nr, 0, 1),
                libc::BPF_STMT(
                    (libc::BPF_RET | libc::BPF_K) as u16,
                    libc::SECCOMP_RET_ERRNO | libc::EPERM as u32,
                ),
                libc::BPF_STMT((libc::BPF_RET | libc::BPF_K) as u16, libc::SECCOMP_RET_ALLOW),
            ];
            let filter =
                libc::sock_fprog { len: program.len() as u16, filter: program.as_mut_ptr() };
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &filter) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command.output().expect("run the command")
}

/// The reason a process under that filter gives: the filter's, unless this machine refuses
/// io_uring already (then the reason depends on why: only its start is checked).
fn expected_reason() -> &'static str {
    match server::backend::uring::unavailable() {
        None => "io_uring_setup refused: a seccomp filter blocks it",
        Some(_) => "",
    }
}

#[test]
fn refused_io_uring_fails_at_start_with_one_line_naming_the_reason() {
    let mut command = Command::new(env!("CARGO_BIN_EXE_server"));
    command.args(["--backend", "uring", "--port", "0", "--log-level", "error"]);
    let out = without_io_uring(command);
    assert!(!out.status.success(), "started without io_uring: {out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("listening on"), "claimed to listen: {stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "not one line: {stderr}");
    let want = format!("server: io_uring is unavailable: {}", expected_reason());
    assert!(stderr.starts_with(&want), "{stderr}");
}

#[test]
fn the_suites_uring_tests_say_they_are_skipped_where_io_uring_is_refused() {
    // This very test binary, running one uring test of the suite under the filter.
    let test = "commands::ping_echo_and_quit::uring";
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.args(["--exact", test, "--test-threads", "1"]);
    let out = without_io_uring(command);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "the test did not run: {stdout}");
    let skipped = format!("SKIPPED: uring: {}", expected_reason());
    assert!(stderr.contains(&skipped) && stderr.contains(test), "no skip notice: {stderr}");
}
