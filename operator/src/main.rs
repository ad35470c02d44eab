use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::response::IntoResponse;
use tokio::sync::watch;
use wiber_operator::config::Config;
use wiber_operator::controller::{self, Context};
use wiber_operator::leader::LeaderElector;
use wiber_operator::metrics::Metrics;

#[tokio::main]
async fn main() -> ExitCode {
    wiber_common::process::main("wiber-operator", Config::from_env, run).await
}

async fn run(config: Config) -> Result<(), Box<dyn std::error::Error>> {
    let client = kube::Client::try_default().await.map_err(|e| {
        format!("cannot build a Kubernetes client (KUBECONFIG or in-cluster config): {e}")
    })?;
    let metrics = Metrics::new();
    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(async move {
        wiber_common::shutdown::signal().await;
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };

    let listener = wiber_common::serve::bind(config.listen, "OPERATOR_HOST, OPERATOR_PORT").await?;
    // Ready once serving: a standby is healthy too, it only waits for the lease.
    let router = wiber_common::health::router(metrics.registry.clone(), || async {
        axum::Json(serde_json::json!({ "status": "ready" })).into_response()
    });
    let server_stop = stopped(stop.clone());
    let server = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(server_stop)
            .await
    });

    let elector = config.leader_election.then(|| {
        Arc::new(LeaderElector::new(
            client.clone(),
            &config.lease_namespace,
            &config.lease_name,
            &config.identity,
            config.lease_duration,
        ))
    });
    if let Some(elector) = &elector {
        if !elector.acquire(stop.clone()).await {
            server.await??;
            return Ok(());
        }
        metrics.leader.set(1);
    }
    // Losing the lease stops reconciling at once; the process then exits so it restarts as a standby.
    // Without election the lease is never lost: this sender lives as long as `run`.
    let (_never_lost, mut lost) = watch::channel(false);
    if let Some(elector) = elector.clone() {
        lost = elector.hold(stop.clone());
    }

    let ctx = Arc::new(Context::new(
        client.clone(),
        metrics.clone(),
        &config.identity,
    ));
    let (stop_rx, lost_rx) = (stop.clone(), lost.clone());
    let shutdown = async move {
        tokio::select! {
            () = stopped(stop_rx) => {}
            () = stopped(lost_rx) => {}
        }
    };
    tracing::info!(namespaces = ?config.watch_namespaces, "reconciling WiberClusters (all namespaces when none)");
    controller::reconcile_all(ctx, &config.watch_namespaces, shutdown).await;
    metrics.leader.set(0);
    if let Some(elector) = &elector {
        elector.release().await;
    }
    if *lost.borrow() {
        return Err("lost the leader lease".into());
    }
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .ok();
    tracing::info!("wiber-operator stopped");
    Ok(())
}
