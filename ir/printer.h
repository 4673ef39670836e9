#pragma once
/// A stable, readable text form of a graph (for golden tests and --print-ir),
/// which ir/parser.h reads back: parse(print(g)) prints as print(g).
///
///   graph "name" {
///     symbols batch, seq, d2 = "floor(seq / 3) of node 'x'"
///     input %ids : i64[batch, seq]
///     const %half : f32[] = [0.5]
///     const %w : f32[768, 768]
///     %y = LayerNorm(%x, %gamma, _) {axis=-1, epsilon=1e-12f} : f32[batch, seq, 768]
///     %a, %b = Split(%y) {axis=2, split=[384, 384]} : f32[batch, seq, 384], f32[batch, seq, 384]
///     return %a, %b
///   }
///
/// Values print as %name (quoted, %"a b", when the name has other characters);
/// a name that an earlier value already has prints with `#2`, `#3`, ... so that
/// the text is SSA. A missing optional operand prints as `_`. A derived symbol prints with its
/// definition, quoted. Element values print as the shortest decimal that reads
/// back to the same element of the tensor's dtype (f16 and bf16 as their f32
/// value), whole numbers without a point, `nan`/`inf` as such.
///
/// A float attribute is a double: it prints as the shortest decimal that reads
/// back to the same double, with `.0` on a whole number so that it does not
/// read as an int. A double that is an f32 value (what ONNX float attributes
/// hold) prints as the f32's shorter decimal with an `f` suffix, as in C:
/// `1e-12f` is the f32 nearest 1e-12 widened, `1e-12` the double.
#include <string>

#include "ir/graph.h"

namespace bertc::ir {

/// Constants of at most this many elements print their values; larger ones
/// print their type only (weights are not text), and the parser fills them
/// with pseudo-random data. Eight keeps a [8] bias readable in a golden file
/// and a [16] one out of it.
inline constexpr int64_t kMaxPrintedElements = 8;

/// Prints every input, constant, node and output in the graph's order, so the
/// output is stable. A constant prints its values when it has at most
/// kMaxPrintedElements, or when shape inference reads them (an integer vector
/// with symbolic contents: the parser must rebuild those exactly).
std::string printGraph(const Graph& g);
/// One node on one line, as printGraph writes it.
std::string printNode(const Graph& g, const Node& n);
/// The characters a value name may have to print unquoted after `%` (the
/// exporters' `/model/layer.0/Add_output_0`); the parser reads the same set.
bool isPlainNameChar(char c);

}  // namespace bertc::ir
