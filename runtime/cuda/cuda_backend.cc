#include "runtime/cuda/cuda_backend.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/cuda/cuda_resources.h"
#include "runtime/cuda/cuda_status.h"
#include "runtime/cuda/kernels.h"
#include "runtime/kv/paged_attention_plan.h"

namespace headroom::runtime {
namespace {

using cuda::DeviceBuffer;

constexpr int kLowpBytes = 2;  // fp16 and bf16

cuda::DType ToDType(LowPrecision p) {
  return p == LowPrecision::kBFloat16 ? cuda::DType::kBFloat16
                                      : cuda::DType::kFloat16;
}

// One layer on the device. W_Q, W_K, W_V are stacked into one matrix
// [(h + nk + g) * d, D] and W_1, W_3 into [2F, D], so each is one GEMM.
struct DeviceLayer {
  int nk = 0;  // key heads W_K computes (n with post-RoPE projections)
  int g = 0;   // g_l, KV heads cached
  bool post_rope_proj = false;
  DeviceBuffer rms_att, wqkv, wo, rms_ffn, w13, w2;  // norms fp32, rest lowp
  DeviceBuffer key_cache_proj, query_proj;           // fp32, SVD-a only
  DeviceBuffer k_cache, v_cache;  // [blocks][g][block_size][d] lowp
};

// How the attention of layers with g KV heads runs this step: offsets into
// the uploaded step metadata (int32 units).
struct AttentionPlan {
  int64_t splits_offset = 0;  // [T] num_splits
  int64_t items_offset = 0;   // [num_items] AttentionWorkItem
  int num_items = 0;
  int max_splits = 0;
  int max_rows = 0;
};

class CudaBackend final : public Backend {
 public:
  CudaBackend(ModelConfig config, const BackendOptions& options)
      : config_(std::move(config)),
        block_size_(options.block_size),
        num_blocks_(options.num_blocks > 0
                        ? options.num_blocks
                        : BlocksForContext(config_, options.block_size)),
        dtype_(ToDType(options.dtype)),
        device_id_(options.device_id) {}

  const ModelConfig& config() const override { return config_; }
  std::string name() const override { return "cuda"; }
  int block_size() const override { return block_size_; }
  int num_blocks() const override { return num_blocks_; }
  int64_t kv_cache_bytes() const override { return kv_cache_bytes_; }

  absl::Status Forward(const Batch& batch, std::vector<float>* logits) override;

  // Creates the stream and handle and allocates every weight and KV buffer;
  // post_rope_proj[l]: layer l keeps SVD-a's post-RoPE projections.
  absl::Status Allocate(const std::vector<bool>& post_rope_proj);
  // Uploads `w` (fp32, host) into the allocated buffers.
  absl::Status Upload(const ModelWeights& w);
  // Fills the allocated weights with uniform values, norms with 1.
  absl::Status FillRandom(uint64_t seed);

 private:
  // C[m, n] (ldc) = X[m, k] (ldx) W[n, k]^T (+ C when accumulate): X and W
  // lowp (W row-major (out, in)), C fp32.
  absl::Status Gemm(int m, int n, int k, const void* x, int ldx, const void* w,
                    float* c, int ldc, bool accumulate);
  absl::Status UploadFloat(const std::vector<float>& host, DeviceBuffer* dst);
  absl::Status UploadLowp(const std::vector<float>& host, DeviceBuffer* dst);
  int64_t QkvWidth(const DeviceLayer& layer) const {
    return int64_t{config_.n_heads + layer.nk + layer.g} * config_.head_dim;
  }
  // Builds the per-step metadata (host) and the attention plan per g.
  void PlanStep(const Batch& batch);
  absl::Status ReserveStepBuffers(int num_tokens, int num_outputs);

  ModelConfig config_;
  int block_size_;
  int num_blocks_;
  cuda::DType dtype_;
  int device_id_;
  int64_t kv_cache_bytes_ = 0;

  cuda::Stream stream_;
  cuda::CublasHandle cublas_;
  std::vector<DeviceLayer> layers_;
  DeviceBuffer embedding_, rms_final_, classifier_;  // classifier: untied only
  DeviceBuffer rope_inv_freq_;  // [d/2] theta^(-2p/d), fp32
  DeviceBuffer staging_;        // fp32 upload staging

