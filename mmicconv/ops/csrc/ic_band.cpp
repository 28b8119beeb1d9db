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
// Strided convs run the same per input phase (sub-grid), each phase with only
// the W9 rows that read it, so no FLOP is wasted (the *_rows functions).
//
// The GEMMs go through gemm_out: ATen's BLAS (MKL) or oneDNN's matmul for float32, chosen
// per process by set_gemm_backend (mmicconv/ops/gemm.py picks by CPU). The shift loops are
// plain C++ that the compiler vectorises (an AVX2 clone is selected at run time).

#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <tuple>
#include <vector>

// oneDNN's matmul as ATen wraps it (exported by libtorch_cpu; its header is not installed):
// result = beta * result + alpha * mat1 @ mat2, float32 / bfloat16 / float16.
namespace at::native {
TORCH_API void mkldnn_matmul(const at::Tensor& mat1, const at::Tensor& mat2, const at::Tensor& result,
                             float beta, float alpha);
}  // namespace at::native

namespace {

enum GemmBackend : int { kAtenBlas = 0, kOneDnn = 1 };
std::atomic<int> g_gemm_backend{kAtenBlas};

// ATen's oneDNN matmul takes an operand that is contiguous or the transpose of a contiguous
// matrix and copies any other with a general (slow) copy; a band of rows with a leading
// dimension (or its transpose) is packed here row by row instead.
torch::Tensor onednn_operand(const torch::Tensor& t) {
  if (t.is_contiguous() || t.t().is_contiguous()) return t;
  if (t.stride(1) == 1) return t.contiguous();
  if (t.stride(0) == 1) return t.t().contiguous().t();
  return t;
}

// out (=|+=) a @ b, out possibly a strided view. oneDNN for float32 when chosen; ATen's mm
// (MKL, which reads strided operands in place) otherwise.
void gemm_out(torch::Tensor out, const torch::Tensor& a, const torch::Tensor& b, bool accumulate) {
  if (g_gemm_backend.load(std::memory_order_relaxed) == kOneDnn && out.scalar_type() == torch::kFloat) {
    at::native::mkldnn_matmul(onednn_operand(a), onednn_operand(b), out, accumulate ? 1.f : 0.f, 1.f);
  } else if (accumulate) {
    out.addmm_(a, b);
  } else {
    at::mm_out(out, a, b);
  }
}

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define MMICCONV_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define MMICCONV_CLONES
#endif

// y[c] (+)= z0[c - dw] + z1[c] + z2[c + dw] (terms outside [0, width) are zero), in ONE pass
// over y: `Accumulate` adds into y, otherwise y is overwritten (its first writer).
template <bool Accumulate, typename T>
inline void three_taps(T* __restrict y, const T* __restrict z0, const T* __restrict z1,
                       const T* __restrict z2, int64_t width, int64_t dw) {
  // z0 feeds c >= dw, z2 feeds c < width - dw
  const int64_t lo = std::min(dw, width), hi = std::max<int64_t>(width - dw, 0);
  auto put = [&](int64_t c, T v) {
    if (Accumulate) y[c] += v; else y[c] = v;
  };
  if (lo <= hi) {
    for (int64_t c = 0; c < lo; ++c) put(c, z1[c] + z2[c + dw]);
    for (int64_t c = lo; c < hi; ++c) put(c, z0[c - dw] + z1[c] + z2[c + dw]);
    for (int64_t c = hi; c < width; ++c) put(c, z0[c - dw] + z1[c]);
  } else {  // width < 2 dw: no column gets all three
    for (int64_t c = 0; c < hi; ++c) put(c, z1[c] + z2[c + dw]);
    for (int64_t c = hi; c < lo; ++c) put(c, z1[c]);
    for (int64_t c = lo; c < width; ++c) put(c, z0[c - dw] + z1[c]);
  }
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

// Add the band's Z (rows r0 .. r0 + rows of one image's input, Z row k at z + k * plane,
// [rows, W] each) into that image's output y ([C_out, H, W]), bands in increasing r0.
// y need not be zeroed: output row h is fed by input rows h - dh (tap row 0), h (tap row 1)
// and h + dh (tap row 2), so its first writer is tap row 0 when h >= dh, else tap row 1
// (never a later band, and tap rows run in order within a band); that write assigns.
template <typename T>
MMICCONV_CLONES void scatter_band(const T* z, T* y, const int64_t* dil, int64_t cout,
                                  int64_t height, int64_t width, int64_t r0, int64_t rows,
                                  int64_t plane) {
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
          if (i == 0 || (i == 1 && h < dh)) {
            three_taps<false>(yo + h * width, z0 + off, z1 + off, z2 + off, width, dw);
          } else {
            three_taps<true>(yo + h * width, z0 + off, z1 + off, z2 + off, width, dw);
          }
        }
      }
    }
  });
}

