//! `sslmode` as libpq reads it, for every database server.
//!
//! - `disable`: connect in the clear.
//! - `prefer`: try TLS; when the server does not offer it, or the TLS handshake fails, connect
//!   again in the clear. mysql_async has no such mode of its own (asked for TLS, it fails
//!   against a server without it), and tokio-postgres falls back only when the server declines
//!   TLS, not when the handshake fails; both therefore get the second attempt here.
//! - `require`: TLS or nothing; a server without it is refused with a message that says so.

use std::error::Error;
use std::future::Future;

use super::spec::TlsMode;

/// Whether one connection attempt asks for TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tls,
    Plain,
}

/// What opening a pool under `mode` came to.
#[derive(Debug)]
pub enum Opened<T, E> {
    /// Connected; `Plain` when `prefer` fell back to a connection in the clear.
    Connected(T, Transport),
    /// `require`, and the server does not offer TLS or its handshake failed.
    TlsRefused(E),
    Failed(E),
}

/// Opens with `open(transport)` as `mode` says, falling back to a plain connection only for
/// `prefer`, and only when the failure was TLS itself (so a wrong password is not retried).
pub async fn open_with<T, E, F, Fut>(mode: TlsMode, mut open: F) -> Opened<T, E>
where
    E: Error + 'static,
    F: FnMut(Transport) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let first = match mode {
        TlsMode::Disable => Transport::Plain,
        TlsMode::Prefer | TlsMode::Require => Transport::Tls,
    };
    match open(first).await {
        Ok(opened) => Opened::Connected(opened, first),
        Err(error) if first == Transport::Tls && tls_failed(&error) => match mode {
            TlsMode::Require => Opened::TlsRefused(error),
            _ => match open(Transport::Plain).await {
                Ok(opened) => Opened::Connected(opened, Transport::Plain),
                Err(error) => Opened::Failed(error),
            },
        },
        Err(error) => Opened::Failed(error),
    }
}

/// Whether a connection failed because of TLS: the server does not offer it, or the
/// handshake failed. Read from the whole chain of causes, since the pools wrap the drivers'
/// errors in their own.
pub fn tls_failed(error: &(dyn Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if let Some(mysql) = error.downcast_ref::<mysql_async::Error>() {
            return matches!(
                mysql,
                mysql_async::Error::Driver(mysql_async::DriverError::NoClientSslFlagFromServer)
                    | mysql_async::Error::Io(mysql_async::IoError::Tls(_))
            );
        }
        if let Some(postgres) = error.downcast_ref::<tokio_postgres::Error>() {
            // tokio-postgres keeps the kind of an error private; a TLS failure (a declined
            // request under `require`, or a failed handshake) is the one displayed this way
            return postgres
                .to_string()
                .starts_with("error performing TLS handshake");
        }
        cause = error.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn no_tls() -> mysql_async::Error {
        mysql_async::Error::Driver(mysql_async::DriverError::NoClientSslFlagFromServer)
    }

    fn refused_login() -> mysql_async::Error {
        mysql_async::Error::Server(mysql_async::ServerError {
            code: 1045,
            message: "Access denied".into(),
            state: "28000".into(),
        })
    }

    /// A connection that fails with `tls_error` over TLS and succeeds in the clear, counting
    /// its attempts.
    async fn attempt(
        mode: TlsMode,
        tls_error: fn() -> mysql_async::Error,
        attempts: &AtomicUsize,
    ) -> Opened<&'static str, mysql_async::Error> {
        open_with(mode, |transport| {
            attempts.fetch_add(1, Ordering::Relaxed);
            async move {
                match transport {
                    Transport::Tls => Err(tls_error()),
                    Transport::Plain => Ok("plain"),
                }
            }
        })
        .await
    }

    #[tokio::test]
    async fn prefer_falls_back_only_when_tls_itself_failed() {
        let attempts = AtomicUsize::new(0);
        let opened = attempt(TlsMode::Prefer, no_tls, &attempts).await;
        assert!(matches!(
            opened,
            Opened::Connected("plain", Transport::Plain)
        ));
        assert_eq!(attempts.load(Ordering::Relaxed), 2);

        // a refused login is not a TLS failure: it is not tried again in the clear
        let attempts = AtomicUsize::new(0);
        let opened = attempt(TlsMode::Prefer, refused_login, &attempts).await;
        assert!(matches!(opened, Opened::Failed(_)));
        assert_eq!(attempts.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn require_never_connects_in_the_clear() {
        let attempts = AtomicUsize::new(0);
        let opened = attempt(TlsMode::Require, no_tls, &attempts).await;
        assert!(matches!(opened, Opened::TlsRefused(_)));
        assert_eq!(attempts.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn disable_never_asks_for_tls() {
        let attempts = AtomicUsize::new(0);
        let opened = attempt(TlsMode::Disable, no_tls, &attempts).await;
        assert!(matches!(
            opened,
            Opened::Connected("plain", Transport::Plain)
        ));
        assert_eq!(attempts.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn finds_the_tls_failure_inside_the_pools_errors() {
        #[derive(Debug)]
        struct Wrapped(mysql_async::Error);
        impl std::fmt::Display for Wrapped {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "MySQL connection failed")
            }
        }
        impl Error for Wrapped {
            fn source(&self) -> Option<&(dyn Error + 'static)> {
                Some(&self.0)
            }
        }
        assert!(tls_failed(&Wrapped(no_tls())));
        assert!(!tls_failed(&Wrapped(refused_login())));
    }
}
