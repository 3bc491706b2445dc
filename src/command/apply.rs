//! [`apply`]: a parsed [`Command`] carried out against the world for one user. Chat state
//! changes only through [`World`] methods; what concerns the connection comes back as
//! [`Effect`]s for the session.

use crate::command::parse::GOTO_USAGE;
use crate::command::{AccountJob, Command, Effect, GotoArg, Outgoing, Usage, help};
use crate::term::layout::ScrollStep;
use crate::term::zone::{Zone, today, typed_micros};
use crate::world::{
    AUTHOR_ERROR, AUTHOR_INFO, AUTHOR_SYSTEM, AuthOutcome, Goto, GotoStep, JoinStep, LoadedChannel,
    Prefs, UserId, World,
};

impl GotoArg {
    /// The target in the world's terms, with dates and times read in the user's `zone` (UTC
    /// without one) and "today" taken from `now`; `None` if that moment does not exist, and
    /// for a search result, which is no place in the active window (the session finds it).
    /// Here rather than in the parser, which knows nothing of the world (and reads no clock).
    pub fn resolve(self, now: jiff::Timestamp, zone: Option<&Zone>) -> Option<Goto> {
        match self {
            GotoArg::Index(index) => Some(Goto::Index(index)),
            GotoArg::Percent(percent) => Some(Goto::Percent(percent)),
            GotoArg::Time(civil) => typed_micros(zone, civil).map(Goto::Time),
            GotoArg::TodayAt(time) => {
                typed_micros(zone, today(zone, now).to_datetime(time)).map(Goto::Time)
            }
            GotoArg::Found(_) => None,
        }
    }
}

/// What a command that hashes or checks a password costs on the command budget: with the
/// default budget (64 at once, 1 a second) a session may run 8 in a row and then one every 8
/// seconds, so a few connections cannot keep the password pool busy for everyone else.
pub const PASSWORD_WORK_COST: usize = 8;

