//! What the wizard learned about a client, saved per listener and address in r0c's one-line
//! config format, so a returning client only confirms its settings.

use crate::session::settings::ClientSettings;
use crate::term::charset::Charset;
use crate::world::Prefs;

/// A client's saved settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedClient {
    /// The nick the client had; it gets it back if nobody else holds it now.
    pub nick: String,
    /// The wizard's findings.
    pub settings: ClientSettings,
    /// The user's toggles (`/b1`, `/cy`, ...).
    pub prefs: Prefs,
}

impl SavedClient {
    /// r0c's 13 fields: `<time*8 hex> <nick> <slowmo> <linemode> <vt100> <echo> <enter hex>
    /// <charset> <bell> <atall> <hilog> <colored nicks> <margins>`.
    pub fn to_line(&self, unix_micros: i64) -> String {
        let flag = |b: bool| if b { "1" } else { "0" };
        let enter: String = self
            .settings
            .enter
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!(
            "{:x} {} {} {} {} {} {} {} {} {} {} {} {}",
            unix_micros.max(0) / 125_000,
            self.nick,
            u8::from(self.settings.slowmo),
            flag(self.settings.linemode),
            flag(self.settings.vt100),
            flag(self.settings.echo),
            enter,
            self.settings.charset.name(),
            self.prefs.bell,
            flag(self.prefs.at_all),
            flag(self.prefs.hilight_log),
            flag(self.prefs.colored_nicks),
            flag(self.prefs.margins),
        ) + &crate::world::extra_prefs_to_text(&self.prefs)
    }

    /// Reads a line written by [`SavedClient::to_line`] (or by r0c); `None` if it is malformed.
    pub fn parse(line: &str) -> Option<SavedClient> {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [
            _,
            nick,
            slowmo,
            linemode,
            vt100,
            echo,
            enter,
            charset,
            bell,
            at_all,
            hilog,
            cnicks,
            margins,
            extra @ ..,
        ] = fields.as_slice()
        else {
            return None;
        };
        let (hide_joins, zone) = crate::world::extra_prefs_from(extra)?;
        let flag = |text: &str| match text {
            "0" => Some(false),
            "1" => Some(true),
            _ => None,
        };
        let enter_bytes = (0..enter.len())
            .step_by(2)
            .map(|i| {
                enter
                    .get(i..i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            })
            .collect::<Option<Vec<u8>>>()?;
        let enter = String::from_utf8(enter_bytes).ok()?;
        if enter.is_empty() || !enter.chars().all(|c| matches!(c, '\r' | '\n' | '\0')) {
            return None;
        }
        let bell: u8 = bell.parse().ok().filter(|b| *b <= 3)?;
        Some(SavedClient {
            nick: crate::text::sanitize_plain(nick),
            settings: ClientSettings {
                vt100: flag(vt100)?,
                linemode: flag(linemode)?,
                echo: flag(echo)?,
                enter,
                charset: Charset::from_name(charset)?,
                slowmo: slowmo.parse::<u8>().ok()? > 0,
                join: None,
                nick: None,
                prefs: None,
                avoid_nick: None,
            },
            prefs: Prefs {
                bell,
                at_all: flag(at_all)?,
                hilight_log: flag(hilog)?,
                colored_nicks: flag(cnicks)?,
                margins: flag(margins)?,
                hide_joins,
                zone,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r0c_lines_round_trip() {
        let line = "35824462b kywmyv 0 0 1 0 0d00 utf-8 1 1 1 0 1";
        let saved = SavedClient::parse(line).expect("r0c's example line");
        assert_eq!(saved.nick, "kywmyv");
        assert_eq!(saved.settings.enter, "\r\0");
        assert!(saved.settings.vt100 && !saved.settings.linemode && !saved.settings.echo);
        assert_eq!(saved.prefs.bell, 1);
        assert!(saved.prefs.margins && !saved.prefs.colored_nicks);
        let again =
            SavedClient::parse(&saved.to_line(1_795_545_672_000_000)).expect("our own line");
        assert_eq!(again, saved);
    }

    #[test]
    fn malformed_lines_are_refused() {
        for line in [
            "",
            "35824462b kywmyv 0 0 1 0 0d00 utf-8 1 1 1 0",
            "35824462b kywmyv 0 0 1 0 0d00 klingon 1 1 1 0 1",
            "35824462b kywmyv 0 0 1 0 41 utf-8 1 1 1 0 1",
            "35824462b kywmyv 0 0 2 0 0a utf-8 1 1 1 0 1",
            "35824462b kywmyv 0 0 1 0 0a utf-8 9 1 1 0 1",
        ] {
            assert_eq!(SavedClient::parse(line), None, "{line:?}");
        }
    }
}
