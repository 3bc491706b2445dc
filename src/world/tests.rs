//! World behaviour against a real SQLite store in a temporary directory.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::*;

pub(super) fn world(
    dir: &std::path::Path,
    hist_rd: usize,
    hist_mem: usize,
    hist_tsz: usize,
) -> (World, Arc<Store>) {
    let store = Arc::new(Store::open(&dir.join("r0c.db")).expect("store"));
    let settings = WorldSettings {
        max_windows_per_user: crate::world::DEFAULT_MAX_WINDOWS_PER_USER,
        max_channels: crate::world::DEFAULT_MAX_CHANNELS,
        nick_salt: "lammo/".into(),
        hist_rd,
        hist_mem,
        hist_tsz,
        password: "pw".into(),
        admin_requires_auth: false,
        opers: Vec::new(),
        no_all: false,
    };
    (
        World::new(settings, store.clone(), CancellationToken::new()),
        store,
    )
}

pub(super) fn localhost() -> IpAddr {
    IpAddr::V4(Ipv4Addr::LOCALHOST)
}

/// The active window's texts, oldest first, as a user would read them.
pub(super) fn texts(world: &World, user: UserId) -> Vec<String> {
    world.store().flush();
    let view = world.view(user, None, usize::MAX).expect("view");
    view.messages
        .iter()
        .map(|m| format!("{} {}", m.author, text::strip_formatting(&m.text)))
        .collect()
}

#[test]
fn memory_keeps_at_most_hist_mem_and_drops_hist_tsz_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (world, _store) = world(dir.path(), 100, 10, 4);
    let (user, _) = world.connect(localhost(), "welcome".into());
    crate::history::join_blocking(&world, user, "g").expect("join");
    for index in 0..9 {
        world.say(user, &format!("m{index}")).expect("say");
    }
    // created + joined + 9 = 11 > 10, so the oldest 4 went: 7 remain, newest last.
    let shown = texts(&world, user);
    assert_eq!(shown.len(), 7, "{shown:?}");
    assert_eq!(shown.last().map(String::as_str), Some("kywmyv m8"));
    assert_eq!(shown.first().map(String::as_str), Some("kywmyv m2"));
}

#[test]
fn a_recreated_channel_shows_its_history_then_the_created_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (world, store) = world(dir.path(), 3, 1000, 100);
    let (alice, _) = world.connect(localhost(), "welcome".into());
    crate::history::join_blocking(&world, alice, "g").expect("join");
    for index in 0..5 {
        world.say(alice, &format!("m{index}")).expect("say");
    }
    world.disconnect(alice, true);
    store.flush();
    let (bob, _) = world.connect(localhost(), "welcome".into());
    crate::history::join_blocking(&world, bob, "g").expect("join");
    world.store().flush();
    let view = world.view(bob, None, usize::MAX).expect("view");
    let shown: Vec<String> = view
        .messages
        .iter()
        .map(|m| format!("{} {}", m.author, text::strip_formatting(&m.text)))
        .collect();
    // --hist-rd 3: the newest three stored lines, then the new channel's own lines.
    assert_eq!(shown[..3], ["kywmyv m3", "kywmyv m4", "-- kywmyv has left"]);
    assert!(shown[3].starts_with("-- channel created at "), "{shown:?}");
    assert_eq!(shown[4], "-- kywmyv has joined");
    let seqs: Vec<u64> = view.messages.iter().map(|m| m.seq).collect();
    assert!(
        seqs.windows(2).all(|pair| pair[0] < pair[1]),
        "sequence numbers keep growing: {seqs:?}"
    );
}

#[test]
fn parting_a_window_activates_the_one_that_takes_its_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (world, _store) = world(dir.path(), 100, 1000, 100);
    let (user, _) = world.connect(localhost(), "welcome".into());
    for name in ["a", "b", "c"] {
        crate::history::join_blocking(&world, user, name).expect("join");
    }
    assert!(world.switch_window(user, 2));
    world.part(user).expect("part #b");
    world.store().flush();
    let view = world.view(user, None, 0).expect("view");
    assert_eq!((view.window_index, view.label.as_str()), (2, "#c"));
    world.part(user).expect("part #c");
    world.store().flush();
    let view = world.view(user, None, 0).expect("view");
    assert_eq!((view.window_index, view.label.as_str()), (1, "#a"));
    assert_eq!(
        world.part(user).map(|()| world.part(user)),
        Ok(Err("cannot part the status channel".into()))
    );
}

#[test]
fn direct_message_partner_gets_a_window_named_after_the_sender() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (world, _store) = world(dir.path(), 100, 1000, 100);
    let (alice, _) = world.connect(localhost(), "welcome".into());
    let (bob, bob_wake) = world.connect(localhost(), "welcome".into());
    world.change_nick(bob, "Bob").expect("nick");
    world.direct_message(alice, "bob", "hi").expect("dm");
    world.store().flush();
    let view = world.view(bob, None, 0).expect("view");
    assert_eq!(view.hilight_windows, [1], "the DM flags bob's window 1");
    assert!(world.switch_window(bob, 1));
    world.store().flush();
    let view = world.view(bob, None, usize::MAX).expect("view");
    assert_eq!(view.topic, "DM with kywmyv");
    assert_eq!(view.messages.last().map(|m| &*m.text), Some("hi"));
    assert_eq!(
        world.direct_message(alice, "nobody", "x"),
        Err(DirectError::NotOnline("nobody".into()))
    );
    drop(bob_wake);
}

#[test]
fn nick_case_change_of_your_own_nick_is_allowed_but_not_of_others() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (world, _store) = world(dir.path(), 100, 1000, 100);
    let (alice, _) = world.connect(localhost(), "welcome".into());
    let (bob, _) = world.connect(localhost(), "welcome".into());
    assert_eq!(world.change_nick(alice, "KYWMYV"), Ok(()));
    assert_eq!(world.change_nick(bob, "kywmyv"), Err(NickError::Taken));
    assert_eq!(world.change_nick(alice, "KYWMYV"), Err(NickError::Taken));
}

