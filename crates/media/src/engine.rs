//! The media engine, sans-IO: endpoints (one RTP port facing one party),
//! what each sends (a relayed partner, music on hold, a prompt sequence, or
//! nothing), RTP rewriting for continuity when the source changes, G.711
//! transcoding in place, DTMF detection, and inactivity watching. The shell
//! owns sockets and calls [`Engine::handle_rtp`] with each packet and
//! [`Engine::handle_timeout`] at [`Engine::poll_timeout`]. No allocation per packet.
//!
//! Generated media (music, prompts) is paced in up to [`PHASES`] phases
//! that split each 20 ms tick evenly; each endpoint sends every 20 ms in
//! its phase ([`phase_of`]). Under load each wake-up then sends a tenth of
//! the packets, so their send times vary less and the receivers see a
//! steadier 20 ms spacing than if all listeners were served in one burst.
//! With few endpoints the tick has fewer phases ([`adapt_phases`]): one per
//! [`PHASE_LOAD`] open endpoints, so a light engine does not wake 500 times
//! a second to send a handful of packets. Phases take endpoints in runs of
//! [`PHASE_RUN`] consecutive ids, so a phase walks memory in order, as one
//! pass over all endpoints would.

use crate::clip::Clip;
use crate::codec::{Codec, FRAME_SAMPLES};
use crate::dtmf::Detector;
use crate::g711::Tables;
use crate::rtp;
use crate::srtp::{self, MasterKey, Suite};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

mod generated;
mod latch;
mod source;
pub use generated::{ClipRef, Frame, Generated, Sealed};
pub use latch::{Latch, Verdict, MAX_SEQ_STEP};
pub use source::Source;
use source::HANDOVER_FRAMES;

/// Index of an endpoint.
pub type EndpointId = u32;

/// Something the switch must know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A key was pressed (RFC 4733) on the party behind the endpoint.
    Dtmf(EndpointId, char),
    /// The endpoint's prompt sequence finished.
    PromptDone(EndpointId),
    /// No RTP arrived for the idle timeout while media was expected.
    Idle(EndpointId),
}

/// The SRTP keys of a leg (RFC 4568): the party's, from its SDP, decrypt
/// what it sends; ours, from our SDP, encrypt what we send it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SrtpKeys {
    /// The suite both use.
    pub suite: Suite,
    /// The party's master key.
    pub theirs: MasterKey,
    /// Ours.
    pub ours: MasterKey,
}

/// An SRTP leg's two contexts, and the keys they were made from (so that
/// the same keys again, say in a re-INVITE, keep the streams' state).
#[derive(Debug)]
struct Secured {
    keys: SrtpKeys,
    inbound: srtp::Context,
    outbound: srtp::Context,
}

impl Secured {
    fn new(keys: SrtpKeys) -> Secured {
        Secured {
            inbound: srtp::Context::new(keys.suite, &keys.theirs),
            outbound: srtp::Context::new(keys.suite, &keys.ours),
            keys,
        }
    }
}

/// Room a caller's packet buffer must leave after the packet: what SRTP
/// adds (SRTCP: index and tag).
pub const SRTP_OVERHEAD: usize = 4 + srtp::SRTCP_TAG_LEN;

/// A relayed packet to send: bytes `range` of the caller's buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Endpoint to send from.
    pub from: EndpointId,
    /// Its local port.
    pub from_port: u16,
    /// Destination.
    pub to: SocketAddr,
    /// Byte range.
    pub range: std::ops::Range<usize>,
}

#[derive(Clone, Debug)]
struct OutStream {
    ssrc: u32,
    seq: u16,
    ts: u32,
    last_sent: Option<Instant>,
    rebase: bool,
    seq_offset: u16,
    ts_offset: u32,
}

impl OutStream {
    /// Continues the stream after a source change: next timestamp advanced by
    /// the wall time since the last packet (at least one frame).
    fn restart(&mut self, now: Instant) -> (u16, u32) {
        let elapsed = self.last_sent.map_or(FRAME_SAMPLES as u32, |t| {
            let samples = now.saturating_duration_since(t).as_micros() as u64 * 8 / 1000;
            samples.clamp(FRAME_SAMPLES as u64, u32::MAX as u64 / 2) as u32
        });
        (self.seq.wrapping_add(1), self.ts.wrapping_add(elapsed))
    }
}

