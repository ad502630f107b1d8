//! The media engine, sans-IO: endpoints (one RTP port facing one party),
//! what each sends (a relayed partner, music on hold, a prompt sequence, or
//! nothing), RTP rewriting for continuity when the source changes, G.711
//! transcoding in place, DTMF detection, and inactivity watching. The shell
//! owns sockets and calls [`Engine::on_rtp`] with each packet and
//! [`Engine::on_tick`] every 20 ms. No allocation per packet.

use crate::clip::Clip;
use crate::codec::{Codec, FRAME_SAMPLES};
use crate::dtmf::Detector;
use crate::g711::Tables;
use crate::rtp;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Index of an endpoint.
pub type EndpointId = u32;

/// What an endpoint sends to its party.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Nothing.
    Silence,
    /// What another endpoint receives (a bridged call).
    Relay(EndpointId),
    /// The shared music-on-hold stream.
    Music,
    /// The endpoint's own prompt sequence.
    Prompt,
}

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

/// A packet to send: bytes `range` of the engine's transmit buffer, or of
/// the caller's buffer for a relayed packet.
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

#[derive(Clone, Debug)]
struct Endpoint {
    port: u16,
    remote: Option<SocketAddr>,
    latched: bool,
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
}

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
}

/// The engine.
pub struct Engine {
    cfg: Config,
    tables: Tables,
    endpoints: Vec<Option<Endpoint>>,
    free: Vec<EndpointId>,
    by_port: std::collections::HashMap<u16, EndpointId>,
    music_frame: usize,
    next_tick: Option<Instant>,
    tx_buf: Vec<u8>,
    tx_list: Vec<Transmit>,
    events: std::collections::VecDeque<Event>,
    ssrc_seed: u32,
    last_idle_check: Option<Instant>,
}

/// Tick period.
pub const TICK: Duration = Duration::from_millis(20);