  // Step state, grown on demand.
  std::vector<int32_t> meta_;  // host copy of the step metadata
  int64_t ids_offset_ = 0, positions_offset_ = 0, slots_offset_ = 0,
          out_rows_offset_ = 0, tables_offset_ = 0;
  std::map<int, AttentionPlan> plans_;  // by g
  cuda::PinnedBuffer meta_host_, logits_host_;
  DeviceBuffer meta_dev_;
  DeviceBuffer x_, xb_, qkv_, q_proj_, k_proj_, att_, gate_up_, act_, partial_,
      out_x_, logits_dev_;
};

absl::Status CudaBackend::Allocate(const std::vector<bool>& post_rope_proj) {
  HEADROOM_CUDA_RETURN_IF_ERROR(cudaSetDevice(device_id_));
  auto stream = cuda::Stream::Create();
  if (!stream.ok()) return stream.status();
  stream_ = std::move(*stream);
  auto cublas = cuda::CublasHandle::Create(stream_.get());
  if (!cublas.ok()) return cublas.status();
  cublas_ = std::move(*cublas);

  const ModelConfig& c = config_;
  const int64_t D = c.dim, d = c.head_dim, h = c.n_heads, F = c.hidden_dim;
  auto alloc = [](DeviceBuffer* b, int64_t bytes) { return b->Reserve(bytes); };
  layers_.resize(c.n_layers);
  for (int l = 0; l < c.n_layers; ++l) {
    DeviceLayer& layer = layers_[l];
    layer.g = c.CacheKvHeads(l);
    layer.post_rope_proj = post_rope_proj[l];
    layer.nk = layer.post_rope_proj ? c.n_kv_heads : layer.g;
    for (auto [buf, bytes] :
         std::initializer_list<std::pair<DeviceBuffer*, int64_t>>{
             {&layer.rms_att, D * 4},
             {&layer.wqkv, QkvWidth(layer) * D * kLowpBytes},
             {&layer.wo, D * h * d * kLowpBytes},
             {&layer.rms_ffn, D * 4},
             {&layer.w13, 2 * F * D * kLowpBytes},
             {&layer.w2, D * F * kLowpBytes}}) {
      if (auto s = alloc(buf, bytes); !s.ok()) return s;
    }
    if (layer.post_rope_proj) {
      const int64_t t = layer.nk / layer.g;
      if (auto s = alloc(&layer.key_cache_proj, layer.g * d * t * d * 4);
          !s.ok())
        return s;
      if (auto s = alloc(&layer.query_proj, h * d * d * 4); !s.ok()) return s;
    }
    const int64_t cache_bytes =
        int64_t{num_blocks_} * layer.g * block_size_ * d * kLowpBytes;
    if (auto s = alloc(&layer.k_cache, cache_bytes); !s.ok()) return s;
    if (auto s = alloc(&layer.v_cache, cache_bytes); !s.ok()) return s;
    // Pages start zeroed, as the CPU pools do.
    HEADROOM_CUDA_RETURN_IF_ERROR(
        cudaMemsetAsync(layer.k_cache.get(), 0, cache_bytes, stream_.get()));
    HEADROOM_CUDA_RETURN_IF_ERROR(
        cudaMemsetAsync(layer.v_cache.get(), 0, cache_bytes, stream_.get()));
    kv_cache_bytes_ += 2 * cache_bytes;
  }
  if (auto s = alloc(&embedding_, int64_t{c.vocab_size} * D * kLowpBytes);
      !s.ok())
    return s;
  if (auto s = alloc(&rms_final_, D * 4); !s.ok()) return s;
  // RoPE frequencies with the CPU backend's float arithmetic
  // (runtime/cpu/kernels.cc), so both rotate by the same angles.
  std::vector<float> inv_freq(d / 2);
  for (int64_t p = 0; p < d / 2; ++p) {
    inv_freq[p] = 1.0f / std::pow(c.rope_theta, static_cast<float>(2 * p) / d);
  }
  if (auto s = alloc(&rope_inv_freq_, d / 2 * 4); !s.ok()) return s;
  if (auto s = UploadFloat(inv_freq, &rope_inv_freq_); !s.ok()) return s;
  if (!c.tied_embeddings) {
    if (auto s = alloc(&classifier_, int64_t{c.vocab_size} * D * kLowpBytes);
        !s.ok())
      return s;
  }
  return absl::OkStatus();
}

absl::Status CudaBackend::UploadFloat(const std::vector<float>& host,
                                      DeviceBuffer* dst) {
  HEADROOM_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(dst->get(), host.data(), host.size() * sizeof(float),
                      cudaMemcpyHostToDevice, stream_.get()));
  // The host vector may be freed after return: wait for the copy.
  HEADROOM_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_.get()));
  return absl::OkStatus();
}

