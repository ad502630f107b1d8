//! The one test suite both stores pass: each check runs on SQLite, and on
//! PostgreSQL when `PARKLINE_TEST_PG` names a server (libpq form, e.g.
//! `host=/tmp/pg user=parkline`; a fresh database per check). Without it
//! the PostgreSQL half says it is skipped, or fails under
//! `PARKLINE_REQUIRE_PEERS` (as `scripts/test` runs).

use crate::{ConfigKeys, MediaCheckpoint, PostgresStore, SqliteStore, Store, StoreError};
use accounts::{Binding, CallRecord, Did, Extension, Outcome, ParkedCall, Source, Tenant};
use std::sync::atomic::{AtomicU32, Ordering};

/// A fresh PostgreSQL database on the test server, if there is one.
pub fn fresh_postgres(test: &str) -> Option<PostgresStore> {
    fresh_postgres_url(test).map(|url| PostgresStore::connect(&url).unwrap())
}

/// The connection string of a fresh database on the test server.
fn fresh_postgres_url(test: &str) -> Option<String> {
    let Ok(base) = std::env::var("PARKLINE_TEST_PG") else {
        if std::env::var_os("PARKLINE_REQUIRE_PEERS").is_some() {
            panic!("{test}: PARKLINE_TEST_PG is not set (scripts/test starts a server)");
        }
        eprintln!("SKIP {test} on PostgreSQL: PARKLINE_TEST_PG is not set");
        return None;
    };
    static N: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "store_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    Some(PostgresStore::create_database(&base, &name).expect("the test PostgreSQL server answers"))
}

/// Runs `check` on a fresh store of each kind.
fn on_both(test: &str, check: impl Fn(&mut dyn Store)) {
    check(&mut SqliteStore::in_memory().unwrap());
    if let Some(mut pg) = fresh_postgres(test) {
        check(&mut pg);
    }
}

fn ext(tenant: &str, number: &str, source: Source) -> Extension {
    Extension {
        tenant: tenant.into(),
        number: number.into(),
        name: format!("Ext {number}"),
        ha1_md5: "m".into(),
        ha1_sha256: "s".into(),
        enabled: true,
        can_call_out: true,
        can_park: false,
        can_retrieve: true,
        outbound: accounts::OutboundLimits::EXTENSION,
        source,
    }
}

fn record(i: u64, outcome: Outcome) -> CallRecord {
    CallRecord {
        id: format!("c{i}"),
        tenant: "acme".into(),
        caller: "333".into(),
        callee: "444".into(),
        routed_to: "444".into(),
        connected: if i == 1 {
            "333 ↔ 555".into()
        } else {
            String::new()
        },
        started_ms: i,
        answered_ms: (i == 1).then_some(5),
        ended_ms: 10,
        outcome,
        status: 200,
        cause: "Normal".into(),
        features: "hold".into(),
        events: "parked by 333 at *71444\n".into(),
    }
}

#[test]
fn accounts_round_trip_with_their_rules() {
    on_both("accounts_round_trip_with_their_rules", |s| {
        assert!(s.schema_version().unwrap() > 0);
        let mut t = Tenant::new("acme", "acme.example");
        t.source = Source::Config;
        t.destinations.deny = vec!["00".into(), "1900".into()];
        t.destinations.allow = vec!["0044".into()];
        t.outbound.max_calls = 7;
        t.park_fallback = Some("444".into());
        t.srtp = Some(accounts::SrtpPolicy::Required);
        t.park_alerts = false;
        s.upsert_tenant(&t).unwrap();
        s.upsert_tenant(&t).unwrap();
        assert_eq!(s.tenants().unwrap(), vec![t.clone()]);
        let mut e = ext("acme", "333", Source::Config);
        e.outbound.max_calls_per_minute = 3;
        s.upsert_extension(&e).unwrap();
        assert_eq!(s.extensions(None).unwrap(), vec![e.clone()]);
        assert_eq!(s.extensions(Some("other")).unwrap(), vec![]);
        let did = Did {
            number: "15550100333".into(),
            tenant: "acme".into(),
            extension: "333".into(),
            source: Source::Config,
        };
        s.upsert_did(&did).unwrap();
        let bad = Did {
            extension: "999".into(),
            number: "1".into(),
            ..did.clone()
        };
        assert!(matches!(s.upsert_did(&bad), Err(StoreError::NotFound(_))));
        assert!(s
            .upsert_extension(&ext("nobody", "1", Source::Manual))
            .is_err());
        let trunk = accounts::Trunk {
            name: "carrier".into(),
            address: "127.0.0.1:5090".into(),
            tenant: "acme".into(),
            auth: Some(accounts::TrunkAuth {
                username: "pbx".into(),
                password: "pw".into(),
                register_s: Some(300),
            }),
            tls_name: None,
            source: Source::Manual,
        };
        s.upsert_trunk(&trunk).unwrap();
        assert_eq!(s.trunks().unwrap(), vec![trunk]);
        let dir = s.load_directory().unwrap();
        assert_eq!(dir.did("15550100333").unwrap().extension, "333");
        // A tenant goes only once empty.
        assert!(matches!(
            s.delete_tenant("acme"),
            Err(StoreError::Conflict(_))
        ));
        assert!(s.delete_trunk("carrier").unwrap());
        assert!(s.delete_did("acme", "15550100333").unwrap());
        assert!(s.delete_extension("acme", "333").unwrap());
        assert!(!s.delete_extension("acme", "333").unwrap());
        assert!(s.delete_tenant("acme").unwrap());
        assert!(s.tenants().unwrap().is_empty());
    });
}

