//! Whether this launch can show a GUI. Decided before Tauri is touched: GTK panics without a display, and
//! a server or CI box must still get a working worker.

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// `--headless`: the worker only, even where a display exists.
    pub headless: bool,
    /// `--minimized`: start in the tray without a window (how autostart launches the app at login).
    pub minimized: bool,
    /// `--help` / `-h`: print the usage and exit, starting nothing.
    pub help: bool,
    /// `--version` / `-V`: print the version and exit, starting nothing.
    pub version: bool,
}

/// What `--help` prints: the app's own flags, and where the rest of claude-mem lives.
pub const USAGE: &str = "\
claude-mem-app: the claude-mem tray app. It hosts the memory worker (or attaches to one already
running on the configured port) and shows the viewer.

Usage: claude-mem-app [--minimized | --headless]

Options:
  --minimized   start in the tray without a window (what start-at-login uses)
  --headless    run the worker only, without a GUI (also chosen when there is no display)
  -h, --help    print this help and exit
  -V, --version print the version and exit

Connect Claude Code with `claude-mem install` (the CLI installed beside the app).";

impl Options {
    /// Unknown arguments are ignored: the OS or a launcher may add its own (a file, `--no-sandbox`).
    pub fn parse<S: AsRef<str>>(args: &[S]) -> Self {
        let mut o = Self::default();
        for a in args {
            match a.as_ref() {
                "--headless" => o.headless = true,
                "--minimized" => o.minimized = true,
                "--help" | "-h" => o.help = true,
                "--version" | "-V" => o.version = true,
                _ => {}
            }
        }
        o
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// The worker alone, with the reason (logged so a user can tell why no window appeared).
    Headless(&'static str),
    Gui {
        minimized: bool,
    },
}

/// `env` answers whether a variable is set and non-empty.
pub fn decide(options: &Options, env: impl Fn(&str) -> bool) -> Mode {
    if options.headless {
        return Mode::Headless("--headless was given");
    }
    if !cfg!(target_os = "linux") {
        return Mode::Gui {
            minimized: options.minimized,
        };
    }
    if env("DISPLAY") || env("WAYLAND_DISPLAY") {
        Mode::Gui {
            minimized: options.minimized,
        }
    } else {
        Mode::Headless("no display (neither DISPLAY nor WAYLAND_DISPLAY is set)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_with(vars: &'static [&'static str]) -> impl Fn(&str) -> bool {
        move |k| vars.contains(&k)
    }

    #[test]
    fn options_are_read_and_strangers_ignored() {
        assert_eq!(
            Options::parse(&["--minimized", "--whatever"]),
            Options {
                minimized: true,
                ..Options::default()
            }
        );
        assert!(Options::parse(&["--headless"]).headless);
        assert!(Options::parse(&["-h"]).help && Options::parse(&["--help"]).help);
        assert!(Options::parse(&["-V"]).version && Options::parse(&["--version"]).version);
    }

    #[test]
    fn no_display_means_headless_and_the_flag_wins() {
        let gui = Options::default();
        assert_eq!(
            decide(&gui, env_with(&[])),
            Mode::Headless("no display (neither DISPLAY nor WAYLAND_DISPLAY is set)")
        );
        assert_eq!(
            decide(&gui, env_with(&["DISPLAY"])),
            Mode::Gui { minimized: false }
        );
        assert_eq!(
            decide(&gui, env_with(&["WAYLAND_DISPLAY"])),
            Mode::Gui { minimized: false }
        );
        let min = Options::parse(&["--minimized"]);
        assert_eq!(
            decide(&min, env_with(&["DISPLAY"])),
            Mode::Gui { minimized: true }
        );
        let headless = Options::parse(&["--headless"]);
        assert_eq!(
            decide(&headless, env_with(&["DISPLAY"])),
            Mode::Headless("--headless was given")
        );
    }
}
