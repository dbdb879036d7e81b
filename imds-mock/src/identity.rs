//! Signatures over the instance identity document
//! (`/latest/dynamic/instance-identity/{signature,pkcs7,rsa2048}`): an RSA-2048 key and a
//! self-signed X.509 certificate the mock publishes in place of AWS's regional public
//! certificates, generated once and kept in the state directory. It signs; it never
//! builds the document itself (the server does, from its metadata).
//!
//! Formats, as EC2 serves them (base64 bodies without PEM armour, 76-column lines):
//! - `signature`: RSA PKCS#1 v1.5 with SHA-256 over the document bytes;
//! - `pkcs7`: PKCS#7 SignedData with the document attached, SHA-1 digest (EC2 signs this
//!   one with DSA; the mock uses its RSA key);
//! - `rsa2048`: PKCS#7 SignedData with the document attached, SHA-256 with RSA-2048.
//!
//! Verify them as AWS documents it, with the certificate from
//! [`IdentitySigner::certificate_pem`]: `openssl smime -verify -inform PEM -in pkcs7.pem
//! -certfile cert.pem -noverify` (after adding `-----BEGIN PKCS7-----` lines).

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine as _;
use cms::builder::{SignedDataBuilder, SignerInfoBuilder};
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::signed_data::{EncapsulatedContentInfo, SignerIdentifier};
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rsa::signature::{SignatureEncoding, Signer};
use rsa::RsaPrivateKey;
use sha1::Sha1;
use sha2::Sha256;
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::der::asn1::OctetString;
use x509_cert::der::{Any, DecodePem, Encode, EncodePem};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{
    AlgorithmIdentifierOwned, EncodePublicKey, ObjectIdentifier, SubjectPublicKeyInfoOwned,
};
use x509_cert::time::Validity;
use x509_cert::Certificate;

/// File, in the state directory, holding the signing key (PKCS#8 PEM, mode 0600).
pub const KEY_FILE: &str = "identity-key.pem";

/// File, in the state directory, holding the published certificate (PEM).
pub const CERT_FILE: &str = "identity-cert.pem";

/// Size of the signing key.
pub const KEY_BITS: usize = 2048;

/// The certificate's subject (and issuer: it is self-signed).
pub const CERT_SUBJECT: &str =
    "CN=imds-mock instance identity,O=strap,L=Seattle,ST=Washington,C=US";

/// How long a generated certificate is valid: 20 years, like AWS's published ones.
const CERT_VALIDITY: Duration = Duration::from_secs(20 * 365 * 24 * 3600);

/// PKCS#7 `data` content type.
const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
/// SHA-1 digest algorithm.
const ID_SHA_1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
/// SHA-256 digest algorithm.
const ID_SHA_256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");

/// Line width of the base64 bodies EC2 serves.
const LINE_WIDTH: usize = 76;

/// What can go wrong creating, loading or using the identity key.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a PKCS#8 PEM RSA private key ({reason}); delete it to have a new key generated")]
    BadKey { path: PathBuf, reason: String },
    #[error("{path} is not a PEM certificate ({reason}); delete it to have a new one made")]
    BadCertificate { path: PathBuf, reason: String },
    #[error("{path} does not certify the key in {key_path}; delete it to have a new one made")]
    CertificateMismatch { path: PathBuf, key_path: PathBuf },
    #[error("cannot generate the identity key: {0}")]
    Generate(String),
    #[error("cannot build the identity certificate: {0}")]
    Certificate(String),
    #[error("cannot sign the identity document: {0}")]
    Sign(String),
}

/// The three signatures of one identity document, base64 bodies as EC2 serves them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentitySignatures {
    pub signature: String,
    pub pkcs7: String,
    pub rsa2048: String,
}

/// The mock's identity-document signer: an RSA key and its self-signed certificate.
pub struct IdentitySigner {
    key: RsaPrivateKey,
    certificate: Certificate,
    certificate_pem: String,
}

impl std::fmt::Debug for IdentitySigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentitySigner")
            .field(
                "subject",
                &self.certificate.tbs_certificate.subject.to_string(),
            )
            .finish_non_exhaustive()
    }
}