#[derive(Debug)]
struct Endpoint {
    port: u16,
    /// SRTP contexts, for a party that encrypts (boxed: most do not).
    srtp: Option<Box<Secured>>,
    /// Where the party's media is accepted from and sent to.
    latch: Latch,
    codec: Codec,
    pt: u8,
    te_pt: Option<u8>,
    source: Source,
    listener: Option<EndpointId>,
    out: OutStream,
    prompt: Vec<usize>,
    prompt_pos: (usize, usize),
    dtmf: Detector,
    last_rx: Option<Instant>,
    watch_idle: bool,
    idle_reported: bool,
    rx: u64,
    tx: u64,
    /// Packets dropped as not from the party.
    dropped: u64,
    /// SRTP/SRTCP packets dropped as forged, replayed or undecryptable.
    rejected: u64,
}

/// An endpoint on its way from one engine to another (see
/// [`Engine::depart`]): opaque, it only moves.
#[derive(Debug)]
pub struct Departed(Box<Endpoint>);

impl Departed {
    /// The endpoint's port.
    pub fn port(&self) -> u16 {
        self.0.port
    }
}

/// Where an endpoint's outgoing stream has got to: what a new process needs
/// to continue it (same SSRC, numbers ahead of any sent).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamPosition {
    /// SSRC.
    pub ssrc: u32,
    /// Last sequence number sent.
    pub seq: u16,
    /// Last RTP timestamp sent.
    pub ts: u32,
}

/// How far a continued stream jumps ahead, per millisecond since its
/// checkpoint: one sequence number per 10 ms (no party sends faster), so
/// the first packet after a restart is ahead of every packet sent before
/// it, and well within a receiver's tolerance for a jump (RFC 3550 A.1
/// resynchronises only beyond 3,000).
const SEQ_PER_MS: u64 = 10;

/// At most this many sequence numbers of jump (a checkpoint much older
/// than a restart: the stream still continues forward).
const MAX_SEQ_JUMP: u64 = 2_000;

/// Settings of the engine.
#[derive(Clone, Debug)]
pub struct Config {
    /// Music on hold.
    pub music: Clip,
    /// Prompts, addressed by index.
    pub prompts: Vec<Clip>,
    /// Silence after which [`Event::Idle`] is reported for a watched endpoint.
    pub idle_timeout: Duration,
}

/// Packet counters of an endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Packets received.
    pub rx: u64,
    /// Packets sent.
    pub tx: u64,
    /// Packets (RTP or RTCP) dropped as not from the party.
    pub dropped: u64,
    /// SRTP or SRTCP packets from the party's address that failed
    /// authentication or replay checks.
    pub rejected: u64,
    /// Whether the leg is SRTP.
    pub secure: bool,
}

/// RTP packets through the engine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Accepted from parties.
    pub rx: u64,
    /// Sent to parties (relayed, music, prompts).
    pub tx: u64,
}

/// The engine.
pub struct Engine {
    cfg: Config,
    tables: Tables,
    endpoints: Vec<Option<Endpoint>>,
    free: Vec<EndpointId>,
    by_port: std::collections::HashMap<u16, EndpointId>,
    /// RTP packets accepted from parties, and sent to them, since start.
    totals: Totals,
    music_frame: u32,
    next_tick: Option<Instant>,
    /// The phase to run next, below `phases`.
    phase: u32,
    /// The phases of the current tick (1 to [`PHASES`]); changed only
    /// between ticks.
    phases: u32,
    generated: Vec<Generated>,
    /// Generated packets for SRTP parties, encrypted into `sealed_bytes`.
    sealed: Vec<Sealed>,
    sealed_bytes: Vec<u8>,
    events: std::collections::VecDeque<Event>,
    ssrc_seed: u32,
    last_idle_check: Option<Instant>,
}