#[test]
fn a_channel_closed_and_opened_at_once_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (world, store) = world(dir.path(), 100, 1000, 100);
    let (alice, _) = world.connect(localhost(), "welcome".into());
    crate::history::join_blocking(&world, alice, "g").expect("join");
    world.say(alice, "before").expect("say");
    world.part(alice).expect("part");
    // No flush here: the writer may not have committed "before" yet.
    crate::history::join_blocking(&world, alice, "g").expect("join");
    world.say(alice, "after").expect("say");
    store.flush();
    let stored: Vec<String> = store
        .recent_messages("g", 100)
        .expect("read")
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert!(
        stored.iter().any(|t| t == "before") && stored.iter().any(|t| t == "after"),
        "{stored:?}"
    );
    assert!(
        texts(&world, alice).contains(&"kywmyv before".to_string()),
        "history shown again"
    );
}

#[test]
fn a_read_older_than_the_channels_last_close_does_not_reopen_it_with_used_numbers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (world, store) = world(dir.path(), 100, 1000, 100);
    let (alice, _) = world.connect(localhost(), "welcome".into());
    let (bob, _) = world.connect(localhost(), "welcome".into());
    crate::history::join_blocking(&world, alice, "g").expect("join");
    world.say(alice, "one").expect("say");
    world.part(alice).expect("part");
    store.flush();
    // Bob's join reads the channel now, but its answer reaches the world only later.
    let JoinStep::Load(load) = world.begin_join(bob, "g").expect("join") else {
        panic!("the channel is closed, so joining it reads the store");
    };
    let crate::history::Arrived::Join {
        loaded: Some(old_read),
        ..
    } = crate::history::read_blocking(&store, crate::history::Read::Load(load))
    else {
        panic!("read");
    };
    // Meanwhile alice opens it again, speaks and leaves: it closes with more numbers used.
    crate::history::join_blocking(&world, alice, "g").expect("join");
    world.say(alice, "two").expect("say");
    world.say(alice, "three").expect("say");
    world.part(alice).expect("part");
    store.flush();
    world.finish_join(bob, "g", Some(old_read)).expect("join");
    world.say(bob, "four").expect("say");
    store.flush();
    let stored: Vec<String> = store
        .recent_messages("g", 100)
        .expect("read")
        .into_iter()
        .map(|m| m.text)
        .collect();
    for said in ["one", "two", "three", "four"] {
        assert!(stored.iter().any(|t| t == said), "{said} lost: {stored:?}");
    }
    let shown = texts(&world, bob);
    assert!(
        shown.iter().any(|t| t.ends_with(" three")),
        "what was said before the close is shown: {shown:?}"
    );
}

#[test]
fn at_all_pings_each_user_at_most_once_a_minute_but_nick_mentions_always() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (world, _store) = world(dir.path(), 100, 1000, 10);
    let (shouter, _) = world.connect(localhost(), "welcome".into());
    let (listener, _) = world.connect(localhost(), "welcome".into());
    crate::history::join_blocking(&world, shouter, "g").expect("join");
    crate::history::join_blocking(&world, listener, "g").expect("join");
    world.switch_window(listener, 0);
    let pings = |world: &World| {
        world.store().flush();
        let view = world.view(listener, None, 0).expect("view");
        view.hilight_windows.clone()
    };
    world.say(shouter, "@all first").expect("say");
    assert_eq!(pings(&world), [1], "the first @all pings");
    world.switch_window(listener, 1);
    world.switch_window(listener, 0);
    assert!(pings(&world).is_empty(), "read");
    world.say(shouter, "@all again").expect("say");
    assert!(
        pings(&world).is_empty(),
        "a second @all within a minute does not"
    );
    world.say(shouter, "yyryyd: but by name").expect("say");
    assert_eq!(pings(&world), [1], "a mention by nick always pings");
}

#[test]
fn failed_auth_attempts_are_limited_per_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (world, _store) = world(dir.path(), 100, 1000, 10);
    let (guesser, _) = world.connect(localhost(), "welcome".into());
    let (same_address, _) = world.connect(localhost(), "welcome".into());
    let (elsewhere, _) = world.connect(IpAddr::from([192, 0, 2, 7]), "welcome".into());
    for _ in 0..MAX_FAILED_AUTH {
        assert_eq!(world.authenticate(guesser, "guess"), AuthOutcome::Wrong);
    }
    // Even the right password is refused now, from any connection at that address.
    assert_eq!(
        world.authenticate(same_address, "pw"),
        AuthOutcome::TooMany { minutes: 10 }
    );
    assert_eq!(world.authenticate(elsewhere, "pw"), AuthOutcome::Ok);
    assert!(world.is_admin(elsewhere));
}

#[test]
fn nicks_that_look_like_someone_online_or_recent_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (world, _store) = world(dir.path(), 100, 1000, 10);
    let (alice, _) = world.connect(localhost(), "welcome".into());
    let (mallory, _) = world.connect(localhost(), "welcome".into());
    world.change_nick(alice, "alice").expect("free nick");
    crate::history::join_blocking(&world, alice, "g").expect("join");
    world.say(alice, "hello").expect("say");
    assert_eq!(
        world.change_nick(mallory, "aIice"),
        Err(NickError::LooksLike("alice".into()))
    );
    // A renamed user is protected under the new nick.
    world.change_nick(alice, "alicia").expect("rename");
    assert!(world.change_nick(mallory, "a1icia").is_err());
    assert_eq!(world.change_nick(mallory, "bob"), Ok(()));
    // Your own nick in another case or shape is fine.
    assert_eq!(world.change_nick(alice, "ALICIA"), Ok(()));
    // Someone who just left is still protected for a while.
    world.disconnect(alice, true);
    assert_eq!(
        world.change_nick(mallory, "ALlCIA"),
        Err(NickError::LooksLike("ALICIA".into()))
    );
}

