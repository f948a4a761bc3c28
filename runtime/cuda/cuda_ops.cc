#include "runtime/cuda/cuda_ops.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/cuda/cuda_status.h"
#include "runtime/kv/paged_attention_plan.h"
#include "runtime/model/rope.h"
#include "runtime/weights/weight_dtype.h"

namespace headroom::runtime::cuda {
namespace {

DType ToDType(LowPrecision p) {
  return p == LowPrecision::kBFloat16 ? DType::kBFloat16 : DType::kFloat16;
}

}  // namespace

CudaOps::CudaOps(ModelConfig config, const BackendOptions& options)
    : config_(std::move(config)),
      block_size_(options.block_size),
      num_blocks_(options.num_blocks > 0
                      ? options.num_blocks
                      : BlocksForContext(config_, options.block_size)),
      dtype_(ToDType(options.dtype)),
      device_id_(options.device_id) {}

absl::Status CudaOps::Allocate(const std::vector<bool>& post_rope_proj) {
  HEADROOM_CUDA_RETURN_IF_ERROR(cudaSetDevice(device_id_));
  auto stream = Stream::Create();
  if (!stream.ok()) return stream.status();
  stream_ = std::move(*stream);
  auto cublas = CublasHandle::Create(stream_.get());
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
    // Biases and per-head norms, fp32, as the config asks.
    const int64_t F4 = F * 4, D4 = D * 4;
    for (auto [wanted, buf, bytes] :
         std::initializer_list<std::tuple<bool, DeviceBuffer*, int64_t>>{
             {c.qkv_bias, &layer.bq, h * d * 4},
             {c.qkv_bias, &layer.bk, int64_t{layer.nk} * d * 4},
             {c.qkv_bias, &layer.bv, int64_t{layer.g} * d * 4},
             {c.output_bias, &layer.bo, D4},
             {c.mlp_bias, &layer.b1, F4},
             {c.mlp_bias, &layer.b3, F4},
             {c.mlp_bias, &layer.b2, D4},
             {c.qk_norm, &layer.q_norm, d * 4},
             {c.qk_norm, &layer.k_norm, d * 4}}) {
      if (!wanted) continue;
      if (auto s = alloc(buf, bytes); !s.ok()) return s;
      // Zero until uploaded (FillRandom keeps zero biases, sets the norms
      // to 1).
      HEADROOM_CUDA_RETURN_IF_ERROR(
          cudaMemsetAsync(buf->get(), 0, bytes, stream_.get()));
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
  // The frequencies of runtime/model/rope.h, as the CPU ops rotate by.
  const std::vector<float> inv_freq = RopeInverseFrequencies(c);
  if (auto s = alloc(&rope_inv_freq_, d / 2 * 4); !s.ok()) return s;
  if (auto s = UploadFloat(inv_freq, &rope_inv_freq_); !s.ok()) return s;
  if (!c.tied_embeddings) {
    if (auto s = alloc(&classifier_, int64_t{c.vocab_size} * D * kLowpBytes);
        !s.ok())
      return s;
  }
  return absl::OkStatus();
}

absl::Status CudaOps::UploadFloat(const std::vector<float>& host,
                                  DeviceBuffer* dst) {
  HEADROOM_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(dst->get(), host.data(), host.size() * sizeof(float),
                      cudaMemcpyHostToDevice, stream_.get()));
  // The host vector may be freed after return: wait for the copy.
  HEADROOM_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_.get()));
  return absl::OkStatus();
}

absl::Status CudaOps::UploadLowp(const std::vector<float>& host,
                                 DeviceBuffer* dst) {
  const int64_t bytes = static_cast<int64_t>(host.size() * sizeof(float));
  if (auto s = staging_.Reserve(bytes); !s.ok()) return s;
  HEADROOM_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(staging_.get(), host.data(),
                                                bytes, cudaMemcpyHostToDevice,
                                                stream_.get()));
  HEADROOM_CUDA_RETURN_IF_ERROR(ToLowPrecision(
      dtype_, staging_.as<float>(), static_cast<int64_t>(host.size()),
      dst->get(), stream_.get()));
  HEADROOM_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_.get()));
  return absl::OkStatus();
}

