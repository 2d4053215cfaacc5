//! What the tool reads about processes: its own CPU time, a server's CPU time and resident
//! memory (from `/proc`), the file-descriptor limit, a description of the machine, and the CPU
//! sets (affinity masks) that keep the load generator and the server under test apart.

use serde::{Deserialize, Serialize};
use std::io;

/// CPU seconds (user + system) this process has used so far.
pub fn own_cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// CPU seconds (user + system) process `pid` has used so far, from `/proc/PID/stat`.
pub fn process_cpu_seconds(pid: u32) -> io::Result<f64> {
    stat_cpu_seconds(&format!("/proc/{pid}/stat"))
}

/// CPU seconds (user + system) thread `tid` of this process has used so far.
pub fn thread_cpu_seconds(tid: u32) -> io::Result<f64> {
    stat_cpu_seconds(&format!("/proc/self/task/{tid}/stat"))
}

/// Threads of process `pid` now.
pub fn process_threads(pid: u32) -> io::Result<usize> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/task"))?.count())
}

/// The CPU seconds in a `stat` file of `/proc`.
fn stat_cpu_seconds(path: &str) -> io::Result<f64> {
    let stat = std::fs::read_to_string(path)?;
    // The command name (field 2) may contain spaces; the fields we need follow its `)`.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After `)`: state is index 0, so utime (field 14) is index 11 and stime index 12.
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // SAFETY: sysconf has no memory effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Ok((ticks(11) + ticks(12)) / hz)
}

/// Nanoseconds process `pid` has run on a CPU so far: the sum over its threads of the first
/// field of `/proc/PID/task/TID/schedstat` (finer than the clock ticks of `stat`). Threads
/// that already exited are not counted.
pub fn process_cpu_ns(pid: u32) -> io::Result<u64> {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let path = task?.path().join("schedstat");
        // A thread may exit between the listing and the read.
        if let Ok(text) = std::fs::read_to_string(path) {
            total +=
                text.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        }
    }
    Ok(total)
}

/// Resident memory of process `pid` in KiB (`VmRSS` in `/proc/PID/status`).
pub fn process_rss_kib(pid: u32) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| io::Error::other("no VmRSS line"))
}

/// Raises the soft open-files limit to the hard limit; returns the new soft limit.
pub fn raise_fd_limit() -> io::Result<u64> {
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return Err(io::Error::last_os_error());
        }
        if lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(lim.rlim_cur as u64)
    }
}

/// The machine a report was measured on.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Machine {
    pub cpu_model: String,
    pub cpus: usize,
    pub memory_gib: f64,
    pub kernel: String,
    pub os: String,
}

impl Machine {
    /// What `/proc` says about this machine (fields it cannot read stay empty).
    pub fn describe() -> Machine {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let cpu_model = read("/proc/cpuinfo")
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name")?.split_once(':').map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_default();
        let memory_gib = read("/proc/meminfo")
            .lines()
            .find_map(|l| {
                l.strip_prefix("MemTotal:")?.split_whitespace().next()?.parse::<f64>().ok()
            })
            .map(|kib| kib / 1024.0 / 1024.0)
            .unwrap_or(0.0);
        let os = read("/etc/os-release")
            .lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME=").map(|v| v.trim_matches('"').to_string()))
            .unwrap_or_default();
        Machine {
            cpu_model,
            cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
            memory_gib,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
            os,
        }
    }
}

/// The CPUs this thread may run on (`sched_getaffinity`), lowest first.
pub fn allowed_cpus() -> io::Result<Vec<usize>> {
    affinity_of(0)
}

/// The CPUs thread or process `pid` may run on (0: the calling thread), lowest first.
pub fn affinity_of(pid: u32) -> io::Result<Vec<usize>> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity writes at most its size.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    if unsafe { libc::sched_getaffinity(pid as libc::pid_t, size, &mut set) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((0..libc::CPU_SETSIZE as usize).filter(|&c| unsafe { libc::CPU_ISSET(c, &set) }).collect())
}

/// `cpus` as a `cpu_set_t`, for [`pin`] (also from a child between fork and exec).
pub fn cpu_set(cpus: &[usize]) -> libc::cpu_set_t {
    // SAFETY: cpu_set_t is plain data; CPU_SET writes inside it for indices below CPU_SETSIZE.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &c in cpus.iter().filter(|&&c| c < libc::CPU_SETSIZE as usize) {
        unsafe { libc::CPU_SET(c, &mut set) };
    }
    set
}

