//! A one-shot timer for a `mio` poll: a Linux `timerfd` on the monotonic
//! clock, with nanosecond deadlines. `epoll_wait`'s own timeout counts in
//! whole milliseconds, so a thread that must wake every 2 ms on time (the
//! media tick) would wake up to 1 ms late, a different amount each time.

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// The timer and the deadline it is armed for.
pub struct Timer {
    fd: OwnedFd,
    armed: Option<Instant>,
}

impl Timer {
    /// A disarmed timer.
    pub fn new() -> io::Result<Timer> {
        // SAFETY: timerfd_create with constant arguments; the result is checked.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Timer {
            // SAFETY: fd is a fresh descriptor we own.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            armed: None,
        })
    }

    /// Watches the timer in a poll: it is readable once it has expired.
    pub fn register(&self, registry: &Registry, token: Token) -> io::Result<()> {
        registry.register(
            &mut SourceFd(&self.fd.as_raw_fd()),
            token,
            Interest::READABLE,
        )
    }

    /// Arms the timer for `deadline` (none: disarms it) and returns the
    /// timeout to poll with: zero if the deadline has passed, else none
    /// (the timer wakes the poll).
    pub fn arm(&mut self, deadline: Option<Instant>, now: Instant) -> Option<Duration> {
        match deadline {
            Some(d) if d <= now => Some(Duration::ZERO),
            _ if self.armed == deadline => None,
            Some(d) => {
                // A zero value would disarm: wait at least a nanosecond.
                self.set((d - now).max(Duration::from_nanos(1)));
                self.armed = Some(d);
                None
            }
            None => {
                self.set(Duration::ZERO);
                self.armed = None;
                None
            }
        }
    }

    /// Consumes an expiry (call when the poll reports the timer readable).
    pub fn clear(&mut self) {
        let mut count = [0u8; 8];
        // SAFETY: reads at most 8 bytes into a local buffer.
        unsafe { libc::read(self.fd.as_raw_fd(), count.as_mut_ptr().cast(), 8) };
        self.armed = None;
    }

    fn set(&self, after: Duration) {
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: after.as_secs() as libc::time_t,
                tv_nsec: after.subsec_nanos() as libc::c_long,
            },
        };
        // SAFETY: a valid descriptor and a local itimerspec; the old value is not wanted.
        unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mio::{Events, Poll};

    #[test]
    fn wakes_the_poll_at_the_deadline_not_the_next_millisecond() {
        let mut poll = Poll::new().unwrap();
        let mut timer = Timer::new().unwrap();
        timer.register(poll.registry(), Token(1)).unwrap();
        let mut events = Events::with_capacity(4);
        let mut late = Vec::new();
        for _ in 0..20 {
            let start = Instant::now();
            let deadline = start + Duration::from_micros(1500);
            assert_eq!(timer.arm(Some(deadline), start), None);
            poll.poll(&mut events, Some(Duration::from_secs(1)))
                .unwrap();
            let woke = Instant::now();
            assert!(
                events.iter().any(|e| e.token() == Token(1)),
                "the timer fired"
            );
            timer.clear();
            assert!(woke >= deadline, "not early");
            late.push(woke - deadline);
        }
        late.sort();
        // epoll's millisecond timeout would make this 500 µs or more.
        assert!(
            late[10] < Duration::from_micros(400),
            "median lateness {:?}",
            late[10]
        );
    }

    #[test]
    fn a_passed_deadline_polls_at_once_and_none_disarms() {
        let mut poll = Poll::new().unwrap();
        let mut timer = Timer::new().unwrap();
        timer.register(poll.registry(), Token(1)).unwrap();
        let now = Instant::now();
        assert_eq!(timer.arm(Some(now), now), Some(Duration::ZERO));
        assert_eq!(timer.arm(Some(now + Duration::from_millis(5)), now), None);
        assert_eq!(timer.arm(None, now), None);
        let mut events = Events::with_capacity(4);
        poll.poll(&mut events, Some(Duration::from_millis(30)))
            .unwrap();
        assert!(events.is_empty(), "disarmed");
    }
}
