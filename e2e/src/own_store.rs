//! A private FerretDB instance, for tests that take the store down and bring it back.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::command::run;
use crate::process::{Process, free_port};
use crate::wait::eventually;
use crate::{required_env, unique_name};

/// How long FerretDB may take to listen, and a port taken by another server to come free.
const LISTEN_WITHIN: Duration = Duration::from_secs(30);
/// How long a dump, a restore or a statement of PostgreSQL's tools may take.
const TOOL_WITHIN: Duration = Duration::from_secs(120);

/// Runs a PostgreSQL client tool of the server the run started (`WIBER_POSTGRES_BIN_DIR`) to
/// completion, failing the test with its output if it fails.
fn postgres_tool(name: &str, args: &[&str]) {
    let bin = PathBuf::from(required_env("WIBER_POSTGRES_BIN_DIR")).join(name);
    run(name, Command::new(bin).args(args), TOOL_WITHIN).success(&format!("{name} {args:?}"));
}

/// A private FerretDB instance. Its data is a PostgreSQL database of its own on the run's one
/// PostgreSQL server, so a stop or a freeze is the store's outage as the API and the consumer
/// see it, and the data outlives a restart.
pub struct OwnStore {
    pub port: u16,
    postgres_url: String,
    process: Option<Process>,
}

impl OwnStore {
    pub async fn start() -> Self {
        let database = unique_name("ferretdb").replace('-', "_");
        let mut store = Self {
            port: free_port(),
            postgres_url: format!("{}{database}", required_env("WIBER_POSTGRES_URL")),
            process: None,
        };
        // The port is free when picked but not held: another test's server may bind it first,
        // and then this one exits while a connect would reach the other. A new port then.
        for _ in 0..5 {
            if store.listen().await {
                return store;
            }
            store.port = free_port();
        }
        panic!("own FerretDB exited at start five times: see its logs in target/e2e-logs")
    }

    pub fn uri(&self) -> String {
        format!("mongodb://127.0.0.1:{}/", self.port)
    }

    pub fn stop(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.terminate(Duration::from_secs(20));
        }
    }

    /// Freezes it (SIGSTOP) until `thaw`: connections stay open, nothing is answered.
    pub fn freeze(&self) {
        self.process.as_ref().expect("running").signal("STOP");
    }

    pub fn thaw(&self) {
        self.process.as_ref().expect("running").signal("CONT");
    }

    /// Starts it again on the same port and data, and waits until it listens there.
    pub async fn restart(&mut self) {
        let deadline = Instant::now() + LISTEN_WITHIN;
        while !self.listen().await {
            assert!(
                Instant::now() < deadline,
                "own FerretDB could not listen on {} again: see its logs",
                self.port
            );
            // While it was stopped, another test's server took the port: wait for it to go.
            let addr = format!("127.0.0.1:{}", self.port);
            eventually("the own store's port free", LISTEN_WITHIN, || async {
                std::net::TcpListener::bind(&addr).ok().map(drop)
            })
            .await;
        }
    }

    /// A consistent dump of its data: `pg_dump` of its PostgreSQL database (FerretDB keeps each
    /// MongoDB database as a schema there), which is this store's backup.
    pub fn dump(&self, file: &Path) {
        let file = file.to_str().expect("a UTF-8 path");
        postgres_tool("pg_dump", &["-Fc", "-f", file, "-d", &self.postgres_url]);
    }

    /// Loses every byte it held and gets `file` back in its place: stopped, its database dropped
    /// and created empty, the dump restored into it, and started again on the same port.
    pub async fn restore(&mut self, file: &Path) {
        self.stop();
        let (server, database) = self
            .postgres_url
            .rsplit_once('/')
            .expect("a database in the URL");
        let admin = format!("{server}/postgres");
        for sql in [
            format!("DROP DATABASE \"{database}\" WITH (FORCE)"),
            format!("CREATE DATABASE \"{database}\""),
        ] {
            postgres_tool("psql", &["-v", "ON_ERROR_STOP=1", "-d", &admin, "-c", &sql]);
        }
        let file = file.to_str().expect("a UTF-8 path");
        postgres_tool(
            "pg_restore",
            &["--exit-on-error", "-d", &self.postgres_url, file],
        );
        self.restart().await;
    }

    /// Starts the process on `port` and waits until its own log says it listens there (a
    /// connect could reach another process); false if it exited first.
    async fn listen(&mut self) -> bool {
        let bin = PathBuf::from(required_env("WIBER_FERRETDB_BIN"));
        let listen = format!("127.0.0.1:{}", self.port);
        let mut process = Process::spawn(
            bin,
            &[
                "-listen",
                &listen,
                "-handler",
                "postgresql",
                "-postgresql-url",
                &self.postgres_url,
                // As dev/ferretdb.sh's: room for the API's and consumer's pools (docs/concepts/store.md).
                "-pool-max-conns",
                "150",
            ],
            &[],
            "ferretdb",
        );
        let said = format!("ferretdb listening\" addr={listen} ");
        let listening = eventually("own FerretDB to listen", LISTEN_WITHIN, || {
            let up = process.log_text().contains(&said);
            let exited = !up && !process.is_running();
            async move { (up || exited).then_some(up) }
        })
        .await;
        if listening {
            self.process = Some(process);
        }
        listening
    }
}