absl::Status CudaBackend::UploadLowp(const std::vector<float>& host,
                                     DeviceBuffer* dst) {
  const int64_t bytes = static_cast<int64_t>(host.size() * sizeof(float));
  if (auto s = staging_.Reserve(bytes); !s.ok()) return s;
  HEADROOM_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(staging_.get(), host.data(),
                                                bytes, cudaMemcpyHostToDevice,
                                                stream_.get()));
  HEADROOM_CUDA_RETURN_IF_ERROR(cuda::ToLowPrecision(
      dtype_, staging_.as<float>(), static_cast<int64_t>(host.size()),
      dst->get(), stream_.get()));
  HEADROOM_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_.get()));
  return absl::OkStatus();
}

absl::Status CudaBackend::Upload(const ModelWeights& w) {
  for (int l = 0; l < config_.n_layers; ++l) {
    const LayerWeights& lw = w.layers[l];
    DeviceLayer& layer = layers_[l];
    // Host tensors of any dtype are widened to fp32 one layer at a time,
    // then narrowed on the device to the backend's storage type.
    auto stack = [](std::initializer_list<const Tensor*> parts) {
      std::vector<float> out;
      for (const Tensor* t : parts) {
        std::vector<float> v = t->ToFloat();
        out.insert(out.end(), v.begin(), v.end());
      }
      return out;
    };
    if (auto s = UploadLowp(stack({&lw.wq, &lw.wk, &lw.wv}), &layer.wqkv);
        !s.ok())
      return s;
    if (auto s = UploadLowp(stack({&lw.w1, &lw.w3}), &layer.w13); !s.ok())
      return s;
    if (auto s = UploadLowp(lw.wo.ToFloat(), &layer.wo); !s.ok()) return s;
    if (auto s = UploadLowp(lw.w2.ToFloat(), &layer.w2); !s.ok()) return s;
    if (auto s = UploadFloat(lw.rms_att, &layer.rms_att); !s.ok()) return s;
    if (auto s = UploadFloat(lw.rms_ffn, &layer.rms_ffn); !s.ok()) return s;
    if (layer.post_rope_proj) {
      if (auto s = UploadFloat(lw.key_cache_proj, &layer.key_cache_proj);
          !s.ok())
        return s;
      if (auto s = UploadFloat(lw.query_proj, &layer.query_proj); !s.ok())
        return s;
    }
  }
  if (auto s = UploadLowp(w.token_embedding.ToFloat(), &embedding_); !s.ok())
    return s;
  if (auto s = UploadFloat(w.rms_final, &rms_final_); !s.ok()) return s;
  if (!config_.tied_embeddings) {
    if (auto s = UploadLowp(w.wcls.ToFloat(), &classifier_); !s.ok()) return s;
  }
  staging_ = DeviceBuffer();  // load-time only
  return absl::OkStatus();
}

