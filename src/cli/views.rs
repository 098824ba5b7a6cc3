//! The commands that read: `status`, `incidents`, `history` (and the
//! silence lines `status` and `silence list` share).

use super::{Cli, EXIT_OK, Failure, open, print_json};
use crate::store::blocking;
use crate::wire;

fn age(secs: Option<u64>) -> String {
    match secs {
        None => "-".into(),
        Some(s) if s < 120 => format!("{s}s"),
        Some(s) if s < 7200 => format!("{}m", s / 60),
        Some(s) if s < 172_800 => format!("{}h", s / 3600),
        Some(s) => format!("{}d", s / 86400),
    }
}

pub(super) async fn status(cli: &Cli) -> Result<u8, Failure> {
    let app = open(cli).await?;
    let a = app.clone();
    let st = blocking(move || crate::status::of(&a, false)).await?;
    if cli.json {
        print_json(&st)?;
        return Ok(EXIT_OK);
    }
    println!(
        "roster: {} entries   open incidents: {}",
        st.roster.size, st.incidents.open
    );
    println!();
    println!(
        "{:<24} {:<9} {:<10} {:>12} {:>11} {:>10} {:>12}",
        "SITE", "ENABLED", "STATE", "OLDEST PROBE", "CONCLUSIVE", "RATE/s", "CYCLE"
    );
    for s in &st.sites {
        println!(
            "{:<24} {:<9} {:<10} {:>12} {:>11} {:>10.2} {:>12}",
            s.name,
            if s.enabled { "yes" } else { "no" },
            s.state,
            age(s.oldest_probe_age_seconds),
            s.conclusive_share
                .map(|c| format!("{:.1}%", c * 100.0))
                .unwrap_or("-".into()),
            s.configured_rate_per_second,
            age(Some(s.predicted_cycle_seconds as u64)),
        );
        if let Some(r) = &s.state_reason {
            println!("  {r}");
        }
        if let (Some(by), Some(since)) = (&s.held_by, &s.held_since) {
            println!("  probed by {by} since {since}");
        }
        if !s.robots.honoured {
            println!(
                "  robots.txt not honoured: {}",
                s.robots.reason.as_deref().unwrap_or("-")
            );
        }
        if s.predicted_cycle_seconds > s.max_staleness_seconds as f64 {
            println!("  warning: a full cycle takes longer than max_staleness at this rate");
        }
    }
    if let Some(r) = &st.last_reload {
        println!();
        match &r.error {
            None => println!("last config reload: ok at {}", r.time),
            Some(e) => println!(
                "last config reload: FAILED at {} (running on the config before it): {e}",
                r.time
            ),
        }
        if !r.needs_restart.is_empty() {
            println!(
                "  changed, applies after a restart: {}",
                r.needs_restart.join(", ")
            );
        }
    }
    if !st.alerts.is_empty() {
        println!();
        println!(
            "{:<28} {:>8} {:>10} {:>8}  LAST ERROR",
            "RECEIVER", "PENDING", "DELIVERED", "FAILING"
        );
        for r in &st.alerts {
            println!(
                "{:<28} {:>8} {:>10} {:>8}  {}",
                r.receiver,
                r.pending_messages + r.undelivered_events,
                r.delivered_messages,
                if r.failing { "yes" } else { "no" },
                r.last_error.as_deref().unwrap_or("-")
            );
        }
    }
    if !st.silences.is_empty() {
        println!();
        println!("silences in force:");
        for s in &st.silences {
            println!("  {}", silence_line(s));
        }
    }
    Ok(EXIT_OK)
}

/// One silence as a line of text.
pub(super) fn silence_line(s: &wire::Silence) -> String {
    format!(
        "{}  site={} type={} cohort={}  until {}{}  by {}: {}",
        s.id,
        s.site.as_deref().unwrap_or("*"),
        s.event_type.unwrap_or("*"),
        s.cohort.as_deref().unwrap_or("*"),
        s.expires_at,
        s.ended_at
            .as_deref()
            .map(|e| format!(" (ended {e})"))
            .unwrap_or_default(),
        s.created_by,
        s.reason
    )
}

