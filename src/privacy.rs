//! Pseudonymised runs (`[privacy] pseudonymize = true`): the key, and the one mask
//! applied to every piece of free text — reject messages and raw rows, file paths,
//! header names, stderr lines — before it leaves the process.
//!
//! **The key** is the value of `LEDGERFLOW_PSEUDONYM_KEY`, used as given: its bytes
//! (no trimming, no hex or base64 decoding) are the HMAC key, so `person_key` values
//! stay the same for a given variable. It must be at least [`MIN_KEY_BYTES`] bytes and
//! not only whitespace; `openssl rand -hex 32` gives a good one.
//!
//! **ID-like text** is a span that starts and ends with a digit (ASCII `0-9` or
//! full-width `０-９`), may end with a check character `x`/`X`/`ｘ`/`Ｘ` right after its
//! last digit, has only separators between its digits (any run of ASCII space, tab,
//! line break, `-`, no-break space U+00A0, ideographic space U+3000, full-width hyphen
//! U+FF0D, and the escapes `\n`, `\r`, `\t` a quoted value shows line breaks as) and
//! holds at least [`MIN_ID_DIGITS`] digits (first-generation IDs had 15). Such a span
//! is replaced whole by the lowercase hex HMAC-SHA256 of its normalised text — digits
//! made ASCII, separators dropped, `x` upper-cased — so a valid ID written any of these
//! ways masks to exactly its `person_key`, and analysts can still join a reject to a
//! person. Any other character ends a span; a shorter run of digits stays as it is.

use crate::config::Pipeline;
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The shortest accepted key, in bytes: 256 bits when every byte is random. IDs are
/// few and structured, so a short key can be found by trying keys against one known
/// ID's `person_key`.
pub const MIN_KEY_BYTES: usize = 32;

/// Digits that make a span ID-like.
pub const MIN_ID_DIGITS: usize = 15;

/// Why the value of `LEDGERFLOW_PSEUDONYM_KEY` cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyProblem {
    NotSet,
    TooShort(usize),
    Whitespace,
}

impl KeyProblem {
    pub fn message(self) -> String {
        match self {
            KeyProblem::NotSet => {
                "the environment variable LEDGERFLOW_PSEUDONYM_KEY is not set".into()
            }
            KeyProblem::TooShort(n) => format!(
                "the key in LEDGERFLOW_PSEUDONYM_KEY is too short ({n} bytes; at least {MIN_KEY_BYTES} are required, e.g. `openssl rand -hex 32`)"
            ),
            KeyProblem::Whitespace => {
                "the key in LEDGERFLOW_PSEUDONYM_KEY holds only whitespace".into()
            }
        }
    }
}

/// Checks a key value (`None`: the variable is not set) and returns its bytes.
pub fn check_key(value: Option<&[u8]>) -> Result<Vec<u8>, KeyProblem> {
    let v = value.ok_or(KeyProblem::NotSet)?;
    if !v.is_empty() && v.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(KeyProblem::Whitespace);
    }
    if v.len() < MIN_KEY_BYTES {
        return Err(KeyProblem::TooShort(v.len()));
    }
    Ok(v.to_vec())
}

/// The value of `LEDGERFLOW_PSEUDONYM_KEY`, checked (non-UTF-8 bytes are kept as
/// they are).
pub fn key_from_env() -> Result<Vec<u8>, KeyProblem> {
    let value = std::env::var_os("LEDGERFLOW_PSEUDONYM_KEY");
    #[cfg(unix)]
    let bytes = value
        .as_ref()
        .map(|v| std::os::unix::ffi::OsStrExt::as_bytes(v.as_os_str()).to_vec());
    #[cfg(not(unix))]
    let bytes = value.map(|v| v.to_string_lossy().into_owned().into_bytes());
    check_key(bytes.as_deref())
}

/// The ASCII digit of an ASCII or full-width digit.
fn digit(c: char) -> Option<char> {
    match c {
        '0'..='9' => Some(c),
        '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32),
        _ => None,
    }
}

fn is_separator(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t' | '\n' | '\r' | '-' | '\u{a0}' | '\u{3000}' | '\u{ff0d}'
    )
}

fn is_check_x(c: char) -> bool {
    matches!(c, 'x' | 'X' | 'ｘ' | 'Ｘ')
}

