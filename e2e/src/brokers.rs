//! The three-node Kafka cluster (RF 3, `min.insync.replicas=2`) that `make test` starts for broker
//! faults, and the faults themselves, through `dev/kafka.sh`.

use std::process::Command;

use tokio::sync::{Mutex, MutexGuard};

use crate::required_env;

/// Faults on the cluster reach every test using it, so those tests take turns.
static EXCLUSIVE: Mutex<()> = Mutex::const_new(());

pub const NODES: [u8; 3] = [1, 2, 3];

/// The replicated cluster, held exclusively; every node it froze or stopped is brought back when
/// it is dropped, however the test ends.
pub struct ReplicatedKafka {
    pub bootstrap: String,
    port: String,
    frozen: Vec<u8>,
    stopped: Vec<u8>,
    _turn: MutexGuard<'static, ()>,
}

impl ReplicatedKafka {
    pub async fn exclusive() -> Self {
        let turn = EXCLUSIVE.lock().await;
        let bootstrap = required_env("WIBER_REPLICATED_KAFKA_BOOTSTRAP");
        crate::assert_reachable(
            "The three-node Kafka",
            "WIBER_REPLICATED_KAFKA_BOOTSTRAP",
            &bootstrap,
        );
        Self {
            bootstrap,
            port: required_env("WIBER_REPLICATED_KAFKA_PORT"),
            frozen: Vec::new(),
            stopped: Vec::new(),
            _turn: turn,
        }
    }

    fn kafka_sh(&self, args: &[&str]) {
        let script = crate::repo().join("dev/kafka.sh");
        let status = Command::new(&script)
            .args(args)
            .env("KAFKA_PORT", &self.port)
            .env("KAFKA_NODES", "3")
            .env_remove("KAFKA_CONTROLLER_PORT")
            .status()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(status.success(), "dev/kafka.sh {args:?} failed");
    }

    /// SIGSTOP: the node keeps its connections open and answers nothing.
    pub fn freeze(&mut self, node: u8) {
        self.kafka_sh(&["freeze-node", &node.to_string()]);
        self.frozen.push(node);
    }

    pub fn thaw(&mut self, node: u8) {
        self.kafka_sh(&["thaw-node", &node.to_string()]);
        self.frozen.retain(|n| *n != node);
    }

    /// SIGTERM, waiting until the node is gone: its partitions move to the others.
    pub fn stop(&mut self, node: u8) {
        self.kafka_sh(&["stop-node", &node.to_string()]);
        self.stopped.push(node);
    }

    /// Starts a stopped node again and waits until it serves.
    pub fn start(&mut self, node: u8) {
        self.kafka_sh(&["start-node", &node.to_string()]);
        self.stopped.retain(|n| *n != node);
    }
}

impl Drop for ReplicatedKafka {
    fn drop(&mut self) {
        for node in std::mem::take(&mut self.frozen) {
            self.kafka_sh(&["thaw-node", &node.to_string()]);
        }
        for node in std::mem::take(&mut self.stopped) {
            self.kafka_sh(&["start-node", &node.to_string()]);
        }
    }
}
