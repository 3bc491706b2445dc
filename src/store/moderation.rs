//! The store's moderation tables (schema version 5): bans and mutes, channel founders, modes
//! and roles, ignores, the lockdown setting and the audit log. Written through the writer
//! thread like every write ([`ModWrite`]), read once at startup ([`StoredModeration`]).

use rusqlite::{Connection, Transaction, params};

/// The highest user limit (`+l`): more than any one r0c server holds.
pub const MAX_USER_LIMIT: u32 = 100_000;

/// Schema version 5: moderation. `scope` is '' for the whole server, else a channel name;
/// `expires` NULL is permanent; roles with channel '' are server-wide (the lockdown allow
/// list); `mod_audit` keeps the newest [`AUDIT_KEPT`] rows.
pub(super) const SCHEMA_V5: &str = "
    CREATE TABLE mod_sanction (
        kind TEXT NOT NULL,
        scope TEXT NOT NULL,
        mask TEXT NOT NULL,
        reason TEXT NOT NULL,
        set_by TEXT NOT NULL,
        set_at INTEGER NOT NULL,
        expires INTEGER,
        PRIMARY KEY (kind, scope, mask)
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE mod_channel (
        name TEXT NOT NULL PRIMARY KEY,
        founder TEXT,
        modes TEXT NOT NULL,
        key TEXT
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE mod_role (
        channel TEXT NOT NULL,
        principal TEXT NOT NULL,
        role TEXT NOT NULL,
        PRIMARY KEY (channel, principal)
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE mod_ignore (
        owner TEXT NOT NULL,
        target TEXT NOT NULL,
        PRIMARY KEY (owner, target)
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE mod_setting (
        name TEXT NOT NULL PRIMARY KEY,
        value TEXT NOT NULL
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE mod_audit (
        id INTEGER PRIMARY KEY,
        unix_micros INTEGER NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        scope TEXT NOT NULL,
        reason TEXT NOT NULL
    ) STRICT;
    PRAGMA user_version = 5;
";

/// Audit rows kept in the table; older ones are deleted as new ones come.
pub const AUDIT_KEPT: i64 = 10_000;

/// Audit rows read back at startup (what `/modlog` can show).
pub const AUDIT_LOADED: usize = 500;

/// One ban or mute as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSanction {
    /// `ban` or `mute`.
    pub kind: String,
    /// '' for the server, else the channel name.
    pub scope: String,
    pub mask: String,
    pub reason: String,
    pub set_by: String,
    pub set_at: i64,
    pub expires: Option<i64>,
}

/// A channel's founder, modes and key as stored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoredChannelMod {
    pub name: String,
    /// The founder's principal (`account:NAME` or `key:SHA256:...`).
    pub founder: Option<String>,
    /// Mode letters (`imrst`).
    pub modes: String,
    pub key: Option<String>,
    /// The user limit (`+l`, schema version 10).
    pub limit: Option<u32>,
}

/// One role: `op` or `voice` in a channel, or `allow` (channel '') for the lockdown list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRole {
    pub channel: String,
    pub principal: String,
    pub role: String,
}

/// One moderation action, as `/modlog` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAudit {
    pub unix_micros: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    /// '' for the server, else `#channel`.
    pub scope: String,
    pub reason: String,
}

/// Everything moderation keeps, read at startup.
#[derive(Debug, Clone, Default)]
pub struct StoredModeration {
    pub sanctions: Vec<StoredSanction>,
    pub channels: Vec<StoredChannelMod>,
    pub roles: Vec<StoredRole>,
    /// (owner principal, ignored nick).
    pub ignores: Vec<(String, String)>,
    /// The lockdown mode, if one was set.
    pub lockdown: Option<String>,
    /// The newest [`AUDIT_LOADED`] audit rows, oldest first.
    pub audit: Vec<StoredAudit>,
}

/// One moderation write for the writer thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModWrite {
    PutSanction(StoredSanction),
    RemoveSanction {
        kind: String,
        scope: String,
        mask: String,
    },
    PutChannel(StoredChannelMod),
    PutRole(StoredRole),
    RemoveRole {
        channel: String,
        principal: String,
    },
    PutIgnore {
        owner: String,
        target: String,
    },
    RemoveIgnore {
        owner: String,
        target: String,
    },
    SetLockdown(String),
    Audit(StoredAudit),
}

