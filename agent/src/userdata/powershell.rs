//! PowerShell user data as EC2 writes it for Windows (EC2Launch): `<powershell>…</powershell>`
//! holds a PowerShell script, `<script>…</script>` a batch script, and
//! `<persist>true</persist>` asks for it to run on every boot instead of once. strap runs
//! the PowerShell through `pwsh`; it never runs batch scripts. Pure parsing, no I/O.

use super::Frequency;

/// The pieces of a `text/x-powershell` part.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PowershellData {
    /// The text between `<powershell>` tags (all blocks, in order, joined by newlines).
    pub powershell: Option<String>,
    /// The text between `<script>` tags (batch: not run by strap).
    pub batch: Option<String>,
    /// `<persist>true</persist>`.
    pub persist: bool,
}

impl PowershellData {
    /// How often EC2Launch runs it: every boot when persisted, else once per instance.
    pub fn frequency(&self) -> Frequency {
        if self.persist {
            Frequency::Always
        } else {
            Frequency::PerInstance
        }
    }
}

/// The blocks between `<tag>` and `</tag>` (case-insensitive), joined by newlines.
fn blocks(text: &str, tag: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(start) = lower[at..].find(&open).map(|i| at + i + open.len()) {
        let end = lower[start..]
            .find(&close)
            .map_or(text.len(), |i| start + i);
        found.push(text[start..end].to_string());
        at = (end + close.len()).min(text.len());
    }
    (!found.is_empty()).then(|| found.join("\n"))
}

/// Parse a `text/x-powershell` payload.
pub fn parse(payload: &[u8]) -> PowershellData {
    let text = String::from_utf8_lossy(payload);
    PowershellData {
        powershell: blocks(&text, "powershell"),
        batch: blocks(&text, "script"),
        persist: blocks(&text, "persist").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_and_persist() {
        let d = parse(b"<PowerShell>\nWrite-Host hi\n</PowerShell>\n<persist>true</persist>\n");
        assert_eq!(d.powershell.as_deref(), Some("\nWrite-Host hi\n"));
        assert!(d.persist);
        assert_eq!(d.frequency(), Frequency::Always);
        assert_eq!(d.batch, None);
    }

    #[test]
    fn batch_and_unclosed() {
        let d = parse(b"<script>echo hi</script><powershell>Write-Host x");
        assert_eq!(d.batch.as_deref(), Some("echo hi"));
        assert_eq!(d.powershell.as_deref(), Some("Write-Host x"));
        assert!(!d.persist);
        assert_eq!(d.frequency(), Frequency::PerInstance);
    }
}
