//! Child processes for the tests: Wiber's real binaries and the servers tests run privately, each
//! killed when the test ends however it ends, with its output in `target/e2e-logs/`.

use std::fs::File;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::{repo, unique_name};

/// A free loopback port (the OS picks it; it is released for the child to bind).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Where `make test` put the binaries (`WIBER_BIN_DIR`), else this workspace's debug build.
pub fn binary(name: &str) -> PathBuf {
    let dir = std::env::var_os("WIBER_BIN_DIR")
        .map_or_else(|| repo().join("target/debug"), PathBuf::from);
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build --workspace --bins` (make test does)",
        path.display()
    );
    path
}

pub(crate) fn log_dir() -> PathBuf {
    let dir = repo().join("target/e2e-logs");
    std::fs::create_dir_all(&dir).expect("log dir");
    dir
}

/// Polls `child` until it exits (its status) or `within` has passed (`None`; it still runs).
pub(crate) fn exit_within(child: &mut Child, within: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().expect("wait for a child process") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A child process that is killed when the test ends, however it ends.
pub struct Process {
    pub name: String,
    child: Child,
    pub log: PathBuf,
}

impl Process {
    pub fn spawn(program: PathBuf, args: &[&str], env: &[(String, String)], name: &str) -> Self {
        let log = log_dir().join(format!("{}.log", unique_name(name)));
        let out = File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = Command::new(&program)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        Self {
            name: name.to_owned(),
            child,
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: the process gets no chance to commit or flush anything.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits (with a deadline) for a graceful exit; returns its exit status code.
    pub fn terminate(&mut self, within: Duration) -> Option<i32> {
        self.signal("TERM");
        match exit_within(&mut self.child, within) {
            Some(status) => status.code(),
            None => {
                self.kill();
                panic!(
                    "{} did not stop within {within:?} of SIGTERM; log: {}",
                    self.name,
                    self.log.display()
                );
            }
        }
    }

    /// Waits (with a deadline) for the process to exit on its own; returns its exit status code.
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let status = exit_within(&mut self.child, within);
        let status = status.unwrap_or_else(|| {
            panic!(
                "{} still runs after {within:?}; log: {}",
                self.name,
                self.log.display()
            )
        });
        status.code()
    }

    /// SIGSTOP, SIGCONT or SIGTERM: a frozen process keeps its sockets open and answers nothing.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .expect("kill command");
        assert!(status.success(), "kill -{signal} {} failed", self.pid());
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