#[test]
fn goto_and_scrolling_reach_history_older_than_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (world, store) = world(dir.path(), 10, 1000, 100);
    let hour = 3_600_000_000;
    for seq in 0..100 {
        store.append_message(
            "g",
            StoredMessage {
                seq,
                unix_micros: 1_500_000_000_000_000 + hour * i64::try_from(seq).expect("small"),
                author: "bob".into(),
                text: format!("old {seq}"),
                kind: Default::default(),
            },
        );
    }
    store.flush();
    let (user, _) = world.connect(localhost(), "welcome".into());
    crate::history::join_blocking(&world, user, "g").expect("join");
    let channel = world.view(user, None, 0).expect("view").channel;
    // Memory holds messages 90..99 (and the two lines of this join); 2 h in lands on 2.
    let seq = crate::history::goto_blocking(
        &world,
        user,
        Goto::Time(1_500_000_000_000_000 + 2 * hour - 1),
    );
    assert_eq!(seq, Some(2));
    // A moment before everything lands on the oldest stored message.
    assert_eq!(
        crate::history::goto_blocking(&world, user, Goto::Time(0)),
        Some(0)
    );
    let seqs = |around, count| -> Vec<u64> {
        crate::history::messages_blocking(&world, user, channel, around, count)
            .iter()
            .map(|m| m.seq)
            .collect()
    };
    assert_eq!(seqs(Around::From(2), 3), [2, 3, 4]);
    assert_eq!(seqs(Around::From(88), 4), [88, 89, 90, 91], "across memory");
    assert_eq!(
        seqs(Around::Before(92), 4),
        [88, 89, 90, 91],
        "across memory"
    );
    assert_eq!(seqs(Around::Before(3), 10), [0, 1, 2]);
    assert_eq!(seqs(Around::From(99), 1), [99], "memory only");
    // Someone who is not in the channel reads nothing.
    let (other, _) = world.connect(localhost(), "welcome".into());
    assert!(
        crate::history::messages_blocking(&world, other, channel, Around::From(0), 5).is_empty()
    );
}

#[test]
fn every_status_window_shares_one_copy_of_the_welcome_text() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (world, _store) = world(dir.path(), 100, 1000, 10);
    let welcome_of = |user| {
        let view = world.view(user, None, usize::MAX).expect("view");
        view.messages
            .iter()
            .find(|m| m.author == AUTHOR_INFO)
            .map(|m| m.text.clone())
            .expect("the welcome text")
    };
    let (alice, _) = world.connect(localhost(), "welcome, friend".into());
    let (bob, _) = world.connect(localhost(), "welcome, friend".into());
    let (carol, _) = world.connect(localhost(), "another welcome".into());
    assert_eq!(&*welcome_of(alice), "welcome, friend");
    assert!(Arc::ptr_eq(&welcome_of(alice), &welcome_of(bob)));
    // Another text (another charset's logo, an edited MOTD) is shown as it is.
    assert_eq!(&*welcome_of(carol), "another welcome");
    // Only a few texts are kept: after more, a new user gets a copy of their own, still right.
    for n in 0..user::WELCOME_TEXTS_KEPT {
        world.connect(localhost(), format!("welcome {n}"));
    }
    let (dave, _) = world.connect(localhost(), "welcome, friend".into());
    assert_eq!(&*welcome_of(dave), "welcome, friend");
    assert!(!Arc::ptr_eq(&welcome_of(alice), &welcome_of(dave)));
    let kept = world.lock().welcome_texts.len();
    assert_eq!(kept, user::WELCOME_TEXTS_KEPT);
}

#[test]
fn activity_counts_every_membership_part_and_posted_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (world, _store) = world(dir.path(), 100, 1000, 10);
    assert_eq!(world.activity(), Activity::default());
    let (alice, _) = world.connect(localhost(), "welcome".into());
    // The status window: one join; its join line and the welcome text: two messages.
    assert_eq!(
        world.activity(),
        Activity {
            joins: 1,
            parts: 0,
            messages: 2
        }
    );
    let (bob, _) = world.connect(localhost(), "welcome".into());
    crate::history::join_blocking(&world, alice, "g").expect("join");
    world.say(alice, "hi").expect("say");
    world
        .direct_message(alice, &world.nick(bob).expect("bob's nick"), "psst")
        .expect("dm");
    world.disconnect(alice, true);
    let Activity {
        joins,
        parts,
        messages,
    } = world.activity();
    // Joins: two status windows, #g, and both ends of the direct message.
    assert_eq!(joins, 5);
    // Parts: alice's status window, #g and the direct message.
    assert_eq!(parts, 3);
    // At least two lines per connect, #g's created and join lines, the message, the direct
    // message's two join lines and its text, and two "has left" lines; the direct message
    // may add a tip in bob's status window, which counts as well.
    assert!(messages >= 2 + 2 + 2 + 1 + 3 + 2, "{messages}");
}

#[test]
fn notices_stay_until_a_frame_showed_them_and_only_the_newest_are_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (world, _) = world(dir.path(), 100, 1000, 100);
    let (user, _) = world.connect(localhost(), "hi".into());
    // Notices are for a channel window; the status window logs feedback instead.
    crate::history::join_blocking(&world, user, "a").expect("join");
    let notices = |world: &World| world.view(user, None, 0).expect("view").notices;
    world.tell(user, AUTHOR_INFO, "first");
    assert_eq!(notices(&world), ["-nfo- first"]);
    assert_eq!(
        notices(&world),
        ["-nfo- first"],
        "a view alone does not use them up"
    );
    let shown = notices(&world).len();
    world.tell(user, AUTHOR_INFO, "second");
    world.notices(user).expect("online").shown(shown);
    assert_eq!(
        notices(&world),
        ["-nfo- second"],
        "one queued after the view stays"
    );
    for index in 0..40 {
        world.tell(user, AUTHOR_INFO, &format!("n{index}"));
    }
    let kept = notices(&world);
    assert_eq!(kept.len(), MAX_NOTICES);
    assert_eq!(kept.last().map(String::as_str), Some("-nfo- n39"));
}

fn limited_world(dir: &std::path::Path, max_windows: usize, max_channels: usize) -> World {
    let (world, _store) = world(dir, 100, 1000, 100);
    World {
        settings: WorldSettings {
            max_windows_per_user: max_windows,
            max_channels,
            ..world.settings.clone()
        },
        ..world
    }
}

