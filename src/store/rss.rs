//! Resident memory of this process, for the loader's `-v` timings.

/// `VmRSS` from `/proc/self/status`, as the kernel prints it (for example `81234 kB`).
pub fn rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(|l| l[6..].trim().to_string())
        })
        .unwrap_or_default()
}
