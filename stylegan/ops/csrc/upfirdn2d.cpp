// avgen: Python binding and argument checks for the upfirdn2d kernel (upfirdn2d.cu).
#include <torch/extension.h>

torch::Tensor upfirdn2d_cuda(torch::Tensor x, torch::Tensor f, int upx, int upy, int downx, int downy, int padx0,
                             int padx1, int pady0, int pady1, bool flip, double gain);

static torch::Tensor upfirdn2d(torch::Tensor x, torch::Tensor f, int64_t upx, int64_t upy, int64_t downx,
                               int64_t downy, int64_t padx0, int64_t padx1, int64_t pady0, int64_t pady1, bool flip,
                               double gain) {
    TORCH_CHECK(x.is_cuda() && x.dim() == 4 && x.is_contiguous(), "upfirdn2d: x must be a contiguous 4D CUDA tensor");
    TORCH_CHECK(f.is_cuda() && f.dim() == 2 && f.scalar_type() == torch::kFloat && f.is_contiguous(),
                "upfirdn2d: f must be a contiguous 2D float32 CUDA tensor");
    TORCH_CHECK(upx >= 1 && upy >= 1 && downx >= 1 && downy >= 1, "upfirdn2d: up/down must be >= 1");
    const int64_t out_w = (x.size(3) * upx + padx0 + padx1 - f.size(1) + downx) / downx;
    const int64_t out_h = (x.size(2) * upy + pady0 + pady1 - f.size(0) + downy) / downy;
    TORCH_CHECK(out_w >= 1 && out_h >= 1, "upfirdn2d: output would be empty");
    return upfirdn2d_cuda(x, f, (int)upx, (int)upy, (int)downx, (int)downy, (int)padx0, (int)padx1, (int)pady0,
                          (int)pady1, flip, gain);
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.def("upfirdn2d", &upfirdn2d, "zero-insert, pad, FIR filter, decimate (CUDA)");
}