#[test]
fn a_user_may_have_only_so_many_windows_and_is_told_the_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let world = limited_world(dir.path(), 3, 100);
    let (alice, _) = world.connect(localhost(), "welcome".into());
    let (bob, _) = world.connect(localhost(), "welcome".into());
    world.change_nick(bob, "bob").expect("nick");
    for name in ["a", "b", "c"] {
        assert_eq!(crate::history::join_blocking(&world, alice, name), Ok(true));
    }
    // A channel she has is only a switch; a fourth is refused.
    assert_eq!(crate::history::join_blocking(&world, alice, "a"), Ok(false));
    assert_eq!(
        crate::history::join_blocking(&world, alice, "d"),
        Err(LimitError::Windows { max: 3 }.into())
    );
    assert!(
        LimitError::Windows { max: 3 }
            .to_string()
            .contains("/part one first")
    );
    assert_eq!(world.census(alice).0.public_channels, 3);
    // A new conversation is a window too, on both sides.
    assert_eq!(
        world.direct_message(alice, "bob", "hi"),
        Err(DirectError::Limit(LimitError::Windows { max: 3 }))
    );
    for name in ["a", "b", "c"] {
        crate::history::join_blocking(&world, bob, name).expect("join");
    }
    world.part(alice).expect("part");
    assert_eq!(
        world.direct_message(alice, "bob", "hi"),
        Err(DirectError::Limit(LimitError::PartnerWindows {
            nick: "bob".into(),
            max: 3
        }))
    );
    world.part(bob).expect("part");
    assert_eq!(
        world.direct_message(alice, "bob", "hi"),
        Ok(crate::world::DirectStep::Done)
    );
    assert_eq!(world.window_count(alice), 4, "status + 2 channels + the DM");
}

#[test]
fn the_server_holds_only_so_many_channels() {
    let dir = tempfile::tempdir().expect("tempdir");
    let world = limited_world(dir.path(), 10, 2);
    let (alice, _) = world.connect(localhost(), "welcome".into());
    let (bob, _) = world.connect(localhost(), "welcome".into());
    crate::history::join_blocking(&world, alice, "a").expect("join");
    crate::history::join_blocking(&world, alice, "b").expect("join");
    assert_eq!(
        crate::history::join_blocking(&world, bob, "c"),
        Err(LimitError::Channels { max: 2 }.into())
    );
    // Existing channels can still be joined, and a closed one makes room.
    assert_eq!(crate::history::join_blocking(&world, bob, "a"), Ok(true));
    assert!(world.switch_window(alice, 2));
    world.part(alice).expect("part #b");
    assert_eq!(crate::history::join_blocking(&world, bob, "c"), Ok(true));
}

/// The texts of the public channel `name` as a member sees them, by switching to it.
fn channel_texts(world: &World, user: UserId, name: &str) -> Vec<String> {
    crate::history::join_blocking(world, user, name).expect("switch");
    texts(world, user)
}

#[test]
fn nick_changes_post_one_line_per_channel_and_churn_is_folded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (world, _store) = world(dir.path(), 100, 1000, 100);
    let (alice, _) = world.connect(localhost(), "welcome".into());
    let (bob, _) = world.connect(localhost(), "welcome".into());
    world.change_nick(alice, "alice").expect("nick");
    for name in ["a", "b"] {
        crate::history::join_blocking(&world, alice, name).expect("join");
        crate::history::join_blocking(&world, bob, name).expect("join");
    }
    world.direct_message(bob, "alice", "hi").expect("dm");
    let nick_lines = |world: &World| {
        channel_texts(world, bob, "a")
            .into_iter()
            .filter(|t| t.contains("nick") || t.contains("known as"))
            .collect::<Vec<_>>()
    };
    world.change_nick(alice, "al2").expect("nick");
    assert_eq!(nick_lines(&world), ["-- alice changed nick to al2"]);
    // Bob's DM window follows the new nick.
    let names = world.names(bob).map(|(label, _)| label);
    assert_eq!(names.as_deref(), Some("#a"));
    assert!(world.switch_window(bob, 3));
    assert_eq!(
        world.names(bob).map(|(label, _)| label).as_deref(),
        Some("al2")
    );
    // Churn within the interval shows nothing more until it is over, then one summary line.
    for nick in ["al3", "al4", "al5"] {
        world.change_nick(alice, nick).expect("nick");
    }
    assert_eq!(nick_lines(&world).len(), 1, "folded");
    world.flush_nick_folds(std::time::Instant::now());
    assert_eq!(nick_lines(&world).len(), 1, "not due yet");
    world.flush_nick_folds(std::time::Instant::now() + NICK_LINE_INTERVAL);
    assert_eq!(
        nick_lines(&world),
        ["-- alice changed nick to al2", "-- al2 is now known as al5"]
    );
    // Churning back to where it started shows nothing at all.
    world.change_nick(alice, "al6").expect("nick");
    world.change_nick(alice, "al5").expect("nick");
    world.flush_nick_folds(std::time::Instant::now() + NICK_LINE_INTERVAL * 3);
    assert_eq!(nick_lines(&world).len(), 2);
    // Leaving while folded says who it was first.
    world.change_nick(alice, "al7").expect("nick");
    world.change_nick(alice, "al8").expect("nick");
    world.disconnect(alice, true);
    let after: Vec<String> = channel_texts(&world, bob, "b")
        .into_iter()
        .rev()
        .take(2)
        .collect();
    assert_eq!(after, ["-- al8 has left", "-- al5 is now known as al8"]);
}

