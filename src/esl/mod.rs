//! The Event Socket (ESL) wire protocol.