/// `text` with every ID-like span (see the module docs) replaced by `replace` of its
/// normalised form.
pub fn mask_with(text: &str, replace: impl Fn(&str) -> String) -> String {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0; // byte offset of `text` copied to `out` so far
    let mut i = 0;
    while i < chars.len() {
        if digit(chars[i].1).is_none() {
            i += 1;
            continue;
        }
        // A span from chars[i]: digits, separator runs followed by a digit, then an x.
        let mut norm = String::new();
        let mut j = i; // one past the span's last character
        let mut k = i;
        while k < chars.len() {
            if let Some(d) = digit(chars[k].1) {
                norm.push(d);
                k += 1;
                j = k;
            } else if is_separator(chars[k].1) {
                k += 1;
            } else if chars[k].1 == '\\'
                && chars
                    .get(k + 1)
                    .is_some_and(|c| matches!(c.1, 'n' | 'r' | 't'))
            {
                // A reject message quotes a value with escapes: `"370202\n1985…"`.
                k += 2;
            } else {
                break;
            }
        }
        if j < chars.len() && is_check_x(chars[j].1) {
            norm.push('X');
            j += 1;
        }
        let digits = norm.bytes().filter(u8::is_ascii_digit).count();
        if digits >= MIN_ID_DIGITS {
            let (start, end) = (chars[i].0, chars.get(j).map_or(text.len(), |c| c.0));
            out.push_str(&text[copied..start]);
            out.push_str(&replace(&norm));
            copied = end;
        }
        i = j.max(i + 1);
    }
    out.push_str(&text[copied..]);
    out
}

/// [`mask_with`] the HMAC-SHA256 under `key` (lowercase hex).
pub fn mask(key: &[u8], text: &str) -> String {
    mask_with(text, |norm| {
        crate::digest::hmac_sha256_hex(key, norm.as_bytes())
    })
}

/// The key of this process's pseudonymised run, once it is known.
static PROCESS_KEY: OnceLock<Vec<u8>> = OnceLock::new();

/// Records the key of this process's run, so that [`shown`] masks every line the
/// process prints from now on (one pipeline per process; later calls change nothing).
pub fn set_process_key(key: &[u8]) {
    let _ = PROCESS_KEY.set(key.to_vec());
}

/// Text as this process may show it — in stderr and stdout lines, error messages, the
/// manifest's paths and names: masked once the run is known to be pseudonymised.
pub fn shown(text: &str) -> String {
    match PROCESS_KEY.get() {
        Some(k) => mask(k, text),
        None => text.to_string(),
    }
}

/// Set once the process's pipeline is known not to be pseudonymised.
static PROCESS_PLAIN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Records that this process's pipeline is not pseudonymised (see [`shown_early`]).
pub fn set_process_plain() {
    PROCESS_PLAIN.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// [`shown`] for an error line, which may come before the process knows whether its
/// pipeline is pseudonymised (a wrong command line, a pipeline file that does not
/// load, a bug): until a plain pipeline is known, text is masked with the key in
/// `LEDGERFLOW_PSEUDONYM_KEY` whenever that holds a usable one — the deployments
/// that pseudonymise set it for every run.
pub fn shown_early(text: &str) -> String {
    if PROCESS_KEY.get().is_some() || PROCESS_PLAIN.load(std::sync::atomic::Ordering::Relaxed) {
        return shown(text);
    }
    match key_from_env() {
        Ok(key) => mask(&key, text),
        Err(_) => text.to_string(),
    }
}

/// Where a run keeps the working files that hold raw IDs and reversible person
/// numbers: the ledger cache and carry-forward state of `run --incremental` (`cache`)
/// and the spill files of a bucketed run (`spill`, this process's own folder).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateDirs {
    pub cache: PathBuf,
    /// `None`: the run's own staging folder (`OUT/_staging/<run>/spill/`, see
    /// [`crate::store::Staging`]), removed with it.
    pub spill: Option<PathBuf>,
}

/// The working folders of a pipeline's runs. With `[privacy] state_dir` they live
/// there (`cache/`, `spill/run-<pid>/`), in a folder made mode 0700 (only the job's
/// user may enter it) that must lie outside the output folder and not hold it (its
/// mode would lock analysts out); spill folders of runs
/// that are no longer alive are removed. Without it a pseudonymised pipeline has no
/// place for them (an error naming the key); other pipelines keep the old places
/// `OUT/_cache/` and the run's staging folder `OUT/_staging/<run>/spill/`.
pub fn state_dirs(pipeline: &Pipeline) -> Result<StateDirs> {
    let Some(dir) = &pipeline.state_dir else {
        if pipeline.pseudonymize {
            return Err(Error::config(
                &pipeline.path,
                "[privacy] key `state_dir`: missing; a pseudonymised run with --incremental or in memory buckets keeps raw IDs in its caches and spill files, which need a private folder outside the output folder",
            ));
        }
        return Ok(StateDirs {
            cache: pipeline.out_dir.join("_cache"),
            spill: None,
        });
    };
    make_private_dir(dir)?;
    let state = dir
        .canonicalize()
        .map_err(|e| Error::output(dir, format!("cannot resolve the state folder: {e}")))?;
    let out = pipeline
        .out_dir
        .canonicalize()
        .unwrap_or_else(|_| std::path::absolute(&pipeline.out_dir).unwrap_or_default());
    // Inside OUT analysts could read it; holding OUT, its mode 0700 would lock them out.
    if state.starts_with(&out) || out.starts_with(&state) {
        return Err(Error::config(
            &pipeline.path,
            format!(
                "[privacy] key `state_dir`: {} and the output folder {} are nested; the state folder must be outside the output folder and not hold it",
                shown(&dir.display().to_string()),
                shown(&pipeline.out_dir.display().to_string())
            ),
        ));
    }
    let spill = dir.join("spill");
    remove_dead_spills(&spill);
    Ok(StateDirs {
        cache: dir.join("cache"),
        spill: Some(spill.join(format!("run-{}", std::process::id()))),
    })
}

