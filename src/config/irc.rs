//! The IRC bridge's spec on the command line: `--ircn` networks and `--ircb` channel links,
//! read as r0c reads them.

use super::ConfigError;
use crate::text::channel::normalize_channel_name;

/// One `--ircn`: an IRC network the bridge connects to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IrcNetwork {
    /// The name `--ircb` refers to it by, lower-cased.
    pub name: String,
    /// Host name or address of the IRC server.
    pub host: String,
    /// TCP port of the IRC server.
    pub port: u16,
    /// The port was given as `+port`: connect with TLS.
    pub tls: bool,
    /// The nick the bridge asks for (a digit is appended while it is taken).
    pub nick: String,
    /// The user name sent in USER (r0c used the nick; we use the 5th field when given).
    pub user: String,
    /// Sent as PASS before registering, when given.
    pub password: Option<String>,
}

/// One `--ircb`: an IRC channel of a network bridged to an r0c channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IrcLink {
    /// The `--ircn` name of the network.
    pub network: String,
    /// The IRC channel, lower-cased, with its `#`.
    pub irc_channel: String,
    /// The r0c channel, as [`normalize_channel_name`] gives it (no `#`).
    pub r0c_channel: String,
}

/// Reads `--ircn` and `--ircb` as r0c does: a network is
/// `netname,hostname,[+]port,nick[,username[,password]]`, split on `", "` if the value
/// contains it (so passwords may contain commas), else on `,`; a bridge is
/// `netname,channel,channel` naming a defined network, all lower-cased. A `#` before
/// either channel is allowed and dropped.
pub(super) fn parse_irc(
    nets: &[String],
    bridges: &[String],
) -> Result<(Vec<IrcNetwork>, Vec<IrcLink>), ConfigError> {
    let mut networks: Vec<IrcNetwork> = Vec::new();
    for net in nets {
        let separator = if net.contains(", ") { ", " } else { "," };
        let fields: Vec<&str> = net.split(separator).collect();
        let [name, host, port_text, nick, ref rest @ ..] = fields[..] else {
            return Err(ConfigError::IrcNet(net.clone()));
        };
        let port = port_text
            .strip_prefix('+')
            .unwrap_or(port_text)
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0);
        let name = name.to_lowercase();
        let bad_text = |t: &str| t.is_empty() || t.contains(char::is_whitespace);
        let (Some(port), false, false, false) =
            (port, bad_text(&name), bad_text(host), bad_text(nick))
        else {
            return Err(ConfigError::IrcNet(net.clone()));
        };
        if networks.iter().any(|n| n.name == name) {
            return Err(ConfigError::IrcNet(net.clone()));
        }
        let user = rest.first().filter(|u| !u.is_empty()).unwrap_or(&nick);
        let password = (rest.len() > 1)
            .then(|| rest[1..].join(separator))
            .filter(|p| !p.is_empty());
        networks.push(IrcNetwork {
            name,
            host: host.to_owned(),
            port,
            tls: port_text.starts_with('+'),
            nick: nick.to_owned(),
            user: user.to_string(),
            password,
        });
    }
    let mut links = Vec::new();
    for bridge in bridges {
        let lower = bridge.to_lowercase();
        let fields: Vec<&str> = lower.split(',').map(str::trim).collect();
        let [net, irc_channel, r0c_channel] = fields[..] else {
            return Err(ConfigError::IrcBridge(bridge.clone()));
        };
        let irc_channel = irc_channel.strip_prefix('#').unwrap_or(irc_channel);
        let irc_ok = !irc_channel.is_empty()
            && !irc_channel.contains(|c: char| c.is_whitespace() || c.is_control() || c == ',');
        let r0c_channel = normalize_channel_name(r0c_channel);
        let (true, Ok(r0c_channel)) = (irc_ok, r0c_channel) else {
            return Err(ConfigError::IrcBridge(bridge.clone()));
        };
        if !networks.iter().any(|n| n.name == net) {
            let net = net.to_owned();
            return Err(ConfigError::IrcUnknownNet {
                net,
                arg: bridge.clone(),
            });
        }
        let link = IrcLink {
            network: net.to_owned(),
            irc_channel: format!("#{irc_channel}"),
            r0c_channel,
        };
        if links.contains(&link) {
            return Err(ConfigError::IrcBridge(bridge.clone()));
        }
        links.push(link);
    }
    Ok((networks, links))
}
