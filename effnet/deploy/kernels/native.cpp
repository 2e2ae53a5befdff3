// effnet's native CPU operators (torch.ops.effnet_native.*), one translation unit: built and
// loaded by effnet/deploy/native.py, used by effnet.deploy.pointwise and effnet.deploy.native_blocks.
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <torch/library.h>

#include "depthwise.h"
#include "pointwise.h"

namespace effnet_native {

// Whether the kernels run x: float32 on the CPU (the modules fall back to PyTorch's operators
// for other dtypes and devices). An operator rather than a Python test so that freezing cannot
// fold the answer into a constant.
bool use_native(const at::Tensor& x) { return x.device().is_cpu() && x.scalar_type() == at::kFloat; }

}  // namespace effnet_native

TORCH_LIBRARY(effnet_native, m) {
  m.def("pointwise_conv(Tensor x, Tensor weight, Tensor bias, int out_channels, int act, Tensor? gate=None) -> Tensor");
  m.def("depthwise_conv(Tensor x, Tensor weight, Tensor bias, int kernel, int stride, int act, bool with_mean) -> (Tensor, Tensor)");
  m.def("use_native(Tensor x) -> bool", &effnet_native::use_native);
}

TORCH_LIBRARY_IMPL(effnet_native, CPU, m) {
  m.impl("pointwise_conv", &effnet_native::pointwise_conv);
  m.impl("depthwise_conv", &effnet_native::depthwise_conv);
}
