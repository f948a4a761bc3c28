// headroom-client: a small command-line client of headroom-server's gRPC API
// for operators, the README and tests.
//
//   headroom-client generate --prompt TEXT [--stream] [--max-tokens N]
//       [--temperature T] [--top-k K] [--top-p P] [--min-p P] [--seed S]
//       [--min-tokens N] [--repetition-penalty R] [--presence-penalty P]
//       [--frequency-penalty F] [--stop STR] [--stop-token-ids 1,2]
//       [--ignore-eos] [--logprobs N]
//   headroom-client tokenize (--text TEXT | --text-file FILE) [--add-bos]
//   headroom-client info
//   headroom-client health
// Common: --addr HOST:PORT (default 127.0.0.1:50051), --api-key KEY (or the
// environment variable HEADROOM_API_KEY), --timeout SECONDS, --json (one
// JSON object per message instead of text).
// Exit status: 0 on success, 1 with "headroom-client: CODE: message" on a
// gRPC error, 2 on bad flags.
#include <grpcpp/grpcpp.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "headroom/v1/headroom.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "tools/cli_args.h"
#include "tools/grpc_code_name.h"

namespace headroom::tools {
namespace {

using nlohmann::json;

json UsageJson(const v1::Usage& u) {
  return {{"prompt_tokens", u.prompt_tokens()},
          {"completion_tokens", u.completion_tokens()},
          {"cached_tokens", u.cached_tokens()},
          {"time_to_first_token_seconds", u.time_to_first_token_seconds()},
          {"queue_time_seconds", u.queue_time_seconds()}};
}

json LogprobsJson(
    const google::protobuf::RepeatedPtrField<v1::Logprobs>& list) {
  json out = json::array();
  for (const v1::Logprobs& l : list) {
    json top = json::array();
    for (const v1::TokenLogprob& t : l.top()) {
      top.push_back({{"token_id", t.token_id()}, {"logprob", t.logprob()}});
    }
    out.push_back(
        {{"token_id", l.token_id()}, {"logprob", l.logprob()}, {"top", top}});
  }
  return out;
}

json Ids(const google::protobuf::RepeatedField<int32_t>& ids) {
  return json(std::vector<int>(ids.begin(), ids.end()));
}

// nlohmann::json throws on invalid UTF-8 when dumping; replace it instead.
std::string Dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

absl::StatusOr<v1::GenerateRequest> BuildRequest(const CliArgs& args) {
  v1::GenerateRequest r;
  auto prompt = args.Require("prompt");
  if (!prompt.ok()) return prompt.status();
  r.set_prompt(*prompt);
  struct IntFlag {
    const char* name;
    void (v1::GenerateRequest::*set)(int32_t);
  };
  for (const IntFlag& f :
       {IntFlag{"max-tokens", &v1::GenerateRequest::set_max_tokens},
        IntFlag{"min-tokens", &v1::GenerateRequest::set_min_tokens},
        IntFlag{"top-k", &v1::GenerateRequest::set_top_k},
        IntFlag{"logprobs", &v1::GenerateRequest::set_logprobs}}) {
    if (!args.Has(f.name)) continue;
    auto v = args.GetInt(f.name, 0);
    if (!v.ok()) return v.status();
    (r.*f.set)(*v);
  }
  struct FloatFlag {
    const char* name;
    void (v1::GenerateRequest::*set)(float);
  };
  for (const FloatFlag& f :
       {FloatFlag{"temperature", &v1::GenerateRequest::set_temperature},
        FloatFlag{"top-p", &v1::GenerateRequest::set_top_p},
        FloatFlag{"min-p", &v1::GenerateRequest::set_min_p},
        FloatFlag{"repetition-penalty",
                  &v1::GenerateRequest::set_repetition_penalty},
        FloatFlag{"presence-penalty",
                  &v1::GenerateRequest::set_presence_penalty},
        FloatFlag{"frequency-penalty",
                  &v1::GenerateRequest::set_frequency_penalty}}) {
    if (!args.Has(f.name)) continue;
    auto v = args.GetDouble(f.name, 0);
    if (!v.ok()) return v.status();
    (r.*f.set)(static_cast<float>(*v));
  }
  if (args.Has("seed")) {
    uint64_t seed = 0;
    if (!absl::SimpleAtoi(args.Get("seed"), &seed)) {
      return absl::InvalidArgumentError("--seed: expected an integer >= 0");
    }
    r.set_seed(seed);
  }
  if (args.Has("stop")) r.add_stop(args.Get("stop"));
  if (args.Has("stop-token-ids")) {
    const std::vector<std::string> parts =
        absl::StrSplit(args.Get("stop-token-ids"), ',', absl::SkipEmpty());
    for (const std::string& part : parts) {
      int id = 0;
      if (!absl::SimpleAtoi(part, &id)) {
        return absl::InvalidArgumentError(
            "--stop-token-ids: expected integers separated by commas");
      }
      r.add_stop_token_ids(id);
    }
  }
  r.set_ignore_eos(args.Has("ignore-eos"));
  return r;
}

int Fail(const grpc::Status& s) {
  std::cerr << "headroom-client: " << GrpcCodeName(s.error_code()) << ": "
            << s.error_message() << "\n";
  return 1;
}

int Run(int argc, char** argv) {
  if (argc < 2 || argv[1][0] == '-') {
    std::cerr << "usage: headroom-client generate|tokenize|info|health "
                 "[--flags] (see the header of tools/client_main.cc)\n";
    return 2;
  }
  const std::string command = argv[1];
  auto args = CliArgs::Parse(argc, argv, 2,
                             {{"addr"},
                              {"api-key"},
                              {"timeout"},
                              {"json", false},
                              {"stream", false},
                              {"prompt"},
                              {"max-tokens"},
                              {"min-tokens"},
                              {"temperature"},
                              {"top-k"},
                              {"top-p"},
                              {"min-p"},
                              {"repetition-penalty"},
                              {"presence-penalty"},
                              {"frequency-penalty"},
                              {"seed"},
                              {"stop"},
                              {"stop-token-ids"},
                              {"ignore-eos", false},
                              {"logprobs"},
                              {"text"},
                              {"text-file"},
                              {"add-bos", false}});
  if (!args.ok()) {
    std::cerr << "headroom-client: " << args.status().message() << "\n";
    return 2;
  }
  const bool as_json = args->Has("json");
  auto timeout = args->GetDouble("timeout", 0);
  if (!timeout.ok()) {
    std::cerr << "headroom-client: " << timeout.status().message() << "\n";
    return 2;
  }
  auto channel = grpc::CreateChannel(args->Get("addr", "127.0.0.1:50051"),
                                     grpc::InsecureChannelCredentials());
  grpc::ClientContext context;
  std::string key = args->Get("api-key");
  if (key.empty()) {
    if (const char* env = std::getenv("HEADROOM_API_KEY")) key = env;
  }
  if (!key.empty()) context.AddMetadata("authorization", "Bearer " + key);
  if (*timeout > 0) {
    context.set_deadline(
        std::chrono::system_clock::now() +
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::duration<double>(*timeout)));
  }
  auto stub = v1::Headroom::NewStub(channel);

