// Projection files: safetensors holding each layer's encoders and decoders,
// with JSON metadata (format version, method, KV heads and group membership
// per layer, source model digest, calibration digest and token count, energy
// kept per layer). Written by headroom-compress, read on model load.
#ifndef HEADROOM_COMPRESS_PROJECTIONS_FILE_H_
#define HEADROOM_COMPRESS_PROJECTIONS_FILE_H_

#include <string>

#include "absl/status/statusor.h"
#include "compress/projections.h"

namespace headroom::compress {

absl::Status SaveProjections(const Projections& projections,
                             const std::string& path);

// Reads and checks a file (format, version, shapes, g dividing n); errors
// name the file and the field or tensor.
absl::StatusOr<Projections> LoadProjections(const std::string& path);

// The metadata as one JSON object (what headroom-compress prints).
std::string ProjectionsSummaryJson(const Projections& projections);

}  // namespace headroom::compress

#endif  // HEADROOM_COMPRESS_PROJECTIONS_FILE_H_
