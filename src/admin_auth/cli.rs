//! Reading a new admin password for `shopkeep admin set-password`.
//!
//! The password comes from a file or from standard input, never from the
//! command line, where `ps` and shell history would keep it. At a terminal it
//! is asked twice with echo off. This module only reads; storing is the
//! parent module's job.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

/// The new password from `password_file`, or from standard input without one.
pub fn read_new_password(password_file: Option<&Path>) -> Result<String, String> {
    let password = match password_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read the password file {}: {e}", path.display()))?;
            first_line(&text).to_string()
        }
        None if std::io::stdin().is_terminal() => ask_twice()?,
        None => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
            first_line(&line).to_string()
        }
    };
    if password.is_empty() {
        return Err(
            "no password given: send it on standard input or name a --password-file".into(),
        );
    }
    Ok(password)
}

/// The text up to the first line break: files and pipes end lines, passwords do not.
fn first_line(text: &str) -> &str {
    let line = text.split('\n').next().unwrap_or("");
    line.strip_suffix('\r').unwrap_or(line)
}

fn ask_twice() -> Result<String, String> {
    let first = prompt("New admin password: ")?;
    let second = prompt("Once more: ")?;
    if first != second {
        return Err("the two passwords differ; nothing was changed".into());
    }
    Ok(first)
}

fn prompt(question: &str) -> Result<String, String> {
    let mut stderr = std::io::stderr();
    let _ = write!(stderr, "{question}");
    let _ = stderr.flush();
    let typed = {
        let _hidden = EchoOff::start();
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the password: {e}"))?;
        line
    };
    let _ = writeln!(stderr);
    Ok(first_line(&typed).to_string())
}

/// Keeps the terminal from echoing what is typed while it lives.
struct EchoOff {
    #[cfg(unix)]
    saved: Option<libc::termios>,
}

impl EchoOff {
    #[cfg(unix)]
    fn start() -> EchoOff {
        // SAFETY: tcgetattr and tcsetattr only read and write the termios
        // value we own, for standard input, which stays open for the whole
        // process; a failure (not a terminal) leaves echo as it was.
        let saved = unsafe {
            let mut settings: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(libc::STDIN_FILENO, &mut settings) != 0 {
                None
            } else {
                let saved = settings;
                settings.c_lflag &= !libc::ECHO;
                (libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &settings) == 0)
                    .then_some(saved)
            }
        };
        EchoOff { saved }
    }

    #[cfg(not(unix))]
    fn start() -> EchoOff {
        EchoOff {}
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(saved) = &self.saved {
            // SAFETY: restores the settings read in `start` on the same descriptor.
            unsafe {
                libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, saved);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_line_break_is_cut_from_a_password() {
        assert_eq!(first_line("  spaced out pass \n"), "  spaced out pass ");
        assert_eq!(first_line("windows line\r\nsecond"), "windows line");
        assert_eq!(first_line("no newline"), "no newline");
        assert_eq!(first_line(""), "");
    }

    #[test]
    fn a_password_file_gives_its_first_line_and_an_empty_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("password");
        std::fs::write(&file, "from a file 123\nignored\n").unwrap();
        assert_eq!(read_new_password(Some(&file)).unwrap(), "from a file 123");
        std::fs::write(&file, "\n").unwrap();
        assert!(
            read_new_password(Some(&file))
                .unwrap_err()
                .contains("no password")
        );
        let missing = dir.path().join("missing");
        assert!(
            read_new_password(Some(&missing))
                .unwrap_err()
                .contains("cannot read")
        );
    }
}