  if (command == "generate") {
    auto request = BuildRequest(*args);
    if (!request.ok()) {
      std::cerr << "headroom-client: " << request.status().message() << "\n";
      return 2;
    }
    if (args->Has("stream")) {
      auto reader = stub->GenerateStream(&context, *request);
      v1::GenerateStreamResponse msg;
      while (reader->Read(&msg)) {
        if (as_json) {
          json j = {{"text", msg.text()}, {"token_ids", Ids(msg.token_ids())}};
          if (msg.logprobs_size() > 0)
            j["logprobs"] = LogprobsJson(msg.logprobs());
          if (msg.finish_reason() != v1::FINISH_REASON_UNSPECIFIED) {
            j["finish_reason"] = v1::FinishReason_Name(msg.finish_reason());
            j["usage"] = UsageJson(msg.usage());
          }
          std::cout << Dump(j) << std::endl;
        } else {
          std::cout << msg.text() << std::flush;
          if (msg.finish_reason() != v1::FINISH_REASON_UNSPECIFIED) {
            std::cout << "\n";
            std::cerr << "[" << v1::FinishReason_Name(msg.finish_reason())
                      << ", " << msg.usage().completion_tokens()
                      << " tokens]\n";
          }
        }
      }
      grpc::Status s = reader->Finish();
      return s.ok() ? 0 : Fail(s);
    }
    v1::GenerateResponse response;
    grpc::Status s = stub->Generate(&context, *request, &response);
    if (!s.ok()) return Fail(s);
    if (as_json) {
      json j = {
          {"text", response.text()},
          {"token_ids", Ids(response.token_ids())},
          {"finish_reason", v1::FinishReason_Name(response.finish_reason())},
          {"usage", UsageJson(response.usage())}};
      if (response.logprobs_size() > 0) {
        j["logprobs"] = LogprobsJson(response.logprobs());
      }
      std::cout << Dump(j) << std::endl;
    } else {
      std::cout << response.text() << "\n";
    }
    return 0;
  }
  if (command == "tokenize") {
    v1::TokenizeRequest request;
    if (args->Has("text-file")) {
      // Texts longer than a command line allows (ARG_MAX).
      std::ifstream in(args->Get("text-file"), std::ios::binary);
      std::stringstream text;
      text << in.rdbuf();
      if (!in) {
        std::cerr << "headroom-client: --text-file: cannot read "
                  << args->Get("text-file") << "\n";
        return 2;
      }
      request.set_text(text.str());
    } else {
      request.set_text(args->Get("text"));
    }
    request.set_add_bos(args->Has("add-bos"));
    v1::TokenizeResponse response;
    grpc::Status s = stub->Tokenize(&context, request, &response);
    if (!s.ok()) return Fail(s);
    if (as_json) {
      std::cout << Dump({{"token_ids", Ids(response.token_ids())},
                         {"pieces",
                          std::vector<std::string>(response.pieces().begin(),
                                                   response.pieces().end())}})
                << std::endl;
    } else {
      for (int i = 0; i < response.token_ids_size(); ++i) {
        std::cout << response.token_ids(i) << "\t" << response.pieces(i)
                  << "\n";
      }
    }
    return 0;
  }
  if (command == "info") {
    v1::ModelInfo info;
    grpc::Status s = stub->GetModelInfo(&context, {}, &info);
    if (!s.ok()) return Fail(s);
    json layers = json::array();
    for (const v1::LayerInfo& l : info.layers()) {
      layers.push_back({{"kv_heads_original", l.kv_heads_original()},
                        {"kv_heads_served", l.kv_heads_served()},
                        {"key_energy_kept", l.key_energy_kept()},
                        {"value_energy_kept", l.value_energy_kept()},
                        {"method", l.method()}});
    }
    json j = {
        {"architecture", info.architecture()},
        {"model_path", info.model_path()},
        {"model_digest", info.model_digest()},
        {"n_layers", info.n_layers()},
        {"dim", info.dim()},
        {"n_heads", info.n_heads()},
        {"head_dim", info.head_dim()},
        {"vocab_size", info.vocab_size()},
        {"context_length", info.context_length()},
        {"compression_method", info.compression_method()},
        {"layers", layers},
        {"kv_bytes_per_token_original", info.kv_bytes_per_token_original()},
        {"kv_bytes_per_token_served", info.kv_bytes_per_token_served()},
        {"compression_ratio", info.compression_ratio()},
        {"block_size", info.block_size()},
        {"num_blocks", info.num_blocks()},
        {"kv_cache_memory_bytes", info.kv_cache_memory_bytes()},
        {"pool_capacity_tokens_original", info.pool_capacity_tokens_original()},
        {"pool_capacity_tokens_served", info.pool_capacity_tokens_served()}};
    std::cout << (as_json ? Dump(j) : j.dump(2)) << std::endl;
    return 0;
  }
  if (command == "health") {
    auto health = grpc::health::v1::Health::NewStub(channel);
    grpc::health::v1::HealthCheckResponse response;
    grpc::Status s = health->Check(&context, {}, &response);
    if (!s.ok()) return Fail(s);
    const std::string status =
        grpc::health::v1::HealthCheckResponse::ServingStatus_Name(
            response.status());
    std::cout << (as_json ? Dump({{"status", status}}) : status) << std::endl;
    return response.status() == grpc::health::v1::HealthCheckResponse::SERVING
               ? 0
               : 1;
  }
  std::cerr << "headroom-client: unknown command " << command
            << " (generate, tokenize, info, health)\n";
  return 2;
}

}  // namespace
}  // namespace headroom::tools

int main(int argc, char** argv) { return headroom::tools::Run(argc, argv); }
