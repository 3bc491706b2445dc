//! The session's history reads: the pages of older history its frames read from, the page a
//! frame missed, and a command's load (`/join` of a channel not in memory, `/g` to a moment
//! before memory) with the keys that wait for it. The connection loop carries the reads out
//! off the async workers (`crate::history::read`), one at a time, and hands back what
//! arrived; a render never calls the world for history.

use std::collections::VecDeque;
use std::sync::Arc;

use super::{Flow, Session};
use crate::history::{Arrived, Backlog, PageRequest, Pages, Read};
use crate::term::keys::Key;
use crate::term::zone::Zone;
use crate::world::{AUTHOR_ERROR, Around, Load, Rejoins, Span, UserId, View, World};

/// How many times one frame is rendered again because it read messages in memory that were
/// not copied out for it (the plan of what it reads is generous, so this is rare).
const MEMORY_RETRIES: usize = 2;

/// Who asked for a load, which decides how its end is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A typed command: answered like the command (`/join`'s texts and charge).
    Command,
    /// The wizard's channel to join on entry: a refusal is told as a plain error.
    Wizard,
    /// A channel the user had open when they left, rejoined on their return
    /// ([`World::finish_rejoin`]), or a conversation reopened ([`World::finish_reopen`]).
    Rejoin,
}

/// A command's load: what to read, whether the loop has started it, who asked.
#[derive(Debug)]
pub struct PendingLoad {
    load: Load,
    started: bool,
    origin: Origin,
}

/// The session's history reads (see the module docs).
#[derive(Default)]
pub struct Reads {
    /// The cache of pages older than memory.
    pages: Pages,
    /// The page the last frame missed.
    page_missed: Option<PageRequest>,
    /// A page read is in flight.
    page_reading: bool,
    /// The load a command waits for; the user's keys wait meanwhile. Boxed: a load is rare
    /// and brief, and its room would be held by every session.
    pub load: Option<Box<PendingLoad>>,
    /// Keys not handled yet, because a load runs.
    pub held_keys: VecDeque<Key>,
    /// The channels of a return the world asks this session to read (`world/markers.rs`).
    pub rejoins: Arc<Rejoins>,
    /// Frames rendered again because they read messages in memory they were not given: the
    /// plan of what a frame reads (`history_wants`) should make this rare.
    pub retries: u64,
    /// The settings the cached pages were shaped for when they arrived: join and part lines
    /// folded (`/hide joins`), and the zone whose days they were marked for (`/tz`); a change
    /// of either empties the cache.
    pages_shape: (bool, Option<Zone>),
}

impl Reads {
    /// No reads yet; the world hands the loads of a return through `rejoins`.
    pub fn with_rejoins(rejoins: Arc<Rejoins>) -> Reads {
        Reads {
            rejoins,
            ..Reads::default()
        }
    }

    /// Renders a frame with `render`, giving it the messages in memory that `wants` name
    /// (copied out of the world first: nothing is read from the world during the render) and
    /// the cached pages. A frame that read messages in memory it was not given is rendered
    /// again with them (it deferred what needed them); a page of the store it missed is
    /// noted for the connection loop.
    pub fn render(
        &mut self,
        world: &World,
        user: UserId,
        view: &View,
        mut wants: Vec<(Around, usize)>,
        mut render: impl FnMut(&mut Backlog<'_>) -> String,
    ) -> String {
        // Pages kept under other settings would show the lines as they were then.
        self.shape_pages(view.prefs.hide_joins, view.prefs.zone.as_ref());
        let mut out = String::new();
        for attempt in 0..=MEMORY_RETRIES {
            let memory = if wants.is_empty() {
                None
            } else {
                world.memory_messages(user, view.channel, &wants)
            };
            let mut backlog = Backlog::new(view.next_seq, memory.as_ref(), &mut self.pages);
            out.push_str(&render(&mut backlog));
            self.page_missed = backlog.take_page_missed();
            let missed = backlog.memory_missed();
            if missed.is_empty()
                || attempt == MEMORY_RETRIES
                || (memory.is_none() && !wants.is_empty())
            {
                break;
            }
            wants.extend_from_slice(missed);
            self.retries += 1;
        }
        out
    }
}

impl Reads {
    /// Keeps a page read from the store, with its join and part lines folded as the world
    /// folds the messages in memory when the user has `/hide joins` (per page: a minute cut
    /// by a page's edge may show two folded lines).
    fn keep_page(&mut self, name: String, mut span: Span, hide_joins: bool, zone: Option<&Zone>) {
        self.shape_pages(hide_joins, zone);
        if hide_joins {
            span.messages = crate::world::fold_joins(std::mem::take(&mut span.messages), span.lo);
        }
        if let Some(zone) = zone {
            // The message before the page is not at hand: a day that starts with the page's
            // first message gets no line (the day-change line of UTC is left out all the same).
            span.messages =
                crate::world::local_days(std::mem::take(&mut span.messages), None, zone);
        }
        self.pages.insert(name, span);
    }

