//! The media threads (shards): each owns a `mio` poll over its share of
//! the RTP and RTCP sockets, its own sans-IO [`media::Engine`] and its
//! music tick. The core task's [`MediaRouter`] sends each command to the
//! shard of its port ([`placement`]); a bridge of two legs on two shards
//! first moves one leg (its sockets and its engine state) to the other's,
//! so a relayed packet never crosses threads and nothing takes a lock.

mod awaiting;
mod continuity;
mod placement;
mod shard;

pub use continuity::Continuity;

use media::engine::{Config as EngineConfig, Departed};
use mio::{Poll, Waker};
use placement::{BridgePlan, Placement};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use switch::{MediaCommand, MediaEvent};
use tokio::sync::mpsc as tmpsc;

use crate::event::Event;

/// What a media thread is asked.
enum MediaMsg {
    /// Something the core wants done.
    Command(MediaCommand),
    /// The resumed calls' endpoints are open: checkpoints not used by now
    /// belong to no live call.
    ResumeDone,
    /// Record where every stream has got to now, then answer.
    Checkpoint(mpsc::Sender<()>),
    /// The endpoint on this port is on its way from another shard:
    /// commands for it wait until it arrives.
    Expect(u16),
    /// Hand the endpoint on this port to the shard behind the link (which
    /// expects it); with none here (it was closed), an empty arrival tells
    /// that shard the port is free to bind.
    Depart(u16, Link),
    /// An endpoint another shard let go (`None`: it had none on the port).
    Arrive(u16, Option<Box<Arrival>>),
}

/// An endpoint moving between shards: its engine state and its sockets.
struct Arrival {
    endpoint: Departed,
    sockets: shard::Sockets,
}

/// The way into one shard: its queue and the waker of its poll.
#[derive(Clone)]
struct Link {
    tx: mpsc::Sender<MediaMsg>,
    waker: Arc<Waker>,
}

impl Link {
    fn post(&self, msg: MediaMsg) {
        if self.tx.send(msg).is_ok() {
            let _ = self.waker.wake();
        }
    }
}

/// What a media thread publishes for metrics: stored once per loop (the
/// totals) or per second (the listeners), never per packet.
#[derive(Debug, Default)]
pub struct MediaStats {
    /// Open endpoints.
    pub open: AtomicUsize,
    /// RTP packets accepted from parties.
    pub rtp_in: AtomicU64,
    /// RTP packets sent to parties.
    pub rtp_out: AtomicU64,
    /// Endpoints hearing the music.
    pub music_streams: AtomicUsize,
}

/// The sums over every shard of what they publish.
#[derive(Clone, Copy, Debug, Default)]
pub struct MediaTotals {
    /// Open endpoints.
    pub open: usize,
    /// RTP packets accepted from parties.
    pub rtp_in: u64,
    /// RTP packets sent to parties.
    pub rtp_out: u64,
    /// Endpoints hearing the music.
    pub music_streams: usize,
}

/// The shards, for whoever needs all of them at once (stop, metrics).
#[derive(Clone)]
pub struct MediaHandle {
    links: Vec<Link>,
    stats: Vec<Arc<MediaStats>>,
}

impl MediaHandle {
    /// Says that the resumed calls' endpoints have all been opened.
    pub fn resume_done(&self) {
        for l in &self.links {
            l.post(MediaMsg::ResumeDone);
        }
    }

    /// Has every shard write a checkpoint of its streams to the store now
    /// (before a clean stop); waits up to `wait` for all of them.
    pub fn checkpoint(&self, wait: std::time::Duration) -> bool {
        let (tx, rx) = mpsc::channel();
        for l in &self.links {
            l.post(MediaMsg::Checkpoint(tx.clone()));
        }
        let until = std::time::Instant::now() + wait;
        (0..self.links.len()).all(|_| {
            let left = until.saturating_duration_since(std::time::Instant::now());
            rx.recv_timeout(left).is_ok()
        })
    }

