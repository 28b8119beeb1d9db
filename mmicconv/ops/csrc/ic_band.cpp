// Banded per-tap IC convolution (stride 1, groups 1) for CPU.
//
// An IC conv output channel o with dilation (dh, dw) is
//     y[o, h, c] = sum_{i,j} Z[(i, j), o, h + (i - 1) dh, c + (j - 1) dw],
//     Z = W9 @ x,  W9 = weight.permute(2, 3, 0, 1).reshape(9 * C_out, C_in),
// i.e. one GEMM with exactly the FLOPs of the 3x3 conv followed by shifted adds.
// Materialising the whole 9 * C_out wide Z costs 9x the output in memory
// traffic; here Z is computed for a band of input rows at a time (small enough
// to stay in cache) and immediately added into the output rows it feeds.
// Backward mirrors it: per band, gather dZ from the output gradient, then
// dx_band = W9^T @ dZ and dW9 += dZ @ x_band^T (two GEMMs, as for a conv).
//
// The GEMMs are ATen's (MKL / oneDNN); the shift loops are plain C++ that the
// compiler vectorises (an AVX2 clone is selected at run time when available).

#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace {

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define MMICCONV_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define MMICCONV_CLONES
#endif

// y[c] += z0[c - dw] + z1[c] + z2[c + dw] (terms outside [0, width) are zero).
template <typename T>
inline void add_three_taps(T* __restrict y, const T* __restrict z0, const T* __restrict z1,
                           const T* __restrict z2, int64_t width, int64_t dw) {
  for (int64_t c = 0; c < width; ++c) y[c] += z1[c];
  for (int64_t c = dw; c < width; ++c) y[c] += z0[c - dw];
  for (int64_t c = 0; c + dw < width; ++c) y[c] += z2[c + dw];
}

// dz0[c] = g[c + dw], dz1[c] = g[c], dz2[c] = g[c - dw] (zero outside).
template <typename T>
inline void gather_three_taps(T* __restrict dz0, T* __restrict dz1, T* __restrict dz2,
                              const T* __restrict g, int64_t width, int64_t dw) {
  const int64_t inner = std::max<int64_t>(width - dw, 0);
  for (int64_t c = 0; c < width; ++c) dz1[c] = g[c];
  for (int64_t c = 0; c < inner; ++c) dz0[c] = g[c + dw];
  for (int64_t c = inner; c < width; ++c) dz0[c] = T(0);
  for (int64_t c = 0; c < std::min(dw, width); ++c) dz2[c] = T(0);
  for (int64_t c = dw; c < width; ++c) dz2[c] = g[c - dw];
}

// Add the band's Z (rows r0 .. r0 + rows of the input, layout [9 * C_out, rows, W])
// of one image into its output y ([C_out, H, W]).
template <typename T>
MMICCONV_CLONES void scatter_band(const T* z, T* y, const int64_t* dil, int64_t cout,
                                  int64_t height, int64_t width, int64_t r0, int64_t rows) {
  const int64_t plane = rows * width;
  at::parallel_for(0, cout, 1, [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o) {
      const int64_t dh = dil[2 * o], dw = dil[2 * o + 1];
      T* yo = y + o * height * width;
      for (int64_t i = 0; i < 3; ++i) {
        const T* z0 = z + ((3 * i + 0) * cout + o) * plane;
        const T* z1 = z + ((3 * i + 1) * cout + o) * plane;
        const T* z2 = z + ((3 * i + 2) * cout + o) * plane;
        for (int64_t rr = 0; rr < rows; ++rr) {
          const int64_t h = r0 + rr - (i - 1) * dh;  // the output row input row r0+rr feeds
          if (h < 0 || h >= height) continue;
          const int64_t off = rr * width;
          add_three_taps(yo + h * width, z0 + off, z1 + off, z2 + off, width, dw);
        }
      }
    }
  });
}

// The adjoint of scatter_band: dZ [9 * C_out, rows, W] of the band from g [C_out, H, W].
template <typename T>
MMICCONV_CLONES void gather_band(T* dz, const T* g, const int64_t* dil, int64_t cout,
                                 int64_t height, int64_t width, int64_t r0, int64_t rows) {
  const int64_t plane = rows * width;
  at::parallel_for(0, cout, 1, [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o) {
      const int64_t dh = dil[2 * o], dw = dil[2 * o + 1];
      const T* go = g + o * height * width;
      for (int64_t i = 0; i < 3; ++i) {
        T* d0 = dz + ((3 * i + 0) * cout + o) * plane;
        T* d1 = dz + ((3 * i + 1) * cout + o) * plane;
        T* d2 = dz + ((3 * i + 2) * cout + o) * plane;
        for (int64_t rr = 0; rr < rows; ++rr) {
          const int64_t h = r0 + rr - (i - 1) * dh;
          const int64_t off = rr * width;
          if (h < 0 || h >= height) {
            std::fill(d0 + off, d0 + off + width, T(0));
            std::fill(d1 + off, d1 + off + width, T(0));
            std::fill(d2 + off, d2 + off + width, T(0));
          } else {
            gather_three_taps(d0 + off, d1 + off, d2 + off, go + h * width, width, dw);
          }
        }
      }
    }
  });
}

