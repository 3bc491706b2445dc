//! What a renderer reads older history from: the messages in memory it was given (a
//! [`MemorySlice`] the session copied out of the world before the frame) and the pages of the
//! store the session read before ([`Pages`], a small cache). Pure: a read that neither holds
//! is answered with what there is and recorded as missing ([`Backlog::misses`]); the session
//! then copies more out of the world, or reads the page off the async workers, and renders
//! again.

use std::sync::Arc;

use crate::world::{Around, MemorySlice, Message, Span};

/// How many messages the page cache of one session keeps (about a megabyte of short lines);
/// pages the last frame used are kept even beyond, so one frame's needs always fit.
pub const CACHE_MESSAGES: usize = 4096;

/// A page is read at least this large, so scrolling back page by page reads the store every
/// few pages, not at every one.
pub const PAGE_MIN: usize = 200;

/// A page of a public channel's history older than memory, to be read from the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// The channel's name in the store.
    pub name: String,
    /// Which side of which number.
    pub around: Around,
    /// How many messages at most.
    pub count: usize,
    /// The oldest message in memory when asked: the page ends before it.
    pub below: u64,
}

impl PageRequest {
    /// The span that `messages` (what the store answered, oldest first, at most `count`)
    /// covers: all of the asked range when the store had fewer than asked for.
    pub fn span_of(&self, messages: Vec<Arc<Message>>, count: usize) -> Span {
        let short = messages.len() < count;
        let (lo, hi) = match self.around {
            Around::Before(seq) => {
                let lo = match messages.first() {
                    Some(first) if !short => first.seq,
                    _ => 0,
                };
                (lo, seq)
            }
            Around::From(seq) => {
                let hi = match messages.last() {
                    Some(last) if !short => last.seq + 1,
                    _ => self.below,
                };
                (seq, hi.max(seq))
            }
        };
        Span { lo, hi, messages }
    }

    /// The asked range with nothing in it (what a failed read leaves, as before: nothing).
    pub fn empty_span(&self) -> Span {
        self.span_of(Vec::new(), usize::MAX)
    }
}

/// One cached page.
#[derive(Debug)]
struct Page {
    /// The channel's name in the store.
    name: String,
    span: Span,
    /// The frame that last used it.
    used: u64,
}

/// A session's cache of pages read from the store, bounded by [`CACHE_MESSAGES`] (least
/// recently used first out, never a page the current frame used).
#[derive(Debug, Default)]
pub struct Pages {
    pages: Vec<Page>,
    /// Counts frames, for `Page::used`.
    frame: u64,
    /// Messages held, over all pages.
    held: usize,
}

impl Pages {
    /// An empty cache.
    pub fn new() -> Pages {
        Pages::default()
    }

    /// Adds a page that arrived, as used by the current frame, and drops the least recently
    /// used pages while the cache holds too much.
    pub fn insert(&mut self, name: String, span: Span) {
        self.held += span.messages.len();
        self.pages.push(Page {
            name,
            span,
            used: self.frame,
        });
        while self.held > CACHE_MESSAGES {
            let Some((index, _)) = self
                .pages
                .iter()
                .enumerate()
                .filter(|(_, page)| page.used < self.frame)
                .min_by_key(|(_, page)| page.used)
            else {
                break;
            };
            let page = self.pages.swap_remove(index);
            self.held -= page.span.messages.len();
        }
    }

    /// How many messages the cache holds.
    pub fn held(&self) -> usize {
        self.held
    }

    /// The index of the page of `name` that covers `seq`, marked as used by this frame.
    fn covering(&mut self, name: &str, seq: u64) -> Option<usize> {
        let frame = self.frame;
        let index = self
            .pages
            .iter()
            .position(|page| page.name == name && page.span.lo <= seq && seq < page.span.hi)?;
        if let Some(page) = self.pages.get_mut(index) {
            page.used = frame;
        }
        Some(index)
    }
}

/// Where a message number is found by a frame.
#[derive(Debug, Clone, Copy)]
enum Found {
    /// In this span of the memory slice.
    Memory(usize),
    /// In this page of the cache.
    Page(usize),
    /// Nowhere, and that is all there is: nothing older than memory is kept here.
    NotKept,
    /// Nowhere yet: the frame misses it.
    Missing,
}