// Whole images in Z (every input row present): each output row y[o, h] is written once from
// the (up to three) input rows that feed it, h + (i - 1) dh; y need not be zeroed.
template <typename T>
MMICCONV_CLONES void gather_image(const T* z, T* y, const int64_t* dil, int64_t cout,
                                  int64_t height, int64_t width, int64_t plane) {
  at::parallel_for(0, cout, 1, [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o) {
      const int64_t dh = dil[2 * o], dw = dil[2 * o + 1];
      T* yo = y + o * height * width;
      for (int64_t h = 0; h < height; ++h) {
        T* yr = yo + h * width;
        bool written = false;
        for (int64_t i = 0; i < 3; ++i) {
          const int64_t r = h + (i - 1) * dh;  // the input row feeding row h through tap row i
          if (r < 0 || r >= height) continue;  // never for i = 1: every row is written
          const T* z0 = z + ((3 * i + 0) * cout + o) * plane + r * width;
          const T* z1 = z + ((3 * i + 1) * cout + o) * plane + r * width;
          const T* z2 = z + ((3 * i + 2) * cout + o) * plane + r * width;
          if (written) {
            three_taps<true>(yr, z0, z1, z2, width, dw);
          } else {
            three_taps<false>(yr, z0, z1, z2, width, dw);
            written = true;
          }
        }
      }
    }
  });
}

// The adjoint of scatter_band: dZ (row k at dz + k * plane) of the band from g [C_out, H, W].
template <typename T>
MMICCONV_CLONES void gather_band(T* dz, const T* g, const int64_t* dil, int64_t cout,
                                 int64_t height, int64_t width, int64_t r0, int64_t rows,
                                 int64_t plane) {
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


// Strided convs run per input phase with a list of Z rows (see band_forward_rows):
// Z row k (sorted by output channel, rows of channel o in [ptr[o], ptr[o + 1]))
// feeds y[o, r + a[k], c + b[k]] from its phase position (r, c).
template <typename T>
MMICCONV_CLONES void scatter_rows(const T* z, T* y, const int64_t* ptr, const int64_t* a,
                                  const int64_t* b, int64_t cout, int64_t out_h, int64_t out_w,
                                  int64_t width, int64_t r0, int64_t rows, int64_t plane) {
  at::parallel_for(0, cout, 1, [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o) {
      T* yo = y + o * out_h * out_w;
      for (int64_t k = ptr[o]; k < ptr[o + 1]; ++k) {
        const int64_t c_lo = std::max<int64_t>(0, -b[k]);
        const int64_t c_hi = std::min<int64_t>(width, out_w - b[k]);
        if (c_hi <= c_lo) continue;
        const T* zk = z + k * plane;
        for (int64_t rr = 0; rr < rows; ++rr) {
          const int64_t h = r0 + rr + a[k];
          if (h < 0 || h >= out_h) continue;
          T* yr = yo + h * out_w + b[k];
          const T* zr = zk + rr * width;
          for (int64_t c = c_lo; c < c_hi; ++c) yr[c] += zr[c];
        }
      }
    }
  });
}

// The adjoint of scatter_rows: dz[k, rr, c] = g[o, r0 + rr + a[k], c + b[k]] (zero outside).
template <typename T>
MMICCONV_CLONES void gather_rows(T* dz, const T* g, const int64_t* ptr, const int64_t* a,
                                 const int64_t* b, int64_t cout, int64_t out_h, int64_t out_w,
                                 int64_t width, int64_t r0, int64_t rows, int64_t plane) {
  at::parallel_for(0, cout, 1, [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o) {
      const T* go = g + o * out_h * out_w;
      for (int64_t k = ptr[o]; k < ptr[o + 1]; ++k) {
        const int64_t c_lo = std::min<int64_t>(width, std::max<int64_t>(0, -b[k]));
        const int64_t c_hi = std::max<int64_t>(c_lo, std::min<int64_t>(width, out_w - b[k]));
        T* dk = dz + k * plane;
        for (int64_t rr = 0; rr < rows; ++rr) {
          const int64_t h = r0 + rr + a[k];
          T* dr = dk + rr * width;
          if (h < 0 || h >= out_h) {
            std::fill(dr, dr + width, T(0));
            continue;
          }
          const T* gr = go + h * out_w + b[k];
          std::fill(dr, dr + c_lo, T(0));
          for (int64_t c = c_lo; c < c_hi; ++c) dr[c] = gr[c];
          std::fill(dr + c_hi, dr + width, T(0));
        }
      }
    }
  });
}