absl::Status CudaBackend::FillRandom(uint64_t seed) {
  const float in_scale = 1.0f / std::sqrt(static_cast<float>(config_.dim));
  const float ffn_scale =
      1.0f / std::sqrt(static_cast<float>(config_.hidden_dim));
  auto fill = [&](DeviceBuffer& b, float scale) {
    return cuda::FillUniform(dtype_, b.get(), b.bytes() / kLowpBytes, scale,
                             seed++, stream_.get());
  };
  auto ones = [&](DeviceBuffer& b) {
    return cuda::FillConstantFloat(b.as<float>(), b.bytes() / 4, 1.0f,
                                   stream_.get());
  };
  for (DeviceLayer& layer : layers_) {
    HEADROOM_CUDA_RETURN_IF_ERROR(fill(layer.wqkv, in_scale));
    HEADROOM_CUDA_RETURN_IF_ERROR(fill(layer.wo, in_scale));
    HEADROOM_CUDA_RETURN_IF_ERROR(fill(layer.w13, in_scale));
    HEADROOM_CUDA_RETURN_IF_ERROR(fill(layer.w2, ffn_scale));
    HEADROOM_CUDA_RETURN_IF_ERROR(ones(layer.rms_att));
    HEADROOM_CUDA_RETURN_IF_ERROR(ones(layer.rms_ffn));
  }
  HEADROOM_CUDA_RETURN_IF_ERROR(fill(embedding_, 1.0f));
  HEADROOM_CUDA_RETURN_IF_ERROR(ones(rms_final_));
  if (!config_.tied_embeddings) {
    HEADROOM_CUDA_RETURN_IF_ERROR(fill(classifier_, in_scale));
  }
  HEADROOM_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_.get()));
  return absl::OkStatus();
}

