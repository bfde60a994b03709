//! `xclbin/manifest.json`: our kernels, their argument lists and dtypes. Compiled in, so the call
//! plan and the simulator always see the manifest that ships with the kernels.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

use super::layout::Dtype;

pub const MANIFEST_JSON: &str = include_str!("../../xclbin/manifest.json");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ArgKind {
    Opcode,
    Instructions,
    InstructionCount,
    Input,
    Output,
    Inout,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ArgSpec {
    pub index: usize,
    pub name: String,
    pub kind: ArgKind,
    pub dtype: Option<Dtype>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct KernelSpec {
    #[allow(dead_code)] // for people reading the manifest
    pub xclbin: String,
    #[allow(dead_code)] // for people reading the manifest
    pub description: String,
    /// The IRON design that builds it (run by scripts/build-xclbin; the tests check it exists).
    #[cfg_attr(not(test), allow(dead_code))]
    pub design: String,
    pub args: Vec<ArgSpec>,
}

impl KernelSpec {
    /// The data-buffer arguments (index 3 onwards), in order.
    pub fn data_args(&self) -> impl Iterator<Item = &ArgSpec> {
        self.args
            .iter()
            .filter(|a| matches!(a.kind, ArgKind::Input | ArgKind::Output | ArgKind::Inout))
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    pub opcode: u32,
    pub xclbins: BTreeMap<String, serde_json::Value>,
    pub kernels: BTreeMap<String, KernelSpec>,
}

pub fn manifest() -> &'static Manifest {
    static PARSED: OnceLock<Manifest> = OnceLock::new();
    PARSED.get_or_init(|| {
        serde_json::from_str(MANIFEST_JSON).expect("xclbin/manifest.json is valid (tested)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kernel_has_the_standard_argument_prefix_and_typed_buffers() {
        let m = manifest();
        assert_eq!(m.opcode, 3);
        for (name, k) in &m.kernels {
            assert_eq!(k.args[0].kind, ArgKind::Opcode, "{name}");
            assert_eq!(k.args[1].kind, ArgKind::Instructions, "{name}");
            assert_eq!(k.args[2].kind, ArgKind::InstructionCount, "{name}");
            for (i, a) in k.args.iter().enumerate() {
                assert_eq!(a.index, i, "{name}: argument indices are positions");
                if i >= 3 {
                    assert!(a.dtype.is_some(), "{name}: data argument {i} has no dtype");
                }
            }
            let design = concat!(env!("CARGO_MANIFEST_DIR"), "/").to_string() + &k.design;
            assert!(std::path::Path::new(&design).is_file(), "{name}: {design}");
            assert!(
                m.xclbins.contains_key(&k.xclbin),
                "{name}: unknown xclbin {}",
                k.xclbin
            );
        }
    }
}
