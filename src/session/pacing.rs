//! Output pacing for slow links (modems): send no faster than the link carries, and let the
//! echo of typing overtake a frame that is still on its way.
//!
//! Sans-IO: the connection loop owns the pending output bytes and asks [`LinkPacer`] how much
//! of them may be written now, tells it what was written, and hands it the echo of a keystroke.
//!
//! Why: at 1200 bps a pushed chat line takes most of a second. Writing frames as fast as the
//! socket takes them parks seconds of output in kernel and modem buffers, and what the user
//! types waits behind all of it. Paced, the server holds at most the frame in progress, renders
//! the next one only when the link is free (so it shows the newest state), and an echo goes out
//! between two bytes of the frame: wrapped in DECSC/DECRC (`ESC 7` … `ESC 8`), which save and
//! restore the cursor and attributes, so the frame goes on where it was interrupted; once the
//! frame is out, the input line is repainted, in case the frame drew it as it was before.

use std::time::{Duration, Instant};

use crate::term::charset::Charset;

/// At most this much link time is sent in one write, so an echo waits for little.
const SLICE: Duration = Duration::from_millis(100);

/// Save cursor and attributes (DECSC).
const SAVE_CURSOR: &[u8] = b"\x1b7";
/// Restore cursor and attributes (DECRC).
const RESTORE_CURSOR: &[u8] = b"\x1b8";

/// Paces one client's output to its link speed.
#[derive(Debug)]
pub struct LinkPacer {
    bytes_per_second: f64,
    /// Bytes that may be written now.
    allowance: f64,
    refilled: Instant,
    /// Bytes at the front of the pending output that overtook a frame (echoes); they go first.
    urgent: usize,
    /// An echo overtook a frame, so what the frame drew on the input line, and where it left
    /// the cursor, may be stale.
    cursor_stale: bool,
    charset: Charset,
    telnet: bool,
}

impl LinkPacer {
    /// A pacer for a link of `bps` bits per second (10 bits a byte, as 8N1), for output in
    /// `charset` (telnet output has its 0xFF bytes doubled).
    pub fn new(bps: u32, charset: Charset, telnet: bool, now: Instant) -> LinkPacer {
        LinkPacer {
            bytes_per_second: f64::from(bps.max(10)) / 10.0,
            allowance: 0.0,
            refilled: now,
            urgent: 0,
            cursor_stale: false,
            charset,
            telnet,
        }
    }

    /// How many bytes of `pending` to write now; 0 with the moment to ask again.
    pub fn write_len(&mut self, pending: &[u8], now: Instant) -> (usize, Option<Instant>) {
        if pending.is_empty() {
            return (0, None);
        }
        let burst = (self.bytes_per_second * SLICE.as_secs_f64()).max(1.0);
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.allowance = (self.allowance + elapsed * self.bytes_per_second).min(burst);
        self.refilled = now;
        // The small addition keeps rounding from leaving a byte short at the retry moment.
        let budget = (self.allowance + 1e-6).floor() as usize;
        let next = safe_cut(pending, usize::MAX, self.charset, self.telnet).max(1);
        let cut = if budget >= pending.len() {
            pending.len()
        } else {
            match safe_cut(pending, budget, self.charset, self.telnet) {
                // A sequence longer than a whole slice goes out once a slice is saved up; the
                // debt is paid off before the next write.
                0 if self.allowance >= burst => next,
                cut => cut,
            }
        };
        if cut > 0 {
            return (cut, None);
        }
        // Not even the next whole sequence fits yet: wait until it does (or a full slice).
        let needed = (next as f64).min(burst) - self.allowance;
        let wait = Duration::from_secs_f64((needed.max(1.0)) / self.bytes_per_second);
        (0, Some(now + wait))
    }

    /// `written` bytes from the front of the pending output went out.
    pub fn wrote(&mut self, written: usize) {
        self.allowance -= written as f64;
        self.urgent = self.urgent.saturating_sub(written);
    }

