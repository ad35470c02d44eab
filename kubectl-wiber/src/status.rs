//! `kubectl wiber status`: what the operator reports about a WiberCluster (conditions, replicas,
//! lag by partition, the last scaling decision, dead letters) and the events recorded on it.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};
use wiber_operator::crd::WiberCluster;
use wiber_operator::scaling::Reason;

use crate::error::Error;
use crate::table::{age, table};

/// Events shown, newest first.
const EVENTS_SHOWN: usize = 10;

pub async fn one(client: &Client, ns: &str, name: &str) -> Result<String, Error> {
    let wc = get(client, ns, name).await?;
    let events = events(client, ns, name).await?;
    Ok(render(&wc, &events, Timestamp::now()))
}

/// One line per WiberCluster of namespace `ns`, or of every namespace (with a NAMESPACE column,
/// as `kubectl get -A`) when `None`.
pub async fn all(client: &Client, ns: Option<&str>) -> Result<String, Error> {
    let (wcs, place): (Api<WiberCluster>, String) = match ns {
        Some(ns) => (
            Api::namespaced(client.clone(), ns),
            format!("namespace {ns}"),
        ),
        None => (Api::all(client.clone()), "any namespace".to_owned()),
    };
    let list = wcs
        .list(&ListParams::default())
        .await
        .map_err(Error::api(format!("list WiberClusters in {place}")))?;
    if list.items.is_empty() {
        return Ok(format!("No WiberClusters in {place}.\n"));
    }
    Ok(render_list(&list.items, Timestamp::now(), ns.is_none()))
}

pub async fn get(client: &Client, ns: &str, name: &str) -> Result<WiberCluster, Error> {
    let wcs: Api<WiberCluster> = Api::namespaced(client.clone(), ns);
    wcs.get(name).await.map_err(|e| match e {
        kube::Error::Api(s) if s.is_not_found() => Error::NotFound {
            ns: ns.to_owned(),
            name: name.to_owned(),
        },
        e => Error::api(format!("read WiberCluster {ns}/{name}"))(e),
    })
}

/// The events recorded on the WiberCluster, newest first.
pub async fn events(client: &Client, ns: &str, name: &str) -> Result<Vec<Event>, Error> {
    let api: Api<Event> = Api::namespaced(client.clone(), ns);
    let selector = format!("involvedObject.kind=WiberCluster,involvedObject.name={name}");
    let mut events = api
        .list(&ListParams::default().fields(&selector))
        .await
        .map_err(Error::api(format!("list events in {ns}")))?
        .items;
    events.sort_by_key(|e| std::cmp::Reverse(last_seen(e)));
    Ok(events)
}