#[test]
fn prune_removes_only_config_items_no_longer_declared() {
    on_both("prune_removes_only_config_items", |s| {
        let mut t = Tenant::new("acme", "acme.example");
        t.source = Source::Config;
        s.upsert_tenant(&t).unwrap();
        for (n, source) in [
            ("333", Source::Config),
            ("444", Source::Config),
            ("555", Source::Manual),
        ] {
            s.upsert_extension(&ext("acme", n, source)).unwrap();
        }
        let keep = ConfigKeys {
            tenants: vec!["acme".into()],
            extensions: vec![("acme".into(), "333".into())],
            ..Default::default()
        };
        assert_eq!(s.prune_config_items(&keep).unwrap(), 1);
        let numbers: Vec<_> = s
            .extensions(Some("acme"))
            .unwrap()
            .into_iter()
            .map(|e| e.number)
            .collect();
        assert_eq!(numbers, ["333", "555"]);
    });
}

#[test]
fn records_bindings_and_parked_calls_round_trip() {
    on_both("records_bindings_and_parked_calls_round_trip", |s| {
        for (i, outcome) in [(1, Outcome::Answered), (2, Outcome::Refused)] {
            s.save_call_record(&record(i, outcome)).unwrap();
        }
        s.save_call_record(&record(2, Outcome::Refused)).unwrap();
        let all = s.call_records(Some("acme"), 10).unwrap();
        assert_eq!(
            all,
            vec![record(2, Outcome::Refused), record(1, Outcome::Answered)]
        );
        assert_eq!(s.call_records(None, 1).unwrap().len(), 1);
        let b = Binding {
            tenant: "acme".into(),
            extension: "333".into(),
            contact: "<sip:333-0x1@127.0.0.1:5070>".into(),
            source: "udp:127.0.0.1:5070".parse().unwrap(),
            expires_at: 42,
            call_id: "c".into(),
            cseq: u32::MAX,
            user_agent: "ua".into(),
            path: vec![
                "<sip:127.0.0.1:5060;lr;received=sip:127.0.0.1:5070>".into(),
                "<sip:edge2.example;lr>".into(),
            ],
        };
        s.save_binding(&b).unwrap();
        s.save_binding(&b).unwrap();
        assert_eq!(s.bindings().unwrap(), vec![b.clone()]);
        // An expiry seen elsewhere before the stored refresh keeps it.
        s.remove_binding("acme", "333", &b.contact, Some(41))
            .unwrap();
        assert_eq!(s.bindings().unwrap().len(), 1, "refreshed since");
        s.remove_binding("acme", "333", &b.contact, Some(42))
            .unwrap();
        assert!(s.bindings().unwrap().is_empty());
        s.save_binding(&b).unwrap();
        s.remove_binding("acme", "333", &b.contact, None).unwrap();
        assert!(s.bindings().unwrap().is_empty());
        let p = ParkedCall {
            tenant: "acme".into(),
            position: "333".into(),
            retrieval: "*71333".into(),
            parker: "444".into(),
            parked_party: "Jane <555>".into(),
            since_ms: 1_700_000_000_000,
            deadline_ms: 1_700_000_180_000,
        };
        s.save_parked(&p).unwrap();
        s.save_parked(&p).unwrap();
        assert_eq!(s.parked(Some("acme")).unwrap(), vec![p.clone()]);
        s.remove_parked("acme", "333").unwrap();
        s.save_parked(&p).unwrap();
        assert_eq!(s.clear_parked().unwrap(), 1);
    });
}