#[test]
fn while_the_store_cannot_write_nothing_unsaved_is_shown_or_relayed_and_posts_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (world, store) = world(dir.path(), 100, 1000, 10);
    let (alice, _) = world.connect(localhost(), "welcome".into());
    let (bob, _) = world.connect(localhost(), "welcome".into());
    crate::history::join_blocking(&world, alice, "g").expect("join");
    crate::history::join_blocking(&world, bob, "g").expect("join");
    world.say(alice, "saved").expect("say");
    store.flush();
    let (_, cursor, _) = world.bridge_messages("g", 0, usize::MAX);

    store.limit_pages_for_tests(Some(0));
    let padding = "x".repeat(2000);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut sent = 0;
    while store.health() == Health::Healthy {
        assert!(
            std::time::Instant::now() < deadline,
            "the disk never filled"
        );
        world
            .say(alice, &format!("n{sent} {padding}"))
            .expect("accepted while the store is healthy");
        sent += 1;
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let stuck = format!("n{} ", sent - 1);
    let view = world.view(bob, None, usize::MAX).expect("view");
    assert!(view.waiting_for_store);
    assert!(!view.messages.iter().any(|m| m.text.starts_with(&stuck)));
    let (relayed, _, waiting) = world.bridge_messages("g", cursor, usize::MAX);
    assert!(waiting);
    assert!(!relayed.iter().any(|m| m.text.starts_with(&stuck)));

    assert_eq!(
        world.say(alice, "refused"),
        Err(PostError::StoreUnavailable)
    );
    assert_eq!(
        world.action(alice, "waves"),
        Err(PostError::StoreUnavailable)
    );
    assert_eq!(
        world.set_topic(alice, "new topic"),
        Err(PostError::StoreUnavailable)
    );
    let bob_nick = world.nick(bob).expect("bob's nick");
    assert_eq!(
        world.direct_message(alice, &bob_nick, "psst"),
        Err(DirectError::StoreUnavailable)
    );

    store.limit_pages_for_tests(None);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while store.health() != Health::Healthy || store.pending_writes() > 0 {
        assert!(std::time::Instant::now() < deadline, "never recovered");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let view = world.view(bob, None, usize::MAX).expect("view");
    assert!(view.messages.iter().any(|m| m.text.starts_with(&stuck)));
    assert!(!view.messages.iter().any(|m| m.text.contains("refused")));
    let (relayed, _, _) = world.bridge_messages("g", cursor, usize::MAX);
    assert_eq!(relayed.len(), sent);
    world.say(alice, "after").expect("accepted again");
}

/// Takes the wake-up permit a task would find, without waiting: whether it was woken.
fn was_woken(wake: &Notify) -> bool {
    let notified = std::pin::pin!(wake.notified());
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    std::future::Future::poll(notified, &mut context).is_ready()
}

/// The store's commit count, as [`wake_after_commits`] would be told it.
fn committed(store: &Store) -> u64 {
    *store.commits().borrow()
}

#[test]
fn readers_are_woken_when_a_message_is_committed_not_when_it_is_posted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (world, store) = world(dir.path(), 100, 1000, 10);
    let (alice, _) = world.connect(localhost(), "welcome".into());
    let (bob, bob_wake) = world.connect(localhost(), "welcome".into());
    crate::history::join_blocking(&world, alice, "g").expect("join");
    crate::history::join_blocking(&world, bob, "g").expect("join");
    let watcher = Arc::new(Notify::new());
    world.open_bridged("g", crate::world::LoadedChannel::default(), watcher.clone());
    store.flush();
    world.wake_committed(committed(&store));
    world.view(bob, None, usize::MAX).expect("view");
    was_woken(&bob_wake);
    was_woken(&watcher);

    // The writer holds the message, so the post surely finds it uncommitted.
    let hold = store.hold_commits();
    world.say(alice, "hello").expect("say");
    let ticket = store.last_ticket();
    assert!(!store.is_committed(ticket));
    // Posting wakes nobody: only the commit does.
    assert!(!was_woken(&bob_wake), "woken by the post");
    assert!(!was_woken(&watcher), "the bridge was woken by the post");
    // A count short of the message's ticket wakes nobody either.
    world.wake_committed(committed(&store));
    world.wake_committed(ticket - 1);
    assert!(!was_woken(&bob_wake), "woken before the commit");
    assert!(
        !was_woken(&watcher),
        "the bridge was woken before the commit"
    );
    let view = world.view(bob, None, usize::MAX).expect("view");
    assert!(view.waiting_for_store);
    assert!(!view.messages.iter().any(|m| &*m.text == "hello"));

    drop(hold);
    store.flush();
    world.wake_committed(committed(&store));
    assert!(was_woken(&bob_wake), "not woken by the commit");
    assert!(
        was_woken(&watcher),
        "the bridge was not woken by the commit"
    );
    let view = world.view(bob, None, usize::MAX).expect("view");
    assert!(!view.waiting_for_store);
    assert!(view.messages.iter().any(|m| &*m.text == "hello"));
    // Told the same count again, nobody is woken twice.
    world.wake_committed(committed(&store));
    assert!(!was_woken(&bob_wake), "woken twice for one commit");
}

#[tokio::test]
async fn the_commit_waker_wakes_readers_without_anyone_polling() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (world, store) = world(dir.path(), 100, 1000, 10);
    let world = Arc::new(world);
    let (alice, _) = world.connect(localhost(), "welcome".into());
    let (bob, bob_wake) = world.connect(localhost(), "welcome".into());
    crate::history::join_blocking(&world, alice, "g").expect("join");
    crate::history::join_blocking(&world, bob, "g").expect("join");
    // Whatever joining wrote is committed and its wake-up taken before the rounds start.
    store.flush();
    world.wake_committed(committed(&store));
    let shutdown = CancellationToken::new();
    let waker = tokio::spawn(wake_after_commits(world.clone(), shutdown.clone()));
    for round in 0..20 {
        world.view(bob, None, usize::MAX).expect("view");
        was_woken(&bob_wake);
        let text = format!("m{round}");
        world.say(alice, &text).expect("say");
        // One wake-up per message, and the view it leads to shows the message.
        tokio::time::timeout(std::time::Duration::from_secs(10), bob_wake.notified())
            .await
            .expect("woken once the message is committed");
        let view = world.view(bob, None, usize::MAX).expect("view");
        assert!(
            view.messages.iter().any(|m| *m.text == *text),
            "woken before {text} was committed"
        );
    }
    shutdown.cancel();
    waker.await.expect("the waker ends");
    drop(store);
}

