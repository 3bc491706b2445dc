//! Prometheus metrics: every metric name in one place, the process-wide recorder, and the text
//! `/metrics` serves.
//!
//! Counters and gauges are updated where things happen (a connection task holds its own
//! handles, so the hot path is one atomic add); values that already exist elsewhere (the
//! store's queue, the world's message total) are read when `/metrics` is asked for.

use std::sync::OnceLock;

use metrics::{Counter, Gauge};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Connected clients, by listener (`telnet`, `netcat`, `tls-telnet`, `tls-netcat`, `web`) and
/// mode (`wizard`, `vt100`, `vt100-linemode`, `teletype`).
pub const CLIENTS: &str = "r0c_clients";
/// Bytes written to clients, by listener.
pub const BYTES_OUT: &str = "r0c_bytes_out_total";
/// Messages posted in all channels (system notices included); its rate is messages per
/// second.
pub const MESSAGES: &str = "r0c_messages_total";
/// Messages per second over the last few seconds, for those without a Prometheus server.
pub const MESSAGES_PER_SECOND: &str = "r0c_messages_per_second";
/// Frames a client did not get because its output was still backed up: the changes were
/// shown together in a later frame.
pub const FRAMES_DROPPED: &str = "r0c_frames_dropped_total";
/// Clients disconnected for not reading, by reason (`stalled`, `output overflow`).
pub const CLIENTS_DROPPED: &str = "r0c_clients_dropped_total";
/// Writes handed to the history store and not yet committed.
pub const STORE_QUEUE_DEPTH: &str = "r0c_store_queue_depth";
/// How long one group commit of the history store takes, in seconds.
pub const STORE_COMMIT_SECONDS: &str = "r0c_store_commit_seconds";
/// Whether the history store can write (1) or not (0: writes fail, or the database file was
/// deleted or replaced); while it is 0, new messages are refused.
pub const STORE_HEALTHY: &str = "r0c_store_healthy";
/// Cluster mode: nodes alive, as this node's presence last counted.
pub const CLUSTER_NODES: &str = "r0c_cluster_nodes";
/// Cluster mode: events of the stream this node has yet to apply.
pub const CLUSTER_LAG: &str = "r0c_cluster_lag_events";
/// Cluster mode: the last publish's wait for JetStream's acknowledgement.
pub const CLUSTER_LAST_ACK_SECONDS: &str = "r0c_cluster_last_ack_seconds";
/// Cluster mode: whether the NATS connection is up.
pub const CLUSTER_CONNECTED: &str = "r0c_cluster_connected";
/// Whether the IRC bridge is registered on a network (1) or not (0), by network.
pub const IRC_LINK_UP: &str = "r0c_irc_link_up";
/// Connections refused by the connection limits, by reason.
pub const REFUSED: &str = "r0c_connections_refused_total";
/// Moderation actions (kick, ban, mute, mode, op...), by action; each is in the audit log.
pub const MODERATION_ACTIONS: &str = "r0c_moderation_actions_total";
/// Account events, by event (`registered`, `login`, `login_by_key`, `login_failed`: a wrong
/// password at `/login` or `/passwd`, `login_refused`: too many failures,
/// `password_changed`). Never a name or a password.
pub const ACCOUNT_EVENTS: &str = "r0c_account_events_total";

/// The recorder of this process, installed by the first caller. `None` if some other
/// recorder was installed first (then `/metrics` says so instead of showing zeros).
fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full(STORE_COMMIT_SECONDS.into()),
                    &[
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
                    ],
                )
                .map(PrometheusBuilder::build_recorder);
            match recorder {
                Ok(recorder) => {
                    let handle = recorder.handle();
                    match metrics::set_global_recorder(recorder) {
                        Ok(()) => Some(handle),
                        Err(error) => {
                            tracing::warn!(%error, "metrics recorder not installed");
                            None
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "metrics recorder not built");
                    None
                }
            }
        })
        .as_ref()
}

/// Installs the recorder; call once at startup, before any metric is touched, so that no
/// update is lost to the no-op recorder.
pub fn install() {
    describe();
    let _ = handle();
}

