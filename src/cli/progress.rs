//! Progress of the long commands (`import`, `verify --cohort`) on stderr:
//! a bar with the rate and the time left on a terminal (indicatif), and a
//! plain line every [`PLAIN_EVERY`] otherwise (a log, a pipe, cron). Plain
//! lines start with `unlistd: `, so they never look like an import
//! problem's `FILE:LINE: FIELD: message`.
//!
//! A thread polls the command's own counters, so the work itself never
//! waits for the terminal.

use std::io::IsTerminal as _;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often a plain progress line is printed.
pub(super) const PLAIN_EVERY: Duration = Duration::from_secs(5);
/// How often the bar is redrawn.
const BAR_EVERY: Duration = Duration::from_millis(200);
/// The bar's resolution: the fraction done in thousandths.
const BAR_STEPS: u64 = 1000;

/// Where a command stands.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Snapshot {
    /// The share of the work done, 0 to 1: the time left is read from it.
    pub fraction: f64,
    /// Things done so far (rows read, answers got): the rate counts them.
    pub count: u64,
    /// Appended to the figures (sizes, per-site tallies).
    pub detail: String,
}

/// A running progress display; [`Progress::finish`] ends it.
#[derive(Debug)]
pub(super) struct Progress {
    done: mpsc::Sender<Option<String>>,
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    /// Shows `label`'s progress, polling `poll`; `unit` names what
    /// [`Snapshot::count`] counts (`rows`, `probes`).
    pub(super) fn start(
        label: String,
        unit: &'static str,
        poll: impl Fn() -> Snapshot + Send + 'static,
    ) -> Progress {
        let (done, rx) = mpsc::channel::<Option<String>>();
        let terminal = std::io::stderr().is_terminal();
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            if terminal {
                bar(&label, unit, &poll, &rx, started);
            } else {
                plain(&label, unit, &poll, &rx, started);
            }
        });
        Progress {
            done,
            thread: Some(thread),
        }
    }

    /// Ends the display. Without a terminal, `last` (if any) is printed as
    /// the final plain line; a bar is cleared.
    pub(super) fn finish(mut self, last: Option<String>) {
        let _ = self.done.send(last);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Progress {
    /// An early return (`?`) ends the display without a last line.
    fn drop(&mut self) {
        let _ = self.done.send(None);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn bar(
    label: &str,
    unit: &str,
    poll: &dyn Fn() -> Snapshot,
    done: &mpsc::Receiver<Option<String>>,
    started: Instant,
) {
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(BAR_STEPS),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(BAR_TEMPLATE) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(label.to_string());
    loop {
        let s = poll();
        bar.set_message(figures(&s, unit, started.elapsed()));
        bar.set_position(steps(s.fraction));
        match done.recv_timeout(BAR_EVERY) {
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Ok(_) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    bar.finish_and_clear();
}

/// `import roster.csv [=====>    ] 45% · 61000 rows · 40000 rows/s · ETA 8s`,
/// the figures cut to the terminal's width rather than wrapped.
const BAR_TEMPLATE: &str = "{prefix} [{bar:30}] {wide_msg}";

fn plain(
    label: &str,
    unit: &str,
    poll: &dyn Fn() -> Snapshot,
    done: &mpsc::Receiver<Option<String>>,
    started: Instant,
) {
    loop {
        match done.recv_timeout(PLAIN_EVERY) {
            Err(mpsc::RecvTimeoutError::Timeout) => {
                eprintln!(
                    "unlistd: {label}: {}",
                    figures(&poll(), unit, started.elapsed())
                );
            }
            Ok(Some(last)) => {
                eprintln!("unlistd: {label}: {last}");
                break;
            }
            Ok(None) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
}

fn steps(fraction: f64) -> u64 {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let n = (fraction.clamp(0.0, 1.0) * BAR_STEPS as f64).round() as u64;
    n
}

/// `45% · 61000 rows · 40000 rows/s · ETA 8s` and the detail: the rate is
/// the average since the start, the time left what that pace needs for the
/// rest (none before a second has passed or anything is done).
pub(super) fn figures(s: &Snapshot, unit: &str, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    #[allow(clippy::cast_precision_loss)]
    let rate = if secs > 0.0 {
        s.count as f64 / secs
    } else {
        0.0
    };
    let fraction = s.fraction.clamp(0.0, 1.0);
    let eta = if fraction >= 1.0 {
        String::new()
    } else if fraction > 0.0 && secs >= 1.0 {
        let left = Duration::from_secs_f64(secs * (1.0 - fraction) / fraction);
        format!(" · ETA {}", short(left))
    } else {
        " · ETA ?".to_string()
    };
    format!(
        "{:.0}% · {} {unit} · {rate:.1} {unit}/s{eta}{}",
        fraction * 100.0,
        s.count,
        s.detail
    )
}

/// `2h 05m`, `3m 20s`, `8s`.
pub(super) fn short(d: Duration) -> String {
    let s = d.as_secs() + u64::from(d.subsec_millis() >= 500);
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m {s:02}s"),
        (h, m, _) => format!("{h}h {m:02}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(fraction: f64, count: u64) -> Snapshot {
        Snapshot {
            fraction,
            count,
            detail: String::new(),
        }
    }

    #[test]
    fn figures_carry_rate_and_time_left() {
        let ten = Duration::from_secs(10);
        assert_eq!(
            figures(&snap(0.25, 400), "rows", ten),
            "25% · 400 rows · 40.0 rows/s · ETA 30s"
        );
        assert_eq!(
            figures(&snap(0.1, 10), "probes", Duration::from_secs(100)),
            "10% · 10 probes · 0.1 probes/s · ETA 15m 00s"
        );
        // Nothing to go on yet, and nothing left to wait for.
        assert_eq!(
            figures(&snap(0.0, 0), "rows", ten),
            "0% · 0 rows · 0.0 rows/s · ETA ?"
        );
        assert_eq!(
            figures(&snap(0.5, 5), "rows", Duration::from_millis(300)),
            "50% · 5 rows · 16.7 rows/s · ETA ?"
        );
        let mut done = snap(1.0, 7);
        done.detail = " · applying the changes".into();
        assert_eq!(
            figures(&done, "rows", ten),
            "100% · 7 rows · 0.7 rows/s · applying the changes"
        );
    }

    #[test]
    fn durations_read_short() {
        assert_eq!(short(Duration::from_millis(400)), "0s");
        assert_eq!(short(Duration::from_secs(59)), "59s");
        assert_eq!(short(Duration::from_secs(200)), "3m 20s");
        assert_eq!(short(Duration::from_secs(7530)), "2h 05m");
    }

    #[test]
    fn the_bar_template_parses() {
        assert!(indicatif::ProgressStyle::with_template(BAR_TEMPLATE).is_ok());
        assert_eq!(steps(0.4567), 457);
        assert_eq!(steps(1.7), BAR_STEPS);
    }
}