impl IdentitySigner {
    /// A signer with a new key, kept in memory only.
    pub fn generate() -> Result<Self, IdentityError> {
        let key = RsaPrivateKey::new(&mut rand::thread_rng(), KEY_BITS)
            .map_err(|e| IdentityError::Generate(e.to_string()))?;
        Self::with_new_certificate(key)
    }

    /// The signer whose key and certificate live in `dir`: loaded if there, otherwise
    /// generated and written there (a key without a certificate gets a new certificate).
    pub fn load_or_create(dir: &Path) -> Result<Self, IdentityError> {
        let key_path = dir.join(KEY_FILE);
        let cert_path = dir.join(CERT_FILE);
        let key = match read_optional(&key_path)? {
            Some(pem) => {
                RsaPrivateKey::from_pkcs8_pem(&pem).map_err(|e| IdentityError::BadKey {
                    path: key_path.clone(),
                    reason: e.to_string(),
                })?
            }
            None => {
                let key = RsaPrivateKey::new(&mut rand::thread_rng(), KEY_BITS)
                    .map_err(|e| IdentityError::Generate(e.to_string()))?;
                let pem = key
                    .to_pkcs8_pem(LineEnding::LF)
                    .map_err(|e| IdentityError::Generate(e.to_string()))?;
                write_atomic(&key_path, pem.as_bytes(), 0o600)?;
                key
            }
        };
        if let Some(pem) = read_optional(&cert_path)? {
            let certificate = Certificate::from_pem(pem.as_bytes()).map_err(|e| {
                IdentityError::BadCertificate {
                    path: cert_path.clone(),
                    reason: e.to_string(),
                }
            })?;
            let public = key
                .to_public_key()
                .to_public_key_der()
                .map_err(|e| IdentityError::Certificate(e.to_string()))?;
            let certified = certificate
                .tbs_certificate
                .subject_public_key_info
                .to_der()
                .map_err(|e| IdentityError::Certificate(e.to_string()))?;
            if public.as_bytes() != certified.as_slice() {
                return Err(IdentityError::CertificateMismatch {
                    path: cert_path,
                    key_path,
                });
            }
            return Ok(Self {
                key,
                certificate,
                certificate_pem: pem,
            });
        }
        let signer = Self::with_new_certificate(key)?;
        write_atomic(&cert_path, signer.certificate_pem.as_bytes(), 0o644)?;
        Ok(signer)
    }

    fn with_new_certificate(key: RsaPrivateKey) -> Result<Self, IdentityError> {
        let err = |e: &dyn std::fmt::Display| IdentityError::Certificate(e.to_string());
        let signer = SigningKey::<Sha256>::new(key.clone());
        let serial: [u8; 8] = rand::random();
        // A positive serial: clear the top bit.
        let mut serial = serial;
        serial[0] &= 0x7f;
        serial[0] |= 0x01;
        let serial = SerialNumber::new(&serial).map_err(|e| err(&e))?;
        let validity = Validity::from_now(CERT_VALIDITY).map_err(|e| err(&e))?;
        let subject = Name::from_str(CERT_SUBJECT).map_err(|e| err(&e))?;
        let spki = SubjectPublicKeyInfoOwned::from_key(key.to_public_key()).map_err(|e| err(&e))?;
        let builder =
            CertificateBuilder::new(Profile::Root, serial, validity, subject, spki, &signer)
                .map_err(|e| err(&e))?;
        let certificate = builder
            .build::<rsa::pkcs1v15::Signature>()
            .map_err(|e| err(&e))?;
        let certificate_pem = certificate.to_pem(LineEnding::LF).map_err(|e| err(&e))?;
        Ok(Self {
            key,
            certificate,
            certificate_pem,
        })
    }

    /// The published certificate, PEM.
    pub fn certificate_pem(&self) -> &str {
        &self.certificate_pem
    }