/// Packet period of generated media.
pub const TICK: Duration = Duration::from_millis(20);

/// The most phases a tick is split into (under load).
pub const PHASES: u32 = 10;

/// Time from one phase to the next with [`PHASES`] phases, the shortest.
pub const STEP: Duration = Duration::from_millis(20 / PHASES as u64);

/// Consecutive endpoint ids that share a phase.
pub const PHASE_RUN: u32 = 64;

/// Open endpoints per phase: a tick has one phase per `PHASE_LOAD` open
/// endpoints (at least 1, at most [`PHASES`]). A wake-up costs about as
/// much as sending a few dozen packets, so below this a phase of its own
/// would cost more in wake-ups than it gains in steadier spacing.
pub const PHASE_LOAD: u32 = 256;

/// The phase in which endpoint `id` sends generated media in a tick of
/// `phases` phases.
pub fn phase_of(id: EndpointId, phases: u32) -> u32 {
    (id / PHASE_RUN) % phases
}

/// The phases of the next tick, given the current tick's and the open
/// endpoints. Grows as soon as the load needs it; shrinks only when the
/// load is half a phase's share below the smaller count, so a load that
/// hovers at a boundary does not move listeners between phases every tick
/// (each change shifts their send time once).
pub fn adapt_phases(current: u32, open: usize) -> u32 {
    let load = PHASE_LOAD as usize;
    let want = (open.div_ceil(load) as u32).clamp(1, PHASES);
    let clearly_below = open + load / 2 <= (current as usize - 1) * load;
    if want > current || (want < current && clearly_below) {
        want
    } else {
        current
    }
}

impl Engine {
    /// A new engine.
    pub fn new(cfg: Config, ssrc_seed: u32) -> Engine {
        Engine {
            cfg,
            tables: Tables::new(),
            endpoints: Vec::new(),
            free: Vec::new(),
            by_port: std::collections::HashMap::new(),
            totals: Totals::default(),
            music_frame: 0,
            next_tick: None,
            phase: 0,
            phases: 1,
            generated: Vec::with_capacity(512),
            sealed: Vec::new(),
            sealed_bytes: Vec::new(),
            events: std::collections::VecDeque::new(),
            ssrc_seed,
            last_idle_check: None,
        }
    }

    /// Opens an endpoint on `port` (the shell binds the socket).
    pub fn open(&mut self, port: u16) -> EndpointId {
        self.ssrc_seed = self
            .ssrc_seed
            .wrapping_mul(1_664_525)
            .wrapping_add(1_013_904_223);
        let ep = Endpoint {
            port,
            srtp: None,
            latch: Latch::default(),
            codec: Codec::Pcmu,
            pt: 0,
            te_pt: None,
            source: Source::Silence,
            listener: None,
            out: OutStream {
                ssrc: self.ssrc_seed,
                seq: (self.ssrc_seed >> 16) as u16,
                ts: self.ssrc_seed.rotate_left(7),
                last_sent: None,
                rebase: true,
                seq_offset: 0,
                ts_offset: 0,
            },
            prompt: Vec::new(),
            prompt_pos: (0, 0),
            dtmf: Detector::default(),
            last_rx: None,
            watch_idle: false,
            idle_reported: false,
            rx: 0,
            tx: 0,
            dropped: 0,
            rejected: 0,
        };
        self.insert(port, ep)
    }