/// Confines the calling thread to `set`; the threads it starts afterwards inherit it, and so
/// does a process it starts. Only a system call: safe between fork and exec.
pub fn pin(set: &libc::cpu_set_t) -> io::Result<()> {
    // SAFETY: sched_setaffinity only reads the set we pass.
    let size = std::mem::size_of::<libc::cpu_set_t>();
    if unsafe { libc::sched_setaffinity(0, size, set) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The CPUs given to the load generator and to the server under test: disjoint sets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuSplit {
    pub tool: Vec<usize>,
    pub server: Vec<usize>,
}

impl CpuSplit {
    /// The default split of `allowed`: the load generator takes the lower half (at least one
    /// CPU), the server the rest; `None` with fewer than two CPUs.
    pub fn halves(allowed: &[usize]) -> Option<CpuSplit> {
        if allowed.len() < 2 {
            return None;
        }
        let (tool, server) = allowed.split_at(allowed.len() / 2);
        Some(CpuSplit { tool: tool.to_vec(), server: server.to_vec() })
    }

    /// `TOOL/SERVER`, two CPU lists such as `0/1` or `0-1/2-7`: both non-empty, disjoint and
    /// within `allowed`.
    pub fn parse(spec: &str, allowed: &[usize]) -> Result<CpuSplit, String> {
        let (tool, server) = spec
            .split_once('/')
            .ok_or_else(|| format!("{spec:?}: expected TOOL/SERVER CPU lists, e.g. 0/1"))?;
        let split = CpuSplit { tool: parse_cpu_list(tool)?, server: parse_cpu_list(server)? };
        if let Some(c) = split.tool.iter().find(|c| split.server.contains(c)) {
            return Err(format!("{spec:?}: CPU {c} is in both sets"));
        }
        if let Some(c) = split.tool.iter().chain(&split.server).find(|c| !allowed.contains(c)) {
            return Err(format!(
                "{spec:?}: CPU {c} is not one this process may use ({})",
                cpu_list(allowed)
            ));
        }
        Ok(split)
    }
}

/// A CPU list such as `0-3,6` (the form of `taskset -c` and `/proc/PID/status`), sorted and
/// without repeats; never empty.
pub fn parse_cpu_list(s: &str) -> Result<Vec<usize>, String> {
    let mut cpus = Vec::new();
    for part in s.split(',').map(str::trim) {
        let bad = || format!("{s:?} is not a CPU list such as 0-3,6");
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b): (usize, usize) =
            (a.trim().parse().map_err(|_| bad())?, b.trim().parse().map_err(|_| bad())?);
        if a > b || b >= libc::CPU_SETSIZE as usize {
            return Err(bad());
        }
        cpus.extend(a..=b);
    }
    cpus.sort_unstable();
    cpus.dedup();
    Ok(cpus)
}

/// `cpus` as a CPU list: `0-3,6`.
pub fn cpu_list(cpus: &[usize]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let mut j = i;
        while j + 1 < cpus.len() && cpus[j + 1] == cpus[j] + 1 {
            j += 1;
        }
        parts.push(if i == j { cpus[i].to_string() } else { format!("{}-{}", cpus[i], cpus[j]) });
        i = j + 1;
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_figures_are_readable() {
        let pid = std::process::id();
        assert!(process_rss_kib(pid).unwrap() > 0);
        assert!(process_cpu_seconds(pid).unwrap() >= 0.0);
        assert!(process_cpu_ns(pid).unwrap() > 0);
        assert!(process_threads(pid).unwrap() >= 1);
        // SAFETY: gettid has no arguments and no memory effects.
        let tid = unsafe { libc::syscall(libc::SYS_gettid) } as u32;
        assert!(thread_cpu_seconds(tid).unwrap() >= 0.0);
        assert!(own_cpu_seconds() >= 0.0);
        assert!(raise_fd_limit().unwrap() >= 64);
        assert!(Machine::describe().cpus >= 1);
    }

    #[test]
    fn cpu_lists_and_splits() {
        assert_eq!(parse_cpu_list("0-3,6,2").unwrap(), vec![0, 1, 2, 3, 6]);
        assert_eq!(cpu_list(&[0, 1, 2, 3, 6, 8, 9]), "0-3,6,8-9");
        assert!(parse_cpu_list("3-1").is_err() && parse_cpu_list("x").is_err());
        assert_eq!(CpuSplit::halves(&[0]), None);
        let two = CpuSplit::halves(&[0, 1]).unwrap();
        assert_eq!((two.tool, two.server), (vec![0], vec![1]));
        let odd = CpuSplit::halves(&[0, 1, 2, 3, 4]).unwrap();
        assert_eq!((odd.tool, odd.server), (vec![0, 1], vec![2, 3, 4]));
        let all = [0, 1, 2, 3];
        assert_eq!(CpuSplit::parse("0/1-3", &all).unwrap().server, vec![1, 2, 3]);
        assert!(CpuSplit::parse("0-1/1", &all).unwrap_err().contains("in both"));
        assert!(CpuSplit::parse("0/9", &all).unwrap_err().contains("not one"));
        assert!(CpuSplit::parse("0", &all).is_err());
    }

    #[test]
    fn a_pinned_thread_runs_where_it_was_put() {
        let allowed = allowed_cpus().unwrap();
        assert!(!allowed.is_empty());
        let last = *allowed.last().unwrap();
        let got = std::thread::spawn(move || {
            pin(&cpu_set(&[last])).unwrap();
            affinity_of(0).unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(got, vec![last]);
        // The pin was that thread's alone.
        assert_eq!(allowed_cpus().unwrap(), allowed);
    }
}
