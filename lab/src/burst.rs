//! A `cpu-burst` event: a busy loop on every core of the host for a
//! while, as a neighbour's job or a daemon gone wild would load a real
//! machine. One thread per core in the lab's process, at the normal
//! priority the daemons have (the lab's own threads run above it and the
//! radio loop real-time; a burst must load the machine, not the lab's
//! clock). Each thread ends by itself when its time is up, and at once
//! when the run stops (Ctrl-C).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A burst in progress.
pub struct Burst {
    threads: Vec<std::thread::JoinHandle<()>>,
    done: Arc<AtomicBool>,
    /// CPU the burst's threads burnt, ns (added as each ends).
    cpu_ns: Arc<AtomicU64>,
    /// Threads that could not leave the real-time policy they inherited.
    still_realtime: Arc<AtomicU64>,
}

/// This thread back to the normal policy and nice 0 (threads inherit the
/// spawning thread's real-time policy and the lab's raised priority);
/// whether it is at the normal policy now.
fn normal_priority() -> bool {
    let normal = libc::sched_param { sched_priority: 0 };
    // SAFETY: sched_setscheduler, setpriority and sched_getscheduler on
    // the calling thread (pid 0) with a valid parameter; failing leaves it
    // as it was.
    unsafe {
        libc::sched_setscheduler(0, libc::SCHED_OTHER, &normal);
        libc::setpriority(libc::PRIO_PROCESS, 0, 0);
        libc::sched_getscheduler(0) == libc::SCHED_OTHER
    }
}

/// This thread's CPU time.
fn thread_cpu() -> Duration {
    // SAFETY: timespec is plain old data, filled in by clock_gettime.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: clock_gettime writes into a valid timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

impl Burst {
    /// Starts a burst of `duration` on every core; `stop` (the run's
    /// Ctrl-C flag) ends it early.
    pub fn start(duration: Duration, stop: Arc<AtomicBool>) -> crate::Result<Burst> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let end = Instant::now() + duration;
        let done = Arc::new(AtomicBool::new(false));
        let cpu_ns = Arc::new(AtomicU64::new(0));
        let still_realtime = Arc::new(AtomicU64::new(0));
        let mut threads = Vec::new();
        for k in 0..cores {
            let (stop, done, cpu_ns) = (stop.clone(), done.clone(), cpu_ns.clone());
            let rt = still_realtime.clone();
            let t = std::thread::Builder::new()
                .name(format!("cpu-burst{k}"))
                .spawn(move || {
                    if !normal_priority() {
                        // A real-time busy loop would starve the machine:
                        // no burst from this thread.
                        rt.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                    let mut x: u64 = k as u64;
                    while Instant::now() < end
                        && !stop.load(Ordering::Relaxed)
                        && !done.load(Ordering::Relaxed)
                    {
                        for _ in 0..10_000 {
                            x = std::hint::black_box(x.wrapping_mul(6364136223846793005) + 1);
                        }
                    }
                    cpu_ns.fetch_add(thread_cpu().as_nanos() as u64, Ordering::Relaxed);
                })
                .map_err(crate::Error::io("cpu-burst thread"))?;
            threads.push(t);
        }
        Ok(Burst {
            threads,
            done,
            cpu_ns,
            still_realtime,
        })
    }

    /// Asks the threads to end now (they end by themselves when their time
    /// is up).
    pub fn end(&self) {
        self.done.store(true, Ordering::SeqCst);
    }

    /// Whether every thread has ended: [`Burst::finish`] will not wait.
    pub fn ended(&self) -> bool {
        self.threads.iter().all(|t| t.is_finished())
    }

    /// Threads that stayed real-time and so burnt nothing (0 on Linux as
    /// root or not: leaving a real-time policy is always allowed).
    pub fn still_realtime(&self) -> u64 {
        self.still_realtime.load(Ordering::SeqCst)
    }

    /// Ends the burst now if it still runs; returns the CPU it burnt.
    pub fn finish(mut self) -> Duration {
        self.done.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        Duration::from_nanos(self.cpu_ns.load(Ordering::Relaxed))
    }
}

impl Drop for Burst {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_loads_every_core_and_ends_by_itself() {
        let t = Instant::now();
        let b = Burst::start(Duration::from_millis(200), Arc::new(AtomicBool::new(false))).unwrap();
        std::thread::sleep(Duration::from_millis(400));
        assert!(b.ended());
        let cpu = b.finish();
        // Each core's thread ran for most of its 200 ms (a loaded test
        // machine may give it less), and none ran on past it.
        assert!(cpu >= Duration::from_millis(50), "{cpu:?}");
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
        assert!(cpu <= Duration::from_millis(300) * cores, "{cpu:?}");
        assert!(t.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_burst_from_the_real_time_radio_thread_runs_at_normal_priority() {
        // As from the radio loop: a real-time thread starts it.
        let t = std::thread::spawn(|| {
            let p = libc::sched_param { sched_priority: 10 };
            // SAFETY: sched_setscheduler on this thread with a valid param.
            if unsafe { libc::sched_setscheduler(0, libc::SCHED_RR, &p) } != 0 {
                return None; // not root: nothing to check
            }
            let b = Burst::start(Duration::from_millis(100), Arc::new(AtomicBool::new(false)));
            let b = b.unwrap();
            std::thread::sleep(Duration::from_millis(150));
            Some((b.still_realtime(), b.finish()))
        });
        if let Some((rt, cpu)) = t.join().unwrap() {
            assert_eq!(rt, 0);
            assert!(cpu > Duration::ZERO);
        }
    }

    #[test]
    fn a_stop_ends_it_at_once() {
        let stop = Arc::new(AtomicBool::new(false));
        let t = Instant::now();
        let b = Burst::start(Duration::from_secs(60), stop.clone()).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        stop.store(true, Ordering::SeqCst);
        b.finish();
        assert!(t.elapsed() < Duration::from_secs(5));
    }
}