// The GEMM columns of one chunk: `count` whole images side by side (small maps),
// or the input rows r0 .. r0 + rows of one image (large maps).
struct Chunk {
  int64_t img, count, r0, rows;
};

std::vector<Chunk> make_chunks(int64_t n, int64_t height, int64_t band, int64_t images) {
  std::vector<Chunk> chunks;
  band = std::max<int64_t>(1, std::min(band, height));
  if (band == height && images > 1) {
    for (int64_t i = 0; i < n; i += images) chunks.push_back({i, std::min(images, n - i), 0, height});
  } else {
    for (int64_t i = 0; i < n; ++i)
      for (int64_t r0 = 0; r0 < height; r0 += band)
        chunks.push_back({i, 1, r0, std::min(band, height - r0)});
  }
  return chunks;
}

// x's chunk as a [C_in, columns] matrix: a strided view for one image, a packed copy for several.
torch::Tensor chunk_columns(const torch::Tensor& x, const Chunk& c) {
  const int64_t cin = x.size(1), width = x.size(3), plane = x.size(2) * width;
  if (c.count == 1) return x[c.img].view({cin, plane}).narrow(1, c.r0 * width, c.rows * width);
  return x.narrow(0, c.img, c.count).view({c.count, cin, plane}).transpose(0, 1)
      .reshape({cin, c.count * plane});
}

// dx's chunk = w^T @ dz, written in place (one image) or unpacked (several).
void store_dx(torch::Tensor& dx, const torch::Tensor& wt, const torch::Tensor& dz, const Chunk& c) {
  if (c.count == 1) {
    gemm_out(chunk_columns(dx, c), wt, dz, false);
    return;
  }
  const int64_t cin = dx.size(1), plane = dx.size(2) * dx.size(3);
  auto packed = torch::empty({cin, c.count * plane}, dz.options());
  gemm_out(packed, wt, dz, false);
  dx.narrow(0, c.img, c.count).view({c.count, cin, plane})
      .copy_(packed.view({cin, c.count, plane}).transpose(0, 1));
}

// A [rows, columns] contiguous matrix in the front of a reused flat buffer.
torch::Tensor front(torch::Tensor& buffer, int64_t rows, int64_t columns) {
  return buffer.narrow(0, 0, rows * columns).view({rows, columns});
}

int64_t max_columns(const std::vector<Chunk>& chunks, int64_t width) {
  int64_t most = 0;
  for (const auto& c : chunks) most = std::max(most, c.count * c.rows * width);
  return most;
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

void check_grad(const torch::Tensor& grad, const torch::Tensor& x, int64_t cout) {
  TORCH_CHECK(grad.is_contiguous() && grad.dim() == 4 && grad.size(0) == x.size(0) &&
                  grad.size(1) == cout && grad.scalar_type() == x.scalar_type(),
              "ic_band: grad must be a contiguous [N, C_out, Ho, Wo] tensor");
}

// x: [N, C_in, H, W]; w9: [9 * C_out, C_in]; dilations: [C_out, 2] (dh, dw).
// band: input rows per GEMM; images: whole images per GEMM when band >= H.
torch::Tensor band_forward(const torch::Tensor& x, const torch::Tensor& w9,
                           const torch::Tensor& dilations, int64_t band, int64_t images) {
  check_args(x, w9, dilations);
  const int64_t n = x.size(0), height = x.size(2), width = x.size(3), cout = w9.size(0) / 9;
  const bool whole_images = band >= height;
  auto y = torch::empty({n, cout, height, width}, x.options());  // every row's first write assigns
  if (y.numel() == 0) return y;
  const auto chunks = make_chunks(n, height, band, images);
  auto buffer = torch::empty({9 * cout * max_columns(chunks, width)}, x.options());
  const int64_t* dil = dilations.data_ptr<int64_t>();
  for (const auto& c : chunks) {
    const int64_t columns = c.count * c.rows * width;
    auto z = front(buffer, 9 * cout, columns);
    gemm_out(z, w9, chunk_columns(x, c), false);
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "ic_band_forward", [&] {
      for (int64_t i = 0; i < c.count; ++i) {
        scalar_t* zi = z.data_ptr<scalar_t>() + i * c.rows * width;
        scalar_t* yi = y[c.img + i].data_ptr<scalar_t>();
        if (whole_images) {
          gather_image<scalar_t>(zi, yi, dil, cout, height, width, columns);
        } else {
          scatter_band<scalar_t>(zi, yi, dil, cout, height, width, c.r0, c.rows, columns);
        }
      }
    });
  }
  return y;
}