/// Writes one op inside the writer's transaction.
pub(super) fn write(tx: &Transaction<'_>, op: &ModWrite) -> rusqlite::Result<()> {
    match op {
        ModWrite::PutSanction(s) => {
            tx.prepare_cached(
                "INSERT INTO mod_sanction (kind, scope, mask, reason, set_by, set_at, expires)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (kind, scope, mask) DO UPDATE
                 SET reason = excluded.reason, set_by = excluded.set_by,
                 set_at = excluded.set_at, expires = excluded.expires",
            )?
            .execute(params![
                s.kind, s.scope, s.mask, s.reason, s.set_by, s.set_at, s.expires
            ])?;
        }
        ModWrite::RemoveSanction { kind, scope, mask } => {
            tx.prepare_cached(
                "DELETE FROM mod_sanction WHERE kind = ?1 AND scope = ?2 AND mask = ?3",
            )?
            .execute(params![kind, scope, mask])?;
        }
        ModWrite::PutChannel(c) => {
            tx.prepare_cached(
                "INSERT INTO mod_channel (name, founder, modes, key, user_limit)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (name) DO UPDATE SET founder = excluded.founder,
                 modes = excluded.modes, key = excluded.key, user_limit = excluded.user_limit",
            )?
            .execute(params![c.name, c.founder, c.modes, c.key, c.limit])?;
        }
        ModWrite::PutRole(r) => {
            tx.prepare_cached(
                "INSERT INTO mod_role (channel, principal, role) VALUES (?1, ?2, ?3)
                 ON CONFLICT (channel, principal) DO UPDATE SET role = excluded.role",
            )?
            .execute(params![r.channel, r.principal, r.role])?;
        }
        ModWrite::RemoveRole { channel, principal } => {
            tx.prepare_cached("DELETE FROM mod_role WHERE channel = ?1 AND principal = ?2")?
                .execute(params![channel, principal])?;
        }
        ModWrite::PutIgnore { owner, target } => {
            tx.prepare_cached(
                "INSERT INTO mod_ignore (owner, target) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            )?
            .execute(params![owner, target])?;
        }
        ModWrite::RemoveIgnore { owner, target } => {
            tx.prepare_cached("DELETE FROM mod_ignore WHERE owner = ?1 AND target = ?2")?
                .execute(params![owner, target])?;
        }
        ModWrite::SetLockdown(mode) => {
            tx.prepare_cached(
                "INSERT INTO mod_setting (name, value) VALUES ('lockdown', ?1)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            )?
            .execute([mode])?;
        }
        ModWrite::Audit(a) => {
            tx.prepare_cached(
                "INSERT INTO mod_audit (unix_micros, actor, action, target, scope, reason)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                a.unix_micros,
                a.actor,
                a.action,
                a.target,
                a.scope,
                a.reason
            ])?;
            // The table keeps the newest rows only, so an operator who acts in a loop (or a
            // script) cannot grow it without bound.
            tx.prepare_cached(
                "DELETE FROM mod_audit WHERE id <= (SELECT max(id) FROM mod_audit) - ?1",
            )?
            .execute([AUDIT_KEPT])?;
        }
    }
    Ok(())
}

/// Reads every moderation table (the audit log's newest rows only).
pub(super) fn read_all(conn: &Connection) -> rusqlite::Result<StoredModeration> {
    let mut moderation = StoredModeration::default();
    let mut statement = conn
        .prepare("SELECT kind, scope, mask, reason, set_by, set_at, expires FROM mod_sanction")?;
    moderation.sanctions = statement
        .query_map([], |row| {
            Ok(StoredSanction {
                kind: row.get(0)?,
                scope: row.get(1)?,
                mask: row.get(2)?,
                reason: row.get(3)?,
                set_by: row.get(4)?,
                set_at: row.get(5)?,
                expires: row.get(6)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let mut statement =
        conn.prepare("SELECT name, founder, modes, key, user_limit FROM mod_channel")?;
    moderation.channels = statement
        .query_map([], |row| {
            Ok(StoredChannelMod {
                name: row.get(0)?,
                founder: row.get(1)?,
                modes: row.get(2)?,
                key: row.get(3)?,
                // A limit out of range (the file was edited) is no limit.
                limit: row
                    .get::<_, Option<i64>>(4)?
                    .and_then(|n| u32::try_from(n).ok())
                    .filter(|n| (1..=MAX_USER_LIMIT).contains(n)),
            })
        })?
        .collect::<Result<_, _>>()?;
    let mut statement = conn.prepare("SELECT channel, principal, role FROM mod_role")?;
    moderation.roles = statement
        .query_map([], |row| {
            Ok(StoredRole {
                channel: row.get(0)?,
                principal: row.get(1)?,
                role: row.get(2)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let mut statement = conn.prepare("SELECT owner, target FROM mod_ignore")?;
    moderation.ignores = statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    moderation.lockdown = conn
        .prepare("SELECT value FROM mod_setting WHERE name = 'lockdown'")?
        .query_map([], |row| row.get(0))?
        .next()
        .transpose()?;
    let mut statement = conn.prepare(
        "SELECT unix_micros, actor, action, target, scope, reason FROM mod_audit
         ORDER BY id DESC LIMIT ?1",
    )?;
    let limit = i64::try_from(AUDIT_LOADED).unwrap_or(i64::MAX);
    moderation.audit = statement
        .query_map([limit], |row| {
            Ok(StoredAudit {
                unix_micros: row.get(0)?,
                actor: row.get(1)?,
                action: row.get(2)?,
                target: row.get(3)?,
                scope: row.get(4)?,
                reason: row.get(5)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    moderation.audit.reverse();
    Ok(moderation)
}
