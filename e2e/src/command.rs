//! Commands the tests run to completion (helm, kubectl, promtool), each with a deadline.

use std::fs::{self, File};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::process::exit_within;
use crate::unique_name;

/// What a finished command printed.
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// stdout, after asserting the command succeeded (the panic shows both streams).
    pub fn success(self, what: &str) -> String {
        assert!(
            self.status.success(),
            "{what} failed ({}):\nstdout: {}\nstderr: {}",
            self.status,
            self.stdout,
            self.stderr
        );
        self.stdout
    }
}

/// Runs a command with a deadline (killing it at the deadline and failing the test).
pub fn run(what: &str, command: &mut Command, within: Duration) -> Output {
    let dir = std::env::temp_dir().join(unique_name("wiber-e2e-cmd"));
    fs::create_dir_all(&dir).expect("temp dir");
    let (out, err) = (dir.join("stdout"), dir.join("stderr"));
    let mut child = command
        .stdin(Stdio::null())
        .stdout(File::create(&out).expect("stdout file"))
        .stderr(File::create(&err).expect("stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start {command:?}: {e}"));
    let Some(status) = exit_within(&mut child, within) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "{what}: still running after {within:?}; stderr: {}",
            fs::read_to_string(&err).unwrap_or_default()
        );
    };
    let output = Output {
        status,
        stdout: fs::read_to_string(&out).unwrap_or_default(),
        stderr: fs::read_to_string(&err).unwrap_or_default(),
    };
    let _ = fs::remove_dir_all(&dir);
    output
}

/// `kubectl wiber <subcommand>...`: the plugin itself answers the subcommand's `--help` (the words
/// after `wiber` up to the first flag or placeholder).
pub fn plugin_knows(words: &[String]) -> bool {
    let path: Vec<&str> = words
        .iter()
        .skip_while(|w| *w != "wiber")
        .skip(1)
        .take_while(|w| !w.starts_with('-') && !w.contains('<'))
        .map(String::as_str)
        .collect();
    !path.is_empty()
        && Command::new(crate::process::binary("kubectl-wiber"))
            .args(&path)
            .arg("--help")
            .output()
            .expect("the plugin runs")
            .status
            .success()
}