/// Carries out `command` for `user`. Feedback lands in the status window, with a one-line
/// notice where the user is (see [`World::tell`]); the returned effects are the session's to
/// carry out, in order.
pub fn apply(command: Command, world: &World, user: UserId) -> Vec<Effect> {
    let error = |text: &str| world.tell(user, AUTHOR_ERROR, text);
    let info = |text: &str| world.tell(user, AUTHOR_INFO, text);
    let set = |change: fn(&mut Prefs, bool), on: bool, text: &str| {
        world.update_prefs(user, |p| change(p, on));
        info(text);
    };
    match command {
        Command::Say(text) => return vec![Effect::Send(Outgoing::Say(text))],
        Command::Me(text) => return vec![Effect::Send(Outgoing::Action(text))],
        Command::Msg { target, text } => {
            return vec![Effect::Send(Outgoing::Direct { target, text })];
        }
        Command::Help(page) => match help::help_page(&page) {
            Some(text) => info(&text),
            None => error("that help page does not exist"),
        },
        Command::Auth(password) => match world.authenticate(user, &password) {
            AuthOutcome::Ok => info("please don't break anything"),
            AuthOutcome::Wrong => error("wrong password"),
            AuthOutcome::TooMany { minutes } => error(&format!(
                "too many wrong passwords from your address; try again in {minutes} minutes"
            )),
        },
        // The account commands that check or hash a password run off the async workers:
        // the session starts them, and their answer comes when they are done.
        Command::Register(password) => match crate::password::check_new_password(&password.0) {
            Ok(()) => {
                return vec![
                    Effect::Charge(PASSWORD_WORK_COST),
                    Effect::Account(AccountJob::Register { password }),
                ];
            }
            Err(rule) => error(&format!("[invalid argument]\n  {rule}")),
        },
        Command::Login { name, password } => {
            return vec![
                Effect::Charge(PASSWORD_WORK_COST),
                Effect::Account(AccountJob::Login { name, password }),
            ];
        }
        Command::Passwd { old, new } => match crate::password::check_new_password(&new.0) {
            Ok(()) => {
                return vec![
                    Effect::Charge(PASSWORD_WORK_COST),
                    Effect::Account(AccountJob::Passwd { old, new }),
                ];
            }
            Err(rule) => error(&format!("[invalid argument]\n  new password: {rule}")),
        },
        Command::Logout => {
            if let Err(problem) = world.logout(user) {
                error(&problem.to_string());
            }
        }
        Command::KeyAdd => return vec![Effect::Account(AccountJob::KeyAdd)],
        Command::KeyDel(prefix) => return vec![Effect::Account(AccountJob::KeyDel(prefix))],
        Command::KeyList => match world.account_keys(user) {
            Ok(keys) if keys.is_empty() => {
                info("no ssh key logs you in yet; connect with ssh, /login, then /key add");
            }
            Ok(keys) => {
                let lines: Vec<String> = keys
                    .iter()
                    .map(|(fingerprint, added)| {
                        format!("  {fingerprint}  (added {})", utc_date(*added))
                    })
                    .collect();
                info(&format!(
                    "ssh keys that log you in ({} of at most {}):\n{}",
                    keys.len(),
                    crate::world::MAX_KEYS_PER_ACCOUNT,
                    lines.join("\n")
                ));
            }
            Err(problem) => error(&problem.to_string()),
        },
        // Commands that others see report what they cost others (a nick change is shown in
        // every window the user has open), which the session charges to its budget.
        Command::Nick { nick, filtered } => {
            let shown_in = world.window_count(user);
            if let Some(bad_start) = filtered {
                let why = if bad_start {
                    " (nicks must begin with an alphanumeric character)"
                } else {
                    ""
                };
                error(&format!(
                    "[invalid argument]\n  illegal characters were removed{why}"
                ));
            }
            match world.change_nick(user, &nick) {
                Ok(()) => return vec![Effect::Charge(shown_in)],
                Err(problem) => error(&format!("[invalid argument]\n  {problem}")),
            }
        }
        Command::Topic(topic) => match world.set_topic(user, &topic) {
            Ok(()) => return vec![Effect::Charge(1)],
            Err(text) => error(&format!("[error]\n  {text}")),
        },
        // A channel not in memory is read off the async workers first: the session carries
        // out the load, then finishes with `join_loaded`.
        Command::Join(name) => match world.begin_join(user, &name) {
            Ok(JoinStep::Done(true)) => return vec![Effect::Charge(1)],
            Ok(JoinStep::Done(false)) => {}
            Ok(JoinStep::Load(load)) => return vec![Effect::Load(load)],
            Err(limit) => error(&format!("[error]\n  {limit}")),
        },
        Command::Part => match world.part(user) {
            Ok(()) => return vec![Effect::Charge(1)],
            Err(text) => error(&format!("[error]\n  {text}")),
        },
        Command::Names => {
            if let Some((label, nicks)) = world.names(user) {
                world.tell(
                    user,
                    AUTHOR_SYSTEM,
                    &format!("{} users in {label}: {}", nicks.len(), nicks.join(", ")),
                );
            }
        }
        Command::Whois(nick) => world.tell(user, AUTHOR_INFO, &world.whois(&nick)),
        Command::Status => {
            let (census, details) = world.census(user);
            let mut text = format!(
                "{} users + {} in wizard, {} in chans, {} public + {} private chans",
                census.users,
                world.in_wizard(),
                census.users_in_channels,
                census.public_channels,
                census.private_channels
            );
            if let Some(cluster) = world.cluster_report() {
                text.push_str(&format!(
                    "\ncluster: node {}, {}, {} nodes alive, {} events behind, last ack {} ms",
                    cluster.node,
                    if cluster.reachable {
                        "connected"
                    } else {
                        "NATS unreachable"
                    },
                    cluster.nodes,
                    cluster.lag,
                    cluster.last_ack_micros / 1000
                ));
            }
            for line in details {
                text.push('\n');
                text.push_str(&line);
            }
            info(&text);
        }
        Command::Cfg => return vec![Effect::ShowCfg],
        Command::Clear => {
            if let Err(text) = world.clear_window(user) {
                error(&format!("[error]\n  {text}"));
            }
        }
        Command::Fill { count, text } => {
            if !admitted(world, user, "fill") {
                return vec![Effect::AdminDenied("fill")];
            }
            if let Err(problem) = world.fill(user, count, &text) {
                error(&problem.to_string());
            }
        }
        Command::Broadcast(text) => {
            if !admitted(world, user, "bc") {
                return vec![Effect::AdminDenied("bc")];
            }
            world.broadcast(&format!("\x0b1{text}"), true);
        }
        Command::Shutdown => {
            if !admitted(world, user, "sd") {
                return vec![Effect::AdminDenied("sd")];
            }
            let nick = world.nick(user).unwrap_or_default();
            world.broadcast(&format!("\x0b1server shutdown requested by {nick}"), true);
            world.request_shutdown(std::time::Duration::from_millis(500));
        }
        Command::Quit => return vec![Effect::Quit],
        Command::Redraw => return vec![Effect::ProbeSize, Effect::Redraw],
        Command::ScrollPages(pages) => return vec![Effect::ScrollPages(pages)],
        Command::Latest => return vec![Effect::Latest],
        Command::ToggleView => return vec![Effect::ToggleView],
        Command::Goto(None) => goto_help(world, user),
        Command::Goto(Some(GotoArg::Found(number))) => return vec![Effect::GotoFound(number)],
        Command::Goto(Some(target)) => match target.resolve(
            jiff::Timestamp::now(),
            world.prefs(user).and_then(|p| p.zone).as_ref(),
        ) {
            Some(target) => {
                match world.goto_seq(user, target) {
                    Some(GotoStep::Land(seq)) => return vec![Effect::Goto(seq)],
                    // The session searches the store and then goes there.
                    Some(GotoStep::Load(load)) => return vec![Effect::Load(load)],
                    None => {}
                }
            }
            None => error(GOTO_USAGE),
        },
        Command::Cmap => info(&crate::term::style::cmap_text()),
        Command::Slowmo(0) => {
            info("Slowmo disabled. Enable with /sy");
            return vec![Effect::SetSlowmo(0)];
        }
        Command::Slowmo(level) => {
            info(&format!(
                "Slowmo enabled ({level}). This avoids a bug in telnet.exe on Windows, but your screen may already be garbled, so reconnect to fix it. Disable with /sn if you change your mind"
            ));
            return vec![Effect::SetSlowmo(level)];
        }
        Command::ScrollStep(step) => {
            info(&match step {
                ScrollStep::Lines(lines) => format!("scroll size: {lines} lines"),
                ScrollStep::Percent(percent) => format!("scroll size: {percent:.1}% of screen"),
            });
            return vec![Effect::SetScrollStep(step)];
        }
        Command::Activity => {
            world.jump_to_activity(user);
        }
        Command::Width(cols) => {
            info(&format!("screen width: {cols} letters"));
            return vec![Effect::ForceSize {
                cols: Some(cols),
                rows: None,
            }];
        }
        Command::Height(rows) => {
            info(&format!("screen height: {rows} letters"));
            return vec![Effect::ForceSize {
                cols: None,
                rows: Some(rows),
            }];
        }
        Command::Bell(level) => {
            world.update_prefs(user, |p| p.bell = level);
            info(bell_text(level));
        }
        Command::BellQuery => info(bell_text(world.prefs(user).map_or(1, |p| p.bell))),
        Command::AtAll(on) => set(
            |p, on| p.at_all = on,
            on,
            if on {
                "Hilight on @all / @everyone enabled. Disable with /en"
            } else {
                "Hilight on @all / @everyone disabled. Enable with /ey"
            },
        ),
        Command::HilightLog(on) => set(
            |p, on| p.hilight_log = on,
            on,
            if on {
                "Mentions are now logged in the status window. Disable with /hsn"
            } else {
                "Mentions are no longer logged in the status window. Enable with /hsy"
            },
        ),
        Command::ColoredNicks(on) => set(
            |p, on| p.colored_nicks = on,
            on,
            if on {
                "Colored nicknames enabled. Disable with /cn"
            } else {
                "Colored nicknames disabled. Enable with /cy"
            },
        ),
        Command::Away(reason) => {
            let kept = world.set_away(user, &reason);
            if kept.is_empty() {
                info("you are marked as away; /back when you return");
            } else {
                info(&format!(
                    "you are marked as away: {kept}\n  /back when you return"
                ));
            }
        }
        Command::Back => {
            if world.set_back(user) {
                info("you are back");
            } else {
                info("you were not marked as away");
            }
        }
        Command::Search(request) => return vec![Effect::Charge(1), Effect::Search(request)],
        Command::HideJoins(hide) => set(
            |p, hide| p.hide_joins = hide,
            hide,
            if hide {
                "join and part lines are folded, one line a minute per channel. Undo with /show joins"
            } else {
                "every join and part line is shown. Fold them with /hide joins"
            },
        ),
        Command::Tz(zone) => apply_tz(zone.as_deref(), world, user),
        Command::Margins(on) => set(
            |p, on| p.margins = on,
            on,
            if on {
                "Wordwrap margins enabled. Disable with /mn"
            } else {
                "Wordwrap margins disabled. Enable with /my"
            },
        ),
        Command::Moderation(command) => {
            return crate::command::moderation::apply(command, world, user);
        }
        Command::Window(index) => {
            if !world.switch_window(user, index) {
                error(&format!(
                    "[error]\n  you only have {} channels my dude",
                    world.window_count(user)
                ));
            }
        }
    }
    Vec::new()
}

