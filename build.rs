//! With the `xrt` feature, compile the XRT shim (src/npu/xrt/shim.cpp) into its own shared
//! library against the XRT found through XRT_ROOT (the prefix holding include/xrt/ and lib/ or
//! lib/x86_64-linux-gnu/: /opt/xilinx/xrt for AMD's packages, /usr for Debian's). The main binary
//! never links it: it is loaded at run time, so a machine without XRT still runs the CPU path.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/npu/xrt/shim.cpp");
    println!("cargo:rerun-if-env-changed=XRT_ROOT");
    println!("cargo:rerun-if-env-changed=CXX");
    // The git revision for bench's machine fingerprint ("unknown" outside a checkout).
    let rev = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=NPU_WHISPER_GIT_REV={rev}");
    // `--version`: the revision and the optional features this binary was built with (as
    // ripgrep prints its features), so a bug report says exactly what ran.
    let xrt = if std::env::var_os("CARGO_FEATURE_XRT").is_some() {
        "+xrt"
    } else {
        "-xrt"
    };
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    println!("cargo:rustc-env=NPU_WHISPER_LONG_VERSION={version} (rev {rev}, features: {xrt})");
    println!("cargo:rerun-if-changed=.git/HEAD");
    // HEAD names a branch; a commit moves the branch's ref (or packed-refs), not HEAD.
    if let Ok(head) = std::fs::read_to_string(".git/HEAD")
        && let Some(branch_ref) = head.trim().strip_prefix("ref: ")
    {
        for path in [format!(".git/{branch_ref}"), ".git/packed-refs".to_string()] {
            // A path that does not exist would make cargo rerun this script on every build.
            if std::path::Path::new(&path).exists() {
                println!("cargo:rerun-if-changed={path}");
            }
        }
    }
    if std::env::var_os("CARGO_FEATURE_XRT").is_none() {
        return;
    }
    let roots: Vec<PathBuf> = match std::env::var_os("XRT_ROOT") {
        Some(r) => vec![PathBuf::from(r)],
        None => vec![PathBuf::from("/opt/xilinx/xrt"), PathBuf::from("/usr")],
    };
    let Some(root) = roots
        .iter()
        .find(|r| r.join("include/xrt/xrt_hw_context.h").exists())
    else {
        panic!(
            "feature `xrt`: no XRT >= 2.19 headers (include/xrt/xrt_hw_context.h) under {}; set XRT_ROOT to the prefix holding include/xrt/ and lib/",
            roots
                .iter()
                .map(|r| r.display().to_string())
                .collect::<Vec<_>>()
                .join(" or ")
        );
    };
    let lib_dir = [root.join("lib"), root.join("lib/x86_64-linux-gnu")]
        .into_iter()
        .find(|d| d.join("libxrt_coreutil.so").exists())
        .unwrap_or_else(|| {
            panic!(
                "feature `xrt`: no libxrt_coreutil.so under {}/lib",
                root.display()
            )
        });
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("libnpu_whisper_xrt.so");
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "g++".into());
    let status = Command::new(&cxx)
        .args(["-std=c++17", "-O2", "-fPIC", "-shared", "-Wall"])
        .arg(format!("-I{}", root.join("include").display()))
        .arg(Path::new("src/npu/xrt/shim.cpp"))
        .arg(format!("-L{}", lib_dir.display()))
        .arg("-lxrt_coreutil")
        // Where AMD's and Debian's packages install the runtime on the user's machine.
        .arg("-Wl,-rpath,/opt/xilinx/xrt/lib:/usr/lib/x86_64-linux-gnu")
        .arg("-o")
        .arg(&out)
        .status()
        .unwrap_or_else(|e| panic!("feature `xrt`: cannot run {cxx}: {e}"));
    assert!(
        status.success(),
        "feature `xrt`: compiling the XRT shim failed"
    );
    println!(
        "cargo:rustc-env=NPU_WHISPER_XRT_SHIM_BUILT={}",
        out.display()
    );
}