/// The incident views' shared start: `--json` prints `wire`, and without
/// incidents the table is "no incidents". True when nothing is left to
/// print.
fn printed_json_or_none(
    cli: &Cli,
    wire: &impl serde::Serialize,
    none: bool,
) -> Result<bool, Failure> {
    if cli.json {
        print_json(wire)?;
    } else if none {
        println!("no incidents");
    }
    Ok(cli.json || none)
}

pub(super) async fn incidents(cli: &Cli, only_open: bool) -> Result<u8, Failure> {
    let app = open(cli).await?;
    let store = app.store().clone();
    let v = blocking(move || store.incidents(only_open)).await?;
    let wire = wire::Incidents {
        incidents: v.iter().map(wire::Incident::from).collect(),
    };
    if printed_json_or_none(cli, &wire, wire.incidents.is_empty())? {
        return Ok(EXIT_OK);
    }
    println!(
        "{:<22} {:<16} {:<16} {:<15} {:<13} {:<21} {:<21} RESOLVED",
        "ID", "SITE", "ENTRY REF", "EXPOSED", "STATE", "FIRST SEEN", "LAST SEEN"
    );
    for i in &wire.incidents {
        println!(
            "{:<22} {:<16} {:<16} {:<15} {:<13} {:<21} {:<21} {}",
            i.id,
            i.site,
            i.entry_ref,
            i.exposed.join(","),
            i.state,
            i.first_seen,
            i.last_seen,
            i.resolved_at.as_deref().unwrap_or("-")
        );
    }
    Ok(EXIT_OK)
}

/// `incidents --by-cohort`: one block per cohort, the biggest first.
pub(super) async fn incidents_by_cohort(cli: &Cli, only_open: bool) -> Result<u8, Failure> {
    let app = open(cli).await?;
    let store = app.store().clone();
    let v = blocking(move || store.incidents_by_cohort(only_open)).await?;
    let wire = wire::IncidentsByCohort {
        cohorts: v.iter().map(wire::CohortIncidents::from).collect(),
    };
    if printed_json_or_none(cli, &wire, wire.cohorts.is_empty())? {
        return Ok(EXIT_OK);
    }
    for (n, g) in wire.cohorts.iter().enumerate() {
        if n > 0 {
            println!();
        }
        println!(
            "{}: {} incident(s), {} open, on {}; {} of {} entries of the cohort exposed now",
            g.cohort
                .as_deref()
                .map_or("(no cohort)".to_string(), |c| format!("cohort {c}")),
            g.count,
            g.open,
            g.sites.join(", "),
            g.exposed_in_cohort,
            g.cohort_size,
        );
        for i in &g.incidents {
            println!(
                "  {:<22} {:<16} {:<16} {:<15} {:<13} first seen {}",
                i.id,
                i.site,
                i.entry_ref,
                i.exposed.join(","),
                i.state,
                i.first_seen,
            );
        }
    }
    Ok(EXIT_OK)
}

pub(super) async fn history(cli: &Cli, entry_ref: &str) -> Result<u8, Failure> {
    let app = open(cli).await?;
    let store = app.store().clone();
    let r = entry_ref.to_string();
    let Some(probes) = blocking(move || store.history(&r)).await? else {
        return Err(Failure::bad_input(format!(
            "REF: unknown entry ref {entry_ref:?}"
        )));
    };
    let wire = wire::History {
        entry_ref: entry_ref.to_string(),
        probes: probes.iter().map(wire::Probe::from).collect(),
    };
    if cli.json {
        print_json(&wire)?;
        return Ok(EXIT_OK);
    }
    println!("{} probes of {}", wire.probes.len(), wire.entry_ref);
    println!(
        "{:<21} {:<24} {:<13} {:>5}  REASON / MATCHED",
        "TIME", "SITE", "OUTCOME", "HTTP"
    );
    for p in &wire.probes {
        let detail = match (&p.reason, p.matched.is_empty()) {
            (Some(r), _) => r.clone(),
            (None, false) => format!("matched: {}", p.matched.join(", ")),
            (None, true) => String::new(),
        };
        println!(
            "{:<21} {:<24} {:<13} {:>5}  {}",
            p.time,
            p.site,
            p.outcome,
            p.http_status.map(|s| s.to_string()).unwrap_or("-".into()),
            detail
        );
    }
    Ok(EXIT_OK)
}
