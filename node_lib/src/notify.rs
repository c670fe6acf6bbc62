//! systemd notification: READY, STOPPING, RELOADING, and the watchdog,
//! fed only while the data-plane loop is going round.

use std::time::Duration;

/// The watchdog interval systemd asked for, if any: `WATCHDOG_USEC`, and
/// `WATCHDOG_PID` (when set, as systemd does) naming this process, as in
/// sd_watchdog_enabled(3).
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.parse::<u32>().ok()? != std::process::id() {
            return None;
        }
    }
    (usec > 0).then(|| Duration::from_micros(usec))
}

/// Whether to feed the watchdog: only when the data plane went round
/// recently, so a stuck loop gets the service restarted.
pub fn should_feed(heartbeat_age: Duration, interval: Duration) -> bool {
    heartbeat_age < interval / 2
}

fn send(states: &[sd_notify::NotifyState]) {
    if let Err(e) = sd_notify::notify(false, states) {
        tracing::debug!(error = %e, "sd_notify failed");
    }
}

pub fn ready(status: &str) {
    send(&[
        sd_notify::NotifyState::Ready,
        sd_notify::NotifyState::Status(status),
    ]);
}

pub fn stopping() {
    send(&[sd_notify::NotifyState::Stopping]);
}

pub fn reloading() {
    match sd_notify::NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[sd_notify::NotifyState::Reloading, now]),
        Err(_) => send(&[sd_notify::NotifyState::Reloading]),
    }
}

pub fn watchdog() {
    send(&[sd_notify::NotifyState::Watchdog]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feeds_only_a_live_loop() {
        let i = Duration::from_secs(4);
        assert!(should_feed(Duration::from_millis(100), i));
        assert!(!should_feed(Duration::from_secs(3), i));
    }
}
