//! The open-file budget: every RTP port pair the switch opens is two
//! sockets, so the port range must fit under the process's open-file limit
//! beside what else it opens (SIP connections, the store, listeners).
//! Otherwise, under load, binding a port fails with "too many open files"
//! long before the pool runs out, and calls fail at random instead of
//! getting a clean `503`.

use tracing::{info, warn};

/// Open files kept for everything but RTP, besides the SIP connections:
/// listeners, the pollers and their wakers, the store, HTTP, logs.
pub const OTHER_FILES: u64 = 1024;

/// Raises the soft limit on open files to the hard limit; returns the
/// limit now in force (`None` where it cannot be read).
pub fn raise() -> Option<u64> {
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return None;
        }
        if lim.rlim_cur < lim.rlim_max {
            let wanted = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) == 0 {
                info!(
                    from = lim.rlim_cur,
                    to = lim.rlim_max,
                    "raised the open-file limit"
                );
                return Some(lim.rlim_max);
            }
        }
        Some(lim.rlim_cur)
    }
}

/// The part of the RTP range `(low, high)` (even RTP ports, each with its
/// odd RTCP neighbour) whose sockets fit in `limit` open files, keeping
/// `reserved` for everything else. `None`: not even one pair fits.
pub fn ports_that_fit(range: (u16, u16), limit: u64, reserved: u64) -> Option<(u16, u16)> {
    let (low, high) = range;
    let first = u64::from(low + low % 2);
    let pairs = u64::from(high).saturating_sub(first).div_ceil(2);
    let fit = limit.saturating_sub(reserved) / 2;
    if fit == 0 {
        return None;
    }
    if pairs <= fit {
        return Some(range);
    }
    Some((first as u16, (first + 2 * fit - 1) as u16))
}

/// The RTP range to use under `limit` open files (`None`: unknown), with a
/// warning when the configured one does not fit.
pub fn rtp_ports(range: (u16, u16), limit: Option<u64>, connections: usize) -> (u16, u16) {
    let Some(limit) = limit else {
        return range;
    };
    let reserved = OTHER_FILES + connections as u64;
    match ports_that_fit(range, limit, reserved) {
        Some(fit) if fit == range => range,
        Some(fit) => {
            warn!(
                limit,
                "the open-file limit holds only ports {}-{} of media.rtp_ports {}-{} \
                 (two files per port pair, {reserved} kept for SIP connections and the rest); \
                 raise the limit (ulimit -n, LimitNOFILE) to use them all",
                fit.0,
                fit.1,
                range.0,
                range.1
            );
            fit
        }
        None => {
            warn!(
                limit,
                "the open-file limit leaves no room for RTP ports; calls will fail"
            );
            range
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_that_fits_is_kept() {
        assert_eq!(
            ports_that_fit((20000, 20999), 65536, 5120),
            Some((20000, 20999))
        );
        // 500 pairs need 1,000 files.
        assert_eq!(
            ports_that_fit((20000, 20999), 6120, 5120),
            Some((20000, 20999))
        );
    }

    #[test]
    fn a_range_that_does_not_fit_is_cut_to_the_pairs_that_do() {
        // 20,000 files, 5,120 kept: 7,440 pairs of the 11,000.
        assert_eq!(
            ports_that_fit((10000, 31999), 20000, 5120),
            Some((10000, 24879))
        );
        assert_eq!(
            ports_that_fit((10001, 10100), 5124, 5120),
            Some((10002, 10005))
        );
        assert_eq!(ports_that_fit((10000, 31999), 5121, 5120), None);
    }
}
