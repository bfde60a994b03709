//! Tests that reach into the library's internals (numerics against references, the NPU path
//! through the simulator, parsers under mutation, doctor on fixture machines): unit tests of the
//! whole crate, sharing the fixture helpers in `common`.

// The integration tests' fixture helpers, shared.
#[path = "../../tests/common/mod.rs"]
mod common;

mod ct2_import;
mod doctor;
mod encoder_reference;
mod fuzz_parsers;
mod model_loading;
mod npu_hardware;
mod npu_sim;
mod op_backends;
mod tokenizer_reference;
mod xrt_mock;