void check_args(const torch::Tensor& x, const torch::Tensor& w9, const torch::Tensor& dil) {
  TORCH_CHECK(x.device().is_cpu() && w9.device().is_cpu(), "ic_band: CPU tensors only");
  TORCH_CHECK(x.dim() == 4 && x.is_contiguous(), "ic_band: x must be a contiguous NCHW tensor");
  TORCH_CHECK(w9.dim() == 2 && w9.is_contiguous() && w9.size(1) == x.size(1) &&
                  w9.size(0) % 9 == 0,
              "ic_band: w9 must be a contiguous [9 * C_out, C_in] matrix");
  TORCH_CHECK(w9.scalar_type() == x.scalar_type(), "ic_band: x and w9 dtypes differ");
  TORCH_CHECK(dil.scalar_type() == torch::kLong && dil.is_contiguous() && dil.dim() == 2 &&
                  dil.size(0) == w9.size(0) / 9 && dil.size(1) == 2,
              "ic_band: dilations must be a contiguous int64 [C_out, 2] tensor");
}

// x: [N, C_in, H, W]; w9: [9 * C_out, C_in]; dilations: [C_out, 2] (dh, dw).
torch::Tensor band_forward(const torch::Tensor& x, const torch::Tensor& w9,
                           const torch::Tensor& dilations, int64_t band) {
  check_args(x, w9, dilations);
  TORCH_CHECK(band > 0, "ic_band: band must be positive");
  const int64_t n = x.size(0), cin = x.size(1), height = x.size(2), width = x.size(3);
  const int64_t cout = w9.size(0) / 9;
  band = std::min(band, height);
  auto y = torch::zeros({n, cout, height, width}, x.options());
  auto z = torch::empty({9 * cout, band * width}, x.options());
  const int64_t* dil = dilations.data_ptr<int64_t>();
  for (int64_t img = 0; img < n; ++img) {
    auto xi = x[img].view({cin, height * width});
    for (int64_t r0 = 0; r0 < height; r0 += band) {
      const int64_t rows = std::min(band, height - r0);
      auto zb = z.narrow(1, 0, rows * width);
      at::mm_out(zb, w9, xi.narrow(1, r0 * width, rows * width));
      auto zc = rows == band ? z : zb.contiguous();
      AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "ic_band_forward", [&] {
        scatter_band<scalar_t>(zc.data_ptr<scalar_t>(), y[img].data_ptr<scalar_t>(), dil,
                               cout, height, width, r0, rows);
      });
    }
  }
  return y;
}

// Returns (dx, dw9); either is an undefined tensor when not needed.
std::vector<torch::Tensor> band_backward(const torch::Tensor& grad, const torch::Tensor& x,
                                         const torch::Tensor& w9,
                                         const torch::Tensor& dilations, int64_t band,
                                         bool need_x, bool need_w) {
  check_args(x, w9, dilations);
  TORCH_CHECK(grad.is_contiguous() && grad.dim() == 4 && grad.size(0) == x.size(0) && grad.size(1) == w9.size(0) / 9 &&
                  grad.size(2) == x.size(2) && grad.size(3) == x.size(3),
              "ic_band: grad must be a contiguous [N, C_out, H, W] tensor");
  const int64_t n = x.size(0), cin = x.size(1), height = x.size(2), width = x.size(3);
  const int64_t cout = w9.size(0) / 9;
  band = std::min(band, height);
  torch::Tensor dx, dw9;
  if (need_x) dx = torch::empty_like(x);
  if (need_w) dw9 = torch::zeros_like(w9);
  auto dz = torch::empty({9 * cout, band * width}, x.options());
  auto w9t = w9.t();
  const int64_t* dil = dilations.data_ptr<int64_t>();
  for (int64_t img = 0; img < n; ++img) {
    auto xi = x[img].view({cin, height * width});
    auto gi = grad[img];
    for (int64_t r0 = 0; r0 < height; r0 += band) {
      const int64_t rows = std::min(band, height - r0);
      auto dzb = rows == band ? dz : torch::empty({9 * cout, rows * width}, x.options());
      AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "ic_band_backward", [&] {
        gather_band<scalar_t>(dzb.data_ptr<scalar_t>(), gi.data_ptr<scalar_t>(), dil, cout,
                              height, width, r0, rows);
      });
      if (need_x) {
        auto dxb = dx[img].view({cin, height * width}).narrow(1, r0 * width, rows * width);
        at::mm_out(dxb, w9t, dzb);
      }
      if (need_w) {
        dw9.addmm_(dzb, xi.narrow(1, r0 * width, rows * width).t());
      }
    }
  }
  return {dx, dw9};
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "mmicconv compiled kernels: banded per-tap IC convolution (CPU)";
  m.def("band_forward", &band_forward, "IC conv forward, stride 1 (x, w9, dilations, band)");
  m.def("band_backward", &band_backward,
        "IC conv backward, stride 1 (grad, x, w9, dilations, band, need_x, need_w)");
}
