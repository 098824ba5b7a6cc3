//! `unlistd generate-assets DIR` (hidden: not one of the clap definitions,
//! so no help, man page or completion shows it): the man pages and the
//! bash, zsh and fish completions the Debian package ships, generated from
//! the clap definitions of this very binary, so they cannot drift from its
//! flags.
//! `.ci/run` calls it on the release build before `cargo deb --no-build`
//! (ARCHITECTURE.md, "Decisions", says why this way).
//!
//! Layout under DIR, as `[package.metadata.deb] assets` expects it:
//! `man/unlistd.1.gz` and one `man/unlistd-<command>.1.gz` per command
//! (gzip -9, no name or time in the header, as Debian policy wants),
//! `completions/unlistd.bash`, `completions/_unlistd` (zsh),
//! `completions/unlistd.fish`.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use clap::CommandFactory as _;
use clap_complete::Shell;

use super::{Cli, EXIT_BAD_INPUT, EXIT_OK, Failure};

/// The command's name, which `main_with` looks for before clap parses.
pub(super) const COMMAND: &str = "generate-assets";

/// `unlistd generate-assets DIR`: `args` are those after the command.
pub(super) fn main(args: &[std::ffi::OsString]) -> ExitCode {
    let [dir] = args else {
        eprintln!("unlistd: usage: unlistd {COMMAND} DIR");
        return ExitCode::from(EXIT_BAD_INPUT);
    };
    match generate(Path::new(dir)) {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            eprintln!("unlistd: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

/// Sections of `unlistd(1)` that clap has no place for.
const MAIN_PAGE_TAIL: &str = r#".SH "EXIT STATUS"
.TP
0
success
.TP
1
operational failure (the store cannot be opened, a site could not be read)
.TP
2
bad input (bad config, bad CSV, unknown ref, bad flag); the message names the file, line and field
.TP
3
an exposure: \fBscan \-\-once\fR ends with an open incident, \fBcheck\fR finds the number listed, \fBverify \-\-cohort\fR finds an entry exposed
.SH ENVIRONMENT
.TP
\fBUNLISTD_CONFIG\fR
the config file, as \fB\-\-config\fR
.TP
\fBUNLISTD_LOG\fR
the log filter, e.g. \fBdebug\fR or \fBunlistd=trace\fR
.TP
\fBUNLISTD_LOG_FORMAT\fR
\fBtext\fR or \fBjson\fR, as \fB\-\-log\-format\fR
.SH FILES
.TP
\fI/etc/unlistd/config.toml\fR
the configuration (a commented example)
.TP
\fI/var/lib/unlistd/\fR
the store of the systemd service (\fBunlistd.service\fR)
.TP
\fI/usr/share/doc/unlistd/README.md\fR
the full manual: roster CSV, configuration, alerts, metrics, reports
.SH "SEE ALSO"
\fBsystemctl\fR(1), \fBjournalctl\fR(1), \fBsystemd.exec\fR(5)
"#;

fn generate(dir: &Path) -> Result<u8, Failure> {
    let fail = |what: &str, e: std::io::Error| {
        Failure::operational(format!("generate-assets: {what}: {e}"))
    };
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();

    let man = dir.join("man");
    std::fs::create_dir_all(&man).map_err(|e| fail(&man.display().to_string(), e))?;
    let mut pages = 0;
    man_pages(&cmd, &man, true, &mut pages).map_err(|e| fail("man pages", e))?;

    let completions = dir.join("completions");
    std::fs::create_dir_all(&completions)
        .map_err(|e| fail(&completions.display().to_string(), e))?;
    for (shell, file) in [
        (Shell::Bash, "unlistd.bash"),
        (Shell::Zsh, "_unlistd"),
        (Shell::Fish, "unlistd.fish"),
    ] {
        let mut text = Vec::new();
        clap_complete::generate(shell, &mut cmd, "unlistd", &mut text);
        std::fs::write(completions.join(file), text).map_err(|e| fail(file, e))?;
    }
    println!(
        "wrote {pages} man pages to {} and bash, zsh and fish completions to {}",
        man.display(),
        completions.display()
    );
    Ok(EXIT_OK)
}

/// `cmd`'s page and those of its visible subcommands, recursively.
fn man_pages(
    cmd: &clap::Command,
    dir: &Path,
    main: bool,
    pages: &mut usize,
) -> std::io::Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        man_pages(sub, dir, false, pages)?;
    }
    let page = clap_mangen::Man::new(cmd.clone()).manual("unlistd manual");
    let mut roff = Vec::new();
    page.render(&mut roff)?;
    if main {
        roff.extend_from_slice(MAIN_PAGE_TAIL.as_bytes());
    }
    let path = dir.join(format!("{}.gz", page.get_filename()));
    // No file name and mtime 0 in the header: the same input gives the same
    // bytes (reproducible builds; lintian checks for timestamps).
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(std::fs::File::create(path)?, flate2::Compression::best());
    gz.write_all(&roff)?;
    gz.finish()?.sync_all()?;
    *pages += 1;
    Ok(())
}
