//! A new set of tokens while the relay runs (the binary's SIGHUP).

use echostream_core::time::Instant;

use super::grants::Rights;
use super::session::Phase;
use super::{CloseReason, ConfigError, Relay, TokenPolicy, error_code};

impl Relay {
    /// Replaces the tokens. A welcomed session whose token is gone, or
    /// whose token's node, channels or limits changed, is closed
    /// ([`CloseReason::TokenRevoked`], after an `error` 401 "token
    /// revoked"): a node whose token was changed reconnects under its new
    /// rights, one whose token was removed cannot. Other sessions are not
    /// touched. Returns how many were closed; drain
    /// [`poll_output`](Self::poll_output) after.
    ///
    /// # Errors
    /// The new tokens are refused by [`RelayConfig::validate`](super::RelayConfig::validate)
    /// (none, or one listed twice); the old ones stay.
    pub fn set_tokens(&mut self, _now: Instant, tokens: TokenPolicy) -> Result<usize, ConfigError> {
        let mut config = self.config.clone();
        config.tokens = tokens;
        config.validate()?;
        self.config.tokens = config.tokens;
        let mut closed = 0;
        for slot in 0..self.sessions.len() {
            let Some(session) = self.sessions[slot].as_mut() else {
                continue;
            };
            if session.phase != Phase::Welcomed {
                continue;
            }
            let kept = match (&session.rights, &self.config.tokens) {
                (Some(Rights::Any), TokenPolicy::AnyToken) => Some(Rights::Any),
                (Some(Rights::Granted(old)), TokenPolicy::Grants(grants)) => grants
                    .iter()
                    .find(|new| new.same_rights(old))
                    .map(|new| Rights::Granted(new.clone())),
                _ => None,
            };
            match kept {
                Some(rights) => session.rights = Some(rights),
                None => {
                    self.counters.sessions_closed_revoked += 1;
                    self.close(
                        slot,
                        CloseReason::TokenRevoked,
                        Some((error_code::UNAUTHORIZED, "token revoked")),
                    );
                    closed += 1;
                }
            }
        }
        self.close_lost();
        Ok(closed)
    }
}
