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