    /// Queues the echo of a keystroke. With nothing else pending it is simply appended; while a
    /// frame is on its way the echo goes ahead of the frame's unsent rest, wrapped so that the
    /// frame resumes where it was cut off. `cursor` is where the echo was rendered to start
    /// (the input line's cursor before the keystroke), if known.
    pub fn queue_echo(
        &mut self,
        pending: &mut Vec<u8>,
        echo: &[u8],
        cursor: Option<(usize, usize)>,
    ) {
        if echo.is_empty() {
            return;
        }
        if pending.len() <= self.urgent {
            pending.extend_from_slice(echo);
            self.urgent = pending.len();
            return;
        }
        let mut wrapped = Vec::with_capacity(echo.len() + 16);
        wrapped.extend_from_slice(SAVE_CURSOR);
        if let Some((row, col)) = cursor {
            wrapped.extend_from_slice(format!("\x1b[{row};{col}H").as_bytes());
        }
        wrapped.extend_from_slice(echo);
        wrapped.extend_from_slice(RESTORE_CURSOR);
        let at = self.urgent;
        pending.splice(at..at, wrapped.iter().copied());
        self.urgent += wrapped.len();
        self.cursor_stale = true;
    }

    /// Called when the pending output has all been written. Says whether an echo overtook a
    /// frame since the last time: then that frame may have drawn the input line as it was
    /// before the echo and left the cursor where it was, so the caller repaints the input line.
    pub fn drained(&mut self) -> bool {
        self.urgent = 0;
        std::mem::take(&mut self.cursor_stale)
    }
}

/// The largest `n <= limit` such that `bytes[..n]` does not end inside an escape sequence, a
/// multi-byte character or a doubled telnet IAC; `bytes` starts at such a boundary. With
/// `limit` past the end: the end of the first whole unit.
fn safe_cut(bytes: &[u8], limit: usize, charset: Charset, telnet: bool) -> usize {
    let mut at = 0;
    let mut last_safe = 0;
    while at < bytes.len() {
        let unit = unit_len(&bytes[at..], charset, telnet);
        if at + unit > limit {
            break;
        }
        at += unit;
        last_safe = at;
        if limit == usize::MAX {
            break;
        }
    }
    last_safe
}

/// The length of the indivisible unit at the start of `bytes`: an escape sequence, one
/// character in the charset, or a doubled IAC.
fn unit_len(bytes: &[u8], charset: Charset, telnet: bool) -> usize {
    let Some(&first) = bytes.first() else {
        return 0;
    };
    if first == 0x1b {
        return escape_len(bytes);
    }
    if telnet && first == 0xff {
        return telnet_command_len(bytes);
    }
    let len = match charset {
        Charset::Utf8 => match first {
            0xc0..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf7 => 4,
            _ => 1,
        },
        Charset::ShiftJis => match first {
            0x81..=0x9f | 0xe0..=0xfc => 2,
            _ => 1,
        },
        _ => 1,
    };
    len.min(bytes.len())
}

/// The length of the telnet command at the start of `bytes` (which starts with IAC): a
/// doubled IAC, a negotiation (IAC WILL/WONT/DO/DONT option), a whole subnegotiation up to
/// IAC SE, or IAC and one command byte.
fn telnet_command_len(bytes: &[u8]) -> usize {
    let len = match bytes.get(1) {
        Some(251..=254) => 3,
        Some(250) => bytes
            .windows(2)
            .skip(2)
            .position(|w| w == [0xff, 0xf0])
            .map_or(bytes.len(), |at| at + 4),
        Some(_) => 2,
        None => 1,
    };
    len.min(bytes.len())
}

