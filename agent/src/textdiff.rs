//! A unified diff of two small texts, line by line (a longest-common-subsequence table,
//! which is fine for the small files `--diff` shows), in the format of `diff -u`.

/// Largest `old lines × new lines` table this will build.
const MAX_CELLS: usize = 4_000_000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Keep,
    Del,
    Add,
}

/// The unified diff of `old` and `new` with `context` lines around each change, headed
/// `--- a<path>` / `+++ b<path>`; empty when equal, `None` when too large to compare.
pub fn unified(old: &str, new: &str, path: &str, context: usize) -> Option<String> {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    if (a.len() + 1).saturating_mul(b.len() + 1) > MAX_CELLS {
        return None;
    }
    if a == b {
        return Some(String::new());
    }
    // lcs[i][j]: length of the common subsequence of a[i..] and b[j..].
    let width = b.len() + 1;
    let mut lcs = vec![0u32; (a.len() + 1) * width];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i * width + j] = if a[i] == b[j] {
                lcs[(i + 1) * width + j + 1] + 1
            } else {
                lcs[(i + 1) * width + j].max(lcs[i * width + j + 1])
            };
        }
    }
    let mut ops = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            ops.push((Op::Keep, i, j));
            i += 1;
            j += 1;
        } else if i < a.len()
            && (j == b.len() || lcs[(i + 1) * width + j] >= lcs[i * width + j + 1])
        {
            // Deletions first, as `diff -u` prints them.
            ops.push((Op::Del, i, j));
            i += 1;
        } else {
            ops.push((Op::Add, i, j));
            j += 1;
        }
    }
    let mut out = format!("--- a{path}\n+++ b{path}\n");
    let mut k = 0;
    while k < ops.len() {
        if ops[k].0 == Op::Keep {
            k += 1;
            continue;
        }
        // A hunk: from `context` lines before this change to `context` lines after the
        // last change that is within 2×context of the previous one.
        let start = k.saturating_sub(context);
        let mut end = k;
        let mut last_change = k;
        while end < ops.len() {
            if ops[end].0 != Op::Keep {
                last_change = end;
            } else if end - last_change > 2 * context {
                break;
            }
            end += 1;
        }
        let end = (last_change + context + 1).min(ops.len());
        let hunk = &ops[start..end];
        let old_start = hunk[0].1;
        let new_start = hunk[0].2;
        let old_len = hunk.iter().filter(|o| o.0 != Op::Add).count();
        let new_len = hunk.iter().filter(|o| o.0 != Op::Del).count();
        let range = |s: usize, n: usize| {
            if n == 0 {
                format!("{s},0")
            } else {
                format!("{},{n}", s + 1)
            }
        };
        out.push_str(&format!(
            "@@ -{} +{} @@\n",
            range(old_start, old_len),
            range(new_start, new_len)
        ));
        for (op, i, j) in hunk {
            match op {
                Op::Keep => out.push_str(&format!(" {}\n", a[*i])),
                Op::Del => out.push_str(&format!("-{}\n", a[*i])),
                Op::Add => out.push_str(&format!("+{}\n", b[*j])),
            }
        }
        k = end;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_have_an_empty_diff() {
        assert_eq!(unified("a\nb\n", "a\nb\n", "/x", 3).unwrap(), "");
    }

    #[test]
    fn a_changed_line_is_one_hunk_with_context() {
        let old = "1\n2\n3\n4\n5\n6\n7\n8\n";
        let new = "1\n2\n3\n4\nfive\n6\n7\n8\n";
        let diff = unified(old, new, "/etc/x", 3).unwrap();
        assert_eq!(
            diff,
            "--- a/etc/x\n+++ b/etc/x\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n"
        );
    }

    #[test]
    fn a_new_file_is_all_additions() {
        let diff = unified("", "a\nb\n", "/new", 3).unwrap();
        assert_eq!(diff, "--- a/new\n+++ b/new\n@@ -0,0 +1,2 @@\n+a\n+b\n");
    }

    #[test]
    fn distant_changes_are_separate_hunks() {
        let old: String = (1..=20).map(|n| format!("l{n}\n")).collect();
        let new = old.replace("l2\n", "two\n").replace("l19\n", "nineteen\n");
        let diff = unified(&old, &new, "/f", 1).unwrap();
        assert_eq!(diff.matches("@@ -").count(), 2, "{diff}");
    }
}