// Returns (dx, dw9); either is an undefined tensor when not needed.
std::vector<torch::Tensor> band_backward(const torch::Tensor& grad, const torch::Tensor& x,
                                         const torch::Tensor& w9,
                                         const torch::Tensor& dilations, int64_t band,
                                         int64_t images, bool need_x, bool need_w) {
  check_args(x, w9, dilations);
  const int64_t n = x.size(0), height = x.size(2), width = x.size(3), cout = w9.size(0) / 9;
  check_grad(grad, x, cout);
  TORCH_CHECK(grad.size(2) == height && grad.size(3) == width, "ic_band: grad size");
  torch::Tensor dx, dw9;
  if (need_x) dx = torch::empty_like(x);
  if (need_w) dw9 = torch::zeros_like(w9);
  const auto chunks = make_chunks(n, height, band, images);
  auto buffer = torch::empty({9 * cout * max_columns(chunks, width)}, x.options());
  auto w9t = w9.t();
  const int64_t* dil = dilations.data_ptr<int64_t>();
  for (const auto& c : chunks) {
    const int64_t columns = c.count * c.rows * width;
    auto dz = front(buffer, 9 * cout, columns);
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "ic_band_backward", [&] {
      for (int64_t i = 0; i < c.count; ++i) {
        gather_band<scalar_t>(dz.data_ptr<scalar_t>() + i * c.rows * width,
                              grad[c.img + i].data_ptr<scalar_t>(), dil, cout, height, width,
                              c.r0, c.rows, columns);
      }
    });
    if (need_x) store_dx(dx, w9t, dz, c);
    if (need_w) gemm_out(dw9, dz, chunk_columns(x, c).t(), true);
  }
  return {dx, dw9};
}

void check_rows(const torch::Tensor& x_phase, const torch::Tensor& w_rows,
                const torch::Tensor& ptr, const torch::Tensor& a, const torch::Tensor& b,
                int64_t cout) {
  TORCH_CHECK(x_phase.dim() == 4 && x_phase.is_contiguous() && x_phase.device().is_cpu(),
              "ic_band: x_phase must be a contiguous CPU NCHW tensor");
  TORCH_CHECK(w_rows.dim() == 2 && w_rows.is_contiguous() && w_rows.size(1) == x_phase.size(1) &&
                  w_rows.scalar_type() == x_phase.scalar_type(),
              "ic_band: w_rows must be a contiguous [R, C_in] matrix of x's dtype");
  for (const auto* t : {&ptr, &a, &b}) {
    TORCH_CHECK(t->scalar_type() == torch::kLong && t->is_contiguous() && t->dim() == 1,
                "ic_band: row tables must be contiguous int64 vectors");
  }
  TORCH_CHECK(ptr.size(0) == cout + 1 && a.size(0) == w_rows.size(0) &&
                  b.size(0) == w_rows.size(0) && ptr.data_ptr<int64_t>()[cout] == w_rows.size(0),
              "ic_band: row tables do not match the weight rows");
}