absl::Status CudaOps::Upload(const ModelWeights& w) {
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
    for (auto [host, buf] : std::initializer_list<
             std::pair<const std::vector<float>*, DeviceBuffer*>>{
             {&lw.bq, &layer.bq},
             {&lw.bk, &layer.bk},
             {&lw.bv, &layer.bv},
             {&lw.bo, &layer.bo},
             {&lw.b1, &layer.b1},
             {&lw.b3, &layer.b3},
             {&lw.b2, &layer.b2},
             {&lw.q_norm, &layer.q_norm},
             {&lw.k_norm, &layer.k_norm}}) {
      if (host->empty()) continue;
      if (auto s = UploadFloat(*host, buf); !s.ok()) return s;
    }
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

absl::Status CudaOps::FillRandom(uint64_t seed) {
  const float in_scale = 1.0f / std::sqrt(static_cast<float>(config_.dim));
  const float ffn_scale =
      1.0f / std::sqrt(static_cast<float>(config_.hidden_dim));
  auto fill = [&](DeviceBuffer& b, float scale) {
    return FillUniform(dtype_, b.get(), b.bytes() / kLowpBytes, scale, seed++,
                       stream_.get());
  };
  auto ones = [&](DeviceBuffer& b) {
    return FillConstantFloat(b.as<float>(), b.bytes() / 4, 1.0f, stream_.get());
  };
  for (DeviceLayer& layer : layers_) {
    HEADROOM_CUDA_RETURN_IF_ERROR(fill(layer.wqkv, in_scale));
    HEADROOM_CUDA_RETURN_IF_ERROR(fill(layer.wo, in_scale));
    HEADROOM_CUDA_RETURN_IF_ERROR(fill(layer.w13, in_scale));
    HEADROOM_CUDA_RETURN_IF_ERROR(fill(layer.w2, ffn_scale));
    for (DeviceBuffer* norm : {&layer.q_norm, &layer.k_norm}) {
      if (norm->get() != nullptr) HEADROOM_CUDA_RETURN_IF_ERROR(ones(*norm));
    }
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

void CudaOps::PlanStep(const Batch& batch) {
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

absl::Status CudaOps::ReserveStepBuffers(int T, int n_out) {
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

absl::Status CudaOps::BeginStep(const Batch& batch) {
  HEADROOM_CUDA_RETURN_IF_ERROR(cudaSetDevice(device_id_));
  cudaStream_t stream = stream_.get();
  // A step that failed part-way may have left work queued, its copy out of
  // meta_host_ among it: let it drain before the host rewrites the buffer
  // (free when the previous step succeeded, it synchronized).
  HEADROOM_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream));
  num_tokens_ = batch.num_tokens();
  num_outputs_ = batch.num_outputs();
  PlanStep(batch);
  if (auto s = ReserveStepBuffers(num_tokens_, num_outputs_); !s.ok()) {
    return s;
  }
  std::memcpy(meta_host_.get(), meta_.data(), meta_.size() * 4);
  HEADROOM_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(meta_dev_.get(), meta_host_.get(), meta_.size() * 4,
                      cudaMemcpyHostToDevice, stream));
  return absl::OkStatus();
}

absl::Status CudaOps::FinishStep(std::vector<float>* logits) {
  cudaStream_t stream = stream_.get();
  const int64_t n = int64_t{num_outputs_} * config_.vocab_size;
  logits->assign(n, 0.0f);
  if (n > 0) {
    HEADROOM_CUDA_RETURN_IF_ERROR(
        cudaMemcpyAsync(logits_host_.get(), logits_dev_.get(), n * 4,
                        cudaMemcpyDeviceToHost, stream));
  }
  HEADROOM_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream));
  if (n > 0) std::memcpy(logits->data(), logits_host_.get(), n * 4);
  return absl::OkStatus();
}

