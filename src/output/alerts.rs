//! tcpflow's per-file hooks (`-S tcp_cmd`, `-S tcp_alert_fd`, `-S
//! http_cmd`, `-S http_alert_fd`): a line on an inherited file descriptor
//! when a file is opened and when it is complete, and a shell command run
//! on each complete file, in tcpflow 1.6.1's formats.
//!
//! Owns: the alert line format (`open\tPATH\n`, `close\tPATH\n`), the
//! command line (`sh -c "COMMAND PATH"`, at most [`MAX_CHILDREN`] at once),
//! and the path the hooks name (tcpflow's: the output folder and the
//! file's name joined with `/`, or the name alone for the folder `.`).
//! Must not: decide when a file is complete (flow files: the report's
//! order; HTTP bodies: the carver).

use crate::error::Error;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::Arc;

/// Commands run at once, at most, per kind of file (tcpflow's limit for
/// `http_cmd`); the next one waits for the oldest to end.
pub const MAX_CHILDREN: usize = 10;

/// An open file descriptor the caller handed over (`-S tcp_alert_fd=N`),
/// written one line at a time.
#[derive(Debug, Clone)]
pub struct AlertFd {
    fd: i32,
    file: Arc<File>,
}

impl AlertFd {
    /// Alerts go to `file`, which the caller opened as descriptor `fd`
    /// (named in errors).
    pub fn new(fd: i32, file: File) -> AlertFd {
        AlertFd {
            fd,
            file: Arc::new(file),
        }
    }

    /// Write `kind\tpath\n` in one call (so lines from several threads do
    /// not interleave).
    pub fn line(&self, kind: &str, path: &str) -> Result<(), Error> {
        let line = format!("{kind}\t{path}\n");
        (&*self.file)
            .write_all(line.as_bytes())
            .map_err(|source| Error::Write {
                path: format!("file descriptor {}", self.fd).into(),
                source,
            })
    }
}

/// The hooks for one kind of file (flow files or HTTP bodies).
#[derive(Debug, Clone, Default)]
pub struct FileHooks {
    /// Where `open` and `close` lines go.
    pub alert: Option<AlertFd>,
    /// The command run on each complete file, with its path appended.
    pub command: Option<String>,
}

impl FileHooks {
    /// True when neither an alert descriptor nor a command is set.
    pub fn is_empty(&self) -> bool {
        self.alert.is_none() && self.command.is_none()
    }
}

/// tcpflow's `tcp_*` and `http_*` hooks together, as the configuration
/// carries them.
#[derive(Debug, Clone, Default)]
pub struct Hooks {
    /// For flow files (`tcp_alert_fd`, `tcp_cmd`).
    pub tcp: FileHooks,
    /// For carved HTTP bodies (`http_alert_fd`, `http_cmd`).
    pub http: FileHooks,
}

/// The path tcpflow names a file by in its alerts, commands and DFXML
/// report: `outdir/file`, joined as text (so `-o out/` gives `out//file`,
/// as in tcpflow), or `file` alone when the folder is `.`.
pub fn tcpflow_path(outdir: &Path, file: &str) -> String {
    if outdir.as_os_str() == "." {
        file.to_string()
    } else {
        format!("{}/{file}", outdir.to_string_lossy())
    }
}

/// Runs one kind of hook as files complete: writes their `close` lines and
/// starts their commands, [`MAX_CHILDREN`] at most at once.
#[derive(Debug)]
pub struct Runner {
    hooks: FileHooks,
    setting: &'static str,
    children: std::collections::VecDeque<Child>,
}

impl Runner {
    /// Run `hooks`; `setting` names the command's `-S` setting in errors
    /// (`tcp_cmd` or `http_cmd`).
    pub fn new(hooks: FileHooks, setting: &'static str) -> Runner {
        Runner {
            hooks,
            setting,
            children: std::collections::VecDeque::new(),
        }
    }

    /// The file at `path` (as [`tcpflow_path`] names it) was opened: its
    /// `open` line.
    pub fn opened(&self, path: &str) -> Result<(), Error> {
        match &self.hooks.alert {
            Some(alert) => alert.line("open", path),
            None => Ok(()),
        }
    }

    /// The file at `path` (as [`tcpflow_path`] names it) is complete:
    /// `close` line, then the command.
    pub fn completed(&mut self, path: &str) -> Result<(), Error> {
        if let Some(alert) = &self.hooks.alert {
            alert.line("close", path)?;
        }
        let Some(command) = &self.hooks.command else {
            return Ok(());
        };
        while self.children.len() >= MAX_CHILDREN {
            if let Some(mut oldest) = self.children.pop_front() {
                // Its exit status is not looked at, as in tcpflow.
                let _ = oldest.wait();
            }
        }
        let line = format!("{command} {path}");
        let child = Command::new("/bin/sh")
            .arg("-c")
            .arg(&line)
            .spawn()
            .map_err(|source| Error::Command {
                setting: self.setting,
                command: line.clone(),
                source,
            })?;
        self.children.push_back(child);
        Ok(())
    }

    /// Wait for every command still running.
    pub fn finish(&mut self) {
        while let Some(mut child) = self.children.pop_front() {
            let _ = child.wait();
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn paths_are_joined_as_tcpflow_joins_them() {
        assert_eq!(tcpflow_path(Path::new("."), "a-b"), "a-b");
        assert_eq!(tcpflow_path(Path::new("out"), "a-b"), "out/a-b");
        assert_eq!(tcpflow_path(Path::new("out/"), "k/a-b"), "out//k/a-b");
        assert_eq!(tcpflow_path(Path::new("/abs/o"), "a"), "/abs/o/a");
    }

    #[test]
    fn alert_lines_are_tab_separated_and_commands_get_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let alerts = dir.path().join("alerts");
        let file = File::create(&alerts).unwrap();
        let marker = dir.path().join("ran");
        let hooks = FileHooks {
            alert: Some(AlertFd::new(9, file)),
            command: Some(format!("echo >>{}", marker.display())),
        };
        let mut runner = Runner::new(hooks.clone(), "tcp_cmd");
        hooks.alert.as_ref().unwrap().line("open", "out/x").unwrap();
        for i in 0..12 {
            runner.completed(&format!("out/x{i}")).unwrap();
        }
        runner.finish();
        let mut text = String::new();
        File::open(&alerts)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        let mut want = "open\tout/x\n".to_string();
        for i in 0..12 {
            want.push_str(&format!("close\tout/x{i}\n"));
        }
        assert_eq!(text, want);
        let mut ran: Vec<String> = std::fs::read_to_string(&marker)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        ran.sort();
        let mut want: Vec<String> = (0..12).map(|i| format!("out/x{i}")).collect();
        want.sort();
        assert_eq!(ran, want);
    }
}
