//! The IRC listener (`--irc-listen`, `--irc-listen-tls`): IRC clients as users of the one
//! world, beside the terminal users. `listen.rs` admits each connection as for every other
//! listener (the door's bans, the limits); this module runs one task per client: the TLS
//! handshake if any, then the connection loop below, which reads lines, hands them to the
//! client's [`session::IrcSession`], carries out what it must wait for, and writes what it
//! produced, within the same bounds as a terminal client (first-input timeout, a stall
//! timeout, a cap on unsent output). Like a terminal client's frames, the syncs that others'
//! messages cause are [`crate::session::MIN_FRAME_INTERVAL`] apart at the least, further with
//! hundreds of busy clients ([`crate::session::busy_frame_interval`], the same budget as
//! frames), so a busy channel reaches the client as one write of several lines rather than a
//! write per line.

pub mod help;
pub mod relay;
pub mod reply;
pub mod session;

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::front::listen::{self, Admitted, Listening};
use crate::history::{Arrived, Read};
use crate::session::{Arrival, busy_frame_interval};
use crate::world::{Load, World};
use session::{IrcSession, Wait};

/// A client whose unsent output grows past this has stopped reading; it is disconnected.
const MAX_PENDING_OUTPUT: usize = 256 * 1024;

/// The session syncs (and reads more input) only while less than this waits to be sent.
const LOW_WATERMARK: usize = 16 * 1024;

/// What an empty input buffer keeps allocated between reads.
const INPUT_KEPT: usize = 512;

/// Registration (NICK and USER, CAP END) must be done this long after connecting.
const REGISTRATION_TIMEOUT: Duration = Duration::from_secs(60);

/// A client silent this long is sent a PING, and dropped if still silent as long again.
const IDLE_PING: Duration = Duration::from_secs(120);

/// Serves the IRC listener until shutdown.
pub async fn run(listening: Listening) {
    let answer = listen::refusal_answer(&listening);
    let label = Some(listening.kind.name());
    while let Some(admitted) = listen::admit_next(&listening, answer, label, |_| false).await {
        let Admitted {
            stream,
            peer,
            ticket,
            arrived,
        } = admitted;
        let arrival = listen::arrival_of(&listening, peer);
        let (world, shutdown) = (listening.world.clone(), listening.shutdown.clone());
        let (tls, server) = (listening.tls.clone(), listening.irc_name.clone());
        let relay = listening.tag_relay.clone();
        listening.tracker.spawn(async move {
            match tls {
                None => {
                    let clear = crate::password::sent_in_the_clear(false, peer.ip());
                    Box::pin(converse(
                        stream, server, arrival, arrived, world, shutdown, clear, relay,
                    ))
                    .await
                }
                Some(acceptor) => {
                    // Boxed, as the terminals' (`listen::serve_terminals`): inline, the
                    // handshake's state would size every client's task.
                    if let Some(stream) =
                        Box::pin(listen::accept_tls(stream, acceptor, peer, 0, &shutdown)).await
                    {
                        Box::pin(converse(
                            stream, server, arrival, arrived, world, shutdown, false, relay,
                        ))
                        .await;
                    }
                }
            }
            drop(ticket);
        });
    }
}

/// Why a connection ended, for the log line.
fn ended(peer: std::net::SocketAddr, reason: &str) {
    tracing::info!(%peer, reason, "irc client disconnected");
}

