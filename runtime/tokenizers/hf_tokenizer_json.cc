#include "runtime/tokenizers/hf_tokenizer_json.h"

#include <cstdint>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace headroom::runtime {
namespace {

using nlohmann::json;

// Sequences nest; real files nest once. A bound keeps hostile files from
// recursing deeply.
constexpr int kMaxDepth = 8;

absl::Status Invalid(std::string_view field, std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(std::string(field), " ", std::string(what)));
}

// A short rendering of `j` for messages.
std::string Show(const json& j) {
  std::string s = j.dump(-1, ' ', true, json::error_handler_t::replace);
  if (s.size() > 80) s = s.substr(0, 77) + "...";
  return s;
}

absl::Status Unsupported(std::string_view field, const json& value,
                         std::string_view supported) {
  return Invalid(field, absl::StrCat(Show(value), " is not supported (",
                                     std::string(supported), ")"));
}

std::string Sub(std::string_view field, std::string_view key) {
  return absl::StrCat(std::string(field), ".", std::string(key));
}
std::string At(std::string_view field, size_t i) {
  return absl::StrCat(std::string(field), "[", i, "]");
}

// `j[key]` when present and not null, else nullptr.
const json* Find(const json& j, std::string_view key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return nullptr;
  return &*it;
}

absl::StatusOr<bool> GetBool(const json& j, std::string_view key, bool fallback,
                             std::string_view field) {
  const json* v = Find(j, key);
  if (v == nullptr) return fallback;
  if (!v->is_boolean()) return Invalid(Sub(field, key), "must be a boolean");
  return v->get<bool>();
}

absl::StatusOr<std::string> GetString(const json& j, std::string_view key,
                                      std::string_view fallback,
                                      std::string_view field) {
  const json* v = Find(j, key);
  if (v == nullptr) return std::string(fallback);
  if (!v->is_string()) return Invalid(Sub(field, key), "must be a string");
  return v->get<std::string>();
}

absl::StatusOr<std::string> RequireString(const json& j, std::string_view key,
                                          std::string_view field) {
  if (Find(j, key) == nullptr) return Invalid(Sub(field, key), "is missing");
  return GetString(j, key, "", field);
}

absl::StatusOr<int64_t> GetInt(const json& j, std::string_view key,
                               int64_t fallback, std::string_view field) {
  const json* v = Find(j, key);
  if (v == nullptr) return fallback;
  if (v->is_number_unsigned()) {
    const uint64_t u = v->get<uint64_t>();
    return u > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX
                                                : static_cast<int64_t>(u);
  }
  if (!v->is_number_integer()) {
    return Invalid(Sub(field, key), "must be an integer");
  }
  return v->get<int64_t>();
}

// An id: an integer in [0, BpeModel::kMaxId].
absl::StatusOr<int> ToId(const json& v, std::string_view field) {
  int64_t id = -1;
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    id = u > static_cast<uint64_t>(BpeModel::kMaxId) ? BpeModel::kMaxId + 1
                                                     : static_cast<int64_t>(u);
  } else if (v.is_number_integer()) {
    id = v.get<int64_t>();
  } else {
    return Invalid(field, absl::StrCat(Show(v), " is not an integer id"));
  }
  if (id < 0 || id > BpeModel::kMaxId) {
    return Invalid(field, absl::StrCat(Show(v), " is outside [0, ",
                                       BpeModel::kMaxId, "]"));
  }
  return static_cast<int>(id);
}

absl::StatusOr<std::string> GetType(const json& j, std::string_view field) {
  if (!j.is_object()) return Invalid(field, "must be an object");
  return RequireString(j, "type", field);
}

// {"String": s} or {"Regex": r}.
absl::StatusOr<HfRegex> GetPattern(const json& j, std::string_view field) {
  const std::string f = Sub(field, "pattern");
  const json* p = Find(j, "pattern");
  if (p == nullptr || !p->is_object()) {
    return Invalid(f, "must be {\"String\": ...} or {\"Regex\": ...}");
  }
  if (const json* s = Find(*p, "String"); s != nullptr && s->is_string()) {
    return HfRegex::Literal(s->get<std::string>(), Sub(f, "String"));
  }
  if (const json* r = Find(*p, "Regex"); r != nullptr && r->is_string()) {
    return HfRegex::Compile(r->get<std::string>(), Sub(f, "Regex"));
  }
  return Unsupported(f, *p, "{\"String\": ...} or {\"Regex\": ...}");
}

