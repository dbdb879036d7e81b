//! The metadata service inside the sandbox: the mock (`imds_mock`) bound on
//! 169.254.169.254:80 in the sandbox's network namespace, serving the user data being
//! tried, and giving each relaunch a new instance-id. It only runs in the sandbox process.

use std::path::Path;

use super::{SandboxError, IMDS_ADDR, IMDS_PORT};

/// The running metadata service.
pub struct Metadata {
    mock: imds_mock::RunningMock,
}

impl Metadata {
    /// Serve `user_data`, with the rest of the instance from the mock configuration at
    /// `config` (YAML) or the mock's defaults. Must run inside the sandbox's network
    /// namespace, where the metadata address is on `lo`.
    pub async fn start(config: Option<&Path>, user_data: &[u8]) -> Result<Self, SandboxError> {
        let mut config = match config {
            Some(path) => {
                imds_mock::Config::from_file(path).map_err(|e| SandboxError::Metadata {
                    message: format!("cannot read the mock configuration {}: {e}", path.display()),
                })?
            }
            None => imds_mock::Config::default(),
        };
        config.user_data = Some(user_data.to_vec());
        config.user_data_file = None;
        config.listen = format!("{IMDS_ADDR}:{IMDS_PORT}");
        let mock = imds_mock::spawn(config).await.map_err(|e| {
            let mut message = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            SandboxError::Metadata { message }
        })?;
        Ok(Self { mock })
    }

    /// A new instance from the same image: a new instance-id.
    pub fn launch_new_instance(&self) {
        let id = self.mock.state().launch_new_instance();
        tracing::info!("relaunching as {id}");
    }

    /// The current instance-id.
    pub fn instance_id(&self) -> Option<String> {
        Some(self.mock.state().instance_id())
    }

    /// Stop serving.
    pub async fn stop(self) {
        self.mock.shutdown().await;
    }
}