ActivationLayout CudaOps::Layout(Activation activation, int layer) const {
  const ModelConfig& c = config_;
  const DeviceLayer& dl = layers_[layer];
  const int64_t T = num_tokens_, D = c.dim,
                hd = int64_t{c.n_heads} * c.head_dim;
  const int64_t width = QkvWidth(dl);
  const int64_t cols =
      ActivationColumns(c, activation, layer, dl.post_rope_proj);
  auto at = [&](const DeviceBuffer& b, bool lowp, int64_t rows, int64_t stride,
                int64_t col0) {
    char* base = static_cast<char*>(b.get()) + col0 * (lowp ? kLowpBytes : 4);
    return ActivationLayout{base, lowp, rows, cols, stride};
  };
  switch (activation) {
    case Activation::kResidual:
      return at(x_, false, T, D, 0);
    case Activation::kNormed:
      return at(xb_, true, T, D, 0);
    case Activation::kQueries:
      return at(qkv_, false, T, width, 0);
    case Activation::kKeys:
      return at(qkv_, false, T, width, hd);
    case Activation::kValues:
      return at(qkv_, false, T, width, hd + int64_t{dl.nk} * c.head_dim);
    case Activation::kQueriesProjected:
      return at(q_proj_, false, T, hd, 0);
    case Activation::kKeysProjected:
      return at(k_proj_, false, T, cols, 0);
    case Activation::kAttention:
      return at(att_, true, T, hd, 0);
    case Activation::kGate:
      return at(gate_up_, false, T, 2 * int64_t{c.hidden_dim}, 0);
    case Activation::kUp:
      return at(gate_up_, false, T, 2 * int64_t{c.hidden_dim}, c.hidden_dim);
    case Activation::kHidden:
      return at(act_, true, T, c.hidden_dim, 0);
    case Activation::kOutputRows:
      return at(out_x_, true, num_outputs_, D, 0);
  }
  return {};
}

absl::StatusOr<std::vector<float>> CudaOps::Read(Activation activation,
                                                 int layer) {
  const ActivationLayout a = Layout(activation, layer);
  const int64_t elem = a.lowp ? kLowpBytes : 4;
  std::vector<char> raw(a.rows * a.cols * elem);
  if (!raw.empty()) {
    HEADROOM_CUDA_RETURN_IF_ERROR(cudaMemcpy2DAsync(
        raw.data(), a.cols * elem, a.data, a.stride * elem, a.cols * elem,
        a.rows, cudaMemcpyDeviceToHost, stream_.get()));
  }
  HEADROOM_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_.get()));
  std::vector<float> out(a.rows * a.cols);
  for (size_t i = 0; i < out.size(); ++i) {
    if (!a.lowp) {
      std::memcpy(&out[i], raw.data() + i * 4, 4);
      continue;
    }
    uint16_t bits;
    std::memcpy(&bits, raw.data() + i * 2, 2);
    out[i] =
        dtype_ == DType::kBFloat16 ? BFloat16ToFloat(bits) : HalfToFloat(bits);
  }
  return out;
}

absl::Status CudaOps::Write(Activation activation, int layer,
                            const std::vector<float>& values) {
  const ActivationLayout a = Layout(activation, layer);
  if (static_cast<int64_t>(values.size()) != a.rows * a.cols) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cuda ops: ", ActivationName(activation), " of layer ", layer,
        " holds ", a.rows * a.cols, " values this step, got ", values.size()));
  }
  const int64_t elem = a.lowp ? kLowpBytes : 4;
  std::vector<char> raw(values.size() * elem);
  for (size_t i = 0; i < values.size(); ++i) {
    if (!a.lowp) {
      std::memcpy(raw.data() + i * 4, &values[i], 4);
      continue;
    }
    const uint16_t bits = dtype_ == DType::kBFloat16
                              ? FloatToBFloat16(values[i])
                              : FloatToHalf(values[i]);
    std::memcpy(raw.data() + i * 2, &bits, 2);
  }
  if (!raw.empty()) {
    HEADROOM_CUDA_RETURN_IF_ERROR(cudaMemcpy2DAsync(
        a.data, a.stride * elem, raw.data(), a.cols * elem, a.cols * elem,
        a.rows, cudaMemcpyHostToDevice, stream_.get()));
  }
  HEADROOM_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_.get()));
  return absl::OkStatus();
}

}  // namespace headroom::runtime::cuda