impl Engine {
    /// A new engine.
    pub fn new(cfg: Config, ssrc_seed: u32) -> Engine {
        Engine {
            cfg,
            tables: Tables::new(),
            endpoints: Vec::new(),
            free: Vec::new(),
            by_port: std::collections::HashMap::new(),
            music_frame: 0,
            next_tick: None,
            tx_buf: Vec::with_capacity(64 * 1024),
            tx_list: Vec::with_capacity(512),
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
            remote: None,
            latched: false,
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
        };
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
        let Some(ep) = self.endpoints.get_mut(id as usize).and_then(Option::take) else {
            return;
        };
        self.by_port.remove(&ep.port);
        if let Some(l) = ep.listener {
            self.set_source(l, Source::Silence);
        }
        if let Source::Relay(from) = ep.source {
            if let Some(f) = self.ep_mut(from) {
                if f.listener == Some(id) {
                    f.listener = None;
                }
            }
        }
        self.free.push(id);
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

    /// Packet counters of an endpoint.
    pub fn counters(&self, id: EndpointId) -> Counters {
        self.ep(id)
            .map_or_else(Counters::default, |e| Counters { rx: e.rx, tx: e.tx })
    }

    /// Where and how the party behind the endpoint takes media (from its SDP).
    pub fn configure(
        &mut self,
        id: EndpointId,
        remote: SocketAddr,
        codec: Codec,
        pt: u8,
        te_pt: Option<u8>,
    ) {
        if let Some(ep) = self.ep_mut(id) {
            if ep.remote != Some(remote) {
                ep.latched = false;
            }
            ep.remote = Some(remote);
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
        if let Source::Relay(from) = old {
            if let Some(f) = self.ep_mut(from) {
                if f.listener == Some(id) {
                    f.listener = None;
                }
            }
        }
        if let Source::Relay(from) = source {
            if let Some(f) = self.ep_mut(from) {
                f.listener = Some(id);
            }
        }
        if let Some(ep) = self.ep_mut(id) {
            ep.source = source;
            ep.out.rebase = true;
        }
    }

    /// Bridges two endpoints both ways.
    pub fn bridge(&mut self, a: EndpointId, b: EndpointId) {
        self.set_source(a, Source::Relay(b));
        self.set_source(b, Source::Relay(a));
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

    /// A packet arrived at endpoint `id` from `src`; `buf[..len]` may be rewritten
    /// in place. Returns where to send it on, if anywhere.
    pub fn on_rtp(
        &mut self,
        now: Instant,
        id: EndpointId,
        src: SocketAddr,
        buf: &mut [u8],
    ) -> Option<Transmit> {
        let hdr = rtp::parse(buf)?;
        let (listener, in_codec, te_pt) = {
            let ep = self.ep_mut(id)?;
            if !ep.latched {
                // Symmetric RTP: answer where the party really sends from.
                ep.remote = Some(src);
                ep.latched = true;
            } else if ep.remote != Some(src) {
                return None;
            }
            ep.rx += 1;
            ep.last_rx = Some(now);
            ep.idle_reported = false;
            if Some(hdr.pt) == ep.te_pt {
                if let Some(key) = ep
                    .dtmf
                    .on_packet(hdr.ts, &buf[hdr.payload_at..hdr.payload_end])
                {
                    self.events.push_back(Event::Dtmf(id, key));
                }
            }
            let ep = self.ep(id)?;
            (ep.listener?, ep.codec, ep.te_pt)
        };
        let is_event = Some(hdr.pt) == te_pt;
        let out_ep = self.endpoints.get_mut(listener as usize)?.as_mut()?;
        if out_ep.source != Source::Relay(id) {
            return None;
        }
        let to = out_ep.remote?;
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
        out_ep.tx += 1;
        Some(Transmit {
            from: listener,
            from_port: out_ep.port,
            to,
            range: 0..hdr.payload_end.max(rtp::HEADER_LEN),
        })
    }

    /// An RTCP packet arrived on the RTCP port of endpoint `id`: relay it
    /// from the partner's RTCP port to the partner's RTCP address (RTP port
    /// + 1). Returns the partner and that address.
    pub fn on_rtcp(&self, id: EndpointId) -> Option<(EndpointId, SocketAddr)> {
        let to_id = self.ep(id)?.listener?;
        let mut to = self.ep(to_id)?.remote?;
        to.set_port(to.port().checked_add(1)?);
        Some((to_id, to))
    }

    /// The endpoint open on `port`.
    pub fn endpoint_at(&self, port: u16) -> Option<EndpointId> {
        self.by_port.get(&port).copied()
    }

    /// The port of endpoint `id`.
    pub fn port_of(&self, id: EndpointId) -> Option<u16> {
        self.ep(id).map(|e| e.port)
    }

    /// When [`Engine::on_tick`] must next run.
    pub fn next_tick(&self) -> Option<Instant> {
        self.next_tick
    }

    /// Generates this tick's music and prompt packets when a tick is due
    /// (every 20 ms). Returns whether it did; then send [`Engine::transmits`].
    pub fn on_tick(&mut self, now: Instant) -> bool {
        self.tx_buf.clear();
        self.tx_list.clear();
        let due = self.next_tick.get_or_insert(now);
        if now < *due {
            return false;
        }
        *due += TICK;
        if *due + TICK * 5 < now {
            *due = now + TICK; // far behind (suspended): skip, do not burst
        }
        self.music_frame = self.music_frame.wrapping_add(1);
        for id in 0..self.endpoints.len() {
            self.generate(now, id as EndpointId);
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

    fn generate(&mut self, now: Instant, id: EndpointId) {
        let music_frame = self.music_frame;
        let Some(ep) = self.endpoints[id as usize].as_mut() else {
            return;
        };
        let (Some(to), true) = (
            ep.remote,
            matches!(ep.source, Source::Music | Source::Prompt),
        ) else {
            return;
        };
        let payload = match ep.source {
            Source::Music => self.cfg.music.frame(ep.codec, music_frame),
            _ => {
                let (clip_i, frame_i) = ep.prompt_pos;
                let Some(clip) = ep.prompt.get(clip_i).and_then(|&p| self.cfg.prompts.get(p))
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
                clip.frame(ep.codec, frame_i)
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
        let start = self.tx_buf.len();
        self.tx_buf.resize(start + rtp::HEADER_LEN, 0);
        rtp::write_header(
            &mut self.tx_buf[start..],
            ep.pt,
            marker,
            out.seq,
            out.ts,
            out.ssrc,
        );
        self.tx_buf.extend_from_slice(payload);
        ep.tx += 1;
        self.tx_list.push(Transmit {
            from: id,
            from_port: ep.port,
            to,
            range: start..self.tx_buf.len(),
        });
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

    /// The packets generated by the last tick, with the buffer they index.
    pub fn transmits(&self) -> (&[Transmit], &[u8]) {
        (&self.tx_list, &self.tx_buf)
    }

    /// Next event for the switch.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests;