absl::Status CudaBackend::Gemm(int m, int n, int k, const void* x, int ldx,
                               const void* w, float* c, int ldc,
                               bool accumulate) {
  // Row-major C = X W^T is column-major C^T = W X^T: W's storage read as a
  // (k x n) column-major matrix, transposed.
  const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  const cudaDataType_t type =
      dtype_ == cuda::DType::kBFloat16 ? CUDA_R_16BF : CUDA_R_16F;
  HEADROOM_CUBLAS_RETURN_IF_ERROR(
      cublasGemmEx(cublas_.get(), CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &alpha, w,
                   type, k, x, type, ldx, &beta, c, CUDA_R_32F, ldc,
                   CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  return absl::OkStatus();
}

void CudaBackend::PlanStep(const Batch& batch) {
  const int T = batch.num_tokens();
  const int bs = block_size_;
  meta_.clear();
  auto append = [&](const int32_t* p, size_t n) {
    const int64_t offset = static_cast<int64_t>(meta_.size());
    meta_.insert(meta_.end(), p, p + n);
    return offset;
  };
  ids_offset_ = append(batch.token_ids.data(), T);
  positions_offset_ = append(batch.positions.data(), T);
  slots_offset_ = static_cast<int64_t>(meta_.size());
  for (int t = 0; t < T; ++t) {
    const int pos = batch.positions[t];
    meta_.push_back(batch.block_tables[batch.seq_ids[t]][pos / bs] * bs +
                    pos % bs);
  }
  out_rows_offset_ = static_cast<int64_t>(meta_.size());
  for (int t = 0; t < T; ++t) {
    if (batch.want_logits[t]) meta_.push_back(t);
  }
  tables_offset_ = static_cast<int64_t>(meta_.size());
  std::vector<int32_t> table_offset(batch.block_tables.size());
  for (size_t s = 0; s < batch.block_tables.size(); ++s) {
    table_offset[s] = static_cast<int32_t>(meta_.size() - tables_offset_);
    append(batch.block_tables[s].data(), batch.block_tables[s].size());
  }

  plans_.clear();
  for (const DeviceLayer& layer : layers_) {
    if (plans_.count(layer.g) != 0) continue;
    const PagedAttentionPlan p =
        PlanPagedAttention(batch, config_.n_heads, layer.g, table_offset);
    AttentionPlan& plan = plans_[layer.g];
    plan.num_items = static_cast<int>(p.items.size());
    plan.max_splits = p.max_splits;
    plan.max_rows = p.max_rows;
    plan.splits_offset = append(p.num_splits.data(), p.num_splits.size());
    plan.items_offset = append(reinterpret_cast<const int32_t*>(p.items.data()),
                               p.items.size() * 8);
  }
}

absl::Status CudaBackend::ReserveStepBuffers(int T, int n_out) {
  const ModelConfig& c = config_;
  const int64_t D = c.dim, d = c.head_dim, h = c.n_heads, F = c.hidden_dim;
  int64_t qkv_width = 0, kproj_width = 0;
  for (const DeviceLayer& layer : layers_) {
    qkv_width = std::max(qkv_width, QkvWidth(layer));
    kproj_width = std::max(kproj_width, int64_t{layer.g} * d);
  }
  int64_t partial_floats = 0;
  for (const auto& [g, plan] : plans_) {
    partial_floats =
        std::max(partial_floats, int64_t{T} * h * plan.max_splits * (d + 2));
  }
  const int64_t meta_bytes = static_cast<int64_t>(meta_.size() * 4);
  for (auto [buf, bytes] :
       std::initializer_list<std::pair<DeviceBuffer*, int64_t>>{
           {&meta_dev_, meta_bytes},
           {&x_, T * D * 4},
           {&xb_, T * D * kLowpBytes},
           {&qkv_, T * qkv_width * 4},
           {&q_proj_, T * h * d * 4},
           {&k_proj_, T * kproj_width * 4},
           {&att_, T * h * d * kLowpBytes},
           {&gate_up_, T * 2 * F * 4},
           {&act_, T * F * kLowpBytes},
           {&partial_, partial_floats * 4},
           {&out_x_, n_out * D * kLowpBytes},
           {&logits_dev_, int64_t{n_out} * c.vocab_size * 4}}) {
    if (auto s = buf->Reserve(std::max<int64_t>(bytes, 4)); !s.ok()) return s;
  }
  if (auto s = meta_host_.Reserve(std::max<int64_t>(meta_bytes, 4)); !s.ok())
    return s;
  return logits_host_.Reserve(
      std::max<int64_t>(int64_t{n_out} * c.vocab_size * 4, 4));
}

absl::Status CudaBackend::Forward(const Batch& batch,
                                  std::vector<float>* logits) {
  const ModelConfig& c = config_;
  if (auto s = batch.Validate(c, block_size_, num_blocks_); !s.ok()) return s;
  const int T = batch.num_tokens();
  const int n_out = batch.num_outputs();
  logits->assign(int64_t{n_out} * c.vocab_size, 0.0f);
  if (T == 0) return absl::OkStatus();
  HEADROOM_CUDA_RETURN_IF_ERROR(cudaSetDevice(device_id_));
  const int D = c.dim, d = c.head_dim, h = c.n_heads, F = c.hidden_dim;
  cudaStream_t stream = stream_.get();

  // A step that failed part-way may have left work queued, its copy out of
  // meta_host_ among it: let it drain before the host rewrites the buffer
  // (free when the previous step succeeded, it synchronized).
  HEADROOM_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream));
  PlanStep(batch);
  if (auto s = ReserveStepBuffers(T, n_out); !s.ok()) return s;
  std::memcpy(meta_host_.get(), meta_.data(), meta_.size() * 4);
  HEADROOM_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(meta_dev_.get(), meta_host_.get(), meta_.size() * 4,
                      cudaMemcpyHostToDevice, stream));
  const int32_t* meta = meta_dev_.as<int32_t>();
  const int32_t* positions = meta + positions_offset_;
  const bool half_pairing = c.rope_style == RopeStyle::kHalf;
  const void* classifier =
      c.tied_embeddings ? embedding_.get() : classifier_.get();

  HEADROOM_CUDA_RETURN_IF_ERROR(cuda::EmbeddingGather(dtype_, embedding_.get(),
                                                      meta + ids_offset_, T, D,
                                                      x_.as<float>(), stream));
  for (int l = 0; l < c.n_layers; ++l) {
    const DeviceLayer& layer = layers_[l];
    const int64_t width = QkvWidth(layer);
    float* q = qkv_.as<float>();
    float* k = q + int64_t{h} * d;
    float* v = k + int64_t{layer.nk} * d;

    // Attention block: x += W_O attn(RoPE(W_Q xb), RoPE(W_K xb), W_V xb).
    HEADROOM_CUDA_RETURN_IF_ERROR(cuda::RmsNorm(dtype_, x_.as<float>(), nullptr,
                                                T, D, layer.rms_att.as<float>(),
                                                c.norm_eps, xb_.get(), stream));
    if (auto s = Gemm(T, static_cast<int>(width), D, xb_.get(), D,
                      layer.wqkv.get(), q, static_cast<int>(width), false);
        !s.ok())
      return s;
    const float* inv_freq = rope_inv_freq_.as<float>();
    HEADROOM_CUDA_RETURN_IF_ERROR(cuda::ApplyRope(
        q, T, h, d, width, positions, inv_freq, half_pairing, stream));
    HEADROOM_CUDA_RETURN_IF_ERROR(cuda::ApplyRope(
        k, T, layer.nk, d, width, positions, inv_freq, half_pairing, stream));
    const float* q_att = q;
    int64_t q_stride = width;
    const float* k_cache_src = k;
    int64_t k_stride = width;
    if (layer.post_rope_proj) {
      // SVD-a on RoPE keys (method.md): k~_i = P_K,i [k_it; ...; k_it+t-1]
      // and q~_j = Q_j q_j after the rotation, as strided batched GEMMs.
      const int td = layer.nk / layer.g * d;
      const float one = 1.0f, zero = 0.0f;
      HEADROOM_CUBLAS_RETURN_IF_ERROR(cublasSgemmStridedBatched(
          cublas_.get(), CUBLAS_OP_T, CUBLAS_OP_N, d, T, td, &one,
          layer.key_cache_proj.as<float>(), td, int64_t{d} * td, k,
          static_cast<int>(width), td, &zero, k_proj_.as<float>(), layer.g * d,
          d, layer.g));
      HEADROOM_CUBLAS_RETURN_IF_ERROR(cublasSgemmStridedBatched(
          cublas_.get(), CUBLAS_OP_T, CUBLAS_OP_N, d, T, d, &one,
          layer.query_proj.as<float>(), d, int64_t{d} * d, q,
          static_cast<int>(width), d, &zero, q_proj_.as<float>(), h * d, d, h));
      q_att = q_proj_.as<float>();
      q_stride = int64_t{h} * d;
      k_cache_src = k_proj_.as<float>();
      k_stride = int64_t{layer.g} * d;
    }
    HEADROOM_CUDA_RETURN_IF_ERROR(
        cuda::WriteKvCache(dtype_, k_cache_src, k_stride, v, width, T, layer.g,
                           d, block_size_, meta + slots_offset_,
                           layer.k_cache.get(), layer.v_cache.get(), stream));
    const AttentionPlan& plan = plans_.at(layer.g);
    cuda::PagedAttentionParams p;
    p.dtype = dtype_;
    p.q = q_att;
    p.q_stride = q_stride;
    p.k_cache = layer.k_cache.get();
    p.v_cache = layer.v_cache.get();
    p.positions = positions;
    p.block_tables = meta + tables_offset_;
    p.items = reinterpret_cast<const cuda::AttentionWorkItem*>(
        meta + plan.items_offset);
    p.num_items = plan.num_items;
    p.num_splits = meta + plan.splits_offset;
    p.num_tokens = T;
    p.num_heads = h;
    p.kv_heads = layer.g;
    p.head_dim = d;
    p.block_size = block_size_;
    p.max_splits = plan.max_splits;
    p.max_rows = plan.max_rows;
    p.scale = 1.0f / std::sqrt(static_cast<float>(d));
    p.partial = partial_.as<float>();
    p.out = att_.get();
    HEADROOM_CUDA_RETURN_IF_ERROR(cuda::PagedAttention(p, stream));
    if (auto s = Gemm(T, D, h * d, att_.get(), h * d, layer.wo.get(),
                      x_.as<float>(), D, /*accumulate=*/true);
        !s.ok())
      return s;

    // FFN block: x += W_2 (silu(W_1 xb) * W_3 xb).
    HEADROOM_CUDA_RETURN_IF_ERROR(cuda::RmsNorm(dtype_, x_.as<float>(), nullptr,
                                                T, D, layer.rms_ffn.as<float>(),
                                                c.norm_eps, xb_.get(), stream));
    if (auto s = Gemm(T, 2 * F, D, xb_.get(), D, layer.w13.get(),
                      gate_up_.as<float>(), 2 * F, false);
        !s.ok())
      return s;
    HEADROOM_CUDA_RETURN_IF_ERROR(
        cuda::SiluMul(dtype_, gate_up_.as<float>(), T, F, act_.get(), stream));
    if (auto s = Gemm(T, D, F, act_.get(), F, layer.w2.get(), x_.as<float>(), D,
                      /*accumulate=*/true);
        !s.ok())
      return s;
  }

  if (n_out > 0) {
    HEADROOM_CUDA_RETURN_IF_ERROR(cuda::RmsNorm(
        dtype_, x_.as<float>(), meta + out_rows_offset_, n_out, D,
        rms_final_.as<float>(), c.norm_eps, out_x_.get(), stream));
    if (auto s = Gemm(n_out, c.vocab_size, D, out_x_.get(), D, classifier,
                      logits_dev_.as<float>(), c.vocab_size, false);
        !s.ok())
      return s;
    HEADROOM_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(
        logits_host_.get(), logits_dev_.get(), logits->size() * sizeof(float),
        cudaMemcpyDeviceToHost, stream));
  }
  HEADROOM_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream));
  if (n_out > 0) {
    std::memcpy(logits->data(), logits_host_.get(),
                logits->size() * sizeof(float));
  }
  return absl::OkStatus();
}

