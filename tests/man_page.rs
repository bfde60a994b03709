//! The committed man page is generated from the clap definitions and must be current.
//! Regenerate with `scripts/gen-man` (NPU_WHISPER_BLESS=1 makes this test write it).

use std::path::PathBuf;

fn render() -> Vec<u8> {
    npu_whisper::cli::man_page()
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
    assert!(
        committed == fresh,
        "man/npu-whisper.1 is stale: run scripts/gen-man and commit the result"
    );
}