    /// What the shards published, summed.
    pub fn totals(&self) -> MediaTotals {
        self.stats
            .iter()
            .fold(MediaTotals::default(), |t, s| MediaTotals {
                open: t.open + s.open.load(Ordering::Relaxed),
                rtp_in: t.rtp_in + s.rtp_in.load(Ordering::Relaxed),
                rtp_out: t.rtp_out + s.rtp_out.load(Ordering::Relaxed),
                music_streams: t.music_streams + s.music_streams.load(Ordering::Relaxed),
            })
    }
}

/// The core task's side: sends each command to its port's shard, and
/// moves a leg when a bridge spans two shards.
pub struct MediaRouter {
    handle: MediaHandle,
    placement: std::cell::RefCell<Placement>,
}

impl MediaRouter {
    /// Sends a command where it belongs.
    pub fn send(&self, cmd: MediaCommand) {
        let mut placement = self.placement.borrow_mut();
        let links = &self.handle.links;
        let shard = match &cmd {
            MediaCommand::Open(port) => {
                let opening = placement.open(*port);
                if let Some(closer) = opening.after {
                    // The shard that closed the port answers (once it has
                    // closed it) with an empty arrival; until then the open
                    // and what follows it wait.
                    links[opening.shard].post(MediaMsg::Expect(*port));
                    links[closer].post(MediaMsg::Depart(*port, links[opening.shard].clone()));
                }
                Some(opening.shard)
            }
            MediaCommand::Close(port) => placement.close(*port),
            MediaCommand::Bridge(a, b) => match placement.bridge(*a, *b) {
                BridgePlan::Local(s) => Some(s),
                BridgePlan::Move { port, from, to } => {
                    links[to].post(MediaMsg::Expect(port));
                    links[from].post(MediaMsg::Depart(port, links[to].clone()));
                    Some(to)
                }
                BridgePlan::Unknown(s) => s,
            },
            MediaCommand::Configure { port, .. }
            | MediaCommand::Music(port)
            | MediaCommand::Play(port, _)
            | MediaCommand::Silence(port)
            | MediaCommand::WatchIdle(port, _) => placement.shard(*port),
        };
        // A command for a port that is not open has nothing to act on.
        if let Some(s) = shard {
            links[s].post(MediaMsg::Command(cmd));
        }
    }

    /// The shards, for the rest of the process.
    pub fn handle(&self) -> &MediaHandle {
        &self.handle
    }
}

/// Where the media threads' reports go. What the core must act on (a prompt
/// done, a silent party, a port that failed) has a queue of its own that is
/// never full, so a flood of SIP cannot make the core miss it (at most a few
/// reports per open endpoint are ever pending); key presses, which the core
/// only logs, share the SIP queue and are dropped when it is full.
#[derive(Clone)]
pub struct Reports {
    /// Reports the core acts on.
    pub calls: tmpsc::UnboundedSender<MediaEvent>,
    /// The core's shared queue (key presses).
    pub keys: tmpsc::Sender<Event>,
}

/// How the media threads run.
pub struct MediaSettings {
    /// The address the RTP sockets bind.
    pub address: IpAddr,
    /// Whether generated media may go out through a raw socket.
    pub raw_send: bool,
    /// Media threads (at least one).
    pub threads: usize,
    /// The engines' settings.
    pub engine: EngineConfig,
}

/// Starts the media threads.
pub fn spawn(
    settings: MediaSettings,
    events: Reports,
    continuity: Continuity,
) -> std::io::Result<MediaRouter> {
    let threads = settings.threads.max(1);
    let mut links = Vec::with_capacity(threads);
    let mut stats = Vec::with_capacity(threads);
    for index in 0..threads {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), shard::WAKE)?);
        let (tx, rx) = mpsc::channel();
        let published = Arc::new(MediaStats::default());
        let shard = shard::Shard {
            index,
            address: settings.address,
            raw_send: settings.raw_send,
            engine: settings.engine.clone(),
            events: events.clone(),
            stats: published.clone(),
            continuity: continuity.clone(),
        };
        std::thread::Builder::new()
            .name(format!("media-{index}"))
            .spawn(move || shard.run(poll, rx))?;
        links.push(Link { tx, waker });
        stats.push(published);
    }
    Ok(MediaRouter {
        handle: MediaHandle { links, stats },
        placement: std::cell::RefCell::new(Placement::new(threads)),
    })
}