    /// Sign an identity document (the exact bytes served at `…/instance-identity/document`).
    pub fn sign(&self, document: &str) -> Result<IdentitySignatures, IdentityError> {
        let signature = SigningKey::<Sha256>::new(self.key.clone())
            .try_sign(document.as_bytes())
            .map_err(|e| IdentityError::Sign(e.to_string()))?;
        let pkcs7 = self.signed_data(
            document,
            ID_SHA_1,
            &SigningKey::<Sha1>::new(self.key.clone()),
        )?;
        let rsa2048 = self.signed_data(
            document,
            ID_SHA_256,
            &SigningKey::<Sha256>::new(self.key.clone()),
        )?;
        Ok(IdentitySignatures {
            signature: wrap_base64(&signature.to_bytes()),
            pkcs7: wrap_base64(&pkcs7),
            rsa2048: wrap_base64(&rsa2048),
        })
    }

    /// PKCS#7 SignedData (DER) over `document`, attached, with the digest `digest_oid`
    /// that `signer` also uses.
    fn signed_data<S>(
        &self,
        document: &str,
        digest_oid: ObjectIdentifier,
        signer: &S,
    ) -> Result<Vec<u8>, IdentityError>
    where
        S: rsa::signature::Keypair
            + x509_cert::spki::DynSignatureAlgorithmIdentifier
            + Signer<rsa::pkcs1v15::Signature>,
    {
        let err = |e: &dyn std::fmt::Display| IdentityError::Sign(e.to_string());
        let econtent = OctetString::new(document.as_bytes()).map_err(|e| err(&e))?;
        let content = EncapsulatedContentInfo {
            econtent_type: ID_DATA,
            econtent: Some(Any::encode_from(&econtent).map_err(|e| err(&e))?),
        };
        let digest = AlgorithmIdentifierOwned {
            oid: digest_oid,
            parameters: None,
        };
        let sid = SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: self.certificate.tbs_certificate.issuer.clone(),
            serial_number: self.certificate.tbs_certificate.serial_number.clone(),
        });
        let signer_info = SignerInfoBuilder::new(signer, sid, digest.clone(), &content, None)
            .map_err(|e| err(&e))?;
        let info = SignedDataBuilder::new(&content)
            .add_digest_algorithm(digest)
            .map_err(|e| err(&e))?
            .add_certificate(CertificateChoices::Certificate(self.certificate.clone()))
            .map_err(|e| err(&e))?
            .add_signer_info::<S, rsa::pkcs1v15::Signature>(signer_info)
            .map_err(|e| err(&e))?
            .build()
            .map_err(|e| err(&e))?;
        info.to_der().map_err(|e| err(&e))
    }
}

/// A signer made on first use, so a server that is never asked for signatures never pays
/// for key generation.
#[derive(Debug)]
pub struct LazyIdentitySigner {
    dir: Option<PathBuf>,
    cell: OnceLock<Result<IdentitySigner, String>>,
}

