#include "fuzz/onnx_mutator.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "onnx/onnx_pb.h"

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t maxSize);

namespace bertc::fuzz {
namespace {

using Rng = std::minstd_rand;

size_t pick(Rng& rng, size_t n) { return n ? std::uniform_int_distribution<size_t>(0, n - 1)(rng) : 0; }

/// Ops a mutated node may become: what the exporters emit and ONNX
/// Runtime's contrib ops, so that a changed op is usually one the importer
/// knows and the graph goes on to the passes.
constexpr const char* kOps[] = {
    "Add", "Sub", "Mul", "Div", "MatMul", "Gemm", "Softmax", "Transpose", "Reshape", "Gather", "Shape",
    "Unsqueeze", "Squeeze", "Concat", "Slice", "Cast", "Where", "Equal", "Expand", "LayerNormalization",
    "ReduceMean", "Pow", "Sqrt", "Erf", "Tanh", "Relu", "Identity", "ConstantOfShape", "Constant", "Range",
    "CumSum", "Not", "Split", "Sigmoid", "Less", "Greater", "And", "Neg", "Sum", "Einsum"};
constexpr const char* kContribOps[] = {"Attention", "SkipLayerNormalization", "EmbedLayerNormalization",
                                       "BiasGelu", "FastGelu", "Gelu"};

/// v + d, wrapping instead of overflowing (UBSan would stop the fuzzer here).
int64_t wrapAdd(int64_t v, int64_t d) {
  return static_cast<int64_t>(static_cast<uint64_t>(v) + static_cast<uint64_t>(d));
}

/// The integers that break code: boundaries, signs, off-by-ones, overflow.
int64_t mutateInt(Rng& rng, int64_t v) {
  switch (pick(rng, 9)) {
    case 0: return wrapAdd(v, 1);
    case 1: return wrapAdd(v, -1);
    case 2: return static_cast<int64_t>(uint64_t{0} - static_cast<uint64_t>(v));
    case 3: return 0;
    case 4: return -1;
    case 5: return wrapAdd(v, v);
    case 6: return int64_t{1} << pick(rng, 63);
    case 7: return std::numeric_limits<int64_t>::max();
    default: return std::numeric_limits<int64_t>::min();
  }
}

float mutateFloat(Rng& rng, float v) {
  switch (pick(rng, 6)) {
    case 0: return 0.0f;
    case 1: return -v;
    case 2: return v * 2.0f;
    case 3: return std::numeric_limits<float>::infinity();
    case 4: return std::nanf("");
    default: return 1e30f;
  }
}

std::vector<std::string> valueNames(const onnx::GraphProto& g) {
  std::vector<std::string> names;
  for (const auto& v : g.input()) names.push_back(v.name());
  for (const auto& t : g.initializer()) names.push_back(t.name());
  for (const auto& n : g.node())
    for (const auto& o : n.output()) names.push_back(o);
  return names;
}

void mutateDims(Rng& rng, google::protobuf::RepeatedField<int64_t>* dims) {
  size_t choice = pick(rng, 4);
  if (choice == 0 || dims->empty()) {
    dims->Add(pick(rng, 2) ? 1 : mutateInt(rng, 2));
  } else if (choice == 1) {
    dims->RemoveLast();
  } else {
    int64_t& d = (*dims)[static_cast<int>(pick(rng, static_cast<size_t>(dims->size())))];
    d = choice == 2 ? mutateInt(rng, d) : wrapAdd(d, pick(rng, 2) ? 1 : -1);
  }
}

void mutateAttribute(Rng& rng, onnx::AttributeProto& a) {
  switch (a.type()) {
    case onnx::AttributeProto::INT: a.set_i(mutateInt(rng, a.i())); break;
    case onnx::AttributeProto::FLOAT: a.set_f(mutateFloat(rng, a.f())); break;
    case onnx::AttributeProto::INTS:
      if (a.ints_size() == 0 || pick(rng, 4) == 0) {
        a.add_ints(mutateInt(rng, 0));
      } else {
        int i = static_cast<int>(pick(rng, static_cast<size_t>(a.ints_size())));
        a.set_ints(i, mutateInt(rng, a.ints(i)));
      }
      break;
    case onnx::AttributeProto::STRING: {
      constexpr const char* kStrings[] = {"tanh", "none", "", "NOTSET", "SAME_UPPER", "\n"};
      a.set_s(kStrings[pick(rng, std::size(kStrings))]);
      break;
    }
    case onnx::AttributeProto::TENSOR: mutateDims(rng, a.mutable_t()->mutable_dims()); break;
    default: a.set_type(static_cast<onnx::AttributeProto::AttributeType>(pick(rng, 14))); break;
  }
}

/// One change to the graph; false when the graph has nothing it applies to.
bool mutateOnce(Rng& rng, onnx::ModelProto& m) {
  onnx::GraphProto& g = *m.mutable_graph();
  auto nodes = static_cast<size_t>(g.node_size());
  onnx::NodeProto* node = nodes ? g.mutable_node(static_cast<int>(pick(rng, nodes))) : nullptr;
  switch (pick(rng, 12)) {
    case 0:  // a node dropped: its consumers now read a value nobody defines
      if (!nodes) return false;
      g.mutable_node()->DeleteSubrange(static_cast<int>(pick(rng, nodes)), 1);
      return true;
    case 1: {  // an operand rewired to another value, or to "absent"
      if (!node || node->input_size() == 0) return false;
      auto names = valueNames(g);
      int i = static_cast<int>(pick(rng, static_cast<size_t>(node->input_size())));
      node->set_input(i, pick(rng, 8) == 0 ? std::string() : names[pick(rng, names.size())]);
      return true;
    }
    case 2:  // operands swapped
      if (!node || node->input_size() < 2) return false;
      node->mutable_input()->SwapElements(0, static_cast<int>(1 + pick(rng, static_cast<size_t>(node->input_size() - 1))));
      return true;
    case 3:  // another op, keeping the operands and attributes
      if (!node) return false;
      if (pick(rng, 4) == 0) {
        node->set_op_type(kContribOps[pick(rng, std::size(kContribOps))]);
        node->set_domain("com.microsoft");
      } else {
        node->set_op_type(pick(rng, 2) ? kOps[pick(rng, std::size(kOps))] : g.node(static_cast<int>(pick(rng, nodes))).op_type());
        node->set_domain("");
      }
      return true;
    case 4:  // an attribute changed or dropped
      if (!node || node->attribute_size() == 0) return false;
      if (pick(rng, 5) == 0)
        node->mutable_attribute()->DeleteSubrange(static_cast<int>(pick(rng, static_cast<size_t>(node->attribute_size()))), 1);
      else
        mutateAttribute(rng, *node->mutable_attribute(static_cast<int>(pick(rng, static_cast<size_t>(node->attribute_size())))));
      return true;
    case 5: {  // an initializer's dims or dtype, now disagreeing with its bytes
      if (g.initializer_size() == 0) return false;
      auto& t = *g.mutable_initializer(static_cast<int>(pick(rng, static_cast<size_t>(g.initializer_size()))));
      if (pick(rng, 3) == 0) t.set_data_type(static_cast<int32_t>(pick(rng, 18)));
      else mutateDims(rng, t.mutable_dims());
      return true;
    }
    case 6: {  // an initializer moved to external data (fuzz_support.h's files)
      if (g.initializer_size() == 0) return false;
      auto& t = *g.mutable_initializer(static_cast<int>(pick(rng, static_cast<size_t>(g.initializer_size()))));
      auto bytes = static_cast<int64_t>(t.raw_data().size());
      t.clear_raw_data();
      t.clear_float_data();
      t.clear_int64_data();
      t.clear_int32_data();
      t.clear_external_data();
      t.set_data_location(onnx::TensorProto::EXTERNAL);
      bool small = pick(rng, 2) != 0;
      auto add = [&](const char* key, const std::string& value) {
        auto* e = t.add_external_data();
        e->set_key(key);
        e->set_value(value);
      };
      add("location", small ? "w.bin" : "weights.data");
      int64_t fileBytes = small ? 4096 : 512 * 1024;
      if (pick(rng, 4)) add("offset", std::to_string(pick(rng, 3) ? 4 * static_cast<int64_t>(pick(rng, static_cast<size_t>(fileBytes / 4))) : mutateInt(rng, fileBytes)));
      if (pick(rng, 4)) add("length", std::to_string(pick(rng, 3) ? bytes : mutateInt(rng, bytes)));
      return true;
    }
    case 7: {  // a graph input's dim or element type
      if (g.input_size() == 0) return false;
      auto* type = g.mutable_input(static_cast<int>(pick(rng, static_cast<size_t>(g.input_size()))))->mutable_type()->mutable_tensor_type();
      if (pick(rng, 4) == 0) {
        type->set_elem_type(static_cast<int32_t>(pick(rng, 18)));
        return true;
      }
      auto* shape = type->mutable_shape();
      if (shape->dim_size() == 0 || pick(rng, 5) == 0) {
        shape->add_dim()->set_dim_value(static_cast<int64_t>(pick(rng, 4)));
        return true;
      }
      auto* d = shape->mutable_dim(static_cast<int>(pick(rng, static_cast<size_t>(shape->dim_size()))));
      constexpr const char* kSyms[] = {"batch", "sequence", "batch_size", "x", ""};
      if (pick(rng, 2)) d->set_dim_param(kSyms[pick(rng, std::size(kSyms))]);
      else d->set_dim_value(mutateInt(rng, d->dim_value()));
      return true;
    }
    case 8: {  // the default domain's opset version
      for (auto& op : *m.mutable_opset_import())
        if (op.domain().empty() || op.domain() == "ai.onnx") {
          op.set_version(pick(rng, 4) ? static_cast<int64_t>(9 + pick(rng, 14)) : mutateInt(rng, op.version()));
          return true;
        }
      return false;
    }
    case 9: {  // a node duplicated, its results renamed
      if (!node) return false;
      onnx::NodeProto copy = *node;
      for (auto& o : *copy.mutable_output()) o += "_dup";
      *g.add_node() = std::move(copy);
      return true;
    }
    case 10: {  // an output added or removed
      auto names = valueNames(g);
      if (g.output_size() > 0 && pick(rng, 2)) g.mutable_output()->DeleteSubrange(static_cast<int>(pick(rng, static_cast<size_t>(g.output_size()))), 1);
      else if (!names.empty()) g.add_output()->set_name(names[pick(rng, names.size())]);
      return true;
    }
    default:  // two nodes swapped: no longer in topological order
      if (nodes < 2) return false;
      g.mutable_node()->SwapElements(static_cast<int>(pick(rng, nodes)), static_cast<int>(pick(rng, nodes)));
      return true;
  }
}

}  // namespace

size_t mutateOnnxModel(uint8_t* data, size_t size, size_t maxSize, unsigned seed) {
  onnx::ModelProto m;
  if (size > static_cast<size_t>(std::numeric_limits<int>::max()) || !m.ParseFromArray(data, static_cast<int>(size)))
    return 0;
  Rng rng(seed);
  size_t changes = 1 + pick(rng, 3);
  for (size_t tries = 0; changes > 0 && tries < 16; ++tries)
    if (mutateOnce(rng, m)) --changes;
  std::string out;
  if (!m.SerializeToString(&out) || out.size() > maxSize) return 0;
  std::memcpy(data, out.data(), out.size());
  return out.size();
}

size_t mutateGraphOrBytes(uint8_t* data, size_t size, size_t maxSize, unsigned seed) {
  if (seed % 2 == 0)
    if (size_t n = mutateOnnxModel(data, size, maxSize, seed >> 1)) return n;
  return LLVMFuzzerMutate(data, size, maxSize);
}

}  // namespace bertc::fuzz
