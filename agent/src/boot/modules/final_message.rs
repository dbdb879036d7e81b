//! `final_message` (every run): the message (cloud-config `final_message`, or strap's
//! default) rendered with `$version`, `$timestamp`, `$datasource`, `$uptime` (also
//! upper-case, and `{{ name }}` for a `## template: jinja` message), written to the
//! output log and stderr; then `instance/boot-finished`.

use super::super::context::{epoch, Boot, VERSION};
use super::{scalar_text, ModuleError, Outcome};

/// The default message (cloud-init's, with strap's name).
pub const DEFAULT_MESSAGE: &str =
    "strap v. $version finished at $timestamp. Datasource $datasource.  Up $uptime seconds";

/// Seconds since the machine started (`/proc/uptime`), or since the boot began.
fn uptime(boot: &Boot<'_>) -> String {
    std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|t| t.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| format!("{:.2}", epoch(boot.ctx.now()) - boot.report.started))
}

/// Substitute `$name`, `${name}` and `{{ name }}`; an unknown name is an error.
pub fn render(template: &str, vars: &[(&str, String)]) -> Result<String, String> {
    let lookup = |name: &str| {
        vars.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .ok_or_else(|| format!("unknown variable `{name}` in final_message"))
    };
    let text = template
        .strip_prefix("## template: jinja\n")
        .unwrap_or(template);
    let mut out = String::new();
    let mut rest = text;
    while let Some(pos) = rest.find(['$', '{']) {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        if let Some(inner) = tail.strip_prefix("{{") {
            if let Some(end) = inner.find("}}") {
                out.push_str(&lookup(inner[..end].trim())?);
                rest = &inner[end + 2..];
                continue;
            }
        } else if let Some(inner) = tail.strip_prefix("${") {
            if let Some(end) = inner.find('}') {
                out.push_str(&lookup(&inner[..end])?);
                rest = &inner[end + 1..];
                continue;
            }
        } else if let Some(inner) = tail.strip_prefix('$') {
            let len = inner
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(inner.len());
            if len > 0 {
                out.push_str(&lookup(&inner[..len])?);
                rest = &inner[len..];
                continue;
            }
        }
        out.push_str(&tail[..1]);
        rest = &tail[1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `final_message`.
pub fn final_message(boot: &mut Boot<'_>) -> Result<Outcome, ModuleError> {
    let template = boot
        .cfg("final_message")
        .and_then(scalar_text)
        .unwrap_or_else(|| DEFAULT_MESSAGE.to_string());
    let now: chrono::DateTime<chrono::Utc> = boot.ctx.now().into();
    let timestamp = now.to_rfc2822();
    let up = uptime(boot);
    let vars = [
        ("version", VERSION.to_string()),
        ("timestamp", timestamp.clone()),
        ("datasource", boot.report.datasource.clone()),
        ("uptime", up.clone()),
    ];
    let message = render(&template, &vars).map_err(|message| ModuleError::Invalid {
        key: "final_message".into(),
        message,
    })?;
    boot.out.message(&message);
    boot.log.line("INFO", &message);
    let finished = boot.instance_dir.join("boot-finished");
    crate::boot::durable::write_rebuilt(
        &boot.paths.root,
        &finished,
        format!("{up} - {timestamp} - v. {VERSION}\n").as_bytes(),
        Some(0o644),
    )
    .map_err(|source| ModuleError::Path {
        path: finished.display().to_string(),
        source,
    })?;
    Ok(Outcome::ran())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_basic_and_jinja_forms() {
        let vars = [("version", "1".to_string()), ("uptime", "2.5".to_string())];
        assert_eq!(
            render("v$version up ${UPTIME}s", &vars).unwrap(),
            "v1 up 2.5s"
        );
        assert_eq!(
            render("## template: jinja\n{{ version }} $", &vars).unwrap(),
            "1 $"
        );
        assert!(render("$nope", &vars).unwrap_err().contains("nope"));
    }
}
