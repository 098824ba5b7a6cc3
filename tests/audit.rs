//! The tamper-evident trail through the real binary: an untouched store
//! verifies; a probe edited or deleted behind unlistd's back, or a record
//! deleted, makes `audit verify` exit 1 naming the first broken record.

use std::time::Duration;

use crate::common::*;

/// A store with a story: a clean pass, a leak of R-04, a second pass.
async fn story() -> Env {
    let env = Env::new(Knobs::default()).await;
    env.import(ROSTER);
    let out = env.cmd(&["scan", "--once"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    env.sim.add(listing(
        "Mette Kjærsgaard",
        "19500004",
        "Vestergade 21, 1. mf",
        "7100 Vejle",
    ));
    let out = env.cmd(&["scan", "--once"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    env
}

fn db(env: &Env) -> rusqlite::Connection {
    rusqlite::Connection::open(env.db()).unwrap()
}

fn exposed_probe_id(env: &Env) -> i64 {
    db(env)
        .query_row(
            "SELECT id FROM probes WHERE outcome = 'exposed' ORDER BY id LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap()
}

fn seq_of(env: &Env, kind: &str, ref_id: &str) -> i64 {
    db(env)
        .query_row(
            "SELECT seq FROM audit WHERE kind = ?1 AND ref_id = ?2",
            [kind, ref_id],
            |r| r.get(0),
        )
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn untouched_store_verifies() {
    let env = story().await;
    let out = env.cmd(&["audit", "verify"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stdout(&out).starts_with("audit trail verified: "),
        "{}",
        stdout(&out)
    );
    let j = json(&env.cmd(&["--json", "audit", "verify"]));
    assert_eq!(j["verified"], true);
    assert_eq!(j["first_broken"], serde_json::Value::Null);
    // trail.start + import + 12 probes + 1 incident opening.
    assert_eq!(j["records"].as_u64(), Some(15), "{j}");
    assert_eq!(j["head"]["seq"].as_u64(), Some(15));
    assert_eq!(j["head"]["hash"].as_str().map(str::len), Some(64));

    // No roster data in the trail.
    let payloads: String = db(&env)
        .query_row("SELECT group_concat(payload, ' ') FROM audit", [], |r| {
            r.get(0)
        })
        .unwrap();
    for n in roster_numbers() {
        assert!(!payloads.contains(&n), "audit payload holds a number");
    }
    for name in ["Kjærsgaard", "Vestergade", "Østergaard", "Ågade"] {
        assert!(!payloads.contains(name), "audit payload holds {name}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edited_probe_is_named() {
    let env = story().await;
    let id = exposed_probe_id(&env);
    let seq = seq_of(&env, "probe", &id.to_string());
    let n = db(&env)
        .execute("UPDATE probes SET outcome = 'clean' WHERE id = ?1", [id])
        .unwrap();
    assert_eq!(n, 1);

    let out = env.cmd(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let line = stdout(&out);
    assert!(
        line.starts_with(&format!("audit record {seq} (probe {id}): ")),
        "{line}"
    );
    assert!(line.contains("outcome"), "{line}");

    let out = env.cmd(&["--json", "audit", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    let j = json(&out);
    assert_eq!(j["verified"], false);
    assert_eq!(j["first_broken"]["seq"].as_i64(), Some(seq));
    assert_eq!(j["first_broken"]["kind"], "probe");
    assert_eq!(j["first_broken"]["ref_id"], id.to_string());

    // Put back exactly as recorded: intact again.
    db(&env)
        .execute("UPDATE probes SET outcome = 'exposed' WHERE id = ?1", [id])
        .unwrap();
    assert_eq!(env.cmd(&["audit", "verify"]).status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn deleted_rows_and_records_are_named() {
    let env = story().await;
    // A clean probe of the first pass deleted from the probes table.
    let (id,): (i64,) = db(&env)
        .query_row(
            "SELECT id FROM probes WHERE outcome = 'clean' ORDER BY id LIMIT 1 OFFSET 2",
            [],
            |r| Ok((r.get(0)?,)),
        )
        .unwrap();
    let seq = seq_of(&env, "probe", &id.to_string());
    db(&env)
        .execute("DELETE FROM probes WHERE id = ?1", [id])
        .unwrap();
    let out = env.cmd(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).starts_with(&format!(
            "audit record {seq} (probe {id}): probe {id} is missing"
        )),
        "{}",
        stdout(&out)
    );

    // An audit record deleted (its probe row left alone).
    let env = story().await;
    let id = exposed_probe_id(&env);
    let seq = seq_of(&env, "probe", &id.to_string());
    db(&env)
        .execute("DELETE FROM audit WHERE seq = ?1", [seq])
        .unwrap();
    let out = env.cmd(&["--json", "audit", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    let j = json(&out);
    assert_eq!(j["first_broken"]["seq"].as_i64(), Some(seq + 1));
    let msg = j["first_broken"]["message"].as_str().unwrap();
    assert!(
        msg.contains(&format!("record {seq} before it is missing")),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_logs_the_chain_head() {
    let env = Env::new(Knobs::default()).await;
    env.import(ROSTER);
    let daemon = env.spawn_daemon();
    let ok = eventually(Duration::from_secs(20), || {
        daemon.log().matches("chain head seq=").count() >= 2
    })
    .await;
    assert!(
        ok,
        "no chain head at start and after a cycle: {}",
        daemon.log()
    );
    let log = daemon.log();
    assert_eq!(daemon.stop(), Some(0));
    // The logged head is a real record of the store.
    let line = log
        .lines()
        .rfind(|l| l.contains("chain head seq="))
        .unwrap();
    let hash = line.split("hash=").nth(1).unwrap()[..64].to_string();
    let n: i64 = rusqlite::Connection::open(env.db())
        .unwrap()
        .query_row("SELECT count(*) FROM audit WHERE hash = ?1", [&hash], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(n, 1, "{line}");
}