    /// Empties the page cache if its pages were shaped for other settings than these.
    fn shape_pages(&mut self, hide_joins: bool, zone: Option<&Zone>) {
        if self.pages_shape.0 != hide_joins || self.pages_shape.1.as_ref() != zone {
            self.pages = Pages::default();
            self.pages_shape = (hide_joins, zone.cloned());
        }
    }
}

impl Session {
    /// Starts a load for a command (or the wizard's join): the connection loop reads it off
    /// the async workers, and the user's further keys wait until it has finished.
    pub(super) fn start_load(&mut self, load: Load, origin: Origin) {
        self.reads.load = Some(Box::new(PendingLoad {
            load,
            started: false,
            origin,
        }));
    }

    /// Joins the channel the wizard named once `load` is read (a refusal is a plain error).
    pub fn join_on_entry(&mut self, load: Load) {
        self.start_load(load, Origin::Wizard);
    }

    /// Whether the user's input waits for a load: the connection loop reads no more of it
    /// meanwhile (what arrived already is held, in order).
    pub fn holds_input(&self) -> bool {
        self.reads.load.is_some() || !self.reads.held_keys.is_empty()
    }

    /// The next history read to start, if the session waits for one and none is in flight:
    /// a command's load first, else the page the last frame missed.
    pub fn next_read(&mut self) -> Option<Read> {
        if self.reads.load.is_none()
            && let Some(load) = self.reads.rejoins.take_next()
        {
            self.start_load(load, Origin::Rejoin);
        }
        let reads = &mut self.reads;
        if let Some(pending) = &mut reads.load {
            if pending.started {
                return None;
            }
            pending.started = true;
            return Some(Read::Load(pending.load.clone()));
        }
        if reads.page_reading {
            return None;
        }
        let request = reads.page_missed.take()?;
        reads.page_reading = true;
        Some(Read::Page(request))
    }

    /// The user's settings that shape the pages read from the store: `/hide joins`, `/tz`.
    fn page_settings(&self) -> (bool, Option<Zone>) {
        self.world
            .prefs(self.user)
            .map_or((false, None), |p| (p.hide_joins, p.zone))
    }

    /// Carries out every read the session waits for on this thread, which may block, and the
    /// keys that waited for them: for drivers without a connection loop (the fuzz targets).
    pub fn complete_reads_blocking(&mut self) -> Flow {
        while let Some(read) = self.next_read() {
            let arrived = crate::history::read_blocking(self.world.store(), read);
            if self.read_arrived(arrived) == Flow::Quit {
                return Flow::Quit;
            }
        }
        Flow::Continue
    }

