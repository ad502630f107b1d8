//! Which source address a party's RTP and RTCP are accepted from, and where
//! the switch sends to it.
//!
//! The rule (against "RTP bleed", the class of FreeSWITCH CVE-2023-51443):
//! - Packets are accepted only from the IP its SDP names or the IP its
//!   signalling came from (a phone behind NAT sends from its public address:
//!   symmetric RTP). Anything from another host is dropped, whatever its
//!   port, so spraying the port range reaches nobody.
//! - The first accepted RTP packet latches the party to its exact source
//!   address and SSRC; from then on the switch sends there.
//! - A latched party moves to another address (of an allowed IP) only on a
//!   plausible change: the same SSRC with the sequence continuing (at most
//!   [`MAX_SEQ_STEP`] ahead), as after a NAT rebinding, or to the exact
//!   address its SDP names. The latter matters where one IP sends many
//!   calls' media (another node of the cluster, a trunk's gateway): late
//!   packets of a call just ended there may reach a port the switch has
//!   given to a new call and latch it first; the party's own stream, from
//!   the address it announced, takes the latch back. A new SDP address
//!   unlatches (the shell reconfigures the party).
//! - RTCP is accepted only from the IP the RTP is latched to (any allowed IP
//!   before that), and is sent back to where it came from (symmetric RTCP),
//!   or to the RTP port + 1 until some arrived.

use std::net::{IpAddr, SocketAddr};

/// How far ahead a moved stream's sequence number may be for the move to be
/// believed (a second of 20 ms packets is 50).
pub const MAX_SEQ_STEP: u16 = 100;

/// Where a party sends from, as far as the switch has seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Nothing accepted yet: the switch sends to the SDP address.
    Open,
    /// Accepted RTP from `addr` with `ssrc`, last sequence `seq`.
    Latched {
        addr: SocketAddr,
        ssrc: u32,
        seq: u16,
    },
}

/// The verdict on one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// From the party: process it.
    Accept,
    /// From anyone else: drop it.
    Drop,
}

/// A party's media source rule.
#[derive(Clone, Debug)]
pub struct Latch {
    /// The RTP address its SDP names.
    sdp: Option<SocketAddr>,
    /// The IP its signalling came from.
    signalling: Option<IpAddr>,
    state: State,
    /// Where its RTCP came from last.
    rtcp: Option<SocketAddr>,
}

impl Default for Latch {
    fn default() -> Latch {
        Latch {
            sdp: None,
            signalling: None,
            state: State::Open,
            rtcp: None,
        }
    }
}

impl Latch {
    /// The party's SDP names `sdp`; its signalling comes from `signalling`.
    /// A change of either starts over (unlatched).
    pub fn configure(&mut self, sdp: SocketAddr, signalling: Option<IpAddr>) {
        if self.sdp != Some(sdp) || self.signalling != signalling {
            self.state = State::Open;
            self.rtcp = None;
        }
        self.sdp = Some(sdp);
        self.signalling = signalling;
    }

    /// Whether a packet from `ip` may come from this party at all.
    pub fn allowed_ip(&self, ip: IpAddr) -> bool {
        self.sdp.is_some_and(|a| a.ip() == ip) || self.signalling == Some(ip)
    }

    /// Judges an RTP packet from `src` with `ssrc` and `seq`; latches or
    /// moves the party when it is accepted.
    pub fn handle_rtp(&mut self, src: SocketAddr, ssrc: u32, seq: u16) -> Verdict {
        if !self.allowed_ip(src.ip()) {
            return Verdict::Drop;
        }
        match self.state {
            State::Latched {
                addr,
                ssrc: s,
                seq: last,
            } if addr != src => {
                let step = seq.wrapping_sub(last);
                let continues = s == ssrc && step != 0 && step <= MAX_SEQ_STEP;
                if !continues && self.sdp != Some(src) {
                    return Verdict::Drop;
                }
                self.rtcp = None;
            }
            _ => {}
        }
        self.state = State::Latched {
            addr: src,
            ssrc,
            seq,
        };
        Verdict::Accept
    }

    /// Judges an RTCP packet from `src`; remembers where RTCP comes from.
    pub fn handle_rtcp(&mut self, src: SocketAddr) -> Verdict {
        let ok = match self.state {
            State::Latched { addr, .. } => addr.ip() == src.ip(),
            State::Open => self.allowed_ip(src.ip()),
        };
        if !ok {
            return Verdict::Drop;
        }
        self.rtcp = Some(src);
        Verdict::Accept
    }

    /// Where the switch sends RTP to the party, if anywhere yet.
    pub fn rtp_target(&self) -> Option<SocketAddr> {
        match self.state {
            State::Latched { addr, .. } => Some(addr),
            State::Open => self.sdp,
        }
    }

    /// The SSRC of the party's RTP, once latched.
    pub fn ssrc(&self) -> Option<u32> {
        match self.state {
            State::Latched { ssrc, .. } => Some(ssrc),
            State::Open => None,
        }
    }

