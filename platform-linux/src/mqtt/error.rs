//! What can go wrong: a publish refused at the door, a link that cannot
//! start, a connection that fails or breaks.

use rumqttc::{ConnectReturnCode, ConnectionError, StateError};

use super::tls::TlsError;

/// Why [`super::MqttLink::publish`] did not take a publish. Nothing was
/// sent; nothing about the id is remembered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// No session with the broker: publish after the next
    /// [`super::LinkEvent::Connected`].
    #[error("not connected to the broker")]
    NotConnected,
    /// [`super::PUBLISH_WINDOW`] publishes await their acknowledgement:
    /// publish again after an [`super::LinkEvent::Acked`].
    #[error("{0} publishes already await the broker's acknowledgement")]
    WindowFull(usize),
    /// This id is already between publish and acknowledgement.
    #[error("id {0} is already published and not yet acknowledged")]
    Duplicate(u64),
    /// The payload is longer than [`super::PAYLOAD_LEN_MAX`].
    #[error("payload of {0} bytes is longer than {max}", max = super::PAYLOAD_LEN_MAX)]
    TooLarge(usize),
    /// The topic is empty, too long, or holds a wildcard, NUL or an empty
    /// level.
    #[error("`{0}` cannot be published to")]
    BadTopic(String),
    /// The link was stopped.
    #[error("the MQTT link is stopped")]
    Stopped,
}

/// Why the link could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// TLS could not be set up (`mqtt.ca_file`, the system's roots).
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The link's thread could not be started.
    #[error("cannot start the mqtt thread: {0}")]
    Thread(std::io::Error),
}

/// Why a connection attempt failed or a session ended. The link retries by
/// itself; the text is for the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// The broker answered CONNECT with a refusal.
    #[error("broker refused the connection: {0}")]
    Refused(Refusal),
    /// No TCP connection, or it broke (name lookup, refused, reset…).
    #[error("network: {0}")]
    Network(String),
    /// The broker closed the connection.
    #[error("the broker closed the connection")]
    Closed,
    /// The broker did not answer in time (connect, or a keep-alive ping).
    #[error("the broker did not answer in time")]
    Timeout,
    /// The TLS handshake failed (certificate, name, protocol).
    #[error("TLS: {0}")]
    Tls(String),
    /// Anything else the MQTT client reported.
    #[error("protocol: {0}")]
    Protocol(String),
}

/// The CONNACK return codes of MQTT 3.1.1 (§3.2.2.3) that refuse a
/// connection, each naming what to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// 1: the broker does not speak MQTT 3.1.1.
    #[error("MQTT 3.1.1 not accepted (is this an MQTT broker?)")]
    ProtocolVersion,
    /// 2: the client id is not allowed.
    #[error("client id not accepted (mqtt.client_id)")]
    BadClientId,
    /// 3: the broker is up but not serving.
    #[error("service unavailable")]
    Unavailable,
    /// 4: wrong user name or password.
    #[error("bad user name or password (mqtt.username / mqtt.password)")]
    BadCredentials,
    /// 5: not allowed to connect. Mosquitto 2 answers a wrong password so.
    #[error(
        "bad user name or password, or not allowed to connect \
         (mqtt.username / mqtt.password)"
    )]
    NotAuthorized,
}

impl Refusal {
    /// The refusal a CONNACK code stands for; `None` for success.
    pub fn of(code: ConnectReturnCode) -> Option<Refusal> {
        Some(match code {
            ConnectReturnCode::Success => return None,
            ConnectReturnCode::RefusedProtocolVersion => Refusal::ProtocolVersion,
            ConnectReturnCode::BadClientId => Refusal::BadClientId,
            ConnectReturnCode::ServiceUnavailable => Refusal::Unavailable,
            ConnectReturnCode::BadUserNamePassword => Refusal::BadCredentials,
            ConnectReturnCode::NotAuthorized => Refusal::NotAuthorized,
        })
    }
}

impl From<&ConnectionError> for Failure {
    fn from(error: &ConnectionError) -> Failure {
        match error {
            ConnectionError::ConnectionRefused(code) => match Refusal::of(*code) {
                Some(refusal) => Failure::Refused(refusal),
                None => Failure::Protocol(error.to_string()),
            },
            ConnectionError::NetworkTimeout | ConnectionError::FlushTimeout => Failure::Timeout,
            ConnectionError::MqttState(StateError::AwaitPingResp) => Failure::Timeout,
            ConnectionError::MqttState(StateError::ConnectionAborted) => Failure::Closed,
            ConnectionError::MqttState(StateError::Io(io)) | ConnectionError::Io(io) => {
                Failure::Network(io.to_string())
            }
            ConnectionError::Tls(tls) => Failure::Tls(tls.to_string()),
            other => Failure::Protocol(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_password_names_the_fields_to_fix() {
        let error = ConnectionError::ConnectionRefused(ConnectReturnCode::BadUserNamePassword);
        assert_eq!(
            Failure::from(&error).to_string(),
            "broker refused the connection: bad user name or password \
             (mqtt.username / mqtt.password)"
        );
        let error = ConnectionError::ConnectionRefused(ConnectReturnCode::NotAuthorized);
        assert!(
            Failure::from(&error)
                .to_string()
                .contains("(mqtt.username / mqtt.password)")
        );
    }

    #[test]
    fn a_closed_socket_and_a_silent_broker_read_as_such() {
        let aborted = ConnectionError::MqttState(StateError::ConnectionAborted);
        assert_eq!(Failure::from(&aborted), Failure::Closed);
        let ping = ConnectionError::MqttState(StateError::AwaitPingResp);
        assert_eq!(Failure::from(&ping), Failure::Timeout);
        let refused = ConnectionError::Io(std::io::ErrorKind::ConnectionRefused.into());
        assert!(matches!(Failure::from(&refused), Failure::Network(_)));
    }
}
