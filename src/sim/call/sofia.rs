//! What mod_sofia adds to an outbound SIP channel, stage by stage, and how
//! it turns a SIP final response into a hangup cause.
//!
//! The simulator has no SIP stack; it models the channel variables a sofia
//! leg carries as the INVITE is sent, answered or refused, so that events
//! carry the same variables as on a real FreeSWITCH (captured from
//! FreeSWITCH 1.10.12, see `tests/fixtures/captures/`).

use rand::Rng;

use super::channel::Channel;
use crate::esl::HangupCause;

/// The cause mod_sofia reports for a SIP final response to an INVITE.
pub(crate) fn cause_for_status(status: u16) -> HangupCause {
    match status {
        200 => HangupCause::NormalClearing,
        401 | 402 | 403 | 407 | 603 | 608 => HangupCause::CallRejected,
        404 => HangupCause::UnallocatedNumber,
        485 | 604 => HangupCause::NoRouteDestination,
        408 | 504 => HangupCause::RecoveryOnTimerExpire,
        410 => HangupCause::NumberChanged,
        413 | 414 | 416 | 420 | 421 | 423 | 505 | 513 => HangupCause::Interworking,
        480 => HangupCause::NoUserResponse,
        400 | 481 | 500 | 503 => HangupCause::NormalTemporaryFailure,
        486 | 600 => HangupCause::UserBusy,
        484 => HangupCause::InvalidNumberFormat,
        488 | 606 => HangupCause::IncompatibleDestination,
        502 => HangupCause::NetworkOutOfOrder,
        405 => HangupCause::ServiceUnavailable,
        406 | 415 | 501 => HangupCause::ServiceNotImplemented,
        482 | 483 => HangupCause::ExchangeRoutingError,
        487 => HangupCause::OriginatorCancel,
        607 => HangupCause::Unwanted,
        _ => HangupCause::NormalUnspecified,
    }
}

/// Whether early media makes the originate succeed (`originate_early_media`):
/// yes unless `ignore_early_media` is true, `consume` or `ring_ready`.
pub(crate) fn early_media_ok(vars: &[(String, String)]) -> bool {
    let ignore = vars
        .iter()
        .rev()
        .find(|(name, _)| name == "ignore_early_media")
        .map(|(_, value)| value.to_ascii_lowercase());
    !matches!(
        ignore.as_deref(),
        Some("true" | "yes" | "on" | "1" | "consume" | "ring_ready")
    )
}

/// The reason phrase of a SIP status, as a phone would send it.
pub(crate) fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        480 => "Temporarily Unavailable",
        484 => "Address Incomplete",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        500 => "Server Internal Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        600 => "Busy Everywhere",
        603 => "Decline",
        _ => "Unknown",
    }
}

/// `ep_codec_string` for the phones' PCMU offer.
const EP_CODEC_STRING: &str = "CORE_PCM_MODULE.PCMU@8000h@20i@64000b";

/// The SIP dialog of one outbound leg: where it goes and the identifiers
/// the far end and FreeSWITCH chose.
#[derive(Debug, Clone)]
pub(crate) struct Leg {
    pub profile: String,
    /// The request URI without `sip:` (`1000@127.0.0.1:5070`, or the bare
    /// number for a gateway).
    pub request_uri: String,
    pub user: String,
    pub host: String,
    pub port: u16,
    pub local_ip: String,
    call_id: String,
    from_tag: String,
    to_tag: String,
    branch: String,
    cseq: u32,
    local_media_port: u16,
    remote_media_port: u16,
    ssrc: u32,
    sdp_version: u64,
}

