//! What the load bench reads about a process from `/proc`: CPU time (user and system apart),
//! write-class syscalls (all, and the daemon's writer threads'), resident memory.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

/// CPU time of a process or thread, in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Cpu {
    /// In user space (`utime`).
    pub user: f64,
    /// In the kernel on its behalf (`stime`): syscalls, the loopback network, wake-ups.
    pub system: f64,
}

impl Cpu {
    pub fn total(self) -> f64 {
        self.user + self.system
    }
}

impl std::ops::Sub for Cpu {
    type Output = Cpu;
    fn sub(self, rhs: Cpu) -> Cpu {
        Cpu {
            user: self.user - rhs.user,
            system: self.system - rhs.system,
        }
    }
}

/// utime and stime of a `stat` file (`/proc/PID/stat`, `/proc/thread-self/stat`).
pub fn cpu_of(stat: impl AsRef<Path>) -> Cpu {
    let stat = std::fs::read_to_string(stat).unwrap_or_default();
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let seconds = |i: usize| {
        let ticks = fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0);
        ticks as f64 / clock_ticks()
    };
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
    Cpu {
        user: seconds(11),
        system: seconds(12),
    }
}

/// CPU time of a process (all its threads).
pub fn cpu(pid: u32) -> Cpu {
    cpu_of(format!("/proc/{pid}/stat"))
}

/// Clock ticks per second of `stat`'s times (asked once).
fn clock_ticks() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// `syscw` of an `io` file under /proc: write-class syscalls.
fn syscw(io: impl AsRef<Path>) -> u64 {
    let io = std::fs::read_to_string(io).unwrap_or_default();
    io.lines()
        .find_map(|l| l.strip_prefix("syscw:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Write-class syscalls of a process.
pub fn write_syscalls(pid: u32) -> u64 {
    syscw(format!("/proc/{pid}/io"))
}

/// Write syscalls of the daemon's writer threads: its file writes (and their wake-ups).
pub fn writer_thread_writes(pid: u32) -> u64 {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten();
    tasks
        .flatten()
        .filter(|t| {
            let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
            matches!(comm.trim(), "state-writer" | "decision-log")
        })
        .map(|t| syscw(t.path().join("io")))
        .sum()
}

/// Resident memory of a process, KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}