fn describe() {
    metrics::describe_gauge!(CLIENTS, "connected clients by listener and mode");
    metrics::describe_counter!(BYTES_OUT, "bytes written to clients");
    metrics::describe_counter!(MESSAGES, "messages posted in all channels");
    metrics::describe_gauge!(MESSAGES_PER_SECOND, "messages posted per second, recently");
    metrics::describe_counter!(
        FRAMES_DROPPED,
        "frames merged into later ones for slow clients"
    );
    metrics::describe_counter!(CLIENTS_DROPPED, "clients disconnected for not reading");
    metrics::describe_gauge!(STORE_QUEUE_DEPTH, "history writes not yet committed");
    metrics::describe_histogram!(STORE_COMMIT_SECONDS, "history group commit latency");
    metrics::describe_gauge!(IRC_LINK_UP, "IRC bridge registered on the network");
    metrics::describe_counter!(REFUSED, "connections refused by the connection limits");
    metrics::describe_counter!(MODERATION_ACTIONS, "moderation actions by operators");
    metrics::describe_counter!(ACCOUNT_EVENTS, "account registrations, logins and failures");
    metrics::describe_gauge!(CLUSTER_NODES, "cluster nodes alive");
    metrics::describe_gauge!(CLUSTER_LAG, "cluster events not applied here yet");
    metrics::describe_gauge!(
        CLUSTER_LAST_ACK_SECONDS,
        "time the last publish waited for JetStream's acknowledgement"
    );
    metrics::describe_gauge!(CLUSTER_CONNECTED, "NATS connection up (1) or not (0)");
}

/// Cluster mode's gauges, set when `/metrics` is asked for.
pub fn set_cluster(nodes: u64, lag: u64, last_ack_seconds: f64, connected: bool) {
    metrics::gauge!(CLUSTER_NODES).set(nodes as f64);
    metrics::gauge!(CLUSTER_LAG).set(lag as f64);
    metrics::gauge!(CLUSTER_LAST_ACK_SECONDS).set(last_ack_seconds);
    metrics::gauge!(CLUSTER_CONNECTED).set(f64::from(u8::from(connected)));
}

/// The Prometheus text exposition of every metric; `messages_posted` is the world's total
/// ([`crate::world::World::activity`]) and `store_healthy` whether its store can write
/// ([`STORE_HEALTHY`], written here rather than kept in the process-wide recorder, since it
/// belongs to this server's store).
pub fn render(messages_posted: u64, store_healthy: bool) -> String {
    metrics::counter!(MESSAGES).absolute(messages_posted);
    let mut text = match handle() {
        Some(handle) => handle.render(),
        None => "# r0c: metrics are not available in this process\n".to_string(),
    };
    text.push_str(&format!(
        "# HELP {STORE_HEALTHY} history store can write (1) or not (0)\n\
         # TYPE {STORE_HEALTHY} gauge\n\
         {STORE_HEALTHY} {}\n",
        u8::from(store_healthy)
    ));
    text
}

/// The clients gauge of one listener and mode.
pub fn clients(listener: &'static str, mode: &'static str) -> Gauge {
    metrics::gauge!(CLIENTS, "listener" => listener, "mode" => mode)
}

/// The bytes-out counter of one listener.
pub fn bytes_out(listener: &'static str) -> Counter {
    metrics::counter!(BYTES_OUT, "listener" => listener)
}

/// The counter of frames merged into later ones because a client's output was backed up;
/// a connection holds it, since a backed-up client meets it with every message.
pub fn frames_dropped() -> Counter {
    metrics::counter!(FRAMES_DROPPED)
}

/// An operator took a moderation action (its name is one of the commands': `ban`, `kick`...).
pub fn moderation_action(action: &str) {
    metrics::counter!(MODERATION_ACTIONS, "action" => action.to_owned()).increment(1);
}

/// A client was disconnected for not reading its output.
pub fn client_dropped(reason: &'static str) {
    metrics::counter!(CLIENTS_DROPPED, "reason" => reason).increment(1);
}

/// An account event happened (see [`ACCOUNT_EVENTS`]).
pub fn account_event(event: &'static str) {
    metrics::counter!(ACCOUNT_EVENTS, "event" => event).increment(1);
}

/// A connection was refused by the connection limits.
pub fn refused(reason: &'static str) {
    metrics::counter!(REFUSED, "reason" => reason).increment(1);
}

/// One group commit of the history store took this long.
pub fn store_commit(seconds: f64) {
    metrics::histogram!(STORE_COMMIT_SECONDS).record(seconds);
}

/// The gauge of the IRC bridge's state on `network`: 1 while registered, else 0.
pub fn irc_link(network: &str) -> Gauge {
    metrics::gauge!(IRC_LINK_UP, "network" => network.to_string())
}

/// Brings the message counter up to `now` (the world's total of posted messages) and sets
/// the per-second gauge from the messages posted since the previous call, `elapsed` ago.
pub fn sample_message_rate(now: u64, previous: &mut u64, elapsed: std::time::Duration) {
    metrics::counter!(MESSAGES).absolute(now);
    if !elapsed.is_zero() {
        let rate = now.saturating_sub(*previous) as f64 / elapsed.as_secs_f64();
        metrics::gauge!(MESSAGES_PER_SECOND).set(rate);
    }
    *previous = now;
}