// One input phase of a strided IC conv: x_phase [N, C_in, Hp, Wp] (contiguous),
// w_rows [R, C_in] (the W9 rows reading this phase, sorted by output channel),
// ptr [C_out + 1], a/b [R]: row k of Z at phase position (r, c) adds into
// y[:, o, r + a[k], c + b[k]]. Accumulates into y [N, C_out, Ho, Wo].
void band_forward_rows(const torch::Tensor& x_phase, const torch::Tensor& w_rows,
                       const torch::Tensor& ptr, const torch::Tensor& a, const torch::Tensor& b,
                       torch::Tensor& y, int64_t band, int64_t images) {
  TORCH_CHECK(y.is_contiguous() && y.dim() == 4 && y.size(0) == x_phase.size(0) &&
                  y.scalar_type() == x_phase.scalar_type(),
              "ic_band: y must be a contiguous [N, C_out, Ho, Wo] tensor of x's dtype");
  const int64_t n = x_phase.size(0), height = x_phase.size(2), width = x_phase.size(3),
                cout = y.size(1), out_h = y.size(2), out_w = y.size(3);
  check_rows(x_phase, w_rows, ptr, a, b, cout);
  const int64_t R = w_rows.size(0);
  if (R == 0 || height == 0 || width == 0) return;
  const auto chunks = make_chunks(n, height, band, images);
  auto buffer = torch::empty({R * max_columns(chunks, width)}, x_phase.options());
  for (const auto& c : chunks) {
    const int64_t columns = c.count * c.rows * width;
    auto z = front(buffer, R, columns);
    gemm_out(z, w_rows, chunk_columns(x_phase, c), false);
    AT_DISPATCH_FLOATING_TYPES(x_phase.scalar_type(), "ic_band_forward_rows", [&] {
      for (int64_t i = 0; i < c.count; ++i) {
        scatter_rows<scalar_t>(z.data_ptr<scalar_t>() + i * c.rows * width,
                               y[c.img + i].data_ptr<scalar_t>(), ptr.data_ptr<int64_t>(),
                               a.data_ptr<int64_t>(), b.data_ptr<int64_t>(), cout, out_h, out_w,
                               width, c.r0, c.rows, columns);
      }
    });
  }
}

// The backward of band_forward_rows: (dx_phase, dw_rows), undefined when not needed.
std::vector<torch::Tensor> band_backward_rows(const torch::Tensor& grad,
                                              const torch::Tensor& x_phase,
                                              const torch::Tensor& w_rows,
                                              const torch::Tensor& ptr, const torch::Tensor& a,
                                              const torch::Tensor& b, int64_t band,
                                              int64_t images, bool need_x, bool need_w) {
  const int64_t n = x_phase.size(0), height = x_phase.size(2), width = x_phase.size(3),
                cout = grad.size(1), out_h = grad.size(2), out_w = grad.size(3);
  check_rows(x_phase, w_rows, ptr, a, b, cout);
  check_grad(grad, x_phase, cout);
  const int64_t R = w_rows.size(0);
  torch::Tensor dx, dw;
  if (need_x) dx = torch::zeros_like(x_phase);
  if (need_w) dw = torch::zeros_like(w_rows);
  if (R == 0 || height == 0 || width == 0) return {dx, dw};
  const auto chunks = make_chunks(n, height, band, images);
  auto buffer = torch::empty({R * max_columns(chunks, width)}, x_phase.options());
  auto wt = w_rows.t();
  for (const auto& c : chunks) {
    const int64_t columns = c.count * c.rows * width;
    auto dz = front(buffer, R, columns);
    AT_DISPATCH_FLOATING_TYPES(x_phase.scalar_type(), "ic_band_backward_rows", [&] {
      for (int64_t i = 0; i < c.count; ++i) {
        gather_rows<scalar_t>(dz.data_ptr<scalar_t>() + i * c.rows * width,
                              grad[c.img + i].data_ptr<scalar_t>(), ptr.data_ptr<int64_t>(),
                              a.data_ptr<int64_t>(), b.data_ptr<int64_t>(), cout, out_h, out_w,
                              width, c.r0, c.rows, columns);
      }
    });
    if (need_x) store_dx(dx, wt, dz, c);
    if (need_w) gemm_out(dw, dz, chunk_columns(x_phase, c).t(), true);
  }
  return {dx, dw};
}

