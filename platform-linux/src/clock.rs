//! The machine's monotonic clock, as every part of the node reads it:
//! the audio pacer's deadlines, GPIO edge timestamps, the simulated
//! chip's logs.

/// Now on `CLOCK_MONOTONIC`, in nanoseconds: the clock of GPIO edge
/// timestamps and of the simulated chip's logs, shared by every process
/// on the machine.
pub fn monotonic_now_ns() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec the call writes; CLOCK_MONOTONIC
    // always exists on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    assert_eq!(rc, 0, "CLOCK_MONOTONIC is always readable");
    // Both fields are non-negative on CLOCK_MONOTONIC; u64 nanoseconds
    // last 584 years of uptime.
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}
