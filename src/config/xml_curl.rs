//! The `xml_curl:` section: serving the dialplan to FreeSWITCH's
//! mod_xml_curl, and the credentials its `gateway-credentials` must send.

use serde::{Deserialize, Serialize};

use super::{Secret, ValidationError};

/// The `xml_curl:` section. Off by default: the route then answers `404`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct XmlCurlConfig {
    /// Whether `POST /freeswitch/dialplan` serves the dialplan.
    pub enabled: bool,
    /// The HTTP basic-auth user name FreeSWITCH sends (the part of
    /// `gateway-credentials` before the `:`).
    pub username: String,
    /// The HTTP basic-auth password FreeSWITCH sends.
    pub password: Option<Secret>,
}

impl XmlCurlConfig {
    /// Checks that an enabled route has credentials basic auth can carry.
    pub(super) fn validate(&self) -> Result<(), ValidationError> {
        if !self.enabled {
            return Ok(());
        }
        if self.username.is_empty() || self.username.contains(':') {
            return Err(ValidationError::XmlCurl(
                "xml_curl.username: required when enabled, without `:`",
            ));
        }
        if self.password.as_ref().is_none_or(|p| p.expose().is_empty()) {
            return Err(ValidationError::XmlCurl(
                "xml_curl.password: required when enabled (prefer ARSGATE_XML_CURL__PASSWORD)",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(yaml: &str) -> XmlCurlConfig {
        serde_norway::from_str(yaml).expect("valid section")
    }

    #[test]
    fn off_by_default_and_then_needs_nothing() {
        let config = XmlCurlConfig::default();
        assert!(!config.enabled);
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn enabled_needs_a_user_name_and_a_password() {
        let complete = section("{enabled: true, username: fs, password: pw}");
        assert_eq!(complete.validate(), Ok(()));
        for yaml in [
            "{enabled: true, password: pw}",
            "{enabled: true, username: 'f:s', password: pw}",
            "{enabled: true, username: fs}",
            "{enabled: true, username: fs, password: ''}",
        ] {
            assert!(
                matches!(section(yaml).validate(), Err(ValidationError::XmlCurl(_))),
                "{yaml}"
            );
        }
    }
}