#[test]
fn history_reads_never_return_a_message_before_it_is_committed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (world, store) = world(dir.path(), 100, 1000, 10);
    let (alice, _) = world.connect(localhost(), "welcome".into());
    let (bob, _) = world.connect(localhost(), "welcome".into());
    crate::history::join_blocking(&world, alice, "g").expect("join");
    crate::history::join_blocking(&world, bob, "g").expect("join");
    world.say(alice, "saved").expect("say");
    store.flush();
    let hold = store.hold_commits();
    world.say(alice, "unsaved").expect("say");
    let view = world.view(bob, None, usize::MAX).expect("view");
    let texts = |around| -> Vec<String> {
        crate::history::messages_blocking(&world, bob, view.channel, around, usize::MAX)
            .iter()
            .map(|m| m.text.to_string())
            .collect()
    };
    // What a pane scrolled up near the bottom and PgDn ask for.
    let after = texts(Around::From(0));
    assert!(after.iter().any(|t| t == "saved"), "{after:?}");
    assert!(!after.iter().any(|t| t == "unsaved"), "{after:?}");
    let before = texts(Around::Before(u64::MAX));
    assert!(!before.iter().any(|t| t == "unsaved"), "{before:?}");

    drop(hold);
    store.flush();
    assert!(texts(Around::From(0)).iter().any(|t| t == "unsaved"));
}

#[test]
fn a_status_line_quoting_a_mention_waits_for_the_mention_to_be_committed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (world, store) = world(dir.path(), 100, 1000, 10);
    let (alice, _) = world.connect(localhost(), "welcome".into());
    let (bob, bob_wake) = world.connect(localhost(), "welcome".into());
    crate::history::join_blocking(&world, alice, "g").expect("join");
    crate::history::join_blocking(&world, bob, "g").expect("join");
    let bob_nick = world.nick(bob).expect("bob's nick");
    // Bob looks at his status window, where `/hilog` (on by default) quotes mentions.
    assert!(world.switch_window(bob, 0));
    store.flush();
    world.wake_committed(committed(&store));
    world.view(bob, None, usize::MAX).expect("view");
    was_woken(&bob_wake);

    let hold = store.hold_commits();
    world
        .say(alice, &format!("{bob_nick}: the secret"))
        .expect("say");
    // A later status line must not overtake the quote either.
    world.tell(bob, AUTHOR_INFO, "feedback");
    let view = world.view(bob, None, usize::MAX).expect("view");
    let shown: Vec<&str> = view.messages.iter().map(|m| &*m.text).collect();
    assert!(
        !shown.iter().any(|t| t.contains("the secret")),
        "quoted before the commit: {shown:?}"
    );
    assert!(!shown.contains(&"feedback"), "{shown:?}");
    assert!(view.waiting_for_store);

    drop(hold);
    store.flush();
    was_woken(&bob_wake);
    world.wake_committed(committed(&store));
    assert!(was_woken(&bob_wake), "not woken by the commit");
    let view = world.view(bob, None, usize::MAX).expect("view");
    let shown: Vec<&str> = view.messages.iter().map(|m| &*m.text).collect();
    assert!(shown.iter().any(|t| t.contains("the secret")), "{shown:?}");
    assert!(shown.contains(&"feedback"), "{shown:?}");
    assert!(!view.waiting_for_store);
}

/// What a channel holds, without times and tickets (which differ between two runs): the
/// sequence number, author and text of each message, its topic and its members' nicks.
fn channel_state(world: &World, name: &str) -> (Vec<(u64, String, String)>, String, Vec<String>) {
    world.store().flush();
    let state = world.lock();
    let channel = state
        .public_by_name
        .get(name)
        .and_then(|id| state.channels.get(id))
        .expect("channel open");
    let messages = channel
        .messages
        .iter()
        .map(|m| (m.seq, m.author.clone(), m.text.to_string()))
        .collect();
    let mut members: Vec<String> = channel
        .members
        .iter()
        .filter_map(|m| state.users.get(m).map(|u| u.nick.clone()))
        .collect();
    members.sort();
    (messages, channel.topic.clone(), members)
}

#[test]
fn events_applied_to_a_fresh_world_change_it_as_the_method_calls_do() {
    let dirs = [
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    ];
    let (by_methods, _) = world(dirs[0].path(), 100, 1000, 100);
    let (by_events, _) = world(dirs[1].path(), 100, 1000, 100);
    // The same start in both: two users, one of them in #a.
    let mut ids = Vec::new();
    for world in [&by_methods, &by_events] {
        let (alice, _) = world.connect(localhost(), "welcome".into());
        let (bob, _) = world.connect(localhost(), "welcome".into());
        crate::history::join_blocking(world, alice, "a").expect("join");
        ids.push((alice, bob));
    }
    assert_eq!(ids[0], ids[1], "both worlds count ids alike");
    let (alice, bob) = ids[0];
    let alice_nick = by_methods.nick(alice).expect("alice");
    let bob_nick = by_methods.nick(bob).expect("bob");
    let channel = by_events.lock().public_by_name["a"];

    crate::history::join_blocking(&by_methods, bob, "a").expect("join");
    by_methods
        .say(alice, &format!("hi {bob_nick}"))
        .expect("say");
    by_methods.action(bob, "waves").expect("action");
    by_methods.set_topic(alice, "news").expect("topic");
    by_methods.change_nick(alice, "alicia").expect("nick");
    by_methods.clear_window(alice).expect("admin may wipe");
    by_methods.say(alice, "after the wipe").expect("say");
    by_methods.part(bob).expect("part");
    by_methods.broadcast("hello all", false);

    let now = now_micros();
    let said = |author: &str, text: String| {
        Event::Post(Post {
            origin: Origin::Local,
            ping: Ping::Mentioned,
            ..Post::line(channel, author, &text, now)
        })
    };
    let events = [
        Event::Join {
            user: bob,
            channel,
            alias: "#a".into(),
            unix_micros: now,
        },
        said(&alice_nick, format!("hi {bob_nick}")),
        said(AUTHOR_ACTION, format!("\x02{bob_nick}\x02 waves")),
        Event::Topic {
            channel,
            nick: alice_nick.clone(),
            topic: "news".into(),
            unix_micros: now,
        },
        Event::NickChange {
            user: alice,
            nick: "alicia".into(),
            unix_micros: now,
        },
        Event::Clear {
            channel,
            nick: "alicia".into(),
            unix_micros: now,
        },
        said("alicia", "after the wipe".into()),
        Event::Part {
            user: bob,
            channel,
            announce: true,
            reason: String::new(),
            unix_micros: now,
        },
        Event::Broadcast {
            text: "hello all".into(),
            redraw: false,
            unix_micros: now,
        },
    ];
    for event in events {
        by_events.apply(event);
    }

    let expected = channel_state(&by_methods, "a");
    assert_eq!(channel_state(&by_events, "a"), expected);
    // Not equal by being empty: the wipe, the line after it and the part and broadcast.
    let lines: Vec<&str> = expected.0.iter().map(|(_, _, t)| t.as_str()).collect();
    assert_eq!(
        lines,
        [
            "\x0b3channel wiped by \x02alicia",
            "after the wipe",
            &format!("\x0bb{bob_nick}\x02 has left"),
            "hello all"
        ]
    );
    assert_eq!(expected.1, "news");
    assert_eq!(expected.2, ["alicia"]);
    // What alice reads is the same too, and bob is left with the same windows.
    assert_eq!(texts(&by_events, alice), texts(&by_methods, alice));
    assert_eq!(by_events.nick(alice).as_deref(), Some("alicia"));
    assert_eq!(by_events.window_count(bob), by_methods.window_count(bob));
}

