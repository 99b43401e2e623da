//! Why a client call failed.

use std::io;

use crate::esl::codec::FrameError;

/// The error of every [`Client`](super::Client) operation.
///
/// Callers mostly need to tell three things apart: the command ran and
/// FreeSWITCH refused it ([`EslError::CommandFailed`]), the outcome is unknown
/// ([`EslError::Timeout`], [`EslError::Disconnected`]: the command may or may
/// not have run), and the configuration is wrong ([`EslError::AuthFailed`],
/// [`EslError::AclDenied`]: retrying will not help).
#[derive(Debug, thiserror::Error)]
pub enum EslError {
    /// The TCP connection could not be opened.
    #[error("cannot connect to the event socket: {0}")]
    Connect(#[source] io::Error),
    /// The connection was lost, or is being re-established, before the
    /// command (or the background job) completed.
    #[error("event socket disconnected")]
    Disconnected,
    /// FreeSWITCH refused the password.
    #[error("event socket authentication failed")]
    AuthFailed,
    /// FreeSWITCH's ACL refused this client (`text/rude-rejection`).
    #[error("event socket access denied by FreeSWITCH's ACL")]
    AclDenied,
    /// No reply (or no `auth/request` greeting) within the time limit.
    #[error("event socket command timed out")]
    Timeout,
    /// FreeSWITCH answered `-ERR ...` to a command; the text is the reply.
    #[error("command failed: {0}")]
    CommandFailed(String),
    /// The byte stream could not be framed, or a command could not be
    /// written safely (a line break in an argument).
    #[error("event socket protocol error: {0}")]
    Protocol(#[from] FrameError),
    /// FreeSWITCH sent something the protocol does not allow at that point
    /// (a greeting other than `auth/request`, an `api/response` to a
    /// non-`api` command).
    #[error("unexpected message from FreeSWITCH: {0}")]
    Unexpected(String),
    /// The client was closed.
    #[error("event socket client closed")]
    Closed,
}