/// When an event last happened: the series' last sighting, else its time, else when recorded.
pub fn last_seen(e: &Event) -> Option<Timestamp> {
    e.series
        .as_ref()
        .and_then(|s| s.last_observed_time.as_ref().map(|t| t.0))
        .or_else(|| e.last_timestamp.as_ref().map(|t| t.0))
        .or_else(|| e.event_time.as_ref().map(|t| t.0))
        .or_else(|| e.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

fn ready(wc: &WiberCluster) -> (String, String) {
    wc.status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
        .map_or_else(
            || ("Unknown".to_owned(), "NotReconciled".to_owned()),
            |c| (c.status.clone(), c.reason.clone()),
        )
}

/// One WiberCluster in detail (pure).
pub fn render(wc: &WiberCluster, events: &[Event], now: Timestamp) -> String {
    let status = wc.status.clone().unwrap_or_default();
    let spec = &wc.spec;
    let topic = &spec.kafka.topic;
    let (ready, reason) = ready(wc);
    let mut out = format!(
        "WiberCluster {}/{}: Ready {ready} ({reason})\n",
        wc.namespace().unwrap_or_default(),
        wc.name_any()
    );
    let generation = wc.metadata.generation.unwrap_or_default();
    match status.observed_generation {
        Some(seen) if seen == generation => {
            out.push_str(&format!("Generation:   {generation}, acted on\n"));
        }
        seen => out.push_str(&format!(
            "Generation:   {generation}, the operator has acted on {} only\n",
            seen.map_or_else(|| "none".to_owned(), |g| g.to_string())
        )),
    }

    out.push_str("\nConditions:\n");
    let rows: Vec<Vec<String>> = status
        .conditions
        .iter()
        .map(|c| {
            vec![
                format!("  {}", c.type_),
                c.status.clone(),
                c.reason.clone(),
                age(c.last_transition_time.0, now),
                c.message.clone(),
            ]
        })
        .collect();
    out.push_str(&table(
        &["  TYPE", "STATUS", "REASON", "SINCE", "MESSAGE"],
        &rows,
    ));

    let c = &status.consumers;
    out.push_str(&format!(
        "\nAPI:          {} of {} ready, at {}\n",
        status.api_ready_replicas,
        spec.api.replicas,
        status.api_url.as_deref().unwrap_or("(no URL yet)")
    ));
    out.push_str(&format!(
        "Consumers:    {} ready, {} running, {} wanted ({} to {})",
        c.ready, c.current, c.desired, spec.consumers.min_replicas, spec.consumers.max_replicas
    ));
    match (&c.reason, &c.last_scale_time) {
        (Some(reason), Some(at)) => {
            out.push_str(&format!("; {reason}, last scaled {} ago\n", age(at.0, now)))
        }
        (Some(reason), None) => out.push_str(&format!("; {reason}\n")),
        _ => out.push('\n'),
    }
    out.push_str(&format!(
        "Kafka:        {}, topic {}: {}, lag {}\n",
        status
            .bootstrap_servers
            .as_deref()
            .unwrap_or("(not found yet)"),
        topic.name,
        status.partitions.map_or_else(
            || "partitions unknown".to_owned(),
            |n| format!("{n} partitions")
        ),
        known(status.lag)
    ));
    if !status.lagging_partitions.is_empty() {
        let lagging: Vec<String> = status
            .lagging_partitions
            .iter()
            .map(|p| format!("{}: {}", p.partition, p.lag))
            .collect();
        out.push_str(&format!(
            "  lagging:    partition {}\n",
            lagging.join(", partition ")
        ));
    }
    out.push_str(&match status.dead_letters {
        Some(n) => format!(
            "Dead letters: {n} retained in {}\n",
            topic.dead_letter_name()
        ),
        None => format!(
            "Dead letters: not measured yet ({})\n",
            topic.dead_letter_name()
        ),
    });

    // The status keeps the last change; its event says the same but expires (an hour by default),
    // and is the only record from an operator older than the status field.
    let scaled = [Reason::ScaleUp.as_str(), Reason::ScaleDown.as_str()];
    let last_scaling = match (&c.last_scale, &c.last_scale_time) {
        (Some(note), at) => Some((at.as_ref().map(|t| t.0), note.clone())),
        (None, _) => events
            .iter()
            .find(|e| e.reason.as_deref().is_some_and(|r| scaled.contains(&r)))
            .map(|e| (last_seen(e), e.message.clone().unwrap_or_default())),
    };
    if let Some((at, note)) = last_scaling {
        out.push_str(&format!(
            "Last scaling: {} ago: {note}\n",
            at.map_or_else(|| "?".to_owned(), |t| age(t, now)),
        ));
    }

    out.push_str("\nEvents (newest first):\n");
    if events.is_empty() {
        out.push_str("  none recorded (events expire after an hour by default)\n");
    } else {
        let rows: Vec<Vec<String>> = events
            .iter()
            .take(EVENTS_SHOWN)
            .map(|e| {
                vec![
                    format!(
                        "  {}",
                        last_seen(e).map_or_else(|| "?".into(), |t| age(t, now))
                    ),
                    e.type_.clone().unwrap_or_default(),
                    e.reason.clone().unwrap_or_default(),
                    e.message.clone().unwrap_or_default(),
                ]
            })
            .collect();
        out.push_str(&table(&["  AGE", "TYPE", "REASON", "MESSAGE"], &rows));
    }
    out
}

fn known<T: ToString>(figure: Option<T>) -> String {
    figure.map_or_else(|| "unknown".to_owned(), |f| f.to_string())
}

/// One line per WiberCluster (pure).
pub fn render_list(wcs: &[WiberCluster], now: Timestamp, with_namespace: bool) -> String {
    let rows: Vec<Vec<String>> = wcs
        .iter()
        .map(|wc| {
            let status = wc.status.clone().unwrap_or_default();
            let (ready, reason) = ready(wc);
            let namespace = with_namespace.then(|| wc.namespace().unwrap_or_default());
            namespace
                .into_iter()
                .chain([
                    wc.name_any(),
                    ready,
                    reason,
                    format!("{}/{}", status.api_ready_replicas, wc.spec.api.replicas),
                    format!("{}/{}", status.consumers.ready, status.consumers.desired),
                    known(status.partitions),
                    known(status.lag),
                    known(status.dead_letters),
                    wc.metadata
                        .creation_timestamp
                        .as_ref()
                        .map_or_else(|| "?".to_owned(), |t| age(t.0, now)),
                ])
                .collect()
        })
        .collect();
    let namespace = with_namespace.then_some("NAMESPACE");
    let headers: Vec<&str> = namespace
        .into_iter()
        .chain([
            "NAME",
            "READY",
            "REASON",
            "API",
            "CONSUMERS",
            "PARTITIONS",
            "LAG",
            "DEAD-LETTERS",
            "AGE",
        ])
        .collect();
    table(&headers, &rows)
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