    /// Where the switch sends RTCP to the party: where its RTCP came from,
    /// else the RTP target's port + 1.
    pub fn rtcp_target(&self) -> Option<SocketAddr> {
        self.rtcp.or_else(|| {
            let mut a = self.rtp_target()?;
            a.set_port(a.port().checked_add(1)?);
            Some(a)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn latch() -> Latch {
        let mut l = Latch::default();
        l.configure(a("10.0.0.5:4000"), Some("198.51.100.7".parse().unwrap()));
        l
    }

    #[test]
    fn strangers_are_dropped_before_and_after_latching() {
        let mut l = latch();
        assert_eq!(l.handle_rtp(a("203.0.113.9:4000"), 1, 1), Verdict::Drop);
        assert_eq!(l.rtp_target(), Some(a("10.0.0.5:4000")));
        assert_eq!(l.handle_rtp(a("10.0.0.5:4000"), 7, 10), Verdict::Accept);
        assert_eq!(l.handle_rtp(a("203.0.113.9:4000"), 7, 11), Verdict::Drop);
        assert_eq!(l.rtp_target(), Some(a("10.0.0.5:4000")));
    }

    #[test]
    fn a_phone_behind_nat_latches_to_its_signalling_ip() {
        let mut l = latch();
        assert_eq!(
            l.handle_rtp(a("198.51.100.7:61000"), 7, 10),
            Verdict::Accept
        );
        assert_eq!(l.rtp_target(), Some(a("198.51.100.7:61000")));
    }

    #[test]
    fn a_move_needs_the_same_ssrc_and_a_continuing_sequence() {
        let mut l = latch();
        l.handle_rtp(a("198.51.100.7:61000"), 7, 10);
        // Same IP, new port (NAT rebinding), wrong SSRC or replayed sequence: no.
        assert_eq!(l.handle_rtp(a("198.51.100.7:62000"), 8, 11), Verdict::Drop);
        assert_eq!(l.handle_rtp(a("198.51.100.7:62000"), 7, 10), Verdict::Drop);
        assert_eq!(l.handle_rtp(a("198.51.100.7:62000"), 7, 500), Verdict::Drop);
        assert_eq!(l.rtp_target(), Some(a("198.51.100.7:61000")));
        // The same stream continuing: yes, and the switch follows it.
        assert_eq!(
            l.handle_rtp(a("198.51.100.7:62000"), 7, 12),
            Verdict::Accept
        );
        assert_eq!(l.rtp_target(), Some(a("198.51.100.7:62000")));
        // The latched source may change its SSRC (a new stream from the phone).
        assert_eq!(l.handle_rtp(a("198.51.100.7:62000"), 9, 1), Verdict::Accept);
    }

    #[test]
    fn the_address_the_sdp_names_takes_the_latch_from_a_stray_stream() {
        // A node of the cluster: its SDP names 10.0.0.5:4000, and its
        // late packets of another call come from 10.0.0.5:4100.
        let mut l = latch();
        assert_eq!(l.handle_rtp(a("10.0.0.5:4100"), 3, 900), Verdict::Accept);
        assert_eq!(l.rtp_target(), Some(a("10.0.0.5:4100")));
        // The party's own stream, another SSRC and sequence: it wins.
        assert_eq!(l.handle_rtp(a("10.0.0.5:4000"), 7, 10), Verdict::Accept);
        assert_eq!(l.rtp_target(), Some(a("10.0.0.5:4000")));
        // The stray one no longer gets through.
        assert_eq!(l.handle_rtp(a("10.0.0.5:4100"), 3, 901), Verdict::Drop);
        assert_eq!(l.rtp_target(), Some(a("10.0.0.5:4000")));
    }

    #[test]
    fn rtcp_only_from_the_latched_ip_and_answered_where_it_came_from() {
        let mut l = latch();
        assert_eq!(l.rtcp_target(), Some(a("10.0.0.5:4001")));
        l.handle_rtp(a("198.51.100.7:61000"), 7, 10);
        assert_eq!(
            l.handle_rtcp(a("10.0.0.5:4001")),
            Verdict::Drop,
            "not the latched IP"
        );
        assert_eq!(l.handle_rtcp(a("203.0.113.9:4001")), Verdict::Drop);
        assert_eq!(l.rtcp_target(), Some(a("198.51.100.7:61001")));
        assert_eq!(l.handle_rtcp(a("198.51.100.7:61007")), Verdict::Accept);
        assert_eq!(l.rtcp_target(), Some(a("198.51.100.7:61007")));
    }

    #[test]
    fn a_new_sdp_address_starts_over() {
        let mut l = latch();
        l.handle_rtp(a("10.0.0.5:4000"), 7, 10);
        l.configure(a("10.0.0.6:5000"), Some("198.51.100.7".parse().unwrap()));
        assert_eq!(l.handle_rtp(a("10.0.0.5:4000"), 7, 11), Verdict::Drop);
        assert_eq!(l.rtp_target(), Some(a("10.0.0.6:5000")));
        assert_eq!(l.handle_rtp(a("10.0.0.6:5000"), 3, 1), Verdict::Accept);
    }

    #[test]
    fn unconfigured_accepts_nothing() {
        let mut l = Latch::default();
        assert_eq!(l.handle_rtp(a("127.0.0.1:4000"), 1, 1), Verdict::Drop);
        assert_eq!(l.handle_rtcp(a("127.0.0.1:4001")), Verdict::Drop);
        assert_eq!(l.rtp_target(), None);
    }
}