#[test]
fn connect_and_disconnect_events_do_what_connecting_and_leaving_do() {
    let dirs = [
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    ];
    let (by_methods, _) = world(dirs[0].path(), 100, 1000, 100);
    let (by_events, _) = world(dirs[1].path(), 100, 1000, 100);
    let (alice, _) = by_methods.connect(localhost(), "welcome\nto r0c".into());
    let nick = by_methods.nick(alice).expect("online");
    by_events.apply(Event::Connect {
        user: alice,
        nick: nick.clone(),
        identity: None,
        peer: SocketAddr::new(localhost(), 0),
        admin: true,
        prefs: by_methods.prefs(alice).expect("online"),
        welcome: "welcome\nto r0c".into(),
        unix_micros: now_micros(),
    });
    assert_eq!(texts(&by_events, alice), texts(&by_methods, alice));
    assert_eq!(
        texts(&by_events, alice),
        [
            format!("-- {nick} has joined"),
            "-nfo- welcome\nto r0c".into()
        ]
    );
    assert!(by_events.is_admin(alice));
    assert_eq!(by_events.users_online(), 1);
    // The next connection is numbered after it and gets the same automatic nick in both.
    let bobs = [&by_methods, &by_events].map(|world| {
        let (bob, _) = world.connect(localhost(), "welcome".into());
        (bob, world.nick(bob))
    });
    assert_eq!(bobs[0], bobs[1]);
    assert_ne!(bobs[0].0, alice);
    let (bob, _) = bobs[0];
    for world in [&by_methods, &by_events] {
        crate::history::join_blocking(world, bob, "a").expect("join");
        crate::history::join_blocking(world, alice, "a").expect("join");
    }
    by_methods.disconnect(alice, true);
    by_events.apply(Event::Disconnect {
        user: alice,
        announce: true,
        reason: String::new(),
        unix_micros: now_micros(),
    });
    assert_eq!(
        channel_state(&by_events, "a"),
        channel_state(&by_methods, "a")
    );
    assert_eq!(
        channel_state(&by_events, "a")
            .0
            .last()
            .map(|(_, _, t)| t.clone()),
        Some(format!("\x0bb{nick}\x02 has left"))
    );
    assert_eq!(by_events.nick(alice), None);
    assert_eq!(by_events.users_online(), 1);
    // The nick is free again.
    assert_eq!(by_events.change_nick(bob, &nick), Ok(()));
    assert_eq!(by_methods.change_nick(bob, &nick), Ok(()));
}

#[test]
fn a_stored_event_line_waits_for_its_commit_like_a_typed_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (world, store) = world(dir.path(), 100, 1000, 100);
    let (alice, wake) = world.connect(localhost(), "welcome".into());
    crate::history::join_blocking(&world, alice, "a").expect("join");
    world.store().flush();
    world.wake_committed(committed(&store));
    let _ = was_woken(&wake);
    let channel = world.lock().public_by_name["a"];
    let before = world.view(alice, None, usize::MAX).expect("view").next_seq;
    // The writer holds the line, so applying it surely finds it uncommitted.
    let hold = store.hold_commits();
    let line = Post::line(channel, AUTHOR_SYSTEM, "from elsewhere", now_micros());
    world.apply(Event::Post(line));
    // Queued for the store: nobody is woken before the commit.
    assert!(!was_woken(&wake), "woken by the event");
    drop(hold);
    world.store().flush();
    world.wake_committed(committed(&store));
    assert!(was_woken(&wake), "not woken by the commit");
    let view = world.view(alice, Some(before), usize::MAX).expect("view");
    let shown: Vec<&str> = view.messages.iter().map(|m| &*m.text).collect();
    assert_eq!(shown, ["from elsewhere"]);
}

/// The world's state changes only in `World::apply_locked`: the `apply_*` steps are called
/// from `event.rs` and nowhere else in the world.
#[test]
fn chat_state_changes_only_through_apply() {
    let files = [
        ("mod.rs", include_str!("mod.rs")),
        ("auth.rs", include_str!("auth.rs")),
        ("bridge.rs", include_str!("bridge.rs")),
        ("channel.rs", include_str!("channel.rs")),
        ("post.rs", include_str!("post.rs")),
        ("rename.rs", include_str!("rename.rs")),
        ("user.rs", include_str!("user.rs")),
        ("view.rs", include_str!("view.rs")),
    ];
    for (name, source) in files {
        for (at, _) in source.match_indices(".apply_") {
            let call = &source[at..];
            assert!(
                call.starts_with(".apply_locked("),
                "{name} calls {} directly instead of through apply_locked",
                call.split('(').next().unwrap_or(call)
            );
        }
    }
    let dispatch = include_str!("event.rs");
    for step in [
        "apply_connect",
        "apply_disconnect",
        "apply_post",
        "apply_join",
        "apply_part",
        "apply_nick_change",
        "apply_topic",
        "apply_clear",
        "apply_broadcast",
    ] {
        assert!(dispatch.contains(&format!("self.{step}(")), "{step}");
    }
}