absl::Status ParseNormalizer(const json& j, std::string_view field, int depth,
                             std::vector<NormalizerStep>* steps) {
  if (depth > kMaxDepth) return Invalid(field, "nests too deeply");
  absl::StatusOr<std::string> type = GetType(j, field);
  if (!type.ok()) return type.status();
  NormalizerStep step;
  if (*type == "Sequence") {
    const json* list = Find(j, "normalizers");
    if (list == nullptr || !list->is_array()) {
      return Invalid(Sub(field, "normalizers"), "must be an array");
    }
    for (size_t i = 0; i < list->size(); ++i) {
      if (auto s = ParseNormalizer((*list)[i], At(Sub(field, "normalizers"), i),
                                   depth + 1, steps);
          !s.ok()) {
        return s;
      }
    }
    return absl::OkStatus();
  }
  if (*type == "NFC") {
    step.kind = NormalizerStep::Kind::kNfc;
  } else if (*type == "NFD") {
    step.kind = NormalizerStep::Kind::kNfd;
  } else if (*type == "NFKC") {
    step.kind = NormalizerStep::Kind::kNfkc;
  } else if (*type == "NFKD") {
    step.kind = NormalizerStep::Kind::kNfkd;
  } else if (*type == "Prepend") {
    step.kind = NormalizerStep::Kind::kPrepend;
    absl::StatusOr<std::string> p = RequireString(j, "prepend", field);
    if (!p.ok()) return p.status();
    step.content = std::move(*p);
  } else if (*type == "Replace") {
    step.kind = NormalizerStep::Kind::kReplace;
    absl::StatusOr<HfRegex> pattern = GetPattern(j, field);
    if (!pattern.ok()) return pattern.status();
    step.pattern = std::move(*pattern);
    absl::StatusOr<std::string> c = RequireString(j, "content", field);
    if (!c.ok()) return c.status();
    step.content = std::move(*c);
  } else {
    return Unsupported(Sub(field, "type"), j["type"],
                       "supported: NFC, NFD, NFKC, NFKD, Prepend, Replace, "
                       "Sequence");
  }
  steps->push_back(std::move(step));
  return absl::OkStatus();
}

