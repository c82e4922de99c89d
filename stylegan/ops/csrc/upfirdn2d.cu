// avgen: upfirdn2d, one thread per output pixel. Output (oy, ox) gathers the filter window that starts at
// (oy * down, ox * down) in the padded, zero-inserted image; only taps landing on real input pixels contribute.
#include <torch/extension.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAGuard.h>

template <typename T> struct Acc { using type = float; };
template <> struct Acc<double> { using type = double; };

template <typename scalar_t>
__global__ void upfirdn2d_kernel(const scalar_t* __restrict__ x, const float* __restrict__ f,
                                 scalar_t* __restrict__ y, int64_t planes, int in_h, int in_w, int out_h, int out_w,
                                 int fh, int fw, int upx, int upy, int downx, int downy, int padx0, int pady0,
                                 bool flip, double gain_d) {
    using acc_t = typename Acc<scalar_t>::type;
    const int64_t total = planes * out_h * out_w;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (int64_t)blockDim.x * gridDim.x) {
        const int ox = (int)(i % out_w);
        const int oy = (int)((i / out_w) % out_h);
        const int64_t p = i / ((int64_t)out_w * out_h);
        const scalar_t* xp = x + p * (int64_t)in_h * in_w;
        acc_t acc = 0;
        for (int ky = 0; ky < fh; ++ky) {
            const int uy = oy * downy + ky - pady0;  // row in the zero-inserted (unpadded) image
            if (uy < 0 || uy % upy != 0) continue;
            const int iy = uy / upy;
            if (iy >= in_h) continue;
            for (int kx = 0; kx < fw; ++kx) {
                const int ux = ox * downx + kx - padx0;
                if (ux < 0 || ux % upx != 0) continue;
                const int ix = ux / upx;
                if (ix >= in_w) continue;
                // flip=false: true convolution, so the window meets the filter reversed.
                const float w = flip ? f[ky * fw + kx] : f[(fh - 1 - ky) * fw + (fw - 1 - kx)];
                acc += (acc_t)xp[(int64_t)iy * in_w + ix] * (acc_t)w;
            }
        }
        y[i] = (scalar_t)(acc * (acc_t)gain_d);
    }
}

torch::Tensor upfirdn2d_cuda(torch::Tensor x, torch::Tensor f, int upx, int upy, int downx, int downy, int padx0,
                             int padx1, int pady0, int pady1, bool flip, double gain) {
    const at::cuda::OptionalCUDAGuard guard(device_of(x));
    const int in_h = (int)x.size(2), in_w = (int)x.size(3), fh = (int)f.size(0), fw = (int)f.size(1);
    const int out_w = (in_w * upx + padx0 + padx1 - fw + downx) / downx;
    const int out_h = (in_h * upy + pady0 + pady1 - fh + downy) / downy;
    auto y = torch::empty({x.size(0), x.size(1), out_h, out_w}, x.options());
    const int64_t planes = x.size(0) * x.size(1);
    const int64_t total = planes * out_h * out_w;
    if (total == 0) return y;
    const int threads = 256;
    const int blocks = (int)std::min<int64_t>((total + threads - 1) / threads, 65535 * 8);
    AT_DISPATCH_FLOATING_TYPES_AND_HALF(x.scalar_type(), "upfirdn2d_cuda", [&] {
        upfirdn2d_kernel<scalar_t><<<blocks, threads, 0, c10::cuda::getCurrentCUDAStream()>>>(
            x.data_ptr<scalar_t>(), f.data_ptr<float>(), y.data_ptr<scalar_t>(), planes, in_h, in_w, out_h, out_w,
            fh, fw, upx, upy, downx, downy, padx0, pady0, flip, gain);
    });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    return y;
}
