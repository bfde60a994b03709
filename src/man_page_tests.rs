//! The committed man page and shell completions are generated from the clap definitions and
//! must be current (the Debian package installs them). Regenerate with `scripts/gen-man`
//! (NPU_WHISPER_BLESS=1 makes these tests write them).

use std::path::PathBuf;

fn render() -> Vec<u8> {
    crate::cli::man_page()
}

#[test]
fn man_page_is_current() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("man/npu-whisper.1");
    let fresh = render();
    if std::env::var_os("NPU_WHISPER_BLESS").is_some() {
        std::fs::write(&path, &fresh).unwrap();
        return;
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    // Every subcommand's flags are in the page, not only the global ones.
    let text = String::from_utf8_lossy(&fresh);
    for flag in [
        "word\\-timestamps",
        "vad\\-min\\-silence\\-duration\\-ms",
        "beam\\-size",
        "kv\\-storage",
        "cpu\\-ops",
        "max\\-line\\-width",
    ] {
        assert!(text.contains(flag), "the man page lacks {flag}");
    }
    // One page is installed: it names no per-subcommand pages (`man npu-whisper-encode` would
    // find nothing).
    assert!(
        !text.contains("npu\\-whisper\\-encode(1)") && !text.contains("whisper\\-serve(1)"),
        "the man page names pages that are not shipped"
    );
    assert!(text.contains("\\fBnpu\\-whisper encode\\fR (section ENCODE below)"));
    assert!(
        committed == fresh,
        "man/npu-whisper.1 is stale: run scripts/gen-man and commit the result"
    );
}

#[test]
fn completions_are_current() {
    use clap_complete::Shell;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("completions");
    for (shell, file, marker) in [
        (Shell::Bash, "npu-whisper.bash", "complete -F _npu__whisper"),
        (Shell::Zsh, "_npu-whisper", "#compdef npu-whisper"),
        (Shell::Fish, "npu-whisper.fish", "complete -c npu-whisper"),
    ] {
        let fresh = crate::cli::completion_script(shell);
        let text = String::from_utf8_lossy(&fresh);
        assert!(text.contains(marker), "{file}: no `{marker}`");
        assert!(
            text.contains("beam-size"),
            "{file}: transcribe's options are missing"
        );
        let path = dir.join(file);
        if std::env::var_os("NPU_WHISPER_BLESS").is_some() {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &fresh).unwrap();
            continue;
        }
        let committed = std::fs::read(&path).unwrap_or_default();
        assert!(
            committed == fresh,
            "completions/{file} is stale: run scripts/gen-man and commit the result"
        );
    }
}
