//! `config.toml` in the repo: the node's settings.

use serde::Deserialize;

/// The addresses a node listens on when neither its config nor `--listen` names any.
pub const DEFAULT_LISTEN: [&str; 2] = ["/ip4/0.0.0.0/tcp/4001", "/ip6/::/tcp/4001"];

/// The address of the local HTTP API when the config names none (kubo's).
pub const DEFAULT_API: &str = "/ip4/127.0.0.1/tcp/5001";

/// The file written on first run: every setting, commented where the built-in default is best
/// left to follow new versions.
pub const DEFAULT_CONFIG_TOML: &str = r#"# rhizo node configuration.

# Multiaddrs `rhizo daemon` listens on (ip4 or ip6, then tcp; port 0 picks a free one).
# `rhizo daemon --listen MULTIADDR` overrides this list.
listen = ["/ip4/0.0.0.0/tcp/4001", "/ip6/::/tcp/4001"]

# Sent to peers in identify. Default: "rhizo/<version of this binary>".
# agent_version = "my-node/1.0"

# Sent to peers in identify. Default: "ipfs/0.1.0".
# protocol_version = "ipfs/0.1.0"

# Seconds ping and identify wait for an answer. Default: 20.
# request_timeout_secs = 20

# Where `rhizo daemon` serves its HTTP API (kubo's /api/v0 shape); `rhizo daemon --api`
# overrides it. It has no authentication: anyone who reaches it controls the node, so only
# loopback addresses are accepted unless api_allow_remote = true. Port 0 picks a free one.
# api = "/ip4/127.0.0.1/tcp/5001"
# api_allow_remote = false
"#;

/// The settings read from `config.toml`. A missing key takes its default; an unknown key is an
/// error (a misspelt setting should not be ignored silently).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Multiaddrs to listen on; `None`: [`DEFAULT_LISTEN`].
    pub listen: Option<Vec<String>>,
    /// The agent version sent in identify; `None`: the driver's default.
    pub agent_version: Option<String>,
    /// The protocol version sent in identify; `None`: the driver's default.
    pub protocol_version: Option<String>,
    /// How long ping and identify wait, in seconds; `None`: the driver's default.
    pub request_timeout_secs: Option<u64>,
    /// The HTTP API's multiaddr; `None`: [`DEFAULT_API`].
    pub api: Option<String>,
    /// Whether `api` may be a non-loopback address (the API has no authentication).
    pub api_allow_remote: Option<bool>,
}

impl Config {
    /// Parses the text of a `config.toml`.
    pub fn from_toml(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }

    /// The listen multiaddrs (text, not yet parsed).
    pub fn listen_addrs(&self) -> Vec<String> {
        match &self.listen {
            Some(list) => list.clone(),
            None => DEFAULT_LISTEN.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    /// The HTTP API's multiaddr (text, not yet parsed).
    pub fn api_addr(&self) -> &str {
        self.api.as_deref().unwrap_or(DEFAULT_API)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_file_parses_to_the_defaults() {
        let config = Config::from_toml(DEFAULT_CONFIG_TOML).unwrap();
        assert_eq!(config.listen_addrs(), DEFAULT_LISTEN);
        assert_eq!(config.agent_version, None);
        assert_eq!(config.api_addr(), DEFAULT_API);
        let config = Config::from_toml("api = \"/ip4/127.0.0.1/tcp/0\"").unwrap();
        assert_eq!(config.api_addr(), "/ip4/127.0.0.1/tcp/0");
        assert_eq!(Config::from_toml("").unwrap(), Config::default());
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_errors() {
        assert!(Config::from_toml("listn = []").is_err());
        assert!(Config::from_toml("listen = 4001").is_err());
        assert!(Config::from_toml("request_timeout_secs = -1").is_err());
    }
}