#[test]
fn live_calls_and_media_checkpoints_round_trip() {
    on_both("live_calls_and_media_checkpoints_round_trip", |s| {
        s.save_live_call(7, "{\"a\":1}").unwrap();
        s.save_live_call(7, "{\"a\":2}").unwrap();
        s.save_live_call(9, "{}").unwrap();
        s.remove_live_call(9).unwrap();
        assert_eq!(s.live_calls().unwrap(), vec![(7, "{\"a\":2}".to_string())]);
        let c = MediaCheckpoint {
            port: 20000,
            ssrc: u32::MAX,
            seq: u16::MAX,
            ts: u32::MAX - 1,
            roc: 3,
            at_ms: 1_700_000_000_123,
        };
        s.replace_media_checkpoints(&[c, MediaCheckpoint { port: 20002, ..c }])
            .unwrap();
        s.replace_media_checkpoints(&[c]).unwrap();
        assert_eq!(s.media_checkpoints().unwrap(), vec![c]);
    });
}

#[test]
fn a_transaction_commits_together() {
    on_both("a_transaction_commits_together", |s| {
        s.transaction(&mut |s| {
            s.upsert_tenant(&Tenant::new("acme", "acme.example"))
                .unwrap();
            s.upsert_extension(&ext("acme", "333", Source::Manual))
                .unwrap();
        })
        .unwrap();
        assert_eq!(s.extensions(Some("acme")).unwrap().len(), 1);
        // A failing write inside does not leave the transaction open.
        s.transaction(&mut |s| {
            let _ = s.upsert_extension(&ext("nobody", "1", Source::Manual));
        })
        .ok();
        s.upsert_extension(&ext("acme", "555", Source::Manual))
            .unwrap();
        assert_eq!(s.extensions(Some("acme")).unwrap().len(), 2);
    });
}

#[test]
fn a_failed_write_in_a_transaction_keeps_all_the_others_or_says_none_were_kept() {
    on_both("a_failed_write_in_a_transaction_keeps_all", |s| {
        s.upsert_tenant(&Tenant::new("acme", "acme.example"))
            .unwrap();
        // PostgreSQL refuses a NUL in text (the write fails in the server,
        // as a deadlock would); SQLite stores it.
        let mut bad = record(2, Outcome::Answered);
        bad.caller = "33\u{0}3".into();
        let result = s.transaction(&mut |s| {
            s.upsert_extension(&ext("acme", "444", Source::Manual))
                .unwrap();
            let _ = s.save_call_record(&bad);
            s.upsert_extension(&ext("acme", "555", Source::Manual))
                .unwrap_or_default();
        });
        let kept = s.extensions(Some("acme")).unwrap().len();
        match result {
            Ok(()) => assert_eq!(kept, 2, "every other write kept"),
            Err(StoreError::RolledBack) => assert_eq!(kept, 0, "none kept, as said"),
            Err(e) => panic!("unexpected: {e}"),
        }
        // The store is usable afterwards, in and out of transactions.
        s.transaction(&mut |s| {
            s.upsert_extension(&ext("acme", "666", Source::Manual))
                .unwrap();
        })
        .unwrap();
        let numbers: Vec<String> = s
            .extensions(Some("acme"))
            .unwrap()
            .into_iter()
            .map(|e| e.number)
            .collect();
        assert!(numbers.contains(&"666".to_string()), "{numbers:?}");
    });
}

