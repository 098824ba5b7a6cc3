//! `unlistd simulate`: the scheduler's detection figures in virtual time
//! (see `engine::simulate` for what is real and what is simulated).

use std::time::Duration;

use super::{Cli, Command, EXIT_FAILURE, EXIT_OK, Failure, print_json};
use crate::engine::simulate::{self, Plan};

/// What `unlistd simulate` was asked.
#[derive(Debug, Clone)]
pub(super) struct Args {
    pub sizes: Vec<u32>,
    pub rate: f64,
    pub trials: u32,
    pub seed: u64,
    pub max_staleness: Duration,
    pub escalation_share: f64,
    pub json: bool,
}

/// `unlistd simulate` as parsed.
pub(super) fn from_cli(cli: &Cli) -> Result<u8, Failure> {
    let Command::Simulate {
        sizes,
        rate,
        trials,
        seed,
        max_staleness,
        escalation_share,
    } = &cli.command
    else {
        return Err(Failure::operational("not the simulate command"));
    };
    run(&Args {
        sizes: sizes.clone(),
        rate: *rate,
        trials: *trials,
        seed: *seed,
        max_staleness: *max_staleness,
        escalation_share: *escalation_share,
        json: cli.json,
    })
}

pub(super) fn run(a: &Args) -> Result<u8, Failure> {
    if a.sizes.iter().any(|n| *n < 1000 || *n > 1_000_000) {
        return Err(Failure::bad_input(
            "--sizes: each roster size must be between 1000 and 1000000",
        ));
    }
    if !(a.rate.is_finite() && a.rate > 0.0) {
        return Err(Failure::bad_input(
            "--rate: must be a positive number of requests per second",
        ));
    }
    if a.trials < 100 {
        return Err(Failure::bad_input("--trials: at least 100"));
    }
    if !(0.0..=1.0).contains(&a.escalation_share) {
        return Err(Failure::bad_input(
            "--escalation-share: must be between 0 and 1",
        ));
    }
    let plan = Plan {
        sizes: a.sizes.clone(),
        rate: a.rate,
        trials: a.trials,
        seed: a.seed,
        max_staleness: a.max_staleness,
        escalation_share: a.escalation_share,
    };
    // Its own runtime with a paused clock, on its own thread: the CLI's
    // runtime runs real time.
    let p = plan.clone();
    let figures = std::thread::spawn(move || simulate::run(&p))
        .join()
        .map_err(|_| Failure::operational("the simulation failed"))?
        .map_err(Failure::operational)?;
    if a.json {
        let rows: Vec<serde_json::Value> = figures
            .iter()
            .map(|f| {
                serde_json::json!({
                    "n": f.n, "scenario": f.scenario, "leaked": f.leaked, "trials": f.trials,
                    "probes_p50": f.probes.map(|p| p.0), "probes_p99": f.probes.map(|p| p.1),
                    "seconds_p50": f.seconds.map(|p| p.0), "seconds_p99": f.seconds.map(|p| p.1),
                    "theory_p99": f.theory_p99, "exact_p99": f.exact_p99,
                    "measured": f.check.0, "reference": f.check.1, "ratio_of": f.check.2,
                    "goal": f.goal, "ok": f.ok,
                })
            })
            .collect();
        print_json(&serde_json::json!({ "rate_per_second": a.rate, "figures": rows }))?;
    } else {
        print!("{}", simulate::table(&plan, &figures));
    }
    Ok(if figures.iter().all(|f| f.ok) {
        EXIT_OK
    } else {
        EXIT_FAILURE
    })
}
