//! Shared parts of the benchmark load tools: port ranges, RTP headers,
//! CPU time of the process, and a latency histogram.

use std::net::{Ipv4Addr, SocketAddrV4};

/// Size of an RTP header without CSRCs.
pub const RTP_HEADER: usize = 12;
/// Bytes of G.711 audio in a 20 ms packet.
pub const FRAME_BYTES: usize = 160;

/// Parses `A-B` (inclusive) or a single port.
pub fn parse_ports(s: &str) -> Result<std::ops::RangeInclusive<u16>, String> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let a: u16 = a
        .trim()
        .parse()
        .map_err(|_| format!("bad port range {s:?}"))?;
    let b: u16 = b
        .trim()
        .parse()
        .map_err(|_| format!("bad port range {s:?}"))?;
    if a > b || a == 0 {
        return Err(format!("bad port range {s:?}"));
    }
    Ok(a..=b)
}

/// Loopback address of `port`.
pub fn loopback(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)
}

/// Writes an RTP header (version 2, no padding, extension or CSRCs).
pub fn write_rtp_header(buf: &mut [u8], pt: u8, seq: u16, ts: u32, ssrc: u32) {
    buf[0] = 0x80;
    buf[1] = pt & 0x7f;
    buf[2..4].copy_from_slice(&seq.to_be_bytes());
    buf[4..8].copy_from_slice(&ts.to_be_bytes());
    buf[8..12].copy_from_slice(&ssrc.to_be_bytes());
}

/// Sequence number and SSRC of an RTP packet, if it looks like one.
pub fn rtp_seq_ssrc(buf: &[u8]) -> Option<(u16, u32)> {
    if buf.len() < RTP_HEADER || buf[0] >> 6 != 2 {
        return None;
    }
    let seq = u16::from_be_bytes([buf[2], buf[3]]);
    let ssrc = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
    Some((seq, ssrc))
}

/// CPU seconds (user + system) this process has used.
pub fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the struct we pass and reads nothing else.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// CPU seconds (user + system) process `pid` has used, from `/proc`.
pub fn proc_cpu(pid: &str) -> f64 {
    // SAFETY: sysconf has no pointer arguments.
    let tck = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |x| x.1);
    let f: Vec<&str> = after.split_whitespace().collect();
    let get = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15, the 12th and 13th after the name.
    (get(11) + get(12)) / tck
}

/// Raises the open-file limit to its hard maximum.
pub fn raise_nofile() {
    // SAFETY: plain getrlimit/setrlimit on a local struct.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}

/// A histogram of durations in 10 µs buckets up to 2 s (longer ones land in
/// the last bucket).
pub struct Histogram {
    buckets: Vec<u64>,
    count: u64,
    max_us: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: vec![0; 200_001],
            count: 0,
            max_us: 0,
        }
    }
}

impl Histogram {
    /// Records one duration, in microseconds.
    pub fn record(&mut self, us: u64) {
        let i = (us / 10).min(self.buckets.len() as u64 - 1) as usize;
        self.buckets[i] += 1;
        self.count += 1;
        self.max_us = self.max_us.max(us);
    }

    /// Number of recorded durations.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Largest recorded duration, µs.
    pub fn max_us(&self) -> u64 {
        self.max_us
    }

    /// The duration at quantile `q` (0..=1), µs (upper edge of its bucket).
    pub fn quantile_us(&self, q: f64) -> u64 {
        self.bucket_at(q).map_or(0, |i| (i as u64 + 1) * 10)
    }

    /// The duration at quantile `q` of the low side, µs (lower edge).
    pub fn low_quantile_us(&self, q: f64) -> u64 {
        self.bucket_at(q).map_or(0, |i| i as u64 * 10)
    }

