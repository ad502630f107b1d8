//! `parkline serve`: open the store, provision, bind sockets, run.

use crate::config::{Config, Listen};
use crate::event::Event;
use crate::shell;
use crate::{http, media_io, persist, provision, sounds, transport};
use anyhow::{Context, Result};
use rand::RngCore;
use std::path::Path;
use std::sync::Arc;
use store::Store;
use switch::{Switch, SwitchConfig};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tracing::info;

fn switch_config(cfg: &Config) -> SwitchConfig {
    let secret = match &cfg.sip.secret {
        Some(s) => s.as_bytes().to_vec(),
        None => {
            let mut s = vec![0u8; 32];
            rand::thread_rng().fill_bytes(&mut s);
            s
        }
    };
    SwitchConfig {
        secret,
        digest_algorithms: cfg.digest_algorithms(),
        nonce_lifetime_s: cfg.sip.nonce_lifetime_s,
        nonce_seed: rand::random(),
        min_expires: cfg.sip.min_expires,
        max_expires: cfg.sip.max_expires,
        default_expires: cfg.sip.default_expires,
        max_contacts_per_extension: cfg.sip.max_contacts_per_extension,
        max_transaction_bytes: cfg.sip.max_transaction_memory_mb << 20,
        max_transactions_per_source: cfg.sip.max_transactions_per_source,
        max_request_wait: (cfg.sip.max_request_wait_ms > 0)
            .then(|| std::time::Duration::from_millis(cfg.sip.max_request_wait_ms)),
        edges: cfg.cluster.edges.clone(),
        guessing: switch::GuessLimits {
            per_source_user: cfg.sip.max_auth_failures_per_minute,
            per_account: cfg.sip.max_auth_failures_per_account_per_hour,
            per_source: cfg.sip.max_auth_failures_per_source_per_minute,
            ..Default::default()
        },
        server_name: cfg.sip.server_header.clone(),
        default_tenant: cfg.sip.default_tenant.as_ref().map(|t| t.get_ref().clone()),
        limits: sip_limits(cfg),
        local_sip: local_sip(cfg),
        media_address: cfg.media_address(),
        rtp_ports: cfg.rtp_ports(),
        no_answer_timeout: std::time::Duration::from_secs(cfg.sip.no_answer_timeout_s),
        session_expires: std::time::Duration::from_secs(cfg.sip.session_expires_s),
        min_se: std::time::Duration::from_secs(cfg.sip.min_se_s),
        probe_interval: (cfg.sip.probe_interval_s > 0)
            .then(|| std::time::Duration::from_secs(cfg.sip.probe_interval_s)),
        max_subscriptions: cfg.sip.max_subscriptions,
        max_subscriptions_per_extension: cfg.sip.max_subscriptions_per_extension,
        local_tls: cfg.listeners().iter().find_map(|l| match l {
            Listen::Tls(a) => Some(*a),
            _ => None,
        }),
        srtp: cfg.srtp(),
        // ThreadRng is a CSPRNG seeded from the OS: fit for keys.
        srtp_seed: rand::random(),
        authorization: cfg.authorization.as_ref().map(|a| a.policy()),
        ..SwitchConfig::default()
    }
}

fn sip_limits(cfg: &Config) -> sip::Limits {
    sip::Limits {
        max_message: cfg.sip.max_message_bytes,
        max_headers: cfg.sip.max_headers,
    }
}

fn tcp_limits(cfg: &Config) -> transport::tcp::TcpLimits {
    transport::tcp::TcpLimits {
        max_connections: cfg.sip.max_tcp_connections,
        max_per_ip: cfg.sip.max_tcp_connections_per_ip,
        message_timeout: std::time::Duration::from_secs(cfg.sip.tcp_message_timeout_s),
        idle_timeout: std::time::Duration::from_secs(cfg.sip.tcp_idle_timeout_s),
        parse: sip_limits(cfg),
    }
}

/// The switch's own SIP address: the first UDP listener (else the first one).
fn local_sip(cfg: &Config) -> std::net::SocketAddr {
    let listeners = cfg.listeners();
    let udp = listeners.iter().find_map(|l| match l {
        Listen::Udp(a) => Some(*a),
        Listen::Tcp(_) | Listen::Tls(_) => None,
    });
    let any = listeners.first().map(Listen::addr);
    udp.or(any)
        .unwrap_or_else(|| SwitchConfig::default().local_sip)
}

/// The store as a start finds it: open, provisioned from the
/// configuration, with what the previous run left.
pub struct Opened {
    store: Box<dyn Store>,
    snapshots: Vec<switch::snapshot::CallSnapshot>,
    checkpoints: Vec<store::MediaCheckpoint>,
    baseline: i64,
    dir: accounts::Directory,
    bindings: Vec<accounts::Binding>,
    location: store::Location,
    /// A second connection for the shared lot's claims (PostgreSQL only).
    claims_store: Option<Box<dyn Store>>,
}