/// Creates `dir` (and missing parents) and makes it mode 0700.
fn make_private_dir(dir: &Path) -> Result<()> {
    let fail = |what: &str, e: std::io::Error| Error::output(dir, format!("{what}: {e}"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| fail("cannot create the state folder", e))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| fail("cannot make the state folder private (mode 0700)", e))
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir).map_err(|e| fail("cannot create the state folder", e))
}

/// Removes the spill folders `spill/run-<pid>` of processes that no longer run (a
/// killed bucketed run); a live run's folder is left alone.
fn remove_dead_spills(spill: &Path) {
    let Ok(entries) = std::fs::read_dir(spill) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let alive = name
            .strip_prefix("run-")
            .and_then(|p| p.parse::<u32>().ok())
            .is_some_and(|pid| Path::new("/proc").join(pid.to_string()).exists());
        if !alive {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(text: &str) -> String {
        mask_with(text, |n| format!("<{n}>"))
    }

    #[test]
    fn every_written_form_of_an_id_masks_to_its_normalised_text() {
        let id = "<44010019800101003X>";
        assert_eq!(tag("44010019800101003x"), id);
        assert_eq!(tag("44010019800101003X"), id);
        assert_eq!(tag("440100 19800101003x"), id);
        assert_eq!(tag("440100-1980-0101-003X"), id);
        assert_eq!(tag("440100\u{3000}19800101003x"), id);
        assert_eq!(tag("４４０１００１９８００１０１００３ｘ"), id);
        assert_eq!(tag("４４０１００ 19800101003Ｘ"), id);
        // A quoted CSV field with a line break (an Excel cell with Alt+Enter), raw and
        // as a reject message quotes it.
        assert_eq!(tag("440100\n19800101003x"), id);
        assert_eq!(tag("440100\r\n19800101003x"), id);
        assert_eq!(tag("\"440100\\n19800101003x\""), format!("\"{id}\""));
        // Around it, everything stays; the span is replaced whole, separators inside.
        assert_eq!(
            tag("ledger/ledger-440100 198001010037.csv"),
            "ledger/ledger-<440100198001010037>.csv"
        );
        assert_eq!(
            tag("a,440100198001010037 ,2025-01"),
            "a,<440100198001010037> ,2025-01"
        );
        assert_eq!(tag("id440100198001010037x9"), "id<440100198001010037X>9");
    }

    #[test]
    fn short_runs_and_other_numbers_stay() {
        for s in [
            "12345678901234",
            "1234567 1234567",
            "2025-01-20,2025-02-20",
            "800.00,8000.00,2025-01-20,370200",
            "line 12: 123456789012345.6",
            "x123456789012",
            "",
            "短 12345678901234 ok",
        ] {
            let masked = tag(s);
            assert_eq!(
                masked,
                if s == "line 12: 123456789012345.6" {
                    "line 12: <123456789012345>.6".to_string()
                } else {
                    s.to_string()
                }
            );
        }
        // 15 digits across separators count; 14 do not.
        assert_eq!(tag("12345 67890 12345"), "<123456789012345>");
        assert_eq!(tag("12345 67890 1234"), "12345 67890 1234");
        // Separators around a span are not part of it.
        assert_eq!(tag("- 123456789012345 -"), "- <123456789012345> -");
    }

    #[test]
    fn a_valid_id_masks_to_its_person_key() {
        let key = b"0123456789abcdef0123456789abcdef";
        let person_key = crate::digest::hmac_sha256_hex(key, b"11010519491231002X");
        assert_eq!(mask(key, "１１０１０５ 19491231002x"), person_key);
    }

    #[test]
    fn weak_keys_are_refused_with_the_reason() {
        assert_eq!(check_key(None), Err(KeyProblem::NotSet));
        assert_eq!(check_key(Some(b"a")), Err(KeyProblem::TooShort(1)));
        assert_eq!(check_key(Some(b"")), Err(KeyProblem::TooShort(0)));
        assert_eq!(check_key(Some(b"   ")), Err(KeyProblem::Whitespace));
        assert_eq!(check_key(Some(&[b' '; 40])), Err(KeyProblem::Whitespace));
        let k31 = [b'k'; 31];
        assert_eq!(check_key(Some(&k31)), Err(KeyProblem::TooShort(31)));
        assert_eq!(check_key(Some(&[b'k'; 32])), Ok(vec![b'k'; 32]));
        assert!(KeyProblem::TooShort(1).message().contains("too short"));
        assert!(!KeyProblem::TooShort(1).message().contains("not set"));
    }
}