#[test]
fn a_nick_taken_with_a_key_stays_with_that_key_and_survives_a_reopened_store() {
    const A: &str = "SHA256:keyAkeyAkeyAkeyAkeyAkeyAkeyAkeyAkeyAkeyAkey";
    const B: &str = "SHA256:keyBkeyBkeyBkeyBkeyBkeyBkeyBkeyBkeyBkeyBkey";
    let dir = tempfile::tempdir().expect("tempdir");
    let peer = SocketAddr::new(localhost(), 0);
    {
        let (world, store) = world(dir.path(), 100, 1000, 100);
        let (a, _) = world.connect_with(peer, "w".into(), None, None, Some(A));
        assert_eq!(world.change_nick(a, "alice"), Ok(()));
        world.disconnect(a, true);
        let (b, _) = world.connect_with(peer, "w".into(), None, None, Some(B));
        assert_eq!(
            world.change_nick(b, "Alice"),
            Err(NickError::Claimed("Alice".into()))
        );
        let (guest, _) = world.connect_with(peer, "w".into(), Some("alice"), None, None);
        assert_ne!(world.nick(guest).as_deref(), Some("alice"));
        assert!(world.whois("alice").contains("SHA256:keyAkeyAkeyA…"));
        store.flush();
        store.close();
    }
    let (world, store) = world(dir.path(), 100, 1000, 100);
    world.load_claims(365, store.claims().expect("claims"));
    let (b, _) = world.connect_with(peer, "w".into(), None, None, Some(B));
    assert!(matches!(
        world.change_nick(b, "alice"),
        Err(NickError::Claimed(_))
    ));
    let (a, _) = world.connect_with(peer, "w".into(), None, None, Some(A));
    assert_eq!(world.change_nick(a, "alice"), Ok(()));
    // With claims expiring at once, the other key takes it over once it is free.
    world.disconnect(a, true);
    world.load_claims(0, store.claims().expect("claims"));
    std::thread::sleep(std::time::Duration::from_millis(2));
    assert_eq!(world.change_nick(b, "alice"), Ok(()));
    assert!(world.whois("alice").contains("SHA256:keyBkeyBkeyB…"));
}

#[test]
fn a_key_past_its_claim_cap_lets_the_oldest_nick_go_and_is_told() {
    const A: &str = "SHA256:keyAkeyAkeyAkeyAkeyAkeyAkeyAkeyAkeyAkeyAkey";
    let dir = tempfile::tempdir().expect("tempdir");
    let (world, _store) = world(dir.path(), 100, 1000, 100);
    let peer = SocketAddr::new(localhost(), 0);
    let (a, _) = world.connect_with(peer, "w".into(), None, None, Some(A));
    for nick in ["one", "two", "three", "four"] {
        assert_eq!(world.change_nick(a, nick), Ok(()));
    }
    let said = texts(&world, a).join("\n");
    assert!(
        said.contains("four now belongs to your ssh key; one no longer does"),
        "{said}"
    );
    assert!(world.whois("one").contains("no ssh key has claimed it"));
    assert!(
        world
            .whois("two")
            .contains("belongs to the ssh key SHA256:keyAkeyAkeyA…")
    );
}

#[test]
fn a_login_takes_the_nick_from_a_guest_and_an_oper_account_gives_admin_until_logout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(Store::open(&dir.path().join("r0c.db")).expect("store"));
    let settings = WorldSettings {
        max_windows_per_user: DEFAULT_MAX_WINDOWS_PER_USER,
        max_channels: DEFAULT_MAX_CHANNELS,
        nick_salt: "lammo/".into(),
        hist_rd: 100,
        hist_mem: 100,
        hist_tsz: 10,
        password: "pw".into(),
        admin_requires_auth: true,
        opers: vec!["Paul".into()],
        no_all: false,
    };
    let world = World::new(settings, store, CancellationToken::new());
    // A guest who had the nick before the account existed (as after a restart that loaded it).
    let (guest, _) = world.connect(localhost(), "welcome".into());
    world
        .change_nick(guest, "paul")
        .expect("free before the account");
    let account = Account {
        folded: "paul".into(),
        name: "paul".into(),
        phc: "unused here".into(),
        created_at: now_micros(),
        last_seen: now_micros(),
        prefs: Some("3 0 1 1 0".into()),
    };
    world.load_accounts(30, vec![account], vec![]);
    let (owner, _) = world.connect(localhost(), "welcome".into());
    assert!(!world.is_admin(owner));
    let check = world
        .begin_password_check(owner, Some("PAUL"), false)
        .expect("may try");
    let told = world
        .finish_login(owner, &check, Ok(true))
        .expect("logged in");
    assert!(told.contains("server operator"), "{told}");
    assert_eq!(world.nick(owner).as_deref(), Some("paul"));
    assert_eq!(world.nick(guest).as_deref(), Some("paul2"));
    assert!(
        texts(&world, guest)
            .iter()
            .any(|t| t.contains("paul is a registered nick and its owner logged in")),
        "{:?}",
        texts(&world, guest)
    );
    assert_eq!(world.account_of(owner).as_deref(), Some("paul"));
    assert_eq!(
        world.prefs(owner).map(|p| p.bell),
        Some(3),
        "the toggles follow"
    );
    assert!(world.is_admin(owner));
    world.logout(owner).expect("logged in");
    assert!(!world.is_admin(owner), "operator rights end with the login");
    assert_eq!(world.account_of(owner), None);
    assert_ne!(world.nick(owner).as_deref(), Some("paul"));
}

#[test]
fn reported_mentions_keep_the_newest_channels_up_to_their_bound() {
    let mut marks = MentionsReported::default();
    for index in 0..MAX_MENTION_MARKS + 10 {
        marks.insert(&format!("c{index}"), 7);
    }
    assert_eq!(marks.0.len(), MAX_MENTION_MARKS);
    assert_eq!(marks.get("c9"), None);
    assert_eq!(marks.get("c10"), Some(7));
    marks.insert("c10", 9);
    assert_eq!(marks.get("c10"), Some(9));
    assert_eq!(marks.0.len(), MAX_MENTION_MARKS);
}
