//! A private FerretDB instance, for tests that take the store down and bring it back.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::process::{Process, free_port};
use crate::wait::eventually;
use crate::{required_env, unique_name};

/// How long FerretDB may take to listen, and a port taken by another server to come free.
const LISTEN_WITHIN: Duration = Duration::from_secs(30);

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
