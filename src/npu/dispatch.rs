//! The one device interface of the NPU wing: something that runs calls on their data buffers.
//! The simulator (`sim::Simulator`) and the XRT session (`xrt::XrtDevice`) implement it; the
//! executor's adapter, `validate` and the tests hold a `&dyn NpuDevice` and never ask which.
//!
//! Independent runs can go to the device as one submission (`run_all`): an XRT runlist where
//! the runtime supports one, else one run after the other, and the answer says which. A
//! window's calls are not independent (each reads what the one before wrote, repacked on the
//! host in between), so they are single runs; `scripts/npu-validate` submits its independent
//! calls both ways and reports the measured difference.

use std::borrow::Cow;

use super::calls::Call;
use crate::encoder::OpDevice;

/// One run of a call with its own buffers (argument order, from index 3).
pub struct Run<'a> {
    pub call: &'a Call,
    pub buffers: Vec<Cow<'a, [u8]>>,
}

/// How a group of runs went to the device.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "submitted", rename_all = "snake_case")]
pub enum Submission {
    /// One runlist: every run submitted at once, one wait.
    #[cfg_attr(not(feature = "xrt"), allow(dead_code))]
    Runlist { runs: usize },
    /// One run after the other; `why` says why not a runlist.
    Single { runs: usize, why: String },
}

/// A device that runs calls.
pub trait NpuDevice: Send + Sync {
    /// Where its calls run: `OpDevice::NpuSim` (the software model) or `OpDevice::Npu`.
    fn placement(&self) -> OpDevice;

    /// Run one call: inputs are read, outputs replaced by owned buffers.
    fn run(&self, call: &Call, buffers: &mut [Cow<'_, [u8]>]) -> Result<(), String>;

    /// Run independent calls as one submission where the device supports it. The default runs
    /// them one after the other.
    fn run_all(&self, runs: &mut [Run<'_>]) -> Result<Submission, String> {
        for run in runs.iter_mut() {
            self.run(run.call, &mut run.buffers)?;
        }
        Ok(Submission::Single {
            runs: runs.len(),
            why: "this device runs calls one at a time".to_string(),
        })
    }
}