// The per-phase row tables of an IC conv of stride (sh, sw): what mmicconv.ops.plan.phase_rows
// computes (and tests check against), built here in microseconds instead of about 20 tensor ops
// per call. Tap (i, j) of channel o reads the input at offset (e, f) = ((i - 1) dh, (j - 1) dw),
// i.e. phase (e mod sh, f mod sw) shifted by (floor(e / sh), floor(f / sw)) output pixels.
// Returns, for every phase some tap reads (phase-major), (p, q, rows, ptr, a, b): the W9 rows
// reading it sorted by (channel, row), ptr [C_out + 1] delimiting each channel's rows, and the
// output offsets a = -floor(e / sh), b = -floor(f / sw) of each row.
std::vector<std::tuple<int64_t, int64_t, torch::Tensor, torch::Tensor, torch::Tensor, torch::Tensor>>
phase_tables(const torch::Tensor& dilations, int64_t sh, int64_t sw) {
  TORCH_CHECK(dilations.scalar_type() == torch::kLong && dilations.dim() == 2 &&
                  dilations.size(1) == 2 && dilations.is_contiguous() && dilations.device().is_cpu(),
              "ic_band: dilations must be a contiguous int64 [C_out, 2] CPU tensor");
  TORCH_CHECK(sh >= 1 && sw >= 1, "ic_band: strides must be positive");
  const int64_t cout = dilations.size(0), phases = sh * sw;
  const int64_t* dil = dilations.data_ptr<int64_t>();
  auto floor_mod = [](int64_t v, int64_t m) { return ((v % m) + m) % m; };
  std::vector<std::vector<int64_t>> rows(phases), as(phases), bs(phases), counts(phases);
  for (auto& c : counts) c.assign(cout, 0);
  for (int64_t o = 0; o < cout; ++o) {
    for (int64_t i = 0; i < 3; ++i) {
      const int64_t e = (i - 1) * dil[2 * o], p = floor_mod(e, sh);
      for (int64_t j = 0; j < 3; ++j) {
        const int64_t f = (j - 1) * dil[2 * o + 1], q = floor_mod(f, sw), key = p * sw + q;
        rows[key].push_back((3 * i + j) * cout + o);
        as[key].push_back(-((e - p) / sh));
        bs[key].push_back(-((f - q) / sw));
        ++counts[key][o];
      }
    }
  }
  auto to_tensor = [](const std::vector<int64_t>& v) {
    auto t = torch::empty({static_cast<int64_t>(v.size())}, torch::kLong);
    std::copy(v.begin(), v.end(), t.data_ptr<int64_t>());
    return t;
  };
  std::vector<std::tuple<int64_t, int64_t, torch::Tensor, torch::Tensor, torch::Tensor, torch::Tensor>>
      tables;
  for (int64_t key = 0; key < phases; ++key) {
    if (rows[key].empty()) continue;
    std::vector<int64_t> ptr(cout + 1, 0);
    for (int64_t o = 0; o < cout; ++o) ptr[o + 1] = ptr[o] + counts[key][o];
    tables.emplace_back(key / sw, key % sw, to_tensor(rows[key]), to_tensor(ptr),
                        to_tensor(as[key]), to_tensor(bs[key]));
  }
  return tables;
}

void set_gemm_backend(int64_t backend) {
  TORCH_CHECK(backend == kAtenBlas || backend == kOneDnn, "ic_band: unknown GEMM backend ", backend);
  g_gemm_backend.store(static_cast<int>(backend));
}

int64_t get_gemm_backend() { return g_gemm_backend.load(); }

// The kernel's GEMM as a function (the GEMM-only benchmark oracle calls it).
void gemm(torch::Tensor out, const torch::Tensor& a, const torch::Tensor& b, bool accumulate) {
  TORCH_CHECK(out.dim() == 2 && a.dim() == 2 && b.dim() == 2 && out.size(0) == a.size(0) &&
                  out.size(1) == b.size(1) && a.size(1) == b.size(0),
              "ic_band: gemm shapes");
  gemm_out(out, a, b, accumulate);
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "mmicconv compiled kernels: banded per-tap IC convolution (CPU)";
  m.def("band_forward", &band_forward, "IC conv forward, stride 1 (x, w9, dilations, band, images)");
  m.def("band_backward", &band_backward,
        "IC conv backward, stride 1 (grad, x, w9, dilations, band, images, need_x, need_w)");
  m.def("band_forward_rows", &band_forward_rows,
        "one input phase of a strided IC conv (x_phase, w_rows, ptr, a, b, y, band, images)");
  m.def("phase_tables", &phase_tables,
        "per-phase W9 row tables of a strided IC conv (dilations, sh, sw) -> [(p, q, rows, ptr, a, b)]");
  m.def("set_gemm_backend", &set_gemm_backend, "the GEMM library of the kernels: 0 ATen BLAS (MKL), 1 oneDNN");
  m.def("get_gemm_backend", &get_gemm_backend, "the GEMM library of the kernels (see set_gemm_backend)");
  m.def("gemm", &gemm, "out (=|+=) a @ b with the kernels' GEMM (out, a, b, accumulate)");
  m.def("band_backward_rows", &band_backward_rows,
        "backward of band_forward_rows (grad, x_phase, w_rows, ptr, a, b, band, images, need_x, need_w)");
}