/// The second step of a `/join` whose channel had to be read ([`Effect::Load`]): opens it with
/// what was read (`None`: it could not be) and joins, with the answers of a join in memory.
pub fn join_loaded(
    world: &World,
    user: UserId,
    name: &str,
    loaded: Option<LoadedChannel>,
) -> Vec<Effect> {
    match world.finish_join(user, name, loaded) {
        Ok(true) => vec![Effect::Charge(1)],
        Ok(false) => Vec::new(),
        Err(limit) => {
            world.tell(user, AUTHOR_ERROR, &format!("[error]\n  {limit}"));
            Vec::new()
        }
    }
}

/// Tells `user` what was wrong with their line. The usage of an admin command is shown only
/// to administrators: others are refused as if the arguments had been right.
pub fn apply_usage(usage: &Usage, world: &World, user: UserId) -> Vec<Effect> {
    if let Some(command) = usage.admin_command
        && !admitted(world, user, command)
    {
        return vec![Effect::AdminDenied(command)];
    }
    world.tell(user, AUTHOR_ERROR, &usage.text);
    Vec::new()
}

/// Whether `user` may run the admin command `/command`; a refused user is told so. An
/// admitted one is logged here; a refusal is logged by the session, which limits how often a
/// user who types it in a loop reaches the log. Neither line carries the command's text.
fn admitted(world: &World, user: UserId, command: &'static str) -> bool {
    if world.is_admin(user) {
        let peer = world
            .peer(user)
            .map(|peer| peer.to_string())
            .unwrap_or_default();
        let nick = world.nick(user).unwrap_or_default();
        tracing::info!(peer, nick, command, "admin command");
        return true;
    }
    world.tell(
        user,
        AUTHOR_ERROR,
        "[denied]\n  don't move, the police are on the way",
    );
    false
}

