//! Tells systemd how the server is doing when systemd runs it
//! (`Type=notify`): ready once it listens, a watchdog ping while its
//! database answers, and stopping when it shuts down. This is the sd_notify
//! protocol: one datagram per message to the socket named in
//! `$NOTIFY_SOCKET`. Outside systemd there is no socket and every call does
//! nothing.
//!
//! It only reports; it must not decide anything about the shop.

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// The link to systemd's notification socket, if there is one.
pub struct Notifier {
    link: Option<(UnixDatagram, SocketAddr)>,
}

impl Notifier {
    /// The socket systemd named in `$NOTIFY_SOCKET`; none outside systemd
    /// (or when the name is unusable, which is logged).
    pub fn from_env() -> Notifier {
        let Some(name) = std::env::var_os("NOTIFY_SOCKET") else {
            return Notifier { link: None };
        };
        let link = socket_address(&name.to_string_lossy())
            .and_then(|address| Ok((UnixDatagram::unbound()?, address)));
        match link {
            Ok(link) => Notifier { link: Some(link) },
            Err(error) => {
                tracing::warn!(%error, "NOTIFY_SOCKET is set but unusable; systemd will not hear from the server");
                Notifier { link: None }
            }
        }
    }

    /// The server listens and can serve: systemd's start job is done.
    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={status}"));
    }

    /// Still alive: resets systemd's watchdog timer.
    pub fn alive(&self) {
        self.send("WATCHDOG=1");
    }

    /// Shutting down on purpose: systemd should not count it as a failure.
    pub fn stopping(&self) {
        self.send("STOPPING=1\nSTATUS=finishing in-flight requests");
    }

    fn send(&self, message: &str) {
        if let Some((socket, address)) = &self.link
            && let Err(error) = socket.send_to_addr(message.as_bytes(), address)
        {
            tracing::warn!(%error, "could not notify systemd");
        }
    }
}

/// How often to ping the watchdog: half of systemd's `WatchdogSec`, when it
/// is set for this process.
pub fn watchdog_interval() -> Option<Duration> {
    if let Some(pid) = std::env::var_os("WATCHDOG_PID")
        && pid.to_string_lossy() != std::process::id().to_string()
    {
        return None;
    }
    let micros: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok()?;
    (micros > 0).then(|| Duration::from_micros(micros / 2))
}

/// A path, or a name in Linux's abstract namespace when it starts with `@`.
fn socket_address(name: &str) -> io::Result<SocketAddr> {
    match name.strip_prefix('@') {
        Some(abstract_name) => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(abstract_name.as_bytes())
        }
        None => SocketAddr::from_pathname(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn received(socket: &UnixDatagram) -> String {
        let mut buffer = [0u8; 256];
        let n = socket.recv(&mut buffer).unwrap();
        String::from_utf8_lossy(&buffer[..n]).into_owned()
    }

    #[test]
    fn messages_reach_a_path_socket_and_an_abstract_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        let notifier = Notifier {
            link: Some((
                UnixDatagram::unbound().unwrap(),
                socket_address(path.to_str().unwrap()).unwrap(),
            )),
        };
        notifier.ready("listening on 127.0.0.1:8080");
        assert_eq!(
            received(&listener),
            "READY=1\nSTATUS=listening on 127.0.0.1:8080"
        );
        notifier.alive();
        assert_eq!(received(&listener), "WATCHDOG=1");

        let name = format!("@shopkeep-test-{}", std::process::id());
        let address = socket_address(&name).unwrap();
        let abstract_listener = UnixDatagram::bind_addr(&address).unwrap();
        let notifier = Notifier {
            link: Some((UnixDatagram::unbound().unwrap(), address)),
        };
        notifier.stopping();
        assert!(received(&abstract_listener).starts_with("STOPPING=1"));
    }

    #[test]
    fn without_a_socket_nothing_is_sent_and_nothing_fails() {
        let notifier = Notifier { link: None };
        notifier.ready("x");
        notifier.alive();
        notifier.stopping();
    }
}
