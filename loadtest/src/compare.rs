//! `loadtest compare`: for each backend, start `server` on a free port as a child process, run
//! the scenario (and the sweep), stop it; measure `--against` servers the same way; write the
//! report directory.

use crate::cli::CompareArgs;
use crate::plot::{self, Series};
use crate::report::{self, CompareDoc, Entry};
use crate::scenarios::{self, Config, RunReport, Scenario};
use crate::sys::Machine;
use anyhow::{anyhow, bail, Context};
use crossbeam_channel::{bounded, RecvTimeoutError};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Every backend the server may have; `compare` uses the ones that start.
pub const ALL_BACKENDS: [&str; 5] = ["thread", "pool", "queue", "event", "uring"];

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
    /// with stderr going to `log`, and waits for its `listening on` line.
    pub fn start(
        bin: &Path,
        backend: &str,
        protocol: &str,
        extra: &[String],
        log: &Path,
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
        let mut child = Command::new(bin)
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

/// The run configurations of one server: the base run, then one per sweep point.
fn plan_runs(args: &CompareArgs, base: &Config) -> anyhow::Result<Vec<(Option<String>, Config)>> {
    let mut runs = vec![(None, base.clone())];
    if let Some(sweep) = &args.scenario.sweep {
        for v in &sweep.values {
            let cfg = sweep.apply(base, v).map_err(anyhow::Error::msg)?;
            runs.push((Some(sweep.point_name(v)), cfg));
        }
    }
    Ok(runs)
}

/// Runs the whole comparison and writes `args.out`; returns the document it wrote.
pub fn compare(args: &CompareArgs, argv: &[String]) -> anyhow::Result<CompareDoc> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let bin = match &args.server_bin {
        Some(b) => b.clone(),
        None => default_server_bin()?,
    };
    let base = args.scenario.config("");
    let protocol = if base.scenario == Scenario::Echo { "echo" } else { "resp" };
    let backends: Vec<String> = if args.backends.is_empty() {
        ALL_BACKENDS.iter().map(|s| s.to_string()).collect()
    } else {
        args.backends.clone()
    };
    let runs = plan_runs(args, &base)?;
    let mut entries = Vec::new();
    for backend in &backends {
        let mut entry = Entry { name: backend.clone(), ..Default::default() };
        for (i, (point, cfg)) in runs.iter().enumerate() {
            let log = args.out.join(format!("server-{backend}.log"));
            let server = match ServerProcess::start(&bin, backend, protocol, &args.server_arg, &log)
            {
                Ok(s) => s,
                Err(e) if i == 0 => {
                    eprintln!("{backend}: unavailable: {e:#}");
                    entry.status = format!("unavailable: {e:#}");
                    break;
                }
                Err(e) => {
                    entry.notes.push(format!(
                        "{}: server did not start: {e:#}",
                        point.as_deref().unwrap_or("base")
                    ));
                    continue;
                }
            };
            entry.server_command = Some(server.command.clone());
            let cfg =
                Config { addr: server.addr.clone(), server_pid: Some(server.pid), ..cfg.clone() };
            let label = match point {
                Some(p) => format!("{backend} {p}"),
                None => backend.clone(),
            };
            let result = scenarios::run(&cfg, &label);
            if let Err(e) = server.stop() {
                entry.notes.push(format!("{label}: {e:#}"));
            }
            match result {
                Ok(r) if point.is_none() => entry.run = Some(r),
                Ok(r) => entry.sweep.push(r),
                Err(e) => entry.notes.push(format!("{label}: run failed: {e:#}")),
            }
        }
        if entry.status.is_empty() {
            entry.status = if entry.run.is_some() { "ok".into() } else { "failed".into() };
        }
        entries.push(entry);
    }
    for against in &args.against {
        let mut entry = Entry {
            name: against.name.clone(),
            external: Some(against.addr.clone()),
            ..Default::default()
        };
        for (point, cfg) in &runs {
            let cfg = Config { addr: against.addr.clone(), ..cfg.clone() };
            let label = match point {
                Some(p) => format!("{} {p}", against.name),
                None => against.name.clone(),
            };
            match scenarios::run(&cfg, &label) {
                Ok(r) if point.is_none() => entry.run = Some(r),
                Ok(r) => entry.sweep.push(r),
                Err(e) => entry.notes.push(format!("{label}: run failed: {e:#}")),
            }
        }
        entry.status = if entry.run.is_some() { "ok".into() } else { "failed".into() };
        entries.push(entry);
    }
    let doc = CompareDoc {
        command: argv.join(" "),
        generated: report::utc_now(),
        settings: base,
        sweep: args.scenario.sweep.as_ref().map(|s| s.point_name(&s.values.join(","))),
        machine: Machine::describe(),
        loadtest_version: env!("CARGO_PKG_VERSION").to_string(),
        entries,
    };
    write_dir(&args.out, &doc)?;
    Ok(doc)
}

/// Writes report.md, report.json and the plots of `doc` into `dir`.
pub fn write_dir(dir: &Path, doc: &CompareDoc) -> anyhow::Result<()> {
    let base: Vec<&RunReport> = doc.entries.iter().filter_map(|e| e.run.as_ref()).collect();
    let mut plots = Vec::new();
    if !base.is_empty() {
        let series: Vec<Series<'_, &[_]>> = base
            .iter()
            .map(|r| Series { label: r.label.as_str(), points: r.latency_curve.as_slice() })
            .collect();
        let title = format!(
            "{} latency by percentile (from scheduled send time)",
            doc.settings.scenario.name()
        );
        plot::percentile_chart(&dir.join("latency.svg"), &title, &series)?;
        plots.push(("latency by percentile", "latency.svg"));
    }
    let swept: Vec<&report::Entry> = doc.entries.iter().filter(|e| !e.sweep.is_empty()).collect();
    if !swept.is_empty() {
        let series: Vec<Series<'_, Vec<(f64, u64)>>> = swept
            .iter()
            .map(|e| Series {
                label: e.name.as_str(),
                points: e.sweep.iter().map(|r| (r.achieved_rate, r.latency_us.p99)).collect(),
            })
            .collect();
        let title = format!(
            "{} p99 latency vs throughput ({})",
            doc.settings.scenario.name(),
            doc.sweep.as_deref().unwrap_or("sweep")
        );
        plot::throughput_chart(&dir.join("throughput.svg"), &title, &series)?;
        plots.push(("p99 latency vs throughput", "throughput.svg"));
    }
    std::fs::write(dir.join("report.md"), report::compare_markdown(doc, &plots))?;
    report::write_json(&dir.join("report.json"), doc)?;
    Ok(())
}