    /// The bucket holding the sample at quantile `q` (counted with ceil).
    fn bucket_at(&self, q: f64) -> Option<usize> {
        if self.count == 0 {
            return None;
        }
        let want = ((self.count as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        self.buckets.iter().position(|n| {
            seen += n;
            seen >= want
        })
    }
}

/// Asks for a `bytes` receive buffer on `sock` (forced past `rmem_max`
/// when the process may: the benches run as root in their namespace), so
/// a burst the load tool reads a little late is not dropped by the kernel
/// and taken for the switch's loss.
pub fn big_receive_buffer(sock: &std::net::UdpSocket, bytes: i32) {
    use std::os::fd::AsRawFd;
    let fd = sock.as_raw_fd();
    let len = std::mem::size_of::<i32>() as libc::socklen_t;
    let value = &bytes as *const i32 as *const libc::c_void;
    // SAFETY: fd is an open socket; value points at an i32 of `len` bytes.
    let forced =
        unsafe { libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, value, len) };
    if forced != 0 {
        // SAFETY: as above.
        unsafe { libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, value, len) };
    }
}

/// `a` as the kernel's IPv4 socket address.
pub fn sockaddr(a: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*a.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

/// Sends a batch with `sendmmsg`; returns (sent, failed).
pub fn send_batch(fd: i32, msgs: &mut [libc::mmsghdr]) -> (u64, u64) {
    let mut done = 0usize;
    let mut failed = 0u64;
    while done < msgs.len() {
        // SAFETY: msgs[done..] are valid mmsghdrs pointing at live buffers.
        let r =
            unsafe { libc::sendmmsg(fd, msgs[done..].as_mut_ptr(), (msgs.len() - done) as u32, 0) };
        if r <= 0 {
            failed += 1; // skip the message the kernel refused
            done += 1;
        } else {
            done += r as usize;
        }
    }
    ((msgs.len() as u64) - failed, failed)
}

/// Digest credentials answering a 407 for `method` to `uri` (RFC 7616, MD5,
/// qop=auth), for a bench account whose password is `secret-<user>`.
pub fn proxy_authorization(
    r: &sip::Response,
    user: &str,
    method: &str,
    uri: &str,
) -> Option<String> {
    use md5::{Digest, Md5};
    let ch = r.headers.get_str(sip::Name::ProxyAuthenticate)?;
    let param = |k: &str| {
        let at = ch.find(&format!("{k}=\""))? + k.len() + 2;
        let end = ch[at..].find('"')? + at;
        Some(ch[at..end].to_string())
    };
    let (realm, nonce) = (param("realm")?, param("nonce")?);
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let md5 = |s: String| hex(&Md5::digest(s.as_bytes()));
    let ha1 = md5(format!("{user}:{realm}:secret-{user}"));
    let ha2 = md5(format!("{method}:{uri}"));
    let cnonce = "bench";
    let response = md5(format!("{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}"));
    Some(format!(
        "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{response}\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"{cnonce}\""
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges() {
        assert_eq!(parse_ports("100-102").unwrap(), 100..=102);
        assert_eq!(parse_ports("7").unwrap(), 7..=7);
        assert!(parse_ports("9-3").is_err());
        assert!(parse_ports("x").is_err());
    }

    #[test]
    fn rtp_header_round_trip() {
        let mut b = [0u8; RTP_HEADER];
        write_rtp_header(&mut b, 0, 513, 7, 0xdead_beef);
        assert_eq!(rtp_seq_ssrc(&b), Some((513, 0xdead_beef)));
        assert_eq!(rtp_seq_ssrc(&b[..5]), None);
    }

    #[test]
    fn histogram_quantiles() {
        let mut h = Histogram::default();
        for us in 0..100 {
            h.record(20_000 + us * 10);
        }
        h.record(500_000);
        assert_eq!(h.count(), 101);
        assert_eq!(h.max_us(), 500_000);
        assert_eq!(h.quantile_us(0.5), 20_510);
        assert_eq!(h.quantile_us(1.0), 500_010);
        // 1% of 101 samples is the 2nd smallest (ceil), 20,010 µs.
        assert_eq!(h.low_quantile_us(0.01), 20_010);
    }
}