impl LazyIdentitySigner {
    /// Keep the key in `dir` (loaded or created there on first use), or in memory when
    /// `None`.
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self {
            dir,
            cell: OnceLock::new(),
        }
    }

    /// The signer, created on the first call. A failure is remembered and returned as its
    /// message on every call.
    pub fn get(&self) -> Result<&IdentitySigner, String> {
        self.cell
            .get_or_init(|| {
                match &self.dir {
                    Some(dir) => IdentitySigner::load_or_create(dir),
                    None => IdentitySigner::generate(),
                }
                .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

fn read_optional(path: &Path) -> Result<Option<String>, IdentityError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(IdentityError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Write a file atomically: a temporary file in the same directory, fsync, rename.
fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), IdentityError> {
    use std::io::Write as _;
    let werr = |source| IdentityError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir).map_err(werr)?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(&tmp).map_err(werr)?;
    file.write_all(bytes).map_err(werr)?;
    file.sync_all().map_err(werr)?;
    std::fs::rename(&tmp, path).map_err(werr)
}

/// Standard base64, broken into lines of [`LINE_WIDTH`] without a trailing newline.
fn wrap_base64(bytes: &[u8]) -> String {
    let flat = base64::engine::general_purpose::STANDARD.encode(bytes);
    flat.as_bytes()
        .chunks(LINE_WIDTH)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use cms::content_info::ContentInfo;
    use cms::signed_data::SignedData;
    use rsa::signature::Verifier;
    use rsa::RsaPublicKey;
    use sha2::Digest as _;
    use x509_cert::der::Decode;

    /// A key made with openssl for these tests (see testdata/README.md).
    const TEST_KEY: &str = include_str!("../testdata/identity-key.pem");

    const DOCUMENT: &str = "{\n  \"accountId\" : \"123456789012\",\n  \"instanceId\" : \"i-0123456789abcdef0\",\n  \"region\" : \"us-east-1\",\n  \"version\" : \"2017-09-30\"\n}";

    fn signer_in(dir: &Path) -> IdentitySigner {
        std::fs::write(dir.join(KEY_FILE), TEST_KEY).unwrap();
        IdentitySigner::load_or_create(dir).unwrap()
    }

    fn unwrap_b64(body: &str) -> Vec<u8> {
        assert!(
            body.lines().all(|l| l.len() <= LINE_WIDTH),
            "lines over {LINE_WIDTH}"
        );
        assert!(!body.ends_with('\n'));
        base64::engine::general_purpose::STANDARD
            .decode(body.replace('\n', ""))
            .unwrap()
    }

    fn published_key(signer: &IdentitySigner) -> RsaPublicKey {
        let cert = Certificate::from_pem(signer.certificate_pem().as_bytes()).unwrap();
        use rsa::pkcs8::DecodePublicKey;
        let der = cert
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .unwrap();
        RsaPublicKey::from_public_key_der(&der).unwrap()
    }

    #[test]
    fn certificate_is_made_once_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let first = signer_in(dir.path());
        assert!(first
            .certificate_pem()
            .starts_with("-----BEGIN CERTIFICATE-----"));
        let again = IdentitySigner::load_or_create(dir.path()).unwrap();
        assert_eq!(first.certificate_pem(), again.certificate_pem());
        let on_disk = std::fs::read_to_string(dir.path().join(CERT_FILE)).unwrap();
        assert_eq!(on_disk, first.certificate_pem());
    }

    #[test]
    fn signature_verifies_with_the_published_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let signer = signer_in(dir.path());
        let sigs = signer.sign(DOCUMENT).unwrap();
        let raw = unwrap_b64(&sigs.signature);
        assert_eq!(raw.len(), KEY_BITS / 8);
        let verifier = rsa::pkcs1v15::VerifyingKey::<Sha256>::new(published_key(&signer));
        let sig = rsa::pkcs1v15::Signature::try_from(raw.as_slice()).unwrap();
        verifier.verify(DOCUMENT.as_bytes(), &sig).unwrap();
        assert!(verifier.verify(b"{}", &sig).is_err());
    }

    fn check_signed_data(body: &str, digest_oid: ObjectIdentifier, signer: &IdentitySigner) {
        let der = unwrap_b64(body);
        let info = ContentInfo::from_der(&der).unwrap();
        assert_eq!(
            info.content_type,
            ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2")
        );
        let data: SignedData = info.content.decode_as().unwrap();
        let content = data.encap_content_info.econtent.as_ref().unwrap();
        assert_eq!(content.value(), DOCUMENT.as_bytes(), "document is attached");
        let certs = data.certificates.as_ref().unwrap();
        assert_eq!(certs.0.len(), 1);
        let si = data.signer_infos.0.get(0).unwrap();
        assert_eq!(si.digest_alg.oid, digest_oid);
        let attrs = si.signed_attrs.as_ref().unwrap();
        let md_oid = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
        let md = attrs.iter().find(|a| a.oid == md_oid).unwrap();
        let md = md
            .values
            .get(0)
            .unwrap()
            .decode_as::<OctetString>()
            .unwrap();
        let expected = if digest_oid == ID_SHA_1 {
            Sha1::digest(DOCUMENT.as_bytes()).to_vec()
        } else {
            Sha256::digest(DOCUMENT.as_bytes()).to_vec()
        };
        assert_eq!(md.as_bytes(), expected.as_slice());
        let signed = attrs.to_der().unwrap();
        let sig = rsa::pkcs1v15::Signature::try_from(si.signature.as_bytes()).unwrap();
        if digest_oid == ID_SHA_1 {
            rsa::pkcs1v15::VerifyingKey::<Sha1>::new(published_key(signer))
                .verify(&signed, &sig)
                .unwrap();
        } else {
            rsa::pkcs1v15::VerifyingKey::<Sha256>::new(published_key(signer))
                .verify(&signed, &sig)
                .unwrap();
        }
    }

    #[test]
    fn pkcs7_and_rsa2048_carry_the_document_and_verify() {
        let dir = tempfile::tempdir().unwrap();
        let signer = signer_in(dir.path());
        let sigs = signer.sign(DOCUMENT).unwrap();
        check_signed_data(&sigs.pkcs7, ID_SHA_1, &signer);
        check_signed_data(&sigs.rsa2048, ID_SHA_256, &signer);
    }

    #[test]
    fn openssl_verifies_the_signatures() {
        if std::process::Command::new("openssl")
            .arg("version")
            .output()
            .is_err()
        {
            eprintln!("skipping: openssl is not installed, cannot cross-check identity signatures");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let signer = signer_in(dir.path());
        let sigs = signer.sign(DOCUMENT).unwrap();
        let d = dir.path();
        std::fs::write(d.join("document"), DOCUMENT).unwrap();
        std::fs::write(d.join("cert.pem"), signer.certificate_pem()).unwrap();
        for (name, body) in [("pkcs7", &sigs.pkcs7), ("rsa2048", &sigs.rsa2048)] {
            // As AWS documents it: wrap the body in PKCS7 PEM armour.
            let pem = format!("-----BEGIN PKCS7-----\n{body}\n-----END PKCS7-----\n");
            std::fs::write(d.join(name), pem).unwrap();
            let out = std::process::Command::new("openssl")
                .args(["smime", "-verify", "-inform", "PEM", "-noverify", "-in"])
                .arg(d.join(name))
                .arg("-certfile")
                .arg(d.join("cert.pem"))
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(String::from_utf8_lossy(&out.stdout), DOCUMENT, "{name}");
        }
        // The plain signature, against the certificate's public key.
        let raw = unwrap_b64(&sigs.signature);
        std::fs::write(d.join("sig.bin"), raw).unwrap();
        let pubkey = std::process::Command::new("openssl")
            .args(["x509", "-pubkey", "-noout", "-in"])
            .arg(d.join("cert.pem"))
            .output()
            .unwrap();
        std::fs::write(d.join("pub.pem"), pubkey.stdout).unwrap();
        let out = std::process::Command::new("openssl")
            .args(["dgst", "-sha256", "-verify"])
            .arg(d.join("pub.pem"))
            .arg("-signature")
            .arg(d.join("sig.bin"))
            .arg(d.join("document"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn a_certificate_for_another_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        signer_in(dir.path());
        let other = tempfile::tempdir().unwrap();
        let generated = IdentitySigner::load_or_create(other.path()).unwrap();
        assert!(other.path().join(KEY_FILE).exists());
        std::fs::write(dir.path().join(CERT_FILE), generated.certificate_pem()).unwrap();
        let err = IdentitySigner::load_or_create(dir.path()).unwrap_err();
        assert!(
            matches!(err, IdentityError::CertificateMismatch { .. }),
            "{err}"
        );
    }

    #[test]
    fn a_bad_key_file_is_reported_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(KEY_FILE), "not a key").unwrap();
        let err = IdentitySigner::load_or_create(dir.path()).unwrap_err();
        assert!(err.to_string().contains(KEY_FILE), "{err}");
    }

    #[test]
    fn lazy_signer_builds_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(KEY_FILE), TEST_KEY).unwrap();
        let lazy = LazyIdentitySigner::new(Some(dir.path().to_path_buf()));
        let a = lazy.get().unwrap().certificate_pem().to_string();
        assert_eq!(a, lazy.get().unwrap().certificate_pem());
    }
}
