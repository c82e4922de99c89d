// avgen: Python binding and argument checks for the fused bias + activation kernel (bias_act.cu).
#include <torch/extension.h>

torch::Tensor bias_act_cuda(torch::Tensor x, torch::Tensor b, int64_t dim, int64_t act, double alpha, double gain,
                            double clamp);

static torch::Tensor bias_act(torch::Tensor x, torch::Tensor b, int64_t dim, int64_t act, double alpha, double gain,
                              double clamp) {
    TORCH_CHECK(x.is_cuda(), "bias_act: x must be a CUDA tensor");
    TORCH_CHECK(x.is_contiguous(), "bias_act: x must be contiguous");
    TORCH_CHECK(dim >= 0 && dim < x.dim(), "bias_act: dim out of range");
    TORCH_CHECK(b.numel() == 0 || (b.dim() == 1 && b.size(0) == x.size(dim)), "bias_act: bias must be [x.shape[dim]]");
    TORCH_CHECK(b.numel() == 0 || (b.is_cuda() && b.scalar_type() == x.scalar_type() && b.is_contiguous()),
                "bias_act: bias must be a contiguous CUDA tensor of x's dtype");
    TORCH_CHECK(act >= 1 && act <= 9, "bias_act: unknown activation id");
    return bias_act_cuda(x, b, dim, act, alpha, gain, clamp);
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.def("bias_act", &bias_act, "clamp(act(x + b) * gain) in one pass (CUDA)");
}