/// Opens the store and reads what a start needs (outside any async
/// runtime: the PostgreSQL client runs its own).
pub fn open_store(cfg: &Config, db: &store::Location) -> Result<Opened> {
    let node = cfg.cluster.node.get_ref();
    let mut store = db
        .open_as(node)
        .with_context(|| format!("cannot open the store at {db}"))?;
    info!(store = %db, %node, "store open");
    let report = provision::sync(cfg, store.as_mut())
        .context("provisioning from the configuration failed")?;
    info!(
        tenants = report.tenants,
        extensions = report.extensions,
        dids = report.dids,
        trunks = report.trunks,
        removed = report.removed,
        "provisioned from configuration"
    );
    // The lot is rebuilt from the calls resumed below.
    store.clear_parked()?;
    let snapshots = live_calls(store.as_mut())?;
    let checkpoints = store.media_checkpoints()?;
    // Read before the load: a CLI change committed after it is then seen
    // as a change by the store thread, however late that thread starts.
    let baseline = store.accounts_version()?;
    let dir = store.load_directory()?;
    let bindings = store.bindings()?;
    // The other nodes send retrievals of this node's parked calls here.
    let sip = cfg.listeners().iter().find_map(|l| match l {
        Listen::Udp(a) => Some(*a),
        _ => None,
    });
    if let Some(sip) = sip {
        store.announce_node(&sip.to_string(), shell::now().unix_ms)?;
    }
    let claims_store = match db {
        store::Location::Postgres(_) => Some(
            db.open_as(node)
                .with_context(|| format!("cannot open the store at {db}"))?,
        ),
        store::Location::Sqlite(_) => None,
    };
    Ok(Opened {
        claims_store,
        store,
        snapshots,
        checkpoints,
        baseline,
        dir,
        bindings,
        location: db.clone(),
    })
}

