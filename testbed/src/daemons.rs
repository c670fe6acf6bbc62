//! The daemons: their keys and configs, starting, stopping and
//! restarting them, their logs and what they cost (CPU, memory).

use super::*;
use config_file::{ConfigFile, SecurityMode};

impl Testbed {
    /// Makes every node's key pair once, with the daemons' own `keygen`.
    pub fn ensure_keys(&mut self) {
        if !self.keys.is_empty() {
            return;
        }
        for n in &self.nodes {
            let path = self.dir.join(format!("{}.key", n.name));
            let bin = daemon_binary(n.role, None);
            let out = Command::new(&bin)
                .arg("keygen")
                .arg(&path)
                .output()
                .expect("run keygen");
            assert!(
                out.status.success(),
                "keygen: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            self.keys
                .push(String::from_utf8_lossy(&out.stdout).trim().to_string());
        }
    }

    /// Node `i`'s `[security]` in `mode`: its key file and the keys it
    /// trusts (every node of the other role that is not distrusted).
    fn security_section(&mut self, i: usize, mode: SecurityMode) -> config_file::Security {
        self.ensure_keys();
        let keys = |role: Role| -> Vec<String> {
            self.nodes
                .iter()
                .enumerate()
                .filter(|(j, n)| n.role == role && !self.distrusted.contains(j))
                .map(|(j, _)| self.keys[j].clone())
                .collect()
        };
        let key = self.dir.join(format!("{}.key", self.nodes[i].name));
        let (trusted_rsus, allowed_obus) = match self.nodes[i].role {
            Role::Obu => (Some(keys(Role::Rsu)), None),
            Role::Rsu => (None, Some(keys(Role::Obu))),
        };
        config_file::Security {
            mode: Some(mode.as_str().into()),
            key_file: Some(key.display().to_string()),
            trusted_rsus,
            allowed_obus,
            ..config_file::Security::default()
        }
    }

    /// Node `i`'s configuration for `opts`, as the daemons' own file type
    /// (TUN addresses from the addressing plan), with the options' extra
    /// TOML laid over it. Panics on an extra key the daemons do not know.
    pub fn config_for(&mut self, i: usize, opts: &NodeOptions) -> ConfigFile {
        let security = opts.security.map(|mode| self.security_section(i, mode));
        let n = &self.nodes[i];
        let (len4, len6) = if opts.tun_host_addresses {
            (32, 128)
        } else {
            (16, 64)
        };
        let cpu = opts.pin_cpus.then(|| {
            let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
            (i % cpus) as i64
        });
        let base = ConfigFile {
            link: Some(config_file::Link {
                interface: Some("radio0".into()),
                ..Default::default()
            }),
            tun: Some(config_file::Tun {
                name: Some("v2x0".into()),
                addresses: Some(vec![
                    format!("{}/{len4}", n.addr4),
                    format!("{}/{len6}", n.addr6),
                ]),
                routes: (!opts.tun_routes.is_empty()).then(|| opts.tun_routes.clone()),
                offload: Some(opts.offload),
                ..Default::default()
            }),
            routing: Some(config_file::Routing {
                beacon_interval_ms: Some(opts.beacon_interval_ms as i64),
                neighbor_timeout_ms: opts.neighbor_timeout_ms.map(|t| t as i64),
                max_hops: Some(i64::from(opts.max_hops)),
                broadcast_ttl: Some(i64::from(opts.broadcast_ttl)),
                ..Default::default()
            }),
            batching: Some(config_file::Batching {
                enabled: Some(opts.batching),
                max_batch: Some(opts.max_batch as i64),
                aggregate: Some(opts.aggregate),
            }),
            dataplane: cpu.map(|cpu| config_file::Dataplane {
                cpu: Some(cpu),
                ..Default::default()
            }),
            api: Some(config_file::Api {
                listen: Some(API_ADDR.into()),
            }),
            log: Some(config_file::Log {
                level: Some(opts.log_level.clone()),
                format: None,
            }),
            security,
            ..ConfigFile::default()
        };
        // The test's own lines, each inside its section, then whole
        // sections; checked against the file's keys here, not when the
        // daemon starts.
        let lines_in = |section: &str, lines: &str| {
            (!lines.trim().is_empty()).then(|| format!("[{section}]\n{lines}"))
        };
        [
            lines_in("routing", &opts.routing_extra),
            lines_in("dataplane", &opts.dataplane),
            lines_in("security", &opts.security_extra).filter(|_| opts.security.is_some()),
            Some(opts.extra.clone()),
        ]
        .iter()
        .flatten()
        .try_fold(base, |file, more| file.with_toml(more))
        .unwrap_or_else(|e| panic!("testbed options for node {i}: {e}"))
    }

    /// Writes node `i`'s config ([`Testbed::config_for`]).
    pub fn write_config(&mut self, i: usize, opts: &NodeOptions) -> PathBuf {
        let text = format!(
            "# generated by the testbed\n{}",
            self.config_for(i, opts).to_toml()
        );
        let n = &self.nodes[i];
        let path = self.dir.join(format!("{}.toml", n.name));
        std::fs::write(&path, text).expect("write config");
        self.nodes[i].config = path.clone();
        self.nodes[i].bin_dir = opts.bin_dir.clone();
        path
    }

    /// Starts node `i`'s daemon with `opts` (config written first).
    pub fn start(&mut self, i: usize, opts: &NodeOptions) {
        self.write_config(i, opts);
        self.start_with_env(i, &[]);
    }

    /// Starts node `i`'s daemon with its current config and extra environment.
    pub fn start_with_env(&mut self, i: usize, env: &[(&str, &str)]) {
        self.start_wrapped(i, env, &[]);
    }

    /// Starts node `i`'s daemon with its current config, extra environment,
    /// and `wrapper` (a command that execs its arguments, e.g. `setpriv
    /// ... --`) in front of the daemon binary, so the PID stays the daemon's.
    pub fn start_wrapped(&mut self, i: usize, env: &[(&str, &str)], wrapper: &[&str]) {
        self.spawn_daemon(i, env, wrapper);
        self.wait_started(i);
    }

    /// Starts node `i`'s daemon and returns at once, without waiting for
    /// it to answer (tests of start-up itself: a kill during start-up, a
    /// fault driver that watches for daemons that do not come up).
    fn spawn_daemon(&mut self, i: usize, env: &[(&str, &str)], wrapper: &[&str]) {
        let bin = daemon_binary(self.nodes[i].role, self.nodes[i].bin_dir.as_deref());
        let n = &mut self.nodes[i];
        let log = self.dir.join(format!("{}.log", n.name));
        let f = std::fs::File::create(&log).expect("log file");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &n.ns])
            .args(wrapper)
            .arg(&bin)
            .arg("--config")
            .arg(&n.config)
            .stdin(Stdio::null())
            .stdout(f.try_clone().expect("dup"))
            .stderr(f);
        for (k, v) in env {
            cmd.env(k, v);
        }
        if self.own_process_groups {
            own_process_group(&mut cmd);
        }
        n.daemon = Some(cmd.spawn().expect("spawn daemon"));
        n.log = log;
    }

    /// Waits until node `i`'s freshly started daemon answers its API, so
    /// that a caller's first read finds it listening. Panics, with the
    /// daemon's log, when it exits first or does not answer within
    /// [`START_WAIT`].
    fn wait_started(&mut self, i: usize) {
        let deadline = Instant::now() + START_WAIT;
        loop {
            if let Some(Ok(Some(status))) = self.nodes[i].daemon.as_mut().map(|c| c.try_wait()) {
                panic!(
                    "{}: the daemon exited during start-up ({status}); log:\n{}",
                    self.nodes[i].name,
                    self.log(i)
                );
            }
            if matches!(self.api(i, "/healthz"), Ok((200, _))) {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "{}: the daemon's API did not answer within {START_WAIT:?} of its start; log:\n{}",
                    self.nodes[i].name,
                    self.log(i)
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Starts the daemons of `nodes`, each with its options, all at once,
    /// and returns when every one answers its API (a large lab starts in
    /// the time of its slowest daemon, not the sum of them all).
    pub fn start_many(&mut self, nodes: &[(usize, NodeOptions)]) {
        for (i, opts) in nodes {
            self.write_config(*i, opts);
            self.spawn_daemon(*i, &[], &[]);
        }
        for (i, _) in nodes {
            self.wait_started(*i);
        }
    }

    /// Starts every node with the same options.
    pub fn start_all(&mut self, opts: &NodeOptions) {
        for i in 0..self.nodes.len() {
            self.start(i, opts);
        }
    }

    /// Stops node `i`'s daemon with SIGTERM; returns its exit status code.
    pub fn stop(&mut self, i: usize) -> Option<i32> {
        let mut child = self.nodes[i].daemon.take()?;
        // SAFETY: sends a signal to our own child's pid.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(8);
        loop {
            if let Ok(Some(st)) = child.try_wait() {
                return st.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills node `i`'s daemon with SIGKILL, as a crash would: it gets no
    /// chance to clean up. Returns once the process is gone.
    pub fn kill9(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].daemon.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts node `i`'s daemon again with its current config (after
    /// [`Testbed::kill9`] or [`Testbed::stop`]); its earlier log is kept
    /// beside the new one.
    pub fn restart(&mut self, i: usize) {
        self.restart_nowait(i);
        self.wait_started(i);
    }

    /// [`Testbed::restart`] without waiting for the daemon to answer.
    pub fn restart_nowait(&mut self, i: usize) {
        let n = &self.nodes[i];
        if n.log.exists() {
            let mut old = std::fs::read(&n.log).unwrap_or_default();
            let keep = self.dir.join(format!("{}.old.log", n.name));
            let mut all = std::fs::read(&keep).unwrap_or_default();
            all.append(&mut old);
            let _ = std::fs::write(&keep, all);
        }
        self.spawn_daemon(i, &[], &[]);
    }

    /// PID of node `i`'s daemon (`ip netns exec` execs it in place).
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.nodes[i].daemon.as_ref().map(|c| c.id())
    }

    /// The daemon log of node `i`.
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(&self.nodes[i].log).unwrap_or_default()
    }

    /// The last `lines` lines of node `i`'s daemon log (for failure
    /// messages: a log under attack can be long).
    pub fn log_tail(&self, i: usize, lines: usize) -> String {
        let log = self.log(i);
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// CPU time (user + system) node `i`'s daemon has used so far.
    pub fn cpu_time(&self, i: usize) -> Option<Duration> {
        let pid = self.pid(i)?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command name (which may hold spaces).
        let rest = stat.rsplit_once(')')?.1;
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        let sampled = Duration::from_micros(ticks * 1_000_000 / hz);
        // /proc/PID/stat counts in clock ticks (10 ms), so a quiet daemon
        // of a short run can be charged none at all; the scheduler's own
        // count of its live threads is exact (but forgets threads that
        // ended, which the ticks keep): the larger of the two.
        Some(sampled.max(Self::live_threads_cpu(pid)))
    }

    /// CPU time of process `pid`'s live threads by the scheduler (ns).
    fn live_threads_cpu(pid: u32) -> Duration {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return Duration::ZERO;
        };
        let ns: u64 = tasks
            .filter_map(|t| {
                let text = std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok()?;
                text.split_whitespace().next()?.parse::<u64>().ok()
            })
            .sum();
        Duration::from_nanos(ns)
    }

    /// The most memory node `i`'s daemon has held (VmHWM), KiB.
    pub fn peak_rss_kib(&self, i: usize) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid(i)?)).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }
}

/// Puts the command in a process group of its own (a Ctrl-C at the
/// terminal does not reach it), at the normal scheduling policy and
/// priority (a driver may run above it), and has the kernel send it SIGTERM if the thread
/// that started it dies (a driver killed with SIGKILL leaves no daemon
/// behind).
pub fn own_process_group(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0);
    // SAFETY: the closure runs in the child between fork and exec and
    // calls only setpriority, sched_setscheduler and prctl, plain system
    // calls that are async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setpriority(libc::PRIO_PROCESS, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            let normal = libc::sched_param { sched_priority: 0 };
            if libc::sched_setscheduler(0, libc::SCHED_OTHER, &normal) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}
