//! STS errors: AWS's code, HTTP status and message for each, and the query-protocol
//! error document with what it needs (the API version, the XML namespace, escaping).
//! The signature check (`sigv4/`) and STS (`sts/`) answer with them, and `sts`
//! re-exports them; this file imports neither.

/// The query-protocol API version STS speaks.
pub const API_VERSION: &str = "2011-06-15";

/// The XML namespace of every STS response.
pub const XML_NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// Escape text for an XML element.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// An error STS answers with: its code, HTTP status and message are AWS's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StsError {
    #[error("request carries no authentication")]
    MissingAuthenticationToken,
    #[error("incomplete signature: {reason}")]
    IncompleteSignature { reason: String },
    #[error("the access key id or session token is not one the mock issued")]
    InvalidClientTokenId,
    #[error("signature does not match: {reason}")]
    SignatureDoesNotMatch { reason: String },
    #[error("the session token has expired")]
    ExpiredToken,
    #[error("the presigned request has expired")]
    RequestExpired,
    #[error("request has no action")]
    MissingAction,
    #[error("unknown action {action}")]
    InvalidAction { action: String },
    #[error("invalid request: {message}")]
    Validation { message: String },
    #[error("access denied: {message}")]
    AccessDenied { message: String },
    #[error("session policy too large")]
    PackedPolicyTooLarge,
    #[error("invalid web identity token: {message}")]
    InvalidIdentityToken { message: String },
    #[error("web identity token expired: {message}")]
    WebIdentityTokenExpired { message: String },
}

impl StsError {
    /// The HTTP status AWS answers with.
    pub fn status(&self) -> u16 {
        match self {
            Self::MissingAuthenticationToken
            | Self::InvalidClientTokenId
            | Self::SignatureDoesNotMatch { .. }
            | Self::ExpiredToken
            | Self::AccessDenied { .. } => 403,
            Self::IncompleteSignature { .. }
            | Self::RequestExpired
            | Self::MissingAction
            | Self::InvalidAction { .. }
            | Self::Validation { .. }
            | Self::PackedPolicyTooLarge
            | Self::InvalidIdentityToken { .. }
            | Self::WebIdentityTokenExpired { .. } => 400,
        }
    }

    /// The `<Code>` of the error document.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingAuthenticationToken => "MissingAuthenticationToken",
            Self::IncompleteSignature { .. } => "IncompleteSignature",
            Self::InvalidClientTokenId => "InvalidClientTokenId",
            Self::SignatureDoesNotMatch { .. } => "SignatureDoesNotMatch",
            Self::ExpiredToken => "ExpiredToken",
            Self::RequestExpired => "RequestExpired",
            Self::MissingAction => "MissingAction",
            Self::InvalidAction { .. } => "InvalidAction",
            Self::Validation { .. } => "ValidationError",
            Self::AccessDenied { .. } => "AccessDenied",
            Self::PackedPolicyTooLarge => "PackedPolicyTooLarge",
            Self::InvalidIdentityToken { .. } => "InvalidIdentityToken",
            Self::WebIdentityTokenExpired { .. } => "ExpiredTokenException",
        }
    }

    /// The `<Message>` of the error document, worded as AWS words it.
    pub fn message(&self) -> String {
        match self {
            Self::MissingAuthenticationToken => "Request is missing Authentication Token".into(),
            Self::IncompleteSignature { reason } => reason.trim_end().to_string(),
            Self::InvalidClientTokenId => {
                "The security token included in the request is invalid.".into()
            }
            Self::SignatureDoesNotMatch { reason } if !reason.is_empty() => {
                reason.trim_end().to_string()
            }
            Self::SignatureDoesNotMatch { .. } => "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.".into(),
            Self::ExpiredToken => "The security token included in the request is expired".into(),
            Self::RequestExpired => "Request has expired.".into(),
            Self::MissingAction => "Missing Action".into(),
            Self::InvalidAction { action } => {
                format!("Could not find operation {action} for version {API_VERSION}")
            }
            Self::Validation { message }
            | Self::AccessDenied { message }
            | Self::InvalidIdentityToken { message }
            | Self::WebIdentityTokenExpired { message } => message.clone(),
            Self::PackedPolicyTooLarge => "Packed size of the session policies and session tags combined exceed the allowed limit.".into(),
        }
    }

    /// The query-protocol error document.
    pub fn to_xml(&self, request_id: &str) -> String {
        format!(
            "<ErrorResponse xmlns=\"{XML_NAMESPACE}\">\n  <Error>\n    <Type>Sender</Type>\n    <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  <RequestId>{request_id}</RequestId>\n</ErrorResponse>\n",
            self.code(),
            xml_escape(&self.message())
        )
    }
}