/// Runs the switch until SIGINT/SIGTERM.
pub async fn serve(cfg: Config, opened: Opened) -> Result<()> {
    let started = std::time::Instant::now();
    let file_limit = crate::file_limit::raise();
    let rtp_ports =
        crate::file_limit::rtp_ports(cfg.rtp_ports(), file_limit, cfg.sip.max_tcp_connections);
    let Opened {
        store,
        snapshots,
        checkpoints,
        baseline,
        dir,
        bindings,
        location: db,
        claims_store,
    } = opened;
    let (events_tx, events_rx) = mpsc::channel::<Event>(8192);
    let limits = sip_limits(&cfg);
    let mut udp = Vec::new();
    for l in cfg.listeners() {
        match l {
            Listen::Udp(addr) => {
                let s = UdpSocket::bind(addr)
                    .await
                    .with_context(|| format!("cannot bind udp:{addr}"))?;
                transport::udp::enlarge_receive_buffer(&s, 4 << 20);
                let s = Arc::new(s);
                info!("listening on udp:{}", s.local_addr()?);
                tokio::spawn(transport::udp::read_loop(
                    s.clone(),
                    events_tx.clone(),
                    limits.max_message,
                ));
                udp.push(s);
            }
            Listen::Tcp(addr) => {
                let l = TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot bind tcp:{addr}"))?;
                info!("listening on tcp:{}", l.local_addr()?);
                tokio::spawn(transport::tcp::accept_loop(
                    l,
                    events_tx.clone(),
                    tcp_limits(&cfg),
                    None,
                ));
            }
            Listen::Tls(addr) => {
                let acceptor = transport::tls::acceptor(&cfg.tls)?;
                let l = TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot bind tls:{addr}"))?;
                info!("listening on tls:{}", l.local_addr()?);
                tokio::spawn(transport::tcp::accept_loop(
                    l,
                    events_tx.clone(),
                    tcp_limits(&cfg),
                    Some(acceptor),
                ));
            }
        }
    }
    let metrics_handle =
        crate::metrics::install().context("cannot install the metrics recorder")?;
    tokio::spawn(crate::metrics::keep_up(metrics_handle.clone()));
    let stream = crate::event_stream::EventStream::default();
    let webhooks = crate::webhooks::spawn(&cfg.webhooks, &stream);
    let http_addr = cfg.http.listen.get_ref();
    if !http_addr.is_empty() {
        let listener = TcpListener::bind(http_addr.as_str())
            .await
            .with_context(|| format!("cannot bind the HTTP API on {http_addr}"))?;
        info!("admin API on http://{}", listener.local_addr()?);
        let api = http::Api {
            events: events_tx.clone(),
            metrics: metrics_handle.clone(),
            stream: stream.clone(),
            webhooks: webhooks.clone(),
            access: std::sync::Arc::new(crate::access::Access::new(&cfg.http.tokens)),
            open_health_and_metrics: cfg.http.open_health_and_metrics,
            db,
            console: std::sync::Arc::default(),
        };
        tokio::spawn(crate::console::status_history::sample(
            events_tx.clone(),
            api.console.history.clone(),
        ));
        let app = http::router(api, cfg.http.allowed_hosts.clone());
        let service = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, service).await });
    }

    let (store_tx, store_rx) = persist::StoreQueue::new();
    let (reports_tx, reports_rx) = mpsc::unbounded_channel();
    let continuity = media_io::Continuity::from_checkpoints(checkpoints, store_tx.clone());
    let engine = media::engine::Config {
        music: sounds::music(cfg.media.music.as_deref().map(Path::new))?,
        prompts: sounds::prompts(cfg.media.prompts.as_deref().map(Path::new))?,
        idle_timeout: std::time::Duration::from_secs(cfg.media.rtp_timeout_s),
    };
    let media = media_io::spawn(
        media_io::MediaSettings {
            address: cfg.media_address(),
            raw_send: cfg.media.raw_send,
            threads: cfg.media_threads(),
            engine,
        },
        media_io::Reports {
            calls: reports_tx,
            keys: events_tx.clone(),
        },
        continuity,
    )
    .context("cannot start the media threads")?;
    let media_handle = media.handle().clone();
    let (low, high) = rtp_ports;
    info!(
        "media on {} ports {low}-{high}, {} threads",
        cfg.media_address(),
        cfg.media_threads()
    );
    let shared_lot = claims_store.is_some();
    let mut sw = Switch::new(
        SwitchConfig {
            shared_lot,
            rtp_ports,
            ..switch_config(&cfg)
        },
        dir,
    );
    sw.restore_bindings(bindings, shell::now());
    let found = snapshots.len();
    let resumed = sw.resume(shell::now(), snapshots);
    if found > 0 {
        info!(
            talking = resumed.talking,
            parked = resumed.parked,
            ended = resumed.ended,
            since_start_ms = started.elapsed().as_millis() as u64,
            "resumed the calls of the previous run"
        );
    }
    let store_events = events_tx.clone();
    let store_thread =
        std::thread::spawn(move || persist::run(store, baseline, store_rx, store_events));
    let stop_tx = events_tx.clone();
    let claims = claims_store.map(|s| crate::claims::ClaimQueue::start(s, events_tx.clone()));
    let authorizer = match &cfg.authorization {
        Some(a) => Some(crate::authorizer::Authorizer::new(
            a.url.get_ref().clone(),
            a.secret.clone(),
            std::time::Duration::from_millis(*a.timeout_ms.get_ref()),
            events_tx.clone(),
        )?),
        None => None,
    };
    drop(events_tx);
    let mut core = tokio::spawn(shell::run(
        sw,
        events_rx,
        reports_rx,
        udp,
        shell::Outlets {
            store: store_tx.clone(),
            media,
            stream,
            authorizer,
            claims,
        },
    ));
    info!("Parkline is running");
    shutdown_signal().await;
    // Calls are not ended: they are in the store, and the next start
    // carries them on. Stop taking input (the core saves what is pending
    // and ends), record where the media streams are, flush, exit.
    info!("shutting down: live calls stay in the store for the next start");
    let stopped = stop_tx.send(Event::Stop).await.is_ok()
        && tokio::time::timeout(std::time::Duration::from_secs(2), &mut core)
            .await
            .is_ok();
    if !stopped {
        tracing::warn!("the core did not stop in time: changes of the last 20 ms may be lost");
        core.abort();
    }
    let media_saved = media_handle.checkpoint(std::time::Duration::from_secs(2));
    if !media_saved {
        tracing::warn!("the media threads did not checkpoint their streams in time");
    }
    store_tx.stop();
    let _ = tokio::task::spawn_blocking(move || store_thread.join()).await;
    Ok(())
}

/// The snapshots of the calls the previous process left; an unreadable one
/// is logged and dropped (nothing can be done for its call).
fn live_calls(store: &mut dyn Store) -> Result<Vec<switch::snapshot::CallSnapshot>> {
    let mut out = Vec::new();
    for (id, text) in store.live_calls()? {
        match serde_json::from_str(&text) {
            Ok(s) => out.push(s),
            Err(e) => {
                tracing::error!(call = id, "unreadable call snapshot dropped: {e}");
                store.remove_live_call(id)?;
            }
        }
    }
    Ok(out)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