/// `/g` alone: how many messages the window has since when, and how to use `/g`.
fn goto_help(world: &World, user: UserId) {
    let (count, oldest) = world.window_span(user).unwrap_or((0, 0));
    let zone = world.prefs(user).and_then(|p| p.zone);
    let zone_name = zone.as_ref().map_or("UTC", Zone::name).to_string();
    let oldest = crate::term::zone::shown_micros(zone.as_ref(), oldest);
    let since = jiff::Timestamp::from_microsecond(oldest).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let label = world
        .names(user)
        .map(|(label, _)| label)
        .unwrap_or_default();
    world.tell(
        user,
        AUTHOR_SYSTEM,
        &format!(
            "[goto]\n  {count} msgs since {} in {label}\n  /g 19:47             jump to a time ({zone_name}, today)\n  /g 2018-01-21        jump to a date\n  /g 2018-01-21 19:47  jump to a date and time\n  /g 3172              jump to a message\n  /g 34%               jump to an offset\n  /g r3                jump to result 3 of your last /search\n  /l                   back to the newest",
            since.strftime("%Y-%m-%d, %H:%M")
        ),
    );
}

fn bell_text(level: u8) -> &'static str {
    match level {
        0 => "Audible alerts disabled. Enable with /b1 or /b2",
        1 => "Audible alerts enabled for hilights in other channels. Disable with /b0",
        2 => "Audible alerts enabled for all hilights, even in active channel. Disable with /b0",
        _ => "Audible alerts enabled for every message, not just hilights. Disable with /b0",
    }
}