/// One IRC client's connection, until it quits, is dropped or the server shuts down.
#[allow(clippy::too_many_arguments)]
async fn converse<S>(
    stream: S,
    server: Arc<str>,
    arrival: Arrival,
    arrived: Instant,
    world: Arc<World>,
    shutdown: CancellationToken,
    in_the_clear: bool,
    relay: Arc<relay::TagRelay>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let peer = arrival.peer;
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut session = IrcSession::new(
        world.clone(),
        server,
        peer,
        arrival.flood,
        std::time::Instant::now(),
    );
    session.set_in_the_clear(in_the_clear);
    if let Some(motd) = crate::session::read_motd(arrival.motd.as_deref()).await {
        session.set_motd(&motd);
    }
    let mut tag_inbox = relay.subscribe();
    session.set_tag_relay(relay);
    let mut input: Vec<u8> = Vec::new();
    let mut skipping = false;
    let mut scratch = vec![0u8; 4096];
    let mut last_input: Option<Instant> = None;
    let mut pinged = false;
    let mut output_moved = Instant::now();
    let mut output_idle = true;
    let mut ejected: Option<CancellationToken> = None;
    // When the next sync that others' messages cause may run, and whether one waits for it.
    let mut next_sync = Instant::now();
    let mut sync_waiting = false;
    // The last second this client was counted busy (`busy_frame_interval`).
    let mut busy_marked = 0;
    let reason = loop {
        if session.out.len() > MAX_PENDING_OUTPUT {
            break "output overflow";
        }
        if session.closing && session.out.is_empty() {
            break "quit";
        }
        if session.out.is_empty() {
            output_idle = true;
        } else if std::mem::take(&mut output_idle) {
            // The stall timeout counts from when output began to wait (or last moved), not
            // from the last write: a client that got nothing for a while, with this loop
            // asleep meanwhile, is not stalled by the first line it gets next.
            output_moved = Instant::now();
        }
        if ejected.is_none()
            && let Some(user) = session.user()
        {
            ejected = Some(world.ejection(user).unwrap_or_default());
        }
        // The nearest deadline: first input, registration, idle ping, stall, flood release.
        let mut deadline = match last_input {
            None => arrived + arrival.first_input_timeout,
            Some(last) if !pinged => last + IDLE_PING,
            Some(last) => last + IDLE_PING * 2,
        };
        if session.user().is_none() {
            deadline = deadline.min(arrived + REGISTRATION_TIMEOUT);
        }
        if !session.out.is_empty() {
            deadline = deadline.min(output_moved + arrival.stall_timeout);
        }
        if session.closing {
            // Only the last words are left to write, within the stall timeout.
            deadline = output_moved + arrival.stall_timeout;
        }
        if let Some(release) = session.next_release() {
            deadline = deadline.min(Instant::from_std(release));
        }
        let wake = session.wake();
        let room = session.out.len() < LOW_WATERMARK;
        if sync_waiting && room {
            deadline = deadline.min(next_sync);
        }
        tokio::select! {
            read = reader.read(&mut scratch), if room && !session.closing => {
                let count = match read {
                    Ok(0) | Err(_) => break "closed",
                    Ok(count) => count,
                };
                last_input = Some(Instant::now());
                pinged = false;
                input.extend_from_slice(scratch.get(..count).unwrap_or_default());
                while let Some(end) = input.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = input.drain(..=end).collect();
                    if std::mem::take(&mut skipping) {
                        continue;
                    }
                    let mut wait = session.handle_bytes(&line, std::time::Instant::now());
                    while let Some(next) = wait.take().or_else(|| session.next_direct_load()) {
                        wait = carry_out(next, &mut session, &world).await;
                    }
                    if session.labeled() {
                        // The answer to a labeled command includes its echo: what it posted
                        // is shown once committed, so the label waits for the commit (as a
                        // PONG does), then the session syncs.
                        let store = world.store();
                        crate::history::wait_committed(store, store.last_ticket()).await;
                        session.sync();
                    }
                    session.finish_label();
                    if session.closing {
                        break;
                    }
                }
                if input.len() > reply::MAX_CLIENT_LINE {
                    input.clear();
                    skipping = true;
                    session.input_too_long();
                }
                if input.is_empty() {
                    // A long line (up to `MAX_CLIENT_LINE`) is not kept allocated once handled.
                    input.shrink_to(INPUT_KEPT);
                }
            }
            () = notified(wake.as_deref()), if room && !sync_waiting => {
                // The world wakes this task once until it syncs, so a sync put off to the
                // interval's end collects every line committed meanwhile.
                let now = Instant::now();
                if now >= next_sync {
                    session.sync();
                    next_sync = now + busy_frame_interval(now, &mut busy_marked);
                } else {
                    sync_waiting = true;
                }
            }
            tagged = tag_inbox.recv(), if room => match tagged {
                Ok(message) => session.tag_message(&message),
                // TAGMSGs are hints: one that could not wait is lost, not queued.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break "shutdown",
            },
            written = writer.write(&session.out), if !session.out.is_empty() => {
                match written {
                    Ok(0) | Err(_) => break "closed",
                    Ok(count) => {
                        session.out.drain(..count.min(session.out.len()));
                        output_moved = Instant::now();
                        if session.out.is_empty() {
                            session.out.shrink_to(512);
                        }
                    }
                }
            }
            () = tokio::time::sleep_until(deadline) => {
                let now = Instant::now();
                if sync_waiting && room && now >= next_sync {
                    sync_waiting = false;
                    session.sync();
                    next_sync = now + busy_frame_interval(now, &mut busy_marked);
                    // Any other deadline due now is handled on the next turn.
                    continue;
                }
                if session.next_release().is_some_and(|at| Instant::from_std(at) <= now) {
                    session.release(now.into_std());
                    session.sync();
                    while let Some(next) = session.next_direct_load() {
                        let mut wait = carry_out(next, &mut session, &world).await;
                        while let Some(then) = wait.take() {
                            wait = carry_out(then, &mut session, &world).await;
                        }
                    }
                    continue;
                }
                if !session.out.is_empty() && now >= output_moved + arrival.stall_timeout {
                    break "stalled";
                }
                match last_input {
                    None if now >= arrived + arrival.first_input_timeout => break "first input timeout",
                    _ if session.user().is_none() && now >= arrived + REGISTRATION_TIMEOUT => {
                        session.error("Registration timeout");
                    }
                    Some(last) if !pinged && now >= last + IDLE_PING => {
                        pinged = true;
                        session.ping();
                    }
                    Some(last) if pinged && now >= last + IDLE_PING * 2 => {
                        session.error("Ping timeout");
                    }
                    _ => {}
                }
            }
            () = cancelled(ejected.as_ref()) => {
                session.error("You are banned from this server");
            }
            () = shutdown.cancelled() => {
                session.error("Server shutting down");
                let _ = tokio::time::timeout(Duration::from_secs(1), writer.write_all(&session.out)).await;
                break "shutdown";
            }
        }
        if session.more && session.out.len() < LOW_WATERMARK {
            session.sync();
        }
    };
    let _ = tokio::time::timeout(Duration::from_millis(200), writer.shutdown()).await;
    if let Some(user) = session.user() {
        world.disconnect_with_reason(user, !shutdown.is_cancelled(), &session.quit_reason);
    }
    ended(peer, reason);
}

