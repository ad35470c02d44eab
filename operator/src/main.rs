use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::sync::watch;
use wiber_operator::config::Config;
use wiber_operator::leader::LeaderElector;
use wiber_operator::metrics::Metrics;
use wiber_operator::reconcile::{self, Context};

#[tokio::main]
async fn main() -> ExitCode {
    wiber_common::process::main(Config::from_env, run).await
}

fn health_router(metrics: Metrics) -> Router {
    Router::new()
        .route(
            "/health/liveness",
            get(|| async { axum::Json(serde_json::json!({ "status": "alive" })) }),
        )
        .route(
            "/health/readiness",
            get(|| async { axum::Json(serde_json::json!({ "status": "ready" })) }),
        )
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move {
                    let (content_type, body) = wiber_common::metrics::render(&metrics.registry);
                    ([(header::CONTENT_TYPE, content_type)], body).into_response()
                }
            }),
        )
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

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| {
            format!(
                "cannot listen on {} (OPERATOR_HOST, OPERATOR_PORT): {e}",
                config.listen
            )
        })?;
    let router = health_router(metrics.clone());
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
    let renew_every = config.lease_duration / 3;
    if let Some(elector) = &elector {
        tracing::info!(lease = %config.lease_name, identity = %config.identity, "waiting to become leader");
        let mut stop_rx = stop.clone();
        loop {
            match elector.try_acquire().await {
                Ok(true) => break,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "lease check failed"),
            }
            tokio::select! {
                () = tokio::time::sleep(renew_every) => {}
                _ = stop_rx.wait_for(|s| *s) => { server.await??; return Ok(()); }
            }
        }
        metrics.leader.set(1);
        tracing::info!("leading");
    }

    // Losing the lease stops reconciling at once; the process then exits so it restarts as a standby.
    let (lost_tx, lost) = watch::channel(false);
    if let Some(elector) = elector.clone() {
        let lease_duration = config.lease_duration;
        let mut stop_rx = stop.clone();
        tokio::spawn(async move {
            let mut last_renewal = Instant::now();
            loop {
                tokio::select! {
                    () = tokio::time::sleep(renew_every) => {}
                    _ = stop_rx.wait_for(|s| *s) => return,
                }
                match elector.try_acquire().await {
                    Ok(true) => last_renewal = Instant::now(),
                    Ok(false) => {
                        tracing::error!("another replica holds the lease now");
                        let _ = lost_tx.send(true);
                        return;
                    }
                    Err(e) if last_renewal.elapsed() > lease_duration => {
                        tracing::error!(error = %e, "could not renew the lease in time");
                        let _ = lost_tx.send(true);
                        return;
                    }
                    Err(e) => tracing::warn!(error = %e, "lease renewal failed; retrying"),
                }
            }
        });
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
    tracing::info!(namespace = ?config.watch_namespace, "reconciling WiberClusters");
    reconcile::run(ctx, config.watch_namespace.clone(), shutdown).await;
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