    /// Where every open endpoint's outgoing stream has got to, by port.
    pub fn positions(&self) -> impl Iterator<Item = (u16, StreamPosition)> + '_ {
        self.endpoints.iter().flatten().map(|ep| {
            let out = &ep.out;
            let pos = StreamPosition {
                ssrc: out.ssrc,
                seq: out.seq,
                ts: out.ts,
            };
            (ep.port, pos)
        })
    }

    /// Continues, on endpoint `id`, a stream a previous process sent from
    /// the same port: its SSRC, sequence numbers ahead of any it can have
    /// sent in the `elapsed` time since `from` was taken, and timestamps
    /// advanced by that wall time.
    pub fn continue_stream(&mut self, id: EndpointId, from: StreamPosition, elapsed: Duration) {
        let Some(ep) = self.ep_mut(id) else { return };
        let ms = elapsed.as_millis() as u64;
        let jump = (ms / SEQ_PER_MS + 1).min(MAX_SEQ_JUMP);
        let samples = ms.saturating_mul(8).min(u64::from(u32::MAX / 4));
        ep.out = OutStream {
            ssrc: from.ssrc,
            seq: from.seq.wrapping_add(jump as u16),
            ts: from.ts.wrapping_add(samples as u32),
            last_sent: None,
            rebase: true,
            seq_offset: 0,
            ts_offset: 0,
        };
    }

    /// Takes an endpoint out of this engine, with all its state (its
    /// stream's numbering, SRTP contexts, latch, what it plays), for
    /// another engine to [`Engine::adopt`]: a media thread hands a leg to
    /// the thread of the leg it is bridged to. Links to endpoints of this
    /// engine are cut as by [`Engine::close`]; a relayed source falls
    /// silent until the new engine bridges it again.
    pub fn depart(&mut self, id: EndpointId) -> Option<Departed> {
        let mut ep = self.unlink(id)?;
        ep.listener = None;
        if ep.source.relayed().is_some() {
            ep.source = Source::Silence;
            ep.out.rebase = true;
        }
        Some(Departed(Box::new(ep)))
    }

    /// Opens an endpoint another engine let go ([`Engine::depart`]).
    pub fn adopt(&mut self, departed: Departed) -> EndpointId {
        let ep = *departed.0;
        self.insert(ep.port, ep)
    }

    /// Puts an endpoint in a free slot (or a new one) and indexes its port.
    fn insert(&mut self, port: u16, ep: Endpoint) -> EndpointId {
        let id = match self.free.pop() {
            Some(id) => {
                self.endpoints[id as usize] = Some(ep);
                id
            }
            None => {
                self.endpoints.push(Some(ep));
                (self.endpoints.len() - 1) as EndpointId
            }
        };
        self.by_port.insert(port, id);
        id
    }

    /// Closes an endpoint; anything relaying from it falls silent.
    pub fn close(&mut self, id: EndpointId) {
        self.unlink(id);
    }

    /// Removes an endpoint and cuts every link to it.
    fn unlink(&mut self, id: EndpointId) -> Option<Endpoint> {
        let ep = self.endpoints.get_mut(id as usize).and_then(Option::take)?;
        self.by_port.remove(&ep.port);
        if let Some(l) = ep.listener {
            self.set_source(l, Source::Silence);
        }
        if let Some(from) = ep.source.relayed() {
            if let Some(f) = self.ep_mut(from) {
                if f.listener == Some(id) {
                    f.listener = None;
                }
            }
        }
        self.free.push(id);
        Some(ep)
    }

    fn ep_mut(&mut self, id: EndpointId) -> Option<&mut Endpoint> {
        self.endpoints.get_mut(id as usize).and_then(Option::as_mut)
    }

    fn ep(&self, id: EndpointId) -> Option<&Endpoint> {
        self.endpoints.get(id as usize).and_then(Option::as_ref)
    }

    /// Number of open endpoints.
    pub fn open_count(&self) -> usize {
        self.by_port.len()
    }

    /// RTP packets in and out since the engine started.
    pub fn totals(&self) -> Totals {
        self.totals
    }

    /// Endpoints hearing the music now (a scan: call it seldom).
    pub fn music_listeners(&self) -> usize {
        self.endpoints
            .iter()
            .flatten()
            .filter(|e| matches!(e.source, Source::Music | Source::Handover { .. }))
            .count()
    }

    /// Packet counters of an endpoint.
    pub fn counters(&self, id: EndpointId) -> Counters {
        self.ep(id).map_or_else(Counters::default, |e| Counters {
            rx: e.rx,
            tx: e.tx,
            dropped: e.dropped,
            rejected: e.rejected,
            secure: e.srtp.is_some(),
        })
    }

    /// Makes the leg SRTP with `keys`, or plain RTP with `None`. The same
    /// keys again keep the streams' rollover and replay state.
    pub fn secure(&mut self, id: EndpointId, keys: Option<SrtpKeys>) {
        let Some(ep) = self.ep_mut(id) else { return };
        match keys {
            Some(k) if ep.srtp.as_ref().is_some_and(|s| s.keys == k) => {}
            Some(k) => ep.srtp = Some(Box::new(Secured::new(k))),
            None => ep.srtp = None,
        }
    }

    /// Where and how the party behind the endpoint takes media (from its
    /// SDP), and the IP its signalling comes from: media is accepted only
    /// from these (see [`Latch`]).
    pub fn configure(
        &mut self,
        id: EndpointId,
        remote: SocketAddr,
        signalling: Option<IpAddr>,
        codec: Codec,
        pt: u8,
        te_pt: Option<u8>,
    ) {
        if let Some(ep) = self.ep_mut(id) {
            ep.latch.configure(remote, signalling);
            ep.codec = codec;
            ep.pt = pt;
            ep.te_pt = te_pt;
        }
    }

    /// Whether silence from this party should be reported ([`Event::Idle`]).
    /// Off for held and parked parties, who may rightly send nothing.
    pub fn watch_idle(&mut self, id: EndpointId, on: bool, now: Instant) {
        if let Some(ep) = self.ep_mut(id) {
            ep.watch_idle = on;
            ep.idle_reported = false;
            if on {
                ep.last_rx = Some(ep.last_rx.map_or(now, |t| t.max(now)));
            }
        }
    }

    /// Sets what an endpoint sends.
    pub fn set_source(&mut self, id: EndpointId, source: Source) {
        let old = match self.ep(id) {
            Some(ep) => ep.source,
            None => return,
        };
        if let Some(from) = old.relayed() {
            if let Some(f) = self.ep_mut(from) {
                if f.listener == Some(id) {
                    f.listener = None;
                }
            }
        }
        if let Some(from) = source.relayed() {
            if let Some(f) = self.ep_mut(from) {
                f.listener = Some(id);
            }
        }
        if let Some(ep) = self.ep_mut(id) {
            ep.source = source;
            ep.out.rebase = true;
        }
    }

    /// Bridges two endpoints both ways. One hearing music keeps it until
    /// the other's first packet (see [`Source::Handover`]).
    pub fn bridge(&mut self, a: EndpointId, b: EndpointId) {
        for (to, from) in [(a, b), (b, a)] {
            let source = match self.source(to) {
                Some(Source::Music | Source::Handover { .. }) => Source::Handover {
                    from,
                    frames_left: HANDOVER_FRAMES,
                },
                _ => Source::Relay(from),
            };
            self.set_source(to, source);
        }
    }

    /// Plays prompts (indexes into the configured prompts) to an endpoint,
    /// then reports [`Event::PromptDone`] and falls silent.
    pub fn play(&mut self, id: EndpointId, prompts: Vec<usize>) {
        self.set_source(id, Source::Prompt);
        if let Some(ep) = self.ep_mut(id) {
            ep.prompt = prompts;
            ep.prompt_pos = (0, 0);
        }
    }

    /// What an endpoint currently sends.
    pub fn source(&self, id: EndpointId) -> Option<Source> {
        self.ep(id).map(|e| e.source)
    }

    /// A packet `buf[..len]` arrived at endpoint `id` from `src`; it is
    /// decrypted, rewritten and encrypted in place, so `buf` must have
    /// [`SRTP_OVERHEAD`] bytes of room after it. Returns where to send it
    /// on, if anywhere.
    pub fn handle_rtp(
        &mut self,
        now: Instant,
        id: EndpointId,
        src: SocketAddr,
        buf: &mut [u8],
        len: usize,
    ) -> Option<Transmit> {
        let len = self.open_srtp(id, src, buf, len.min(buf.len()))?;
        let hdr = rtp::parse(&buf[..len])?;
        let (listener, in_codec, te_pt) = {
            let ep = self.ep_mut(id)?;
            if ep.latch.handle_rtp(src, hdr.ssrc, hdr.seq) == Verdict::Drop {
                ep.dropped += 1;
                return None;
            }
            ep.rx += 1;
            ep.last_rx = Some(now);
            ep.idle_reported = false;
            if Some(hdr.pt) == ep.te_pt {
                if let Some(key) = ep
                    .dtmf
                    .handle_packet(hdr.ts, &buf[hdr.payload_at..hdr.payload_end])
                {
                    self.events.push_back(Event::Dtmf(id, key));
                }
            }
            self.totals.rx += 1;
            let ep = self.ep(id)?;
            (ep.listener?, ep.codec, ep.te_pt)
        };
        let is_event = Some(hdr.pt) == te_pt;
        let out_ep = self.endpoints.get_mut(listener as usize)?.as_mut()?;
        match out_ep.source {
            Source::Relay(from) if from == id => {}
            Source::Handover { from, .. } if from == id => {
                // The new party speaks: the music stops with its first packet.
                out_ep.source = Source::Relay(id);
                out_ep.out.rebase = true;
            }
            _ => return None,
        }
        let to = out_ep.latch.rtp_target()?;
        let out_pt = if is_event {
            out_ep.te_pt?
        } else {
            let codec = Codec::from_payload_type(hdr.pt).unwrap_or(in_codec);
            if codec != out_ep.codec {
                let table = match codec {
                    Codec::Pcmu => &self.tables.ulaw_to_alaw,
                    Codec::Pcma => &self.tables.alaw_to_ulaw,
                };
                for b in &mut buf[hdr.payload_at..hdr.payload_end] {
                    *b = table[*b as usize];
                }
            }
            out_ep.pt
        };
        let out = &mut out_ep.out;
        let mut marker = hdr.marker;
        if out.rebase {
            let (seq, ts) = out.restart(now);
            out.seq_offset = seq.wrapping_sub(hdr.seq);
            out.ts_offset = ts.wrapping_sub(hdr.ts);
            out.rebase = false;
            marker = true;
        }
        let seq = hdr.seq.wrapping_add(out.seq_offset);
        let ts = hdr.ts.wrapping_add(out.ts_offset);
        if seq.wrapping_sub(out.seq) < 0x8000 {
            out.seq = seq;
            out.ts = ts;
        }
        out.last_sent = Some(now);
        rtp::rewrite(buf, out_pt, marker, seq, ts, out.ssrc);
        let mut end = hdr.payload_end.max(rtp::HEADER_LEN);
        if end < len {
            buf[0] &= !0x20; // the padding is not relayed
        }
        if let Some(s) = out_ep.srtp.as_mut() {
            end = s.outbound.protect_rtp(buf, end).ok()?;
        }
        out_ep.tx += 1;
        self.totals.tx += 1;
        Some(Transmit {
            from: listener,
            from_port: out_ep.port,
            to,
            range: 0..end,
        })
    }

    /// For an SRTP party: the packet's length once authenticated and
    /// decrypted (`None`: dropped). Others' packets pass as they are. The
    /// source is checked first, so that a stranger's copy of a real packet
    /// cannot use up its index before the real one arrives.
    fn open_srtp(
        &mut self,
        id: EndpointId,
        src: SocketAddr,
        buf: &mut [u8],
        len: usize,
    ) -> Option<usize> {
        let ep = self.ep_mut(id)?;
        let Some(s) = ep.srtp.as_mut() else {
            return Some(len);
        };
        if !ep.latch.allowed_ip(src.ip()) {
            ep.dropped += 1;
            return None;
        }
        match s.inbound.unprotect_rtp(buf, len) {
            Ok(n) => Some(n),
            Err(_) => {
                ep.rejected += 1;
                None
            }
        }
    }

    /// An RTCP packet `buf[..len]` from `src` arrived on the RTCP port of
    /// endpoint `id`: if it comes from the party (see [`Latch`]), relay it
    /// from the partner's RTCP port to the partner's RTCP address,
    /// decrypted and encrypted in place as the legs need (`buf` must have
    /// [`SRTP_OVERHEAD`] bytes of room after it).
    pub fn handle_rtcp(
        &mut self,
        id: EndpointId,
        src: SocketAddr,
        buf: &mut [u8],
        len: usize,
    ) -> Option<Transmit> {
        let len = len.min(buf.len());
        let ep = self.ep_mut(id)?;
        if ep.latch.handle_rtcp(src) == Verdict::Drop {
            ep.dropped += 1;
            return None;
        }
        let len = match ep.srtp.as_mut().map(|s| s.inbound.unprotect_rtcp(buf, len)) {
            None => len,
            Some(Ok(n)) => n,
            Some(Err(_)) => {
                ep.rejected += 1;
                return None;
            }
        };
        let to_id = ep.listener?;
        let out = self.ep_mut(to_id)?;
        let to = out.latch.rtcp_target()?;
        // Speak of the streams the partner sees: the switch's SSRC for the
        // sender, the partner's own for the stream reported on.
        crate::rtcp::rewrite_ssrcs(&mut buf[..len], out.out.ssrc, out.latch.ssrc());
        let end = match out.srtp.as_mut() {
            Some(s) => s.outbound.protect_rtcp(buf, len).ok()?,
            None => len,
        };
        Some(Transmit {
            from: to_id,
            from_port: out.port + 1,
            to,
            range: 0..end,
        })
    }

    /// The endpoint open on `port`.
    pub fn endpoint_at(&self, port: u16) -> Option<EndpointId> {
        self.by_port.get(&port).copied()
    }

    /// The port of endpoint `id`.
    pub fn port_of(&self, id: EndpointId) -> Option<u16> {
        self.ep(id).map(|e| e.port)
    }

    /// The phases of the current tick (see [`adapt_phases`]).
    pub fn phases(&self) -> u32 {
        self.phases
    }

    /// When [`Engine::handle_timeout`] must next run (the next phase).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_tick
    }

    /// Generates the music and prompt packets of every phase that is due.
    /// Returns whether a phase ran; then send [`Engine::generated`].
    pub fn handle_timeout(&mut self, now: Instant) -> bool {
        self.generated.clear();
        self.sealed.clear();
        self.sealed_bytes.clear();
        let due = *self.next_tick.get_or_insert(now);
        if now < due {
            return false;
        }
        if due + TICK * 5 < now {
            self.next_tick = Some(now); // far behind (suspended): skip, do not burst
        }
        while let Some(due) = self.next_tick.filter(|&t| t <= now) {
            self.run_phase(now);
            self.next_tick = Some(due + TICK / self.phases);
        }
        if self
            .last_idle_check
            .is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(1))
        {
            self.last_idle_check = Some(now);
            self.check_idle(now);
        }
        true
    }

    fn run_phase(&mut self, now: Instant) {
        let phase = self.phase;
        if phase == 0 {
            self.music_frame = self.music_frame.wrapping_add(1);
            let open = self.endpoints.len() - self.free.len();
            self.phases = adapt_phases(self.phases, open);
        }
        self.phase = (phase + 1) % self.phases;
        let (run, period) = (PHASE_RUN as usize, (PHASE_RUN * self.phases) as usize);
        let mut start = phase as usize * run;
        while start < self.endpoints.len() {
            for id in start..(start + run).min(self.endpoints.len()) {
                self.generate(now, id as EndpointId);
            }
            start += period;
        }
    }

    fn generate(&mut self, now: Instant, id: EndpointId) {
        let music_frame = self.music_frame;
        let Some(ep) = self.endpoints[id as usize].as_mut() else {
            return;
        };
        if let Source::Handover { from, frames_left } = ep.source {
            ep.source = match frames_left.checked_sub(1) {
                Some(left) => Source::Handover {
                    from,
                    frames_left: left,
                },
                None => {
                    ep.out.rebase = true;
                    Source::Relay(from)
                }
            };
        }
        let (Some(to), true) = (
            ep.latch.rtp_target(),
            matches!(
                ep.source,
                Source::Music | Source::Prompt | Source::Handover { .. }
            ),
        ) else {
            return;
        };
        let frame = match ep.source {
            Source::Music | Source::Handover { .. } => Frame {
                clip: ClipRef::Music,
                codec: ep.codec,
                index: music_frame,
            },
            _ => {
                let (clip_i, frame_i) = ep.prompt_pos;
                let Some((p, clip)) = ep
                    .prompt
                    .get(clip_i)
                    .and_then(|&p| Some((p, self.cfg.prompts.get(p)?)))
                else {
                    ep.source = Source::Silence;
                    ep.prompt.clear();
                    self.events.push_back(Event::PromptDone(id));
                    return;
                };
                ep.prompt_pos = if frame_i + 1 >= clip.frames() {
                    (clip_i + 1, 0)
                } else {
                    (clip_i, frame_i + 1)
                };
                Frame {
                    clip: ClipRef::Prompt(p as u16),
                    codec: ep.codec,
                    index: frame_i as u32,
                }
            }
        };
        let out = &mut ep.out;
        let marker = out.rebase;
        if out.rebase {
            let (seq, ts) = out.restart(now);
            out.seq = seq;
            out.ts = ts;
            out.rebase = false;
        } else {
            out.seq = out.seq.wrapping_add(1);
            out.ts = out.ts.wrapping_add(FRAME_SAMPLES as u32);
        }
        out.last_sent = Some(now);
        let mut header = [0u8; rtp::HEADER_LEN];
        rtp::write_header(&mut header, ep.pt, marker, out.seq, out.ts, out.ssrc);
        ep.tx += 1;
        self.totals.tx += 1;
        if let Some(s) = ep.srtp.as_mut() {
            let payload = frame_bytes(&self.cfg, frame);
            let start = self.sealed_bytes.len();
            let len = header.len() + payload.len();
            self.sealed_bytes.extend_from_slice(&header);
            self.sealed_bytes.extend_from_slice(payload);
            self.sealed_bytes.resize(start + len + SRTP_OVERHEAD, 0);
            match s.outbound.protect_rtp(&mut self.sealed_bytes[start..], len) {
                Ok(n) => {
                    self.sealed_bytes.truncate(start + n);
                    self.sealed.push(Sealed {
                        from: id,
                        to,
                        range: start..start + n,
                    });
                }
                Err(_) => self.sealed_bytes.truncate(start),
            }
            return;
        }
        self.generated.push(Generated {
            from: id,
            from_port: ep.port,
            to,
            header,
            frame,
        });
    }

    /// The bytes of a frame (empty for a prompt that is not configured).
    pub fn frame(&self, f: Frame) -> &[u8] {
        frame_bytes(&self.cfg, f)
    }

    /// The packets for SRTP parties generated by the last
    /// [`Engine::handle_timeout`], whole and encrypted; their bytes are
    /// [`Engine::sealed_bytes`]`[range]`.
    pub fn sealed(&self) -> &[Sealed] {
        &self.sealed
    }

    /// The bytes [`Sealed`] packets point into.
    pub fn sealed_bytes(&self) -> &[u8] {
        &self.sealed_bytes
    }

    fn check_idle(&mut self, now: Instant) {
        let timeout = self.cfg.idle_timeout;
        for (i, ep) in self.endpoints.iter_mut().enumerate() {
            let Some(ep) = ep else { continue };
            let idle = ep
                .last_rx
                .is_some_and(|t| now.saturating_duration_since(t) >= timeout);
            if ep.watch_idle && !ep.idle_reported && idle {
                ep.idle_reported = true;
                self.events.push_back(Event::Idle(i as EndpointId));
            }
        }
    }

    /// The packets generated by the last [`Engine::handle_timeout`]; their
    /// payloads are [`Engine::frame`].
    pub fn generated(&self) -> &[Generated] {
        &self.generated
    }

    /// Next event for the switch.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
}

/// The bytes of a frame of the configured clips.
fn frame_bytes(cfg: &Config, f: Frame) -> &[u8] {
    let clip = match f.clip {
        ClipRef::Music => Some(&cfg.music),
        ClipRef::Prompt(p) => cfg.prompts.get(usize::from(p)),
    };
    clip.map_or(&[], |c| c.frame(f.codec, f.index as usize))
}

#[cfg(test)]
mod tests;