    /// A read arrived: a page goes into the cache (the loop renders again), a load finishes
    /// its command, and the keys that waited for it are handled.
    pub fn read_arrived(&mut self, arrived: Arrived) -> Flow {
        match arrived {
            Arrived::Page { name, span } => {
                self.reads.page_reading = false;
                let (hide_joins, zone) = self.page_settings();
                self.reads.keep_page(name, span, hide_joins, zone.as_ref());
                return Flow::Continue;
            }
            Arrived::Join { name, loaded } => {
                let origin = self.reads.load.take().map(|pending| pending.origin);
                let world = self.world.clone();
                if origin == Some(Origin::Rejoin) {
                    world.finish_rejoin(self.user, &name, loaded);
                } else if origin == Some(Origin::Wizard) {
                    if let Err(limit) = world.finish_join(self.user, &name, loaded) {
                        world.tell(self.user, AUTHOR_ERROR, &limit.to_string());
                    }
                } else {
                    for effect in crate::command::join_loaded(&world, self.user, &name, loaded) {
                        if self.carry_out(effect) == Flow::Quit {
                            return Flow::Quit;
                        }
                    }
                    self.found_loaded(&name);
                }
            }
            Arrived::Direct {
                conversation,
                target,
                text,
                kind,
                loaded,
            } => {
                let origin = self.reads.load.take().map(|pending| pending.origin);
                let world = self.world.clone();
                if origin == Some(Origin::Rejoin) {
                    world.finish_reopen(self.user, &conversation, &target, loaded);
                } else {
                    if let Err(problem) = world.finish_direct(
                        self.user,
                        &conversation,
                        &target,
                        (&text, kind),
                        loaded,
                    ) {
                        world.tell(self.user, AUTHOR_ERROR, &problem.to_string());
                    }
                    self.found_loaded(&conversation);
                }
            }
            Arrived::Goto { seq, page } => {
                self.reads.load = None;
                if let Some((name, span)) = page {
                    let (hide_joins, zone) = self.page_settings();
                    self.reads.keep_page(name, span, hide_joins, zone.as_ref());
                }
                self.goto(seq);
            }
        }
        self.run_held_keys()
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::super::tests::world;
    use crate::session::terminal::Session;
    use crate::world::{Goto, GotoStep};

    /// Renders and checks that the frame found every message in memory it read in what the
    /// session copied out for it beforehand (its plan), so it needed no second render.
    fn frame(session: &mut Session) -> String {
        let retries = session.reads.retries;
        let out = session.render();
        assert_eq!(session.reads.retries, retries, "the plan covered the frame");
        out
    }

    fn scroll_everywhere(session: &mut Session, world: &crate::world::World) {
        for keys in [
            "\x1b[5~",
            "\x1b[5~\x1b[5~",
            "\x1b[6~",
            "\x1b[5~\x1b[5~\x1b[5~",
            "\x1b[6~\x1b[6~",
        ] {
            let _ = session.handle_text(keys);
            let _ = frame(session);
        }
        for index in [0, 7, 150, 290] {
            let Some(GotoStep::Land(seq)) = world.goto_seq(session.user, Goto::Index(index)) else {
                panic!("/g {index} lands in memory");
            };
            session.goto(seq);
            let _ = frame(session);
            let _ = session.handle_text("\x1b[6~\x1b[5~");
            let _ = frame(session);
        }
        let _ = session.handle_text("\x0c");
        let _ = frame(session);
        session.to_latest();
        let _ = frame(session);
    }

    #[test]
    fn the_plan_of_a_frame_covers_what_it_reads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let world = world(dir.path());
        let (user, _) = world.connect(IpAddr::V4(Ipv4Addr::LOCALHOST), "hi".into());
        let mut session = Session::new(user, world.clone());
        session.set_size(80, 24);
        crate::history::join_blocking(&world, user, "g").expect("join");
        world.fill(user, 300, "f").expect("fill");
        world.store().flush();
        let _ = frame(&mut session);
        scroll_everywhere(&mut session, &world);
        // Notices while scrolled up, a window switch and back, new messages meanwhile.
        let _ = session.handle_text("\x1b[5~");
        let _ = frame(&mut session);
        world.tell(user, crate::world::AUTHOR_INFO, "a notice");
        let _ = frame(&mut session);
        world.switch_window(user, 0);
        let _ = frame(&mut session);
        world.switch_window(user, 1);
        world.fill(user, 30, "more").expect("fill");
        world.store().flush();
        let _ = frame(&mut session);
        // The teletype renderer too.
        session.configure(&crate::session::settings::ClientSettings {
            vt100: false,
            ..Default::default()
        });
        let _ = frame(&mut session);
        scroll_everywhere(&mut session, &world);
    }
}