/// What the session knows of its client, for `/cfg`.
#[derive(Debug, Clone)]
pub struct ClientFacts<'a> {
    pub slowmo: u8,
    pub linemode: bool,
    pub echo: bool,
    pub vt100: bool,
    pub enter: &'a str,
    pub codec: &'a str,
    pub cols: u16,
    pub rows: u16,
}

/// `/cfg`: r0c's fields in r0c's format (`key=value`, values as Python prints them, keys in
/// cyan on VT100), then ours: the screen size and the mentions log.
pub fn cfg_text(client: &ClientFacts<'_>, prefs: &Prefs) -> String {
    let py_bool = |b: bool| if b { "True" } else { "False" };
    let fields = [
        ("slowmo_tx", client.slowmo.to_string()),
        ("linemode", py_bool(client.linemode).to_owned()),
        ("echo_on", py_bool(client.echo).to_owned()),
        ("vt100", py_bool(client.vt100).to_owned()),
        ("crlf", python_repr(client.enter)),
        ("codec", python_repr(client.codec)),
        ("bell", prefs.bell.to_string()),
        ("atall", py_bool(prefs.at_all).to_owned()),
        ("cnicks", py_bool(prefs.colored_nicks).to_owned()),
        ("align", py_bool(prefs.margins).to_owned()),
        ("size", format!("{}x{}", client.cols, client.rows)),
        ("hilog", py_bool(prefs.hilight_log).to_owned()),
    ];
    // CTRL-K 6 is cyan and CTRL-O resets: the formatting tokens of stored text.
    let key = |k: &str| {
        if client.vt100 {
            format!("\x0b6{k}=\x0f")
        } else {
            format!("{k}=")
        }
    };
    fields
        .iter()
        .map(|(k, v)| format!("{}{v}", key(k)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A string as Python's `repr` shows it: in single quotes, with `\r`, `\n`, `\t`, `\\` and
/// `\'` escaped and other control characters as `\xNN`.
fn python_repr(text: &str) -> String {
    let mut out = String::from("'");
    for c in text.chars() {
        match c {
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A moment as a UTC date, `YYYY-MM-DD`.
fn utc_date(unix_micros: i64) -> String {
    jiff::Timestamp::from_microsecond(unix_micros)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .strftime("%Y-%m-%d")
        .to_string()
}

/// `/tz`: alone, which zone timestamps are shown in; `UTC` goes back to the default; any
/// other word is looked up in the time zone database.
fn apply_tz(name: Option<&str>, world: &World, user: UserId) {
    use crate::term::zone::Zone;
    let tell = |author: &str, text: &str| world.tell(user, author, text);
    match name {
        None => {
            let zone = world.prefs(user).and_then(|p| p.zone);
            match zone {
                Some(zone) => tell(
                    AUTHOR_INFO,
                    &format!("timestamps are shown in {}; /tz UTC goes back", zone.name()),
                ),
                None => tell(
                    AUTHOR_INFO,
                    "timestamps are shown in UTC; /tz Europe/Berlin (any IANA zone) changes it",
                ),
            }
        }
        Some(name) if name.eq_ignore_ascii_case("utc") => {
            world.update_prefs(user, |p| p.zone = None);
            tell(AUTHOR_INFO, "timestamps are shown in UTC");
        }
        Some(name) => match Zone::named(name) {
            Some(zone) => {
                let shown = zone.name().to_string();
                world.update_prefs(user, |p| p.zone = Some(zone));
                tell(AUTHOR_INFO, &format!("timestamps are shown in {shown}"));
            }
            None => tell(
                AUTHOR_ERROR,
                "[invalid argument]\n  no such time zone: use an IANA name such as Europe/Berlin, or UTC",
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};
    use std::sync::Arc;

    use super::*;
    use crate::store::Store;
    use crate::world::WorldSettings;

    fn world(dir: &std::path::Path) -> Arc<World> {
        let store = Arc::new(Store::open(&dir.join("r0c.db")).expect("store"));
        let settings = WorldSettings {
            max_windows_per_user: crate::world::DEFAULT_MAX_WINDOWS_PER_USER,
            max_channels: crate::world::DEFAULT_MAX_CHANNELS,
            nick_salt: "apply/".into(),
            hist_rd: 100,
            hist_mem: 1000,
            hist_tsz: 100,
            password: "pw".into(),
            admin_requires_auth: false,
            opers: Vec::new(),
            no_all: false,
        };
        let shutdown = tokio_util::sync::CancellationToken::new();
        Arc::new(World::new(settings, store, shutdown))
    }

    fn run(world: &World, user: UserId, line: &str) -> Vec<Effect> {
        match Command::parse(line) {
            Ok(command) => apply(command, world, user),
            Err(usage) => apply_usage(&usage, world, user),
        }
    }

    /// The newest line of the user's status window, without formatting.
    fn last_told(world: &World, user: UserId) -> String {
        world.store().flush();
        world.switch_window(user, 0);
        let view = world.view(user, None, usize::MAX).expect("view");
        view.messages
            .last()
            .map(|m| crate::text::strip_formatting(&m.text))
            .unwrap_or_default()
    }

    #[test]
    fn commands_return_what_the_session_carries_out() {
        let dir = tempfile::tempdir().expect("tempdir");
        let world = world(dir.path());
        let (user, _) = world.connect(IpAddr::V4(Ipv4Addr::LOCALHOST), "hi".into());
        let cases: Vec<(&str, Vec<Effect>)> = vec![
            ("hi", vec![Effect::Send(Outgoing::Say("hi".into()))]),
            ("//hi", vec![Effect::Send(Outgoing::Say("/hi".into()))]),
            (
                "/me waves",
                vec![Effect::Send(Outgoing::Action("waves".into()))],
            ),
            ("/r", vec![Effect::ProbeSize, Effect::Redraw]),
            ("/u", vec![Effect::ScrollPages(-1)]),
            ("/l", vec![Effect::Latest]),
            ("/v", vec![Effect::ToggleView]),
            ("/sn", vec![Effect::SetSlowmo(0)]),
            (
                "/sw 100",
                vec![Effect::ForceSize {
                    cols: Some(100),
                    rows: None,
                }],
            ),
            ("/ss 5", vec![Effect::SetScrollStep(ScrollStep::Lines(5))]),
            ("/cfg", vec![Effect::ShowCfg]),
            ("/q", vec![Effect::Quit]),
            // A channel not in memory is loaded first (waiting for nothing: no channel was
            // closed); the second step reports the cost.
            (
                "/join #a",
                vec![Effect::Load(crate::world::Load::Join {
                    name: "a".into(),
                    after: 0,
                    limit: 100,
                })],
            ),
        ];
        for (line, expected) in cases {
            assert_eq!(run(&world, user, line), expected, "{line}");
        }
        let loaded = crate::world::LoadedChannel::default();
        assert_eq!(
            super::join_loaded(&world, user, "a", Some(loaded)),
            vec![Effect::Charge(1)]
        );
        // A command others see reports its cost: nothing for a channel the user is in
        // already, one per window for a nick change.
        for (line, expected) in [
            ("/join #a", vec![]),
            ("/nick bob", vec![Effect::Charge(2)]),
            ("/b3", vec![]),
        ] {
            assert_eq!(run(&world, user, line), expected, "{line}");
        }
        assert_eq!(world.nick(user).as_deref(), Some("bob"));
        assert_eq!(world.prefs(user).map(|p| p.bell), Some(3));
    }

    #[test]
    fn moderation_commands_others_see_report_their_cost_and_reads_do_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let world = world(dir.path());
        let (admin, _) = world.connect(IpAddr::V4(Ipv4Addr::LOCALHOST), "hi".into());
        let (other, _) = world.connect(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), "hi".into());
        assert_eq!(run(&world, other, "/nick victim"), vec![Effect::Charge(1)]);
        for (line, expected) in [
            // A ban or mute costs 1 and 1 more per user online it hits.
            ("/mute victim spam", vec![Effect::Charge(2)]),
            ("/ban 10.0.0.0/8", vec![Effect::Charge(1)]),
            ("/unban 10.0.0.0/8", vec![Effect::Charge(1)]),
            ("/lockdown registered", vec![Effect::Charge(1)]),
            ("/ignore victim", vec![Effect::Charge(1)]),
            // Reads cost nothing; a refused command costs nothing.
            ("/lockdown", vec![]),
            ("/bans", vec![]),
            ("/modlog", vec![]),
            ("/ignores", vec![]),
            ("/kick victim", vec![]),
        ] {
            assert_eq!(run(&world, admin, line), expected, "{line}");
        }
        for line in ["/kick victim", "/ban victim", "/mode +m", "/lockdown off"] {
            let parsed = Command::parse(line).expect("parses");
            assert!(parsed.is_shared(), "{line}");
        }
        for line in ["/bans", "/modlog", "/ignores", "/mode", "/lockdown"] {
            let parsed = Command::parse(line).expect("parses");
            assert!(!parsed.is_shared(), "{line}");
        }
    }

    #[test]
    fn password_commands_draw_on_the_command_budget_and_a_bad_one_costs_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let world = world(dir.path());
        let (user, _) = world.connect(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), "hi".into());
        for line in [
            "/register long-enough-1",
            "/login bob long-enough-1",
            "/passwd a b",
        ] {
            let parsed = Command::parse(line).expect("parses");
            assert!(parsed.is_shared(), "{line}");
        }
        let effects = run(&world, user, "/login bob long-enough-1");
        assert_eq!(effects.first(), Some(&Effect::Charge(PASSWORD_WORK_COST)));
        assert!(
            matches!(effects.get(1), Some(Effect::Account(_))),
            "{effects:?}"
        );
        // A new password that breaks the rules is refused before any hashing, for free.
        assert_eq!(run(&world, user, "/register short"), vec![]);
    }

    #[test]
    fn admin_usage_is_only_for_administrators() {
        let dir = tempfile::tempdir().expect("tempdir");
        let world = world(dir.path());
        let (admin, _) = world.connect(IpAddr::V4(Ipv4Addr::LOCALHOST), "hi".into());
        let (other, _) = world.connect(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), "hi".into());
        assert_eq!(run(&world, admin, "/bc"), vec![]);
        assert_eq!(last_told(&world, admin), "usage: /bc message text");
        for line in ["/bc", "/bc hello", "/fill x", "/sd"] {
            assert_eq!(run(&world, other, line).len(), 1, "{line}");
            assert_eq!(
                last_told(&world, other),
                "[denied]\n  don't move, the police are on the way",
                "{line}"
            );
        }
    }
}
