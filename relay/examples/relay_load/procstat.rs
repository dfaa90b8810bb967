//! CPU and memory of a process (the relay's, and this one's), from /proc,
//! as the Mumble peer harness's `procstat.py` reads them.

use std::time::Instant;

fn clock_ticks_per_s() -> f64 {
    // SAFETY: sysconf has no memory effects; _SC_CLK_TCK is a valid name.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// utime and stime of the whole process (all threads), in s.
pub fn user_sys_s(pid: &str) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    let after = stat.rsplit_once(')').expect("comm ends with ')'").1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields[i].parse::<f64>().expect("a number");
    let hz = clock_ticks_per_s();
    (ticks(11) / hz, ticks(12) / hz)
}

/// Run time of the process's live threads, in ns (schedstat).
pub fn sched_ns(pid: &str) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// (busy, total) jiffies of all CPUs.
fn machine() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").expect("/proc/stat");
    let parts: Vec<u64> = stat
        .lines()
        .next()
        .expect("a cpu line")
        .split_whitespace()
        .skip(1)
        .map(|p| p.parse().expect("a number"))
        .collect();
    let total: u64 = parts.iter().sum();
    (total - parts[3] - parts[4], total)
}

/// VmRSS, VmHWM (kB) and Threads.
pub fn mem(pid: &str) -> (u64, u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS"), field("VmHWM"), field("Threads"))
}

/// One measuring window over the server and this process.
pub struct Window {
    pid: String,
    t0: Instant,
    user_sys0: (f64, f64),
    sched0: u64,
    machine0: (u64, u64),
    own0: (f64, f64),
}

impl Window {
    pub fn start(pid: &str) -> Window {
        Window {
            pid: pid.to_owned(),
            t0: Instant::now(),
            user_sys0: user_sys_s(pid),
            sched0: sched_ns(pid),
            machine0: machine(),
            own0: user_sys_s("self"),
        }
    }

    /// The window as the harness's JSON object.
    pub fn stop(&self) -> String {
        let (user, sys) = user_sys_s(&self.pid);
        let sched = sched_ns(&self.pid);
        let m = machine();
        let own = user_sys_s("self");
        let busy = (m.0 - self.machine0.0) as f64 / (m.1 - self.machine0.1).max(1) as f64;
        let (u, s) = (user - self.user_sys0.0, sys - self.user_sys0.1);
        format!(
            "{{\"wall_s\": {:.4}, \"server_cpu_s_stat\": {:.4}, \"server_cpu_s_sched\": {:.6}, \
             \"server_user_s\": {u:.4}, \"server_sys_s\": {s:.4}, \"machine_busy_frac\": {busy:.4}, \
             \"client_cpu_s\": {:.4}}}",
            self.t0.elapsed().as_secs_f64(),
            u + s,
            (sched - self.sched0) as f64 / 1e9,
            (own.0 - self.own0.0) + (own.1 - self.own0.1),
        )
    }
}