// Checks what the kernels support, then that a device is present.
absl::Status CheckSupported(const ModelConfig& config,
                            const BackendOptions& options) {
  const int d = config.head_dim;
  if (d % 8 != 0 || d > cuda::kMaxHeadDim) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cuda backend: head_dim must be a multiple of 8 and at most ",
        cuda::kMaxHeadDim, ", got ", d));
  }
  if (options.block_size <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cuda backend: block_size must be positive, got ", options.block_size));
  }
  if (options.num_blocks < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cuda backend: num_blocks must not be negative, got ",
                     options.num_blocks));
  }
  const int devices = CudaDeviceCount();
  if (devices == 0) {
    return absl::FailedPreconditionError(
        "device: cuda was requested but no CUDA device is present "
        "(cudaGetDeviceCount found none; is the NVIDIA driver loaded and the "
        "GPU visible to this process?)");
  }
  if (options.device_id < 0 || options.device_id >= devices) {
    return absl::InvalidArgumentError(
        absl::StrCat("cuda backend: device_id ", options.device_id,
                     " is out of range: ", devices, " device(s) present"));
  }
  int optin = 0;
  HEADROOM_CUDA_RETURN_IF_ERROR(cudaDeviceGetAttribute(
      &optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, options.device_id));
  const int needed =
      cuda::PagedAttentionSharedBytes(d, cuda::kAttentionMaxRows);
  if (needed > optin) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cuda backend: head_dim ", d, " needs ", needed,
        " bytes of shared memory per attention block; the device allows ",
        optin));
  }
  HEADROOM_CUDA_RETURN_IF_ERROR(cudaSetDevice(options.device_id));
  HEADROOM_CUDA_RETURN_IF_ERROR(cuda::SetPagedAttentionSharedLimit(needed));
  return absl::OkStatus();
}

}  // namespace