/// Waits for the wake-up handle, or forever without one.
async fn notified(wake: Option<&tokio::sync::Notify>) {
    match wake {
        Some(wake) => wake.notified().await,
        None => std::future::pending().await,
    }
}

/// Waits for the token, or forever without one.
async fn cancelled(token: Option<&CancellationToken>) {
    match token {
        Some(token) => token.cancelled().await,
        None => std::future::pending().await,
    }
}

/// Carries out what the session waits for; returns the next wait, if finishing it needs one.
async fn carry_out(wait: Wait, session: &mut IrcSession, world: &Arc<World>) -> Option<Wait> {
    match wait {
        Wait::Direct(load) => {
            if let Arrived::Direct {
                conversation,
                target,
                text,
                kind,
                loaded,
            } = crate::history::read(world.store().clone(), Read::Load(load)).await
            {
                session.finish_direct(&conversation, &target, (&text, kind), loaded);
            }
            None
        }
        Wait::Rejoin(load) => {
            // What to close if the read goes wrong, so the return's summary is not left
            // waiting for it.
            let fallback = match &load {
                Load::Join { name, .. } => (name.clone(), None),
                Load::Direct {
                    conversation,
                    target,
                    ..
                } => (conversation.clone(), Some(target.clone())),
                Load::Goto { name, .. } => (name.clone(), None),
            };
            match crate::history::read(world.store().clone(), Read::Load(load)).await {
                Arrived::Join { name, loaded } => session.finish_rejoin(&name, loaded),
                Arrived::Direct {
                    conversation,
                    target,
                    loaded,
                    ..
                } => session.finish_reopen(&conversation, &target, loaded),
                _ => match fallback {
                    (conversation, Some(target)) => {
                        session.finish_reopen(&conversation, &target, None)
                    }
                    (name, None) => session.finish_rejoin(&name, None),
                },
            }
            None
        }
        Wait::Join(name, load) => {
            let arrived = crate::history::read(world.store().clone(), Read::Load(load)).await;
            match arrived {
                Arrived::Join { name, loaded } => {
                    session.finish_join(&name, loaded, std::time::Instant::now())
                }
                _ => session.finish_join(&name, None, std::time::Instant::now()),
            }
        }
        Wait::History(request) => {
            let found = crate::history::chathistory::read(
                world.store().clone(),
                request.source.clone(),
                request.query,
                request.limit,
            )
            .await;
            session.finish_history(request, found);
            None
        }
        Wait::Targets {
            targets,
            from,
            until,
            limit,
        } => {
            let found = crate::history::chathistory::targets(
                world.store().clone(),
                targets,
                from,
                until,
                limit,
            )
            .await;
            session.finish_targets(found);
            None
        }
        Wait::Pong(token) => {
            // Everything queued before the PING is committed, so the client has seen, by the
            // PONG, every message sent before its PING: IRC's usual ordering.
            let store = world.store();
            crate::history::wait_committed(store, store.last_ticket()).await;
            session.sync();
            session.pong(&token);
            None
        }
        Wait::Sasl { account, password } => {
            let user = session.sasl_user();
            let outcome = match world.begin_password_check(user, Some(&account), false) {
                Err(error) => Err(error.to_string()),
                Ok(check) => {
                    let phc = check.phc().to_owned();
                    let verdict = world
                        .hasher()
                        .run(move || crate::password::verify_password(&password, &phc))
                        .await;
                    world
                        .finish_login(user, &check, verdict)
                        .map(|_| world.account_of(user).unwrap_or(account))
                        .map_err(|error| error.to_string())
                }
            };
            session.sasl_done(outcome);
            None
        }
    }
}