absl::StatusOr<SplitBehavior> ParseBehavior(const json& j,
                                            std::string_view field) {
  absl::StatusOr<std::string> b = GetString(j, "behavior", "Isolated", field);
  if (!b.ok()) return b.status();
  if (*b == "Removed") return SplitBehavior::kRemoved;
  if (*b == "Isolated") return SplitBehavior::kIsolated;
  if (*b == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (*b == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (*b == "Contiguous") return SplitBehavior::kContiguous;
  return Unsupported(Sub(field, "behavior"), j["behavior"],
                     "supported: Removed, Isolated, MergedWithPrevious, "
                     "MergedWithNext, Contiguous");
}

// Metaspace's prepend_scheme, or the older add_prefix_space flag.
absl::StatusOr<PreTokenizerStep::PrependScheme> ParsePrependScheme(
    const json& j, std::string_view field) {
  if (Find(j, "prepend_scheme") == nullptr) {
    absl::StatusOr<bool> add = GetBool(j, "add_prefix_space", true, field);
    if (!add.ok()) return add.status();
    return *add ? PreTokenizerStep::PrependScheme::kAlways
                : PreTokenizerStep::PrependScheme::kNever;
  }
  absl::StatusOr<std::string> s = GetString(j, "prepend_scheme", "", field);
  if (!s.ok()) return s.status();
  if (*s == "always") return PreTokenizerStep::PrependScheme::kAlways;
  if (*s == "first") return PreTokenizerStep::PrependScheme::kFirst;
  if (*s == "never") return PreTokenizerStep::PrependScheme::kNever;
  return Unsupported(Sub(field, "prepend_scheme"), j["prepend_scheme"],
                     "supported: always, first, never");
}

absl::Status ParsePreTokenizer(const json& j, std::string_view field, int depth,
                               std::vector<PreTokenizerStep>* steps) {
  if (depth > kMaxDepth) return Invalid(field, "nests too deeply");
  absl::StatusOr<std::string> type = GetType(j, field);
  if (!type.ok()) return type.status();
  PreTokenizerStep step;
  if (*type == "Sequence") {
    const json* list = Find(j, "pretokenizers");
    if (list == nullptr || !list->is_array()) {
      return Invalid(Sub(field, "pretokenizers"), "must be an array");
    }
    for (size_t i = 0; i < list->size(); ++i) {
      if (auto s = ParsePreTokenizer(
              (*list)[i], At(Sub(field, "pretokenizers"), i), depth + 1, steps);
          !s.ok()) {
        return s;
      }
    }
    return absl::OkStatus();
  }
  if (*type == "Split") {
    step.kind = PreTokenizerStep::Kind::kSplit;
    absl::StatusOr<HfRegex> pattern = GetPattern(j, field);
    if (!pattern.ok()) return pattern.status();
    step.pattern = std::move(*pattern);
    absl::StatusOr<SplitBehavior> behavior = ParseBehavior(j, field);
    if (!behavior.ok()) return behavior.status();
    step.behavior = *behavior;
    absl::StatusOr<bool> invert = GetBool(j, "invert", false, field);
    if (!invert.ok()) return invert.status();
    step.invert = *invert;
  } else if (*type == "ByteLevel") {
    step.kind = PreTokenizerStep::Kind::kByteLevel;
    absl::StatusOr<bool> add = GetBool(j, "add_prefix_space", true, field);
    if (!add.ok()) return add.status();
    absl::StatusOr<bool> use_regex = GetBool(j, "use_regex", true, field);
    if (!use_regex.ok()) return use_regex.status();
    step.add_prefix_space = *add;
    step.use_regex = *use_regex;
  } else if (*type == "Metaspace") {
    step.kind = PreTokenizerStep::Kind::kMetaspace;
    absl::StatusOr<std::string> r =
        GetString(j, "replacement", "\xE2\x96\x81", field);
    if (!r.ok()) return r.status();
    if (r->empty()) return Invalid(Sub(field, "replacement"), "is empty");
    step.replacement = std::move(*r);
    absl::StatusOr<PreTokenizerStep::PrependScheme> scheme =
        ParsePrependScheme(j, field);
    if (!scheme.ok()) return scheme.status();
    step.prepend_scheme = *scheme;
    absl::StatusOr<bool> split = GetBool(j, "split", true, field);
    if (!split.ok()) return split.status();
    step.split = *split;
  } else {
    return Unsupported(Sub(field, "type"), j["type"],
                       "supported: Split, ByteLevel, Metaspace, Sequence");
  }
  steps->push_back(std::move(step));
  return absl::OkStatus();
}

absl::Status ParseDecoder(const json& j, std::string_view field, int depth,
                          std::vector<DecoderStep>* steps) {
  if (depth > kMaxDepth) return Invalid(field, "nests too deeply");
  absl::StatusOr<std::string> type = GetType(j, field);
  if (!type.ok()) return type.status();
  DecoderStep step;
  step.field = std::string(field);
  if (*type == "Sequence") {
    const json* list = Find(j, "decoders");
    if (list == nullptr || !list->is_array()) {
      return Invalid(Sub(field, "decoders"), "must be an array");
    }
    for (size_t i = 0; i < list->size(); ++i) {
      if (auto s = ParseDecoder((*list)[i], At(Sub(field, "decoders"), i),
                                depth + 1, steps);
          !s.ok()) {
        return s;
      }
    }
    return absl::OkStatus();
  }
  if (*type == "ByteLevel") {
    step.kind = DecoderStep::Kind::kByteLevel;
  } else if (*type == "ByteFallback") {
    step.kind = DecoderStep::Kind::kByteFallback;
  } else if (*type == "Fuse") {
    step.kind = DecoderStep::Kind::kFuse;
  } else if (*type == "Replace") {
    step.kind = DecoderStep::Kind::kReplace;
    absl::StatusOr<HfRegex> pattern = GetPattern(j, field);
    if (!pattern.ok()) return pattern.status();
    step.pattern = std::move(*pattern);
    absl::StatusOr<std::string> c = RequireString(j, "content", field);
    if (!c.ok()) return c.status();
    step.content = std::move(*c);
  } else if (*type == "Strip") {
    step.kind = DecoderStep::Kind::kStrip;
    absl::StatusOr<std::string> c = RequireString(j, "content", field);
    if (!c.ok()) return c.status();
    step.content = std::move(*c);
    absl::StatusOr<int64_t> start = GetInt(j, "start", 0, field);
    if (!start.ok()) return start.status();
    absl::StatusOr<int64_t> stop = GetInt(j, "stop", 0, field);
    if (!stop.ok()) return stop.status();
    step.start = *start;
    step.stop = *stop;
  } else if (*type == "Metaspace") {
    step.kind = DecoderStep::Kind::kMetaspace;
    absl::StatusOr<std::string> r =
        GetString(j, "replacement", "\xE2\x96\x81", field);
    if (!r.ok()) return r.status();
    step.replacement = std::move(*r);
    absl::StatusOr<PreTokenizerStep::PrependScheme> scheme =
        ParsePrependScheme(j, field);
    if (!scheme.ok()) return scheme.status();
    step.prepend = *scheme != PreTokenizerStep::PrependScheme::kNever;
  } else {
    return Unsupported(Sub(field, "type"), j["type"],
                       "supported: ByteLevel, ByteFallback, Fuse, Replace, "
                       "Strip, Metaspace, Sequence");
  }
  steps->push_back(std::move(step));
  return absl::OkStatus();
}

absl::StatusOr<BpeModel> ParseModel(const json& j) {
  absl::StatusOr<std::string> type = GetType(j, "model");
  if (!type.ok()) return type.status();
  if (*type != "BPE") {
    return Unsupported("model.type", j["type"], "supported: BPE");
  }
  if (const json* d = Find(j, "dropout");
      d != nullptr && !(d->is_number() && d->get<double>() == 0.0)) {
    return Unsupported("model.dropout", *d, "only null or 0");
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (const json* v = Find(j, key);
        v != nullptr && !(v->is_string() && v->get<std::string>().empty())) {
      return Unsupported(Sub("model", key), *v, "only null or \"\"");
    }
  }
  BpeConfig config;
  const json* vocab = Find(j, "vocab");
  if (vocab == nullptr || !vocab->is_object()) {
    return Invalid("model.vocab", "must be an object of token: id");
  }
  config.vocab.reserve(vocab->size());
  for (auto it = vocab->begin(); it != vocab->end(); ++it) {
    absl::StatusOr<int> id = ToId(it.value(), "model.vocab");
    if (!id.ok()) return id.status();
    config.vocab.emplace_back(it.key(), *id);
  }
  const json* merges = Find(j, "merges");
  if (merges != nullptr) {
    if (!merges->is_array()) return Invalid("model.merges", "must be an array");
    config.merges.reserve(merges->size());
    for (size_t i = 0; i < merges->size(); ++i) {
      const json& m = (*merges)[i];
      if (m.is_string()) {
        // "a b": the two parts around the one space.
        const std::string& s = m.get_ref<const std::string&>();
        const size_t space = s.find(' ');
        if (space == std::string::npos ||
            s.find(' ', space + 1) != std::string::npos) {
          return Invalid(At("model.merges", i),
                         absl::StrCat(Show(m), " is not \"A B\""));
        }
        config.merges.emplace_back(s.substr(0, space), s.substr(space + 1));
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() &&
                 m[1].is_string()) {
        config.merges.emplace_back(m[0].get<std::string>(),
                                   m[1].get<std::string>());
      } else {
        return Invalid(
            At("model.merges", i),
            absl::StrCat(Show(m), " is not \"A B\" or [\"A\", \"B\"]"));
      }
    }
  }
  absl::StatusOr<std::string> unk = GetString(j, "unk_token", "", "model");
  if (!unk.ok()) return unk.status();
  if (Find(j, "unk_token") != nullptr) config.unk_token = *unk;
  absl::StatusOr<bool> fallback = GetBool(j, "byte_fallback", false, "model");
  if (!fallback.ok()) return fallback.status();
  absl::StatusOr<bool> fuse = GetBool(j, "fuse_unk", false, "model");
  if (!fuse.ok()) return fuse.status();
  absl::StatusOr<bool> ignore = GetBool(j, "ignore_merges", false, "model");
  if (!ignore.ok()) return ignore.status();
  config.byte_fallback = *fallback;
  config.fuse_unk = *fuse;
  config.ignore_merges = *ignore;
  return BpeModel::Create(std::move(config));
}

absl::Status ParseAddedTokens(const json& j, std::vector<AddedToken>* tokens) {
  if (!j.is_array()) return Invalid("added_tokens", "must be an array");
  for (size_t i = 0; i < j.size(); ++i) {
    const std::string field = At("added_tokens", i);
    const json& t = j[i];
    if (!t.is_object()) return Invalid(field, "must be an object");
    AddedToken token;
    const json* id = Find(t, "id");
    if (id == nullptr) return Invalid(Sub(field, "id"), "is missing");
    absl::StatusOr<int> parsed = ToId(*id, Sub(field, "id"));
    if (!parsed.ok()) return parsed.status();
    token.id = *parsed;
    absl::StatusOr<std::string> content = RequireString(t, "content", field);
    if (!content.ok()) return content.status();
    if (content->empty()) return Invalid(Sub(field, "content"), "is empty");
    token.content = std::move(*content);
    struct Flag {
      const char* key;
      bool* value;
      bool fallback;
    };
    absl::StatusOr<bool> special = GetBool(t, "special", false, field);
    if (!special.ok()) return special.status();
    token.special = *special;
    for (const Flag& f :
         {Flag{"lstrip", &token.lstrip, false},
          Flag{"rstrip", &token.rstrip, false},
          Flag{"single_word", &token.single_word, false},
          Flag{"normalized", &token.normalized, !token.special}}) {
      absl::StatusOr<bool> v = GetBool(t, f.key, f.fallback, field);
      if (!v.ok()) return v.status();
      *f.value = *v;
    }
    tokens->push_back(std::move(token));
  }
  return absl::OkStatus();
}

// TemplateProcessing's "single" template: the special tokens' ids before
// and after "$A".
absl::Status ParseTemplate(const json& j, std::string_view field,
                           HfTokenizerSpec* spec) {
  const json* single = Find(j, "single");
  if (single == nullptr || !single->is_array()) {
    return Invalid(Sub(field, "single"), "must be an array");
  }
  const json* specials = Find(j, "special_tokens");
  bool seen_sequence = false;
  for (size_t i = 0; i < single->size(); ++i) {
    const std::string item_field = At(Sub(field, "single"), i);
    const json& item = (*single)[i];
    if (!item.is_object()) return Invalid(item_field, "must be an object");
    if (Find(item, "Sequence") != nullptr) {
      seen_sequence = true;
      continue;
    }
    const json* st = Find(item, "SpecialToken");
    if (st == nullptr || !st->is_object()) {
      return Unsupported(item_field, item,
                         "supported: {\"Sequence\": ...}, "
                         "{\"SpecialToken\": ...}");
    }
    absl::StatusOr<std::string> name =
        RequireString(*st, "id", Sub(item_field, "SpecialToken"));
    if (!name.ok()) return name.status();
    const json* entry = specials == nullptr ? nullptr : Find(*specials, *name);
    const json* ids =
        entry == nullptr || !entry->is_object() ? nullptr : Find(*entry, "ids");
    if (ids == nullptr || !ids->is_array()) {
      return Invalid(Sub(field, "special_tokens"),
                     absl::StrCat("has no ids for \"", *name, "\""));
    }
    for (size_t k = 0; k < ids->size(); ++k) {
      absl::StatusOr<int> id =
          ToId((*ids)[k],
               At(Sub(Sub(Sub(field, "special_tokens"), *name), "ids"), k));
      if (!id.ok()) return id.status();
      (seen_sequence ? spec->suffix_ids : spec->prefix_ids).push_back(*id);
    }
  }
  return absl::OkStatus();
}

absl::Status ParsePostProcessor(const json& j, std::string_view field,
                                int depth, HfTokenizerSpec* spec) {
  if (depth > kMaxDepth) return Invalid(field, "nests too deeply");
  absl::StatusOr<std::string> type = GetType(j, field);
  if (!type.ok()) return type.status();
  if (*type == "ByteLevel") return absl::OkStatus();  // offsets only
  if (*type == "TemplateProcessing") return ParseTemplate(j, field, spec);
  if (*type == "Sequence") {
    const json* list = Find(j, "processors");
    if (list == nullptr || !list->is_array()) {
      return Invalid(Sub(field, "processors"), "must be an array");
    }
    for (size_t i = 0; i < list->size(); ++i) {
      if (auto s = ParsePostProcessor(
              (*list)[i], At(Sub(field, "processors"), i), depth + 1, spec);
          !s.ok()) {
        return s;
      }
    }
    return absl::OkStatus();
  }
  return Unsupported(Sub(field, "type"), j["type"],
                     "supported: ByteLevel, TemplateProcessing, Sequence");
}

}  // namespace

absl::StatusOr<HfTokenizerSpec> ParseHfTokenizerJson(std::string_view text) {
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Invalid("tokenizer.json", "is not valid JSON");
  if (!j.is_object()) return Invalid("tokenizer.json", "is not a JSON object");
  HfTokenizerSpec spec;
  const json* model = Find(j, "model");
  if (model == nullptr) return Invalid("model", "is missing");
  absl::StatusOr<BpeModel> bpe = ParseModel(*model);
  if (!bpe.ok()) return bpe.status();
  spec.model = std::move(*bpe);

  if (const json* n = Find(j, "normalizer")) {
    std::vector<NormalizerStep> steps;
    if (auto s = ParseNormalizer(*n, "normalizer", 0, &steps); !s.ok()) {
      return s;
    }
    spec.normalizer = Normalizer(std::move(steps));
  }
  std::vector<PreTokenizerStep> pre_steps;
  if (const json* p = Find(j, "pre_tokenizer")) {
    if (auto s = ParsePreTokenizer(*p, "pre_tokenizer", 0, &pre_steps);
        !s.ok()) {
      return s;
    }
  }
  absl::StatusOr<PreTokenizer> pre = PreTokenizer::Create(std::move(pre_steps));
  if (!pre.ok()) return pre.status();
  spec.pre_tokenizer = std::move(*pre);

  std::vector<DecoderStep> decoder_steps;
  if (const json* d = Find(j, "decoder")) {
    if (auto s = ParseDecoder(*d, "decoder", 0, &decoder_steps); !s.ok()) {
      return s;
    }
  }
  absl::StatusOr<HfDecoder> decoder =
      HfDecoder::Create(std::move(decoder_steps));
  if (!decoder.ok()) return decoder.status();
  spec.decoder = std::move(*decoder);

  if (const json* p = Find(j, "post_processor")) {
    if (auto s = ParsePostProcessor(*p, "post_processor", 0, &spec); !s.ok()) {
      return s;
    }
  }
  if (const json* a = Find(j, "added_tokens")) {
    if (auto s = ParseAddedTokens(*a, &spec.added_tokens); !s.ok()) return s;
  }
  return spec;
}

HfSpecialTokenNames ParseHfTokenizerConfig(std::string_view text) {
  HfSpecialTokenNames names;
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return names;
  auto name = [&](const char* key) -> std::optional<std::string> {
    const json* v = Find(j, key);
    if (v == nullptr) return std::nullopt;
    if (v->is_string()) return v->get<std::string>();
    if (v->is_object()) {
      if (const json* c = Find(*v, "content"); c != nullptr && c->is_string()) {
        return c->get<std::string>();
      }
    }
    return std::nullopt;
  };
  names.bos = name("bos_token");
  names.eos = name("eos_token");
  return names;
}

}  // namespace headroom::runtime