/// The length of the escape sequence at the start of `bytes` (which starts with ESC): CSI up
/// to its final byte, or ESC and one more byte.
fn escape_len(bytes: &[u8]) -> usize {
    match bytes.get(1) {
        Some(b'[') => bytes[2..]
            .iter()
            .position(|b| (0x40..=0x7e).contains(b))
            .map_or(bytes.len(), |end| end + 3),
        Some(_) => 2,
        None => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_never_split_escape_sequences_characters_or_iac_pairs() {
        let text = "ab\x1b[12;34Hé日\x1b7x".as_bytes();
        let cuts: Vec<usize> = (0..=text.len())
            .map(|limit| safe_cut(text, limit, Charset::Utf8, false))
            .collect();
        // a, b, then the 8-byte CSI, then é (2), 日 (3), ESC 7 (2), x.
        assert_eq!(
            cuts,
            vec![
                0, 1, 2, 2, 2, 2, 2, 2, 2, 2, 10, 10, 12, 12, 12, 15, 15, 17, 18
            ]
        );
        assert_eq!(safe_cut(b"\x82\xa0A", 1, Charset::ShiftJis, false), 0);
        assert_eq!(safe_cut(b"\x82\xa0A", 2, Charset::ShiftJis, false), 2);
        assert_eq!(safe_cut(b"\xff\xffA", 1, Charset::Latin1, true), 0);
        assert_eq!(safe_cut(b"\xff\xffA", 1, Charset::Latin1, false), 1);
        assert_eq!(safe_cut(b"\x1b[2;21r", usize::MAX, Charset::Utf8, false), 7);
        // IAC DO NAWS and a subnegotiation are whole units on the telnet port.
        assert_eq!(safe_cut(b"\xff\xfd\x1fA", 2, Charset::Utf8, true), 0);
        assert_eq!(safe_cut(b"\xff\xfd\x1fA", 3, Charset::Utf8, true), 3);
        let sb = b"\xff\xfa\x18\x01\xff\xf0A";
        assert_eq!(safe_cut(sb, 5, Charset::Utf8, true), 0);
        assert_eq!(safe_cut(sb, 6, Charset::Utf8, true), 6);
    }

    #[test]
    fn writes_no_faster_than_the_link() {
        let start = Instant::now();
        // 1200 bps: 120 bytes a second, 12 per 100 ms slice.
        let mut pacer = LinkPacer::new(1200, Charset::Utf8, false, start);
        let pending = vec![b'x'; 1000];
        assert_eq!(pacer.write_len(&pending, start).0, 0);
        let mut written = 0;
        let mut now = start;
        while now < start + Duration::from_secs(5) {
            now += Duration::from_millis(10);
            let (n, _) = pacer.write_len(&pending[written..], now);
            pacer.wrote(n);
            written += n;
        }
        assert!((590..=610).contains(&written), "{written} bytes in 5 s");
    }

    #[test]
    fn a_sequence_longer_than_the_allowance_waits_for_it() {
        let start = Instant::now();
        let mut pacer = LinkPacer::new(1200, Charset::Utf8, false, start);
        let pending = b"\x1b[2;21r\x1b[21H".to_vec();
        let (n, retry) = pacer.write_len(&pending, start + Duration::from_millis(20));
        assert_eq!(n, 0);
        let retry = retry.expect("a time to try again");
        let (n, _) = pacer.write_len(&pending, retry);
        assert_eq!(n, 7, "the whole scroll-region sequence, not part of it");
    }

    #[test]
    fn a_sequence_longer_than_a_slice_still_goes_out() {
        let start = Instant::now();
        let mut pacer = LinkPacer::new(1200, Charset::Utf8, false, start);
        let pending = b"\x1b[0;37;44;48;5;235mstatus".to_vec();
        let mut now = start;
        let mut sent = 0;
        while sent == 0 && now < start + Duration::from_secs(2) {
            let (n, retry) = pacer.write_len(&pending, now);
            now = retry.unwrap_or(now + Duration::from_millis(10));
            sent = n;
        }
        assert_eq!(sent, 19, "the 19-byte SGR sequence in one piece");
        pacer.wrote(sent);
        // The debt is paid before anything else is written.
        assert_eq!(pacer.write_len(&pending[sent..], now).0, 0);
    }

    #[test]
    fn an_echo_overtakes_the_rest_of_a_frame_and_the_cursor_is_put_back() {
        let start = Instant::now();
        let mut pacer = LinkPacer::new(1200, Charset::Utf8, false, start);
        let mut pending = b"\x1b[2;21r\x1b[21H\n\n\x1b[Khello\x1b[r\x1b[24;9H".to_vec();
        // Part of the frame went out.
        pacer.wrote(14);
        pending.drain(..14);
        pacer.queue_echo(&mut pending, b"X", Some((24, 9)));
        assert!(pending.starts_with(b"\x1b7\x1b[24;9HX\x1b8\x1b[Khello"));
        // A second keystroke goes behind the first, still ahead of the frame.
        pacer.queue_echo(&mut pending, b"Y", Some((24, 10)));
        assert!(pending.starts_with(b"\x1b7\x1b[24;9HX\x1b8\x1b7\x1b[24;10HY\x1b8\x1b[K"));
        let all = pending.len();
        pacer.wrote(all);
        pending.clear();
        assert!(pacer.drained(), "the input line must be repainted");
        assert!(!pacer.drained());
        // With nothing in flight an echo is sent as it is.
        pacer.queue_echo(&mut pending, b"Z", Some((24, 11)));
        assert_eq!(pending, b"Z");
    }
}