int CudaDeviceCount() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error of a missing driver
    return 0;
  }
  return count;
}

absl::StatusOr<std::unique_ptr<Backend>> CreateCudaBackend(
    ModelWeights weights, const BackendOptions& options) {
  if (auto s = weights.Validate(); !s.ok()) return s;
  if (auto s = CheckSupported(weights.config, options); !s.ok()) return s;
  std::vector<bool> post_rope_proj;
  for (const LayerWeights& layer : weights.layers) {
    post_rope_proj.push_back(layer.has_post_rope_proj());
  }
  auto backend = std::make_unique<CudaBackend>(weights.config, options);
  if (auto s = backend->Allocate(post_rope_proj); !s.ok()) return s;
  if (auto s = backend->Upload(weights); !s.ok()) return s;
  return backend;
}

absl::StatusOr<std::unique_ptr<Backend>> CreateCudaBackendWithRandomWeights(
    const ModelConfig& config, const BackendOptions& options, uint64_t seed) {
  if (auto s = config.Validate(); !s.ok()) return s;
  if (auto s = CheckSupported(config, options); !s.ok()) return s;
  auto backend = std::make_unique<CudaBackend>(config, options);
  if (auto s = backend->Allocate(std::vector<bool>(config.n_layers, false));
      !s.ok())
    return s;
  if (auto s = backend->FillRandom(seed); !s.ok()) return s;
  return backend;
}

}  // namespace headroom::runtime