fn token(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

impl Leg {
    /// A leg through sofia profile `profile` to `user@host:port`.
    pub fn new(profile: &str, user: &str, host: &str, port: u16, local_ip: &str) -> Leg {
        let mut rng = rand::rng();
        let request_uri = if host.is_empty() {
            user.to_owned()
        } else {
            format!("{user}@{host}:{port}")
        };
        Leg {
            profile: profile.to_owned(),
            request_uri,
            user: user.to_owned(),
            host: if host.is_empty() {
                local_ip.to_owned()
            } else {
                host.to_owned()
            },
            port,
            local_ip: local_ip.to_owned(),
            call_id: uuid::Uuid::new_v4().to_string(),
            from_tag: token(13),
            to_tag: format!(
                "{}SIPpTag01{}",
                rng.random_range(1000..9999),
                rng.random_range(1..9)
            ),
            branch: format!("z9hG4bK{}", token(13)),
            cseq: rng.random_range(100_000_000..200_000_000),
            local_media_port: rng.random_range(16384..32768) & !1,
            remote_media_port: port.wrapping_add(1000),
            ssrc: rng.random(),
            sdp_version: rng.random_range(1_700_000_000..1_800_000_000),
        }
    }

    fn local_sdp(&self) -> String {
        format!(
            "v=0\r\no=FreeSWITCH {v} {v1} IN IP4 {ip}\r\ns=FreeSWITCH\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n",
            v = self.sdp_version,
            v1 = self.sdp_version + 1,
            ip = self.local_ip,
            port = self.local_media_port
        )
    }

    fn remote_sdp(&self) -> String {
        format!(
            "v=0\r\no=phone 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n",
            ip = self.host,
            port = self.remote_media_port
        )
    }

    /// Variables set when the channel is created and the INVITE goes out
    /// (`origination` are the `{...}` variables of the dial string).
    pub fn on_create(
        &self,
        channel: &mut Channel,
        session_id: u64,
        origination: &[(String, String)],
    ) {
        let contact = format!("sip:mod_sofia@{}:5060", self.local_ip);
        channel.set_var("direction", "outbound");
        channel.set_var("is_outbound", "true");
        channel.set_var("uuid", channel.uuid.clone());
        channel.set_var("call_uuid", channel.uuid.clone());
        channel.set_var("session_id", session_id.to_string());
        channel.set_var("sip_local_network_addr", self.local_ip.as_str());
        channel.set_var("sip_profile_name", self.profile.as_str());
        channel.set_var("video_media_flow", "disabled");
        channel.set_var("text_media_flow", "disabled");
        channel.set_var("channel_name", channel.name.clone());
        channel.set_var("sip_destination_url", format!("sip:{}", self.request_uri));
        for (name, value) in origination {
            channel.set_var(name, value.as_str());
        }
        let early_ok = early_media_ok(origination);
        channel.set_var(
            "originate_early_media",
            if early_ok { "true" } else { "false" },
        );
        channel.set_var("originate_endpoint", "sofia");
        channel.set_var("rtp_use_codec_string", "PCMU,PCMA");
        channel.set_var("local_media_ip", self.local_ip.as_str());
        channel.set_var("local_media_port", self.local_media_port.to_string());
        channel.set_var("advertised_media_ip", self.local_ip.as_str());
        channel.set_var("audio_media_flow", "sendrecv");
        channel.set_var("rtp_local_sdp_str", self.local_sdp());
        channel.set_var("sip_outgoing_contact_uri", format!("<{contact}>"));
        channel.set_var("sip_req_uri", self.request_uri.as_str());
        channel.set_var("sip_to_host", format!("{}:{}", self.host, self.port));
        channel.set_var("sip_from_host", self.local_ip.as_str());
        channel.set_var("sofia_profile_name", self.profile.as_str());
        channel.set_var("recovery_profile_name", self.profile.as_str());
        channel.set_var("sofia_profile_url", contact);
    }

    /// Where a response came from: the far end, or (`remote: false`)
    /// sofia itself, which has no address for it.
    fn reply_source(&self, channel: &mut Channel, remote: bool) {
        channel.set_var("sip_local_network_addr", self.local_ip.as_str());
        let (host, port) = if remote {
            (self.host.as_str(), self.port)
        } else {
            ("", 0)
        };
        channel.set_var("sip_reply_host", host);
        channel.set_var("sip_reply_port", port.to_string());
        channel.set_var("sip_network_ip", host);
        channel.set_var("sip_network_port", port.to_string());
    }

    /// The dialog headers of a 18x or 200 with a To tag.
    fn dialog(&self, channel: &mut Channel) {
        let via = format!("SIP/2.0/UDP {};rport;branch={}", self.local_ip, self.branch);
        channel.set_var(
            "sip_recover_contact",
            format!("<sip:{}:{};transport=UDP>", self.host, self.port),
        );
        channel.set_var("sip_full_via", via.as_str());
        channel.set_var("sip_recover_via", via);
        channel.set_var(
            "sip_full_from",
            format!("<sip:0000000000@{}>;tag={}", self.local_ip, self.from_tag),
        );
        channel.set_var(
            "sip_full_to",
            format!("<sip:{}>;tag={}", self.request_uri, self.to_tag),
        );
        channel.set_var("sip_from_user", "0000000000");
        channel.set_var("sip_from_uri", format!("0000000000@{}", self.local_ip));
        channel.set_var("sip_from_host", self.local_ip.as_str());
        channel.set_var("sip_to_user", self.user.as_str());
        channel.set_var("sip_to_port", self.port.to_string());
        channel.set_var("sip_to_uri", self.request_uri.as_str());
        channel.set_var("sip_to_host", self.host.as_str());
        channel.set_var("sip_contact_params", "transport=UDP");
        channel.set_var("sip_contact_user", "nobody");
        channel.set_var("sip_contact_port", self.port.to_string());
        channel.set_var(
            "sip_contact_uri",
            format!("nobody@{}:{}", self.host, self.port),
        );
        channel.set_var("sip_contact_host", self.host.as_str());
        channel.set_var("sip_to_tag", self.to_tag.as_str());
        channel.set_var("sip_from_tag", self.from_tag.as_str());
        channel.set_var("sip_cseq", self.cseq.to_string());
        channel.set_var("sip_call_id", self.call_id.as_str());
    }

    /// 180 Ringing.
    pub fn on_ringing(&self, channel: &mut Channel) {
        self.reply_source(channel, true);
        self.dialog(channel);
    }

    /// 183 Session Progress with SDP (early media): the far end's SDP is
    /// read, but the RTP session is only set up once the codecs are (see
    /// [`Leg::on_early_media_session`]).
    pub fn on_early_media(&self, channel: &mut Channel) {
        self.reply_source(channel, true);
        channel.set_var("ep_codec_string", EP_CODEC_STRING);
        self.dialog(channel);
        channel.set_var("switch_r_sdp", self.remote_sdp());
        channel.set_var("endpoint_disposition", "EARLY MEDIA");
    }

    /// The codec negotiated from the far end's SDP in a 200 OK.
    fn negotiate(&self, channel: &mut Channel) {
        channel.set_var("switch_r_sdp", self.remote_sdp());
        channel.set_var("ep_codec_string", EP_CODEC_STRING);
        channel.set_var("rtp_use_codec_string", "PCMU,PCMA");
    }

    /// The RTP session, set up once the codecs are; early media also
    /// restates the audio direction.
    fn on_media(&self, channel: &mut Channel, early: bool) {
        channel.set_var("remote_video_media_flow", "inactive");
        channel.set_var("remote_text_media_flow", "inactive");
        channel.set_var("remote_audio_media_flow", "sendrecv");
        if early {
            channel.set_var("audio_media_flow", "sendrecv");
        }
        channel.set_var("rtp_audio_recv_pt", "0");
        channel.set_var("rtp_use_codec_name", "PCMU");
        channel.set_var("rtp_use_codec_rate", "8000");
        channel.set_var("rtp_use_codec_ptime", "20");
        channel.set_var("rtp_use_codec_channels", "1");
        channel.set_var("rtp_last_audio_codec_string", "PCMU@8000h@20i@1c");
        channel.set_var("read_codec", "PCMU");
        channel.set_var("original_read_codec", "PCMU");
        channel.set_var("read_rate", "8000");
        channel.set_var("original_read_rate", "8000");
        channel.set_var("write_codec", "PCMU");
        channel.set_var("write_rate", "8000");
        channel.set_var("dtmf_type", "rfc2833");
        channel.set_var("local_media_ip", self.local_ip.as_str());
        channel.set_var("local_media_port", self.local_media_port.to_string());
        channel.set_var("advertised_media_ip", self.local_ip.as_str());
        channel.set_var("rtp_use_timer_name", "soft");
        channel.set_var("rtp_use_pt", "0");
        channel.set_var("rtp_use_ssrc", self.ssrc.to_string());
        channel.set_var("rtp_2833_send_payload", "101");
        channel.set_var("rtp_2833_recv_payload", "101");
        channel.set_var("remote_media_ip", self.host.as_str());
        channel.set_var("remote_media_port", self.remote_media_port.to_string());
    }

    /// The far end's SDP taken as the session's answer: from the 183 when
    /// early media answers the originate, and from the 200 OK that follows
    /// early media.
    pub fn on_remote_sdp(&self, channel: &mut Channel) {
        self.reply_source(channel, true);
        self.dialog(channel);
        channel.set_var("switch_r_sdp", self.remote_sdp());
        channel.set_var("ep_codec_string", EP_CODEC_STRING);
    }

    /// The RTP session of early media, started once its codecs are.
    pub fn on_early_media_session(&self, channel: &mut Channel) {
        channel.set_var("rtp_use_codec_string", "PCMU,PCMA");
        self.on_media(channel, true);
        channel.set_var("endpoint_disposition", "EARLY MEDIA");
    }

    /// 200 OK to the INVITE. After early media, its SDP is taken as the
    /// answer again over the running session; otherwise the SDP is
    /// negotiated now and the RTP session follows.
    pub fn on_answer(&self, channel: &mut Channel, had_early_media: bool) {
        if had_early_media {
            self.on_remote_sdp(channel);
        } else {
            self.negotiate(channel);
            self.on_media(channel, false);
        }
    }

    /// A final failure response to the INVITE from the far end.
    pub fn on_refused(&self, channel: &mut Channel, status: u16) {
        channel.set_var("sip_call_id", self.call_id.as_str());
        self.reply_source(channel, true);
        self.failure(channel, status);
    }

    /// The INVITE was refused before any reply from the far end (the target
    /// is unreachable): sofia turns it into a local 503.
    pub fn on_unreachable(&self, channel: &mut Channel) {
        channel.set_var("sip_call_id", self.call_id.as_str());
        self.reply_source(channel, false);
        self.failure(channel, 503);
    }

    /// What sofia records about a failed INVITE.
    fn failure(&self, channel: &mut Channel, status: u16) {
        channel.set_var("sip_hangup_disposition", "recv_refuse");
        channel.set_var("sip_invite_failure_status", status.to_string());
        channel.set_var("sip_invite_failure_phrase", reason_phrase(status));
        channel.set_var("sip_term_status", status.to_string());
        channel.set_var("proto_specific_hangup_cause", format!("sip:{status}"));
        channel.set_var(
            "sip_term_cause",
            cause_for_status(status).q850().to_string(),
        );
    }

    /// We hung up a call still ringing (originate timeout, or killed):
    /// CANCEL, answered 487.
    pub fn on_cancelled(&self, channel: &mut Channel) {
        channel.set_var("sip_hangup_disposition", "send_cancel");
        channel.set_var("sip_invite_failure_status", "487");
        channel.set_var("sip_invite_failure_phrase", "CANCEL");
    }

    /// The far end hung up (BYE).
    pub fn on_remote_bye(&self, channel: &mut Channel) {
        channel.set_var("sip_term_status", "200");
        channel.set_var("proto_specific_hangup_cause", "sip:200");
        channel.set_var("sip_term_cause", "16");
    }

    /// The far end's BYE was answered (set as the channel leaves media).
    pub fn on_remote_bye_done(&self, channel: &mut Channel) {
        channel.set_var("sip_hangup_disposition", "recv_bye");
    }

    /// We hung up an answered call (BYE).
    pub fn on_local_bye(&self, channel: &mut Channel) {
        channel.set_var("sip_hangup_disposition", "send_bye");
    }
}

/// The RTP statistics sofia reports at hangup for an answered call,
/// computed from how long media flowed and what the channel played.
pub(crate) fn rtp_statistics(channel: &mut Channel, media_millis: u64, played_millis: u64) {
    let received = media_millis / 20;
    let sent = played_millis / 20;
    let pairs: [(&str, String); 27] = [
        ("rtp_audio_in_raw_bytes", (received * 172).to_string()),
        ("rtp_audio_in_media_bytes", (received * 172).to_string()),
        ("rtp_audio_in_packet_count", received.to_string()),
        ("rtp_audio_in_media_packet_count", received.to_string()),
        ("rtp_audio_in_skip_packet_count", "0".to_owned()),
        ("rtp_audio_in_jitter_packet_count", "0".to_owned()),
        ("rtp_audio_in_dtmf_packet_count", "0".to_owned()),
        ("rtp_audio_in_cng_packet_count", "0".to_owned()),
        ("rtp_audio_in_flush_packet_count", "0".to_owned()),
        ("rtp_audio_in_largest_jb_size", "0".to_owned()),
        ("rtp_audio_in_jitter_min_variance", "0.00".to_owned()),
        ("rtp_audio_in_jitter_max_variance", "0.00".to_owned()),
        ("rtp_audio_in_jitter_loss_rate", "0.00".to_owned()),
        ("rtp_audio_in_jitter_burst_rate", "0.00".to_owned()),
        ("rtp_audio_in_mean_interval", "20.00".to_owned()),
        ("rtp_audio_in_flaw_total", "0".to_owned()),
        ("rtp_audio_in_quality_percentage", "100.00".to_owned()),
        ("rtp_audio_in_mos", "4.50".to_owned()),
        ("rtp_audio_out_raw_bytes", (sent * 172).to_string()),
        ("rtp_audio_out_media_bytes", (sent * 172).to_string()),
        ("rtp_audio_out_packet_count", sent.to_string()),
        ("rtp_audio_out_media_packet_count", sent.to_string()),
        ("rtp_audio_out_skip_packet_count", "0".to_owned()),
        ("rtp_audio_out_dtmf_packet_count", "0".to_owned()),
        ("rtp_audio_out_cng_packet_count", "0".to_owned()),
        ("rtp_audio_rtcp_packet_count", "0".to_owned()),
        ("rtp_audio_rtcp_octet_count", "0".to_owned()),
    ];
    for (name, value) in pairs {
        channel.set_var(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn early_media_answers_the_originate_unless_ignored() {
        let vars = |value: &str| vec![("ignore_early_media".to_owned(), value.to_owned())];
        assert!(early_media_ok(&[]));
        assert!(early_media_ok(&vars("false")));
        for ignored in ["true", "consume", "ring_ready"] {
            assert!(!early_media_ok(&vars(ignored)), "{ignored}");
        }
    }

    #[test]
    fn sip_statuses_map_to_sofias_causes() {
        assert_eq!(cause_for_status(486), HangupCause::UserBusy);
        assert_eq!(cause_for_status(603), HangupCause::CallRejected);
        assert_eq!(cause_for_status(404), HangupCause::UnallocatedNumber);
        assert_eq!(cause_for_status(503), HangupCause::NormalTemporaryFailure);
        assert_eq!(cause_for_status(480), HangupCause::NoUserResponse);
        assert_eq!(cause_for_status(408), HangupCause::RecoveryOnTimerExpire);
        assert_eq!(cause_for_status(499), HangupCause::NormalUnspecified);
    }
}
