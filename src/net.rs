//! Why a request got no answer, told apart so a message can say where and
//! what to do: the host's name does not resolve, nothing listens there, the
//! TLS handshake failed, the host did not answer in time, the network is
//! unreachable, or an open connection broke. reqwest reports all of these as
//! one "error sending request"; the cause chain says which.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::hint::{Hint, Setting};
use crate::text::{Causes, cause_chain};

/// What kept a request from getting an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NetFault {
    /// The host's name does not resolve (a typo, or no DNS).
    NameNotResolved,
    /// Nothing listens at that host and port.
    Refused,
    /// The TLS handshake failed (plain HTTP spoken to a TLS port or the
    /// reverse, or a certificate not trusted).
    Tls,
    /// The host did not answer in time.
    TimedOut,
    /// No route to the host: the network is down or a firewall drops it.
    Unreachable,
    /// An open connection was reset or closed mid-answer.
    Broken,
}

impl NetFault {
    /// Reads the cause chain of a failed request.
    pub(crate) fn of(error: &reqwest::Error) -> NetFault {
        if error.is_timeout() {
            return NetFault::TimedOut;
        }
        let mut cause: Option<&(dyn StdError + 'static)> = Some(error);
        while let Some(current) = cause {
            if let Some(fault) = NetFault::named_by(current) {
                return fault;
            }
            // An `io::Error`'s `source` skips the error it wraps (where TLS
            // failures hide): go through it instead.
            cause = match current
                .downcast_ref::<io::Error>()
                .and_then(io::Error::get_ref)
            {
                Some(inner) => Some(inner),
                None => current.source(),
            };
        }
        NetFault::Broken
    }

    /// The fault one link of a cause chain names, if it names one.
    fn named_by(error: &(dyn StdError + 'static)) -> Option<NetFault> {
        if error.is::<Unresolvable>() || error.to_string() == "dns error" {
            return Some(NetFault::NameNotResolved);
        }
        if error.is::<rustls::Error>() {
            return Some(NetFault::Tls);
        }
        match error.downcast_ref::<io::Error>()?.kind() {
            io::ErrorKind::ConnectionRefused => Some(NetFault::Refused),
            io::ErrorKind::TimedOut => Some(NetFault::TimedOut),
            io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
                Some(NetFault::Unreachable)
            }
            _ => None,
        }
    }

    /// What happened, in a few words.
    pub fn words(self) -> &'static str {
        match self {
            NetFault::NameNotResolved => "its name does not resolve",
            NetFault::Refused => "the connection was refused",
            NetFault::Tls => "the TLS handshake failed",
            NetFault::TimedOut => "it did not answer in time",
            NetFault::Unreachable => "the network cannot reach it",
            NetFault::Broken => "the connection broke",
        }
    }

    /// What to do about it, for the API host.
    pub fn advice(self) -> String {
        let base = Setting::ApiBase;
        match self {
            NetFault::NameNotResolved => format!(
                "check {base} or TRIPO_API_BASE for a typo; if it is right, check the network's DNS or the proxy settings"
            ),
            NetFault::Refused => format!(
                "nothing listens there; check the host and port in {base} or TRIPO_API_BASE; if they are right, the service is down"
            ),
            NetFault::Tls => format!(
                "check that {base} or TRIPO_API_BASE starts with https:// only for a TLS server; a proxy that intercepts TLS needs its certificate trusted"
            ),
            NetFault::TimedOut | NetFault::Unreachable => {
                "check the network connection and the proxy settings (HTTPS_PROXY); if they are fine, the service is down: try again later".to_owned()
            }
            NetFault::Broken => Hint::TryLater.to_string(),
        }
    }
}

/// A failed request's fault in words, and for TLS and broken connections the
/// innermost cause too, which names the certificate or protocol problem.
/// Callers pass the error without its URL: a link carries its signature.
pub(crate) fn describe(error: &reqwest::Error, fault: NetFault) -> String {
    match fault {
        NetFault::Tls | NetFault::Broken => format!(
            "{} ({})",
            fault.words(),
            cause_chain(error, Causes::Innermost)
        ),
        _ => fault.words().to_owned(),
    }
}

/// `host` or `host:port` (when the URL names a port), without user info.
pub(crate) fn host_of(url: &Url) -> String {
    let host = url.host_str().unwrap_or("?");
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// The name resolver of the default HTTP client: the system's (as reqwest's
/// own), except that names under `.invalid` fail at once, as RFC 6761 asks
/// of resolvers, without asking a DNS server that may be slow or absent.
/// Its failures carry [`Unresolvable`], so they are told apart by type.
#[derive(Debug, Default)]
pub(crate) struct SystemResolver;

/// A name that did not resolve.
#[derive(Debug)]
struct Unresolvable {
    name: String,
    cause: Option<io::Error>,
}

impl fmt::Display for Unresolvable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.cause {
            Some(cause) => write!(f, "{} does not resolve: {cause}", self.name),
            None => write!(f, "{} is a reserved name that never resolves", self.name),
        }
    }
}

impl StdError for Unresolvable {}

impl Resolve for SystemResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let name = name.as_str().trim_end_matches('.').to_ascii_lowercase();
        Box::pin(async move {
            let unresolvable = |cause| -> Box<dyn StdError + Send + Sync> {
                Box::new(Unresolvable {
                    name: name.clone(),
                    cause,
                })
            };
            if name == "invalid" || name.ends_with(".invalid") {
                return Err(unresolvable(None));
            }
            let found: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await
                .map_err(|e| unresolvable(Some(e)))?
                .collect();
            if found.is_empty() {
                return Err(unresolvable(None));
            }
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

impl SystemResolver {
    pub(crate) fn shared() -> Arc<SystemResolver> {
        Arc::new(SystemResolver)
    }
}
