//! What strap does with a part of each content type, and when (spec 1.8, 2.4, 3.1): one
//! table that `strap userdata inspect` prints and the boot follows, so the two agree.

use super::content_type as ct;

/// The boot stage in which a part takes effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// The network (init) stage, as soon as user data is processed.
    Init,
    /// The config stage.
    Config,
    /// The final stage (`scripts-user`, `scripts-per-*`).
    Final,
    /// Never: the part is refused or ignored.
    Never,
}

/// How often it takes effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Frequency {
    /// Every boot.
    Always,
    /// Once per instance id.
    PerInstance,
    /// Once for the life of the machine image.
    Once,
    /// Not applicable (refused, ignored).
    Never,
}

/// What is done with the part.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Written to the instance's boothooks folder and executed immediately.
    RunBoothook,
    /// Merged into the instance's cloud-config; its modules run in their own stages.
    MergeCloudConfig,
    /// Written to `instance/scripts/` and run by `scripts-user`.
    RunScript,
    /// Written to `scripts/per-boot|per-instance|per-once/` and run from there.
    RunScriptByFrequency,
    /// Rendered against the instance data, then handled as what it renders to.
    RenderTemplate,
    /// Run through `pwsh` (EC2's PowerShell user data).
    RunPowershell,
    /// systemd user data: its credentials written to `/run/credstore` (and
    /// `/run/credstore.encrypted`), as `systemd-imds --import` writes them.
    ImportCredentials,
    /// Recognised but not supported by strap (`#part-handler`, `#cloud-config-jsonp`).
    Refuse,
    /// Not recognised: skipped with cloud-init's warning.
    Ignore,
}

/// What strap will do with a part and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Disposition {
    pub stage: Stage,
    pub frequency: Frequency,
    pub action: Action,
}

impl Disposition {
    /// A short human description (`run by scripts-user in final, once per instance`).
    pub fn describe(&self) -> &'static str {
        match (self.action, self.frequency) {
            (Action::RunBoothook, _) => "boothook: run early in init, every boot",
            (Action::MergeCloudConfig, _) => {
                "cloud-config: merged, its modules run in init, config and final"
            }
            (Action::RunScript, _) => "script: run by scripts-user in final, once per instance",
            (Action::RunScriptByFrequency, Frequency::Always) => {
                "script: run from scripts/per-boot in final, every boot"
            }
            (Action::RunScriptByFrequency, Frequency::Once) => {
                "script: run from scripts/per-once in final, once ever"
            }
            (Action::RunScriptByFrequency, _) => {
                "script: run from scripts/per-instance in final, once per instance"
            }
            (Action::RenderTemplate, _) => {
                "jinja template: rendered against instance data, then handled as what it renders to"
            }
            (Action::RunPowershell, _) => "powershell: run with pwsh in final, once per instance",
            (Action::ImportCredentials, _) => {
                "systemd credentials: written to /run/credstore in init, every boot"
            }
            (Action::Refuse, _) => "refused: not supported by strap",
            (Action::Ignore, _) => "ignored: unhandled content type",
        }
    }
}

/// What strap will do with a part of this content type, and when.
pub fn disposition(content_type: &str) -> Disposition {
    let d = |stage, frequency, action| Disposition {
        stage,
        frequency,
        action,
    };
    let bare = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match bare.as_str() {
        ct::BOOTHOOK => d(Stage::Init, Frequency::Always, Action::RunBoothook),
        ct::CLOUD_CONFIG => d(Stage::Init, Frequency::Always, Action::MergeCloudConfig),
        ct::SHELLSCRIPT => d(Stage::Final, Frequency::PerInstance, Action::RunScript),
        ct::SHELLSCRIPT_PER_BOOT => d(
            Stage::Final,
            Frequency::Always,
            Action::RunScriptByFrequency,
        ),
        ct::SHELLSCRIPT_PER_INSTANCE => d(
            Stage::Final,
            Frequency::PerInstance,
            Action::RunScriptByFrequency,
        ),
        ct::SHELLSCRIPT_PER_ONCE => d(Stage::Final, Frequency::Once, Action::RunScriptByFrequency),
        ct::JINJA => d(Stage::Init, Frequency::Always, Action::RenderTemplate),
        ct::POWERSHELL => d(Stage::Final, Frequency::PerInstance, Action::RunPowershell),
        ct::SYSTEMD_USERDATA => d(Stage::Init, Frequency::Always, Action::ImportCredentials),
        ct::PART_HANDLER | ct::CLOUD_CONFIG_JSONP => {
            d(Stage::Never, Frequency::Never, Action::Refuse)
        }
        _ => d(Stage::Never, Frequency::Never, Action::Ignore),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        assert_eq!(disposition(ct::BOOTHOOK).action, Action::RunBoothook);
        assert_eq!(disposition(ct::BOOTHOOK).frequency, Frequency::Always);
        assert_eq!(
            disposition("Text/Cloud-Config; charset=utf-8").action,
            Action::MergeCloudConfig
        );
        assert_eq!(disposition(ct::SHELLSCRIPT).stage, Stage::Final);
        assert_eq!(
            disposition(ct::SHELLSCRIPT).frequency,
            Frequency::PerInstance
        );
        assert_eq!(
            disposition(ct::SHELLSCRIPT_PER_BOOT).frequency,
            Frequency::Always
        );
        assert_eq!(
            disposition(ct::SHELLSCRIPT_PER_ONCE).frequency,
            Frequency::Once
        );
        assert_eq!(disposition(ct::PART_HANDLER).action, Action::Refuse);
        assert_eq!(disposition(ct::CLOUD_CONFIG_JSONP).action, Action::Refuse);
        assert_eq!(disposition(ct::NOT_MULTIPART).action, Action::Ignore);
        assert_eq!(
            disposition(ct::SYSTEMD_USERDATA).action,
            Action::ImportCredentials
        );
        assert_eq!(disposition("application/octet-stream").stage, Stage::Never);
    }
}
