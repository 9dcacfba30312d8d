//! What the machine was doing: Linux pressure stall information (PSI), load average, CPU count.
//!
//! The regression gate needs to know whether a slow run was slow because of the code or because
//! the machine was busy. PSI `some` is the share of wall time in which at least one runnable task
//! waited for a CPU (or for memory); its `total` counter (microseconds of stall since boot) gives
//! an exact average over any interval: sample it before and after, divide the difference by the
//! wall time. Where PSI is absent (old kernels, `psi=0`, some containers) every value is `None`
//! and the gate says it could not tell.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// One line of a PSI file: `some avg10=0.00 avg60=0.00 avg300=0.00 total=0`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Stall {
    /// Percent of the last 10 and 60 seconds.
    pub avg10: f64,
    pub avg60: f64,
    /// Microseconds of stall since boot.
    pub total_us: u64,
}

/// `/proc/pressure/<resource>`: `some` (at least one task stalled) and `full` (all stalled).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Pressure {
    pub some: Stall,
    /// Absent for `cpu` on kernels before 5.13.
    #[serde(default)]
    pub full: Option<Stall>,
}

/// The machine at one moment: what the run manifest records at the start of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub cpus: usize,
    /// 1, 5 and 15 minute load averages.
    pub loadavg: Option<[f64; 3]>,
    pub cpu_pressure: Option<Pressure>,
    pub memory_pressure: Option<Pressure>,
}

/// Stall during one session, from the `total` counters sampled at its start and end (ms).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionPressure {
    pub cpu_some_ms: u64,
    pub memory_some_ms: u64,
    pub memory_full_ms: u64,
}

/// The directory holding the PSI files: `/proc/pressure`, or `REEV_PRESSURE_DIR` (tests point it
/// at files they write, to replay a busy or a quiet machine exactly).
fn pressure_dir() -> PathBuf {
    std::env::var_os("REEV_PRESSURE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/proc/pressure"))
}

pub fn parse_pressure(text: &str) -> Option<Pressure> {
    let mut some = None;
    let mut full = None;
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let kind = words.next();
        let mut s = Stall::default();
        let mut seen = 0;
        for w in words {
            match w.split_once('=') {
                Some(("avg10", v)) => s.avg10 = v.parse().ok()?,
                Some(("avg60", v)) => s.avg60 = v.parse().ok()?,
                Some(("total", v)) => {
                    s.total_us = v.parse().ok()?;
                    seen += 1;
                }
                _ => {}
            }
        }
        if seen == 0 {
            continue;
        }
        match kind {
            Some("some") => some = Some(s),
            Some("full") => full = Some(s),
            _ => {}
        }
    }
    Some(Pressure { some: some?, full })
}

fn read_pressure(dir: &Path, resource: &str) -> Option<Pressure> {
    std::fs::read_to_string(dir.join(resource))
        .ok()
        .and_then(|t| parse_pressure(&t))
}

/// The kernel's PSI files, opened once per process: every session samples them twice, and a
/// read at offset 0 of an open /proc file gives its current values. Files a test points
/// REEV_PRESSURE_DIR at are replaced by rename while reev runs, so those are read by path.
struct PsiFiles {
    cpu: Option<std::fs::File>,
    memory: Option<std::fs::File>,
}

fn psi_files() -> Option<&'static PsiFiles> {
    static FILES: OnceLock<Option<PsiFiles>> = OnceLock::new();
    FILES
        .get_or_init(|| {
            let dir = std::env::var_os("REEV_PRESSURE_DIR")
                .is_none()
                .then(pressure_dir)?;
            let open = |r: &str| std::fs::File::open(dir.join(r)).ok();
            Some(PsiFiles {
                cpu: open("cpu"),
                memory: open("memory"),
            })
        })
        .as_ref()
}

fn read_open(file: Option<&std::fs::File>) -> Option<Pressure> {
    use std::os::unix::fs::FileExt;
    let mut buf = [0u8; 512];
    let n = file?.read_at(&mut buf, 0).ok()?;
    parse_pressure(std::str::from_utf8(&buf[..n]).ok()?)
}

fn loadavg() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = text.split_whitespace().map(|w| w.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

pub fn snapshot() -> Snapshot {
    let dir = pressure_dir();
    Snapshot {
        cpus: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        loadavg: loadavg(),
        cpu_pressure: read_pressure(&dir, "cpu"),
        memory_pressure: read_pressure(&dir, "memory"),
    }
}

/// The stall counters at one instant, cheap enough to take around every session.
#[derive(Debug, Clone, Copy)]
pub struct Counters {
    cpu: Option<Pressure>,
    memory: Option<Pressure>,
    at: Instant,
}

impl Counters {
    pub fn now() -> Self {
        let (cpu, memory) = match psi_files() {
            Some(f) => (read_open(f.cpu.as_ref()), read_open(f.memory.as_ref())),
            None => {
                let dir = pressure_dir();
                (read_pressure(&dir, "cpu"), read_pressure(&dir, "memory"))
            }
        };
        Counters {
            cpu,
            memory,
            at: Instant::now(),
        }
    }

    /// Stall between `self` and `later`; `None` when the CPU counter is unavailable.
    pub fn until(&self, later: &Counters) -> Option<SessionPressure> {
        let ms = |a: u64, b: u64| b.saturating_sub(a) / 1000;
        let (c0, c1) = (self.cpu?, later.cpu?);
        let mem = |f: fn(&Pressure) -> Option<u64>| match (self.memory, later.memory) {
            (Some(a), Some(b)) => Some(ms(f(&a)?, f(&b)?)),
            _ => None,
        };
        Some(SessionPressure {
            cpu_some_ms: ms(c0.some.total_us, c1.some.total_us),
            memory_some_ms: mem(|p| Some(p.some.total_us)).unwrap_or(0),
            memory_full_ms: mem(|p| p.full.map(|f| f.total_us)).unwrap_or(0),
        })
        .filter(|_| later.at >= self.at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpu_and_memory_pressure() {
        let p = parse_pressure(
            "some avg10=3.80 avg60=14.11 avg300=10.53 total=56412759\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
        )
        .unwrap();
        assert_eq!(p.some.avg10, 3.80);
        assert_eq!(p.some.avg60, 14.11);
        assert_eq!(p.some.total_us, 56_412_759);
        assert_eq!(p.full.unwrap().total_us, 0);
        // Kernels before 5.13 have no `full` line for cpu.
        let p = parse_pressure("some avg10=1.00 avg60=2.00 avg300=3.00 total=5\n").unwrap();
        assert_eq!(p.full, None);
        assert_eq!(parse_pressure(""), None);
        assert_eq!(parse_pressure("some avg10=x total=1"), None);
    }

    #[test]
    fn stall_over_an_interval_is_the_counter_difference() {
        let at = Instant::now();
        let p = |cpu: u64, mem: u64| Counters {
            cpu: Some(Pressure {
                some: Stall {
                    total_us: cpu,
                    ..Default::default()
                },
                full: None,
            }),
            memory: Some(Pressure {
                some: Stall {
                    total_us: mem,
                    ..Default::default()
                },
                full: Some(Stall::default()),
            }),
            at,
        };
        let d = p(1_000_000, 0).until(&p(1_250_000, 3_000)).unwrap();
        assert_eq!(d.cpu_some_ms, 250);
        assert_eq!(d.memory_some_ms, 3);
        let none = Counters {
            cpu: None,
            memory: None,
            at,
        };
        assert_eq!(none.until(&none), None);
    }
}