/// What one frame reads history from: the view's end, the messages in memory it was given and
/// the session's pages. Records what it misses.
pub struct Backlog<'a> {
    /// Nothing numbered from here on is shown (the view's `next_seq`).
    end: u64,
    /// The messages copied out of memory for this frame, if any were.
    memory: Option<&'a MemorySlice>,
    pages: &'a mut Pages,
    /// Reads that missed so far.
    misses: usize,
    /// Reads of memory that the slice did not hold.
    memory_missed: Vec<(Around, usize)>,
    /// The first page of the store that was missing.
    page_missed: Option<PageRequest>,
}

impl<'a> Backlog<'a> {
    /// A frame's backlog: nothing from `end` on is shown.
    pub fn new(end: u64, memory: Option<&'a MemorySlice>, pages: &'a mut Pages) -> Backlog<'a> {
        pages.frame += 1;
        Backlog {
            end,
            memory,
            pages,
            misses: 0,
            memory_missed: Vec::new(),
            page_missed: None,
        }
    }

    /// How many reads missed so far; a renderer compares it before and after its reads.
    pub fn misses(&self) -> usize {
        self.misses
    }

    /// The reads of memory that missed: copy these out of the world too and render again.
    pub fn memory_missed(&self) -> &[(Around, usize)] {
        &self.memory_missed
    }

    /// The page of the store that the frame missed first, if any.
    pub fn take_page_missed(&mut self) -> Option<PageRequest> {
        self.page_missed.take()
    }

    /// Up to `count` messages, oldest first: the newest before `Around::Before`'s number, or
    /// the oldest from `Around::From`'s, never one numbered from the view's end on (what
    /// `World::messages` answered before). A read that reaches history nobody gave this frame
    /// returns what it found up to there, and is recorded as missing.
    pub fn read(&mut self, around: Around, count: usize) -> Vec<Arc<Message>> {
        match around {
            Around::Before(seq) => self.before(seq, count),
            Around::From(seq) => self.from(seq, count),
        }
    }

    fn before(&mut self, seq: u64, count: usize) -> Vec<Arc<Message>> {
        let mut found: Vec<Arc<Message>> = Vec::new();
        let mut cursor = seq.min(self.end);
        while found.len() < count && cursor > 0 {
            let wanted = cursor - 1;
            let span = match self.locate(wanted) {
                Found::Missing => {
                    self.miss(Around::Before(cursor), count - found.len(), wanted);
                    break;
                }
                Found::NotKept => break,
                found_at => self.span_at(found_at),
            };
            let before = found.len();
            found.extend(
                span.messages
                    .iter()
                    .rev()
                    .filter(|m| m.seq < cursor)
                    .take(count - before)
                    .cloned(),
            );
            if found.len() == count {
                break;
            }
            cursor = span.lo;
        }
        found.reverse();
        found
    }

    fn from(&mut self, seq: u64, count: usize) -> Vec<Arc<Message>> {
        let mut found: Vec<Arc<Message>> = Vec::new();
        let mut cursor = seq;
        while found.len() < count && cursor < self.end {
            let span = match self.locate(cursor) {
                Found::Missing => {
                    self.miss(Around::From(cursor), count - found.len(), cursor);
                    break;
                }
                Found::NotKept => {
                    // Nothing is kept before memory here: go on where memory starts.
                    match self.memory {
                        Some(memory) if memory.oldest > cursor => cursor = memory.oldest,
                        _ => break,
                    }
                    continue;
                }
                found_at => self.span_at(found_at),
            };
            let end = self.end;
            let before = found.len();
            found.extend(
                span.messages
                    .iter()
                    .filter(|m| m.seq >= cursor && m.seq < end)
                    .take(count - before)
                    .cloned(),
            );
            if span.hi <= cursor {
                break;
            }
            cursor = span.hi;
        }
        found
    }

    /// Where message number `seq` is found in this frame's history.
    fn locate(&mut self, seq: u64) -> Found {
        let Some(memory) = self.memory else {
            return Found::Missing;
        };
        if seq >= memory.oldest {
            return memory
                .spans
                .iter()
                .position(|span| span.lo <= seq && seq < span.hi)
                .map_or(Found::Missing, Found::Memory);
        }
        let Some(name) = &memory.stored else {
            return Found::NotKept;
        };
        self.pages
            .covering(name, seq)
            .map_or(Found::Missing, Found::Page)
    }

    /// The span [`Backlog::locate`] found.
    fn span_at(&self, found: Found) -> &Span {
        static EMPTY: Span = Span {
            lo: 0,
            hi: 0,
            messages: Vec::new(),
        };
        let span = match found {
            Found::Memory(index) => self.memory.and_then(|m| m.spans.get(index)),
            Found::Page(index) => self.pages.pages.get(index).map(|page| &page.span),
            Found::NotKept | Found::Missing => None,
        };
        span.unwrap_or(&EMPTY)
    }

    /// Records a missing read of `count` messages `around`, at message number `seq`.
    fn miss(&mut self, around: Around, count: usize, seq: u64) {
        self.misses += 1;
        match self.memory {
            Some(memory) if seq < memory.oldest => {
                if self.page_missed.is_none()
                    && let Some(name) = &memory.stored
                {
                    let around = match around {
                        Around::Before(seq) => Around::Before(seq.min(memory.oldest)),
                        from => from,
                    };
                    self.page_missed = Some(PageRequest {
                        name: name.clone(),
                        around,
                        count: count.max(PAGE_MIN),
                        below: memory.oldest,
                    });
                }
            }
            _ => self.memory_missed.push((around, count)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::Origin;

    fn message(seq: u64) -> Arc<Message> {
        Arc::new(Message {
            seq,
            unix_micros: 0,
            author: "bob".into(),
            text: format!("m{seq}").into(),
            origin: Origin::Internal,
            kind: Default::default(),
            ticket: 0,
            lines: Default::default(),
            mention_index: Default::default(),
            local_day: None,
        })
    }

    fn span(lo: u64, hi: u64) -> Span {
        Span {
            lo,
            hi,
            messages: (lo..hi).map(message).collect(),
        }
    }

    fn seqs(messages: &[Arc<Message>]) -> Vec<u64> {
        messages.iter().map(|m| m.seq).collect()
    }

    /// Channel `g` with messages 0..100 stored and 80..100 in memory, the newest 90..100 and
    /// the ones around 80 copied out for a frame.
    fn memory() -> MemorySlice {
        MemorySlice {
            spans: vec![span(80, 85), span(90, 100)],
            oldest: 80,
            stored: Some("g".into()),
        }
    }

    #[test]
    fn reads_within_what_memory_gave_are_answered_without_misses() {
        let memory = memory();
        let mut pages = Pages::new();
        let mut backlog = Backlog::new(100, Some(&memory), &mut pages);
        assert_eq!(seqs(&backlog.read(Around::Before(100), 3)), [97, 98, 99]);
        assert_eq!(seqs(&backlog.read(Around::From(81), 3)), [81, 82, 83]);
        // Nothing from the view's end on, even when asked for more.
        assert_eq!(seqs(&backlog.read(Around::From(98), 5)), [98, 99]);
        assert_eq!(seqs(&backlog.read(Around::Before(u64::MAX), 1)), [99]);
        assert_eq!(backlog.misses(), 0);
        assert!(backlog.take_page_missed().is_none());
    }

    #[test]
    fn a_read_across_a_gap_in_memory_returns_what_follows_and_asks_for_the_rest() {
        let memory = memory();
        let mut pages = Pages::new();
        let mut backlog = Backlog::new(100, Some(&memory), &mut pages);
        // 85..90 was not copied out: the read stops there and names it.
        assert_eq!(seqs(&backlog.read(Around::Before(92), 5)), [90, 91]);
        assert_eq!(backlog.misses(), 1);
        assert_eq!(backlog.memory_missed(), [(Around::Before(90), 3)]);
        assert!(
            backlog.take_page_missed().is_none(),
            "memory, not the store"
        );
    }

    #[test]
    fn a_read_past_memory_asks_for_a_page_and_is_answered_once_it_is_cached() {
        let memory = memory();
        let mut pages = Pages::new();
        let mut backlog = Backlog::new(100, Some(&memory), &mut pages);
        assert_eq!(seqs(&backlog.read(Around::Before(83), 5)), [80, 81, 82]);
        let request = backlog.take_page_missed().expect("a page");
        assert_eq!(
            request,
            PageRequest {
                name: "g".into(),
                around: Around::Before(80),
                count: PAGE_MIN,
                below: 80,
            }
        );
        // The store has 0..80: fewer than asked for, so the page covers everything below 80.
        let page = request.span_of((0..80).map(message).collect(), request.count);
        assert_eq!((page.lo, page.hi), (0, 80));
        pages.insert("g".into(), page);
        let mut backlog = Backlog::new(100, Some(&memory), &mut pages);
        assert_eq!(
            seqs(&backlog.read(Around::Before(83), 5)),
            [78, 79, 80, 81, 82]
        );
        assert_eq!(seqs(&backlog.read(Around::From(78), 4)), [78, 79, 80, 81]);
        // The first stored message ends a read back.
        assert_eq!(seqs(&backlog.read(Around::Before(2), 5)), [0, 1]);
        assert_eq!(backlog.misses(), 0);
    }

    #[test]
    fn a_full_page_covers_only_what_it_holds() {
        let request = PageRequest {
            name: "g".into(),
            around: Around::Before(80),
            count: 10,
            below: 80,
        };
        let page = request.span_of((70..80).map(message).collect(), 10);
        assert_eq!((page.lo, page.hi), (70, 80));
        let request = PageRequest {
            around: Around::From(10),
            ..request
        };
        let page = request.span_of((10..20).map(message).collect(), 10);
        assert_eq!((page.lo, page.hi), (10, 20));
        // Short: everything up to memory was read.
        let page = request.span_of((10..15).map(message).collect(), 10);
        assert_eq!((page.lo, page.hi), (10, 80));
        // A failed read leaves the asked range empty rather than asking again at once.
        let empty = request.empty_span();
        assert_eq!((empty.lo, empty.hi, empty.messages.len()), (10, 80, 0));
    }

    #[test]
    fn a_window_without_stored_history_ends_where_memory_starts() {
        let memory = MemorySlice {
            spans: vec![span(5, 10)],
            oldest: 5,
            stored: None,
        };
        let mut pages = Pages::new();
        let mut backlog = Backlog::new(10, Some(&memory), &mut pages);
        assert_eq!(seqs(&backlog.read(Around::Before(7), 5)), [5, 6]);
        assert_eq!(seqs(&backlog.read(Around::From(0), 2)), [5, 6]);
        assert_eq!(backlog.misses(), 0);
    }

    #[test]
    fn a_frame_given_no_memory_misses_every_read() {
        let mut pages = Pages::new();
        let mut backlog = Backlog::new(10, None, &mut pages);
        assert!(backlog.read(Around::Before(10), 3).is_empty());
        assert_eq!(backlog.memory_missed(), [(Around::Before(10), 3)]);
    }

    #[test]
    fn the_cache_drops_the_least_recently_used_pages_but_never_the_current_frames() {
        let mut pages = Pages::new();
        let chunk = CACHE_MESSAGES / 4;
        let at = |i: usize| u64::try_from(i * chunk).expect("small");
        for i in 0..4 {
            let _ = Backlog::new(0, None, &mut pages);
            pages.insert("g".into(), span(at(i), at(i + 1)));
        }
        assert_eq!(pages.held(), CACHE_MESSAGES);
        // A frame uses the oldest page; the next insert drops the least recently used other.
        let memory = MemorySlice {
            spans: Vec::new(),
            oldest: at(8),
            stored: Some("g".into()),
        };
        let mut backlog = Backlog::new(at(8), Some(&memory), &mut pages);
        assert_eq!(backlog.read(Around::From(0), 1).len(), 1);
        drop(backlog);
        pages.insert("g".into(), span(at(4), at(5)));
        assert_eq!(pages.held(), CACHE_MESSAGES);
        assert!(pages.covering("g", 0).is_some(), "used recently");
        assert!(
            pages.covering("g", at(1)).is_none(),
            "the least recently used"
        );
        // Pages the current frame used stay even past the bound, so one frame's needs fit.
        let mut backlog = Backlog::new(at(8), Some(&memory), &mut pages);
        for i in [0, 2, 3, 4] {
            assert_eq!(backlog.read(Around::From(at(i)), 1).len(), 1);
        }
        drop(backlog);
        pages.insert("g".into(), span(at(5), at(6)));
        assert_eq!(pages.held(), CACHE_MESSAGES + chunk);
        // Other channels' pages are kept apart.
        assert!(pages.covering("h", 0).is_none());
    }
}