#[test]
fn nodes_sharing_a_database_keep_their_own_calls_and_positions() {
    let Some(url) = fresh_postgres_url("nodes_sharing_a_database_keep_their_own_calls") else {
        return;
    };
    let mut a = PostgresStore::connect_as(&url, "node-1").unwrap();
    let mut b = PostgresStore::connect_as(&url, "node-2").unwrap();
    a.save_live_call(1, "a's").unwrap();
    b.save_live_call(1, "b's").unwrap();
    assert_eq!(a.live_calls().unwrap(), vec![(1, "a's".to_string())]);
    b.remove_live_call(1).unwrap();
    assert_eq!(a.live_calls().unwrap().len(), 1, "b removed only its own");
    let c = MediaCheckpoint {
        port: 20000,
        ssrc: 1,
        seq: 2,
        ts: 3,
        roc: 0,
        at_ms: 4,
    };
    a.replace_media_checkpoints(&[c]).unwrap();
    b.replace_media_checkpoints(&[]).unwrap();
    assert_eq!(a.media_checkpoints().unwrap(), vec![c]);
    // A position is the cluster's: the node holding it keeps it.
    let p = ParkedCall {
        tenant: "acme".into(),
        position: "333".into(),
        retrieval: "*71333".into(),
        parker: "444".into(),
        parked_party: "Jane <555>".into(),
        since_ms: 1,
        deadline_ms: 2,
    };
    a.save_parked(&p).unwrap();
    b.save_parked(&ParkedCall {
        parker: "555".into(),
        ..p.clone()
    })
    .unwrap();
    assert_eq!(b.parked(None).unwrap(), vec![p.clone()], "not overwritten");
    // Claims: the holder's succeeds (its own row), the other node's fails.
    assert!(a.claim_parked(&p).unwrap());
    assert!(!b.claim_parked(&p).unwrap());
    let free = ParkedCall {
        position: "444".into(),
        ..p.clone()
    };
    assert!(b.claim_parked(&free).unwrap());
    assert!(!a.claim_parked(&free).unwrap());
    // Where the holder of a position takes SIP, for the other nodes.
    a.announce_node("127.0.0.11:5060", 1).unwrap();
    b.announce_node("127.0.0.12:5060", 1).unwrap();
    assert_eq!(
        b.holder_of("acme", "333").unwrap().as_deref(),
        Some("127.0.0.11:5060")
    );
    assert_eq!(
        a.holder_of("acme", "444").unwrap().as_deref(),
        Some("127.0.0.12:5060")
    );
    assert_eq!(
        a.holder_of("acme", "333").unwrap(),
        None,
        "its own is not another's"
    );
    assert_eq!(a.holder_of("acme", "999").unwrap(), None);
    b.remove_parked("acme", "444").unwrap();
    assert_eq!(
        b.clear_parked().unwrap(),
        0,
        "a restarted node-2 clears only its own"
    );
    b.remove_parked("acme", "333").unwrap();
    assert_eq!(a.parked(None).unwrap().len(), 1);
    assert_eq!(a.clear_parked().unwrap(), 1);
}

#[test]
fn another_connections_account_change_moves_the_version() {
    // SQLite counts other connections' writes; PostgreSQL every change.
    let dir = std::env::temp_dir().join(format!("parkline-version-{}", std::process::id()));
    let path = dir.join("v.db");
    let reader = SqliteStore::open(&path).unwrap();
    let before = reader.accounts_version().unwrap();
    let mut writer = SqliteStore::open(&path).unwrap();
    writer
        .upsert_tenant(&Tenant::new("acme", "acme.example"))
        .unwrap();
    assert_ne!(reader.accounts_version().unwrap(), before);
    let _ = std::fs::remove_dir_all(dir);
    if let Some(mut pg) = fresh_postgres("another_connections_account_change_moves_the_version") {
        let before = pg.accounts_version().unwrap();
        pg.save_call_record(&record(1, Outcome::Answered)).unwrap();
        assert_eq!(
            pg.accounts_version().unwrap(),
            before,
            "records are not accounts"
        );
        pg.upsert_tenant(&Tenant::new("acme", "acme.example"))
            .unwrap();
        assert_ne!(pg.accounts_version().unwrap(), before);
    }
}

#[test]
fn two_nodes_claiming_one_position_at_once_get_one_winner() {
    let Some(url) = fresh_postgres_url("two_nodes_claiming_one_position_at_once") else {
        return;
    };
    let nodes: Vec<PostgresStore> = ["node-1", "node-2"]
        .iter()
        .map(|n| PostgresStore::connect_as(&url, n).unwrap())
        .collect();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
    let handles: Vec<_> = nodes
        .into_iter()
        .map(|mut store| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let mut won = 0;
                for i in 0..100 {
                    let p = ParkedCall {
                        tenant: "acme".into(),
                        position: format!("{}", 1000 + i),
                        retrieval: format!("*71{}", 1000 + i),
                        parker: "444".into(),
                        parked_party: "Jane <555>".into(),
                        since_ms: 1,
                        deadline_ms: 2,
                    };
                    barrier.wait();
                    if store.claim_parked(&p).unwrap() {
                        won += 1;
                    }
                }
                won
            })
        })
        .collect();
    let wins: Vec<u32> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(
        wins.iter().sum::<u32>(),
        100,
        "one winner per position: {wins:?}"
    );
}
