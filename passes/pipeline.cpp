#include "passes/pipeline.h"

#include <chrono>
#include <cstdio>
#include <set>

#include "ir/printer.h"
#include "ir/verify.h"

namespace bertc::passes {

std::vector<std::string> defaultPipeline() {
  return {
      // Fold the exporters' shape arithmetic and constants first: every
      // pattern is written against the canonical form.
      "canonicalize",
      // Normalisations and activations first, as single ops: the attention
      // and residual patterns are anchored at LayerNorm and would otherwise
      // have to see through ReduceMean/Pow/Sqrt chains.
      "fuse-layernorm",
      "fuse-gelu",
      // Before SkipLayerNorm: it absorbs the output projection's MatMul,
      // leaving the projection's bias Add for SkipLayerNorm to fold.
      "fuse-attention",
      // LayerNorm(Add(Add(MatMul, bias), residual)) needs the LayerNorm op.
      "fuse-skip-layernorm",
      // After the layer norms exist as LayerNorm (opset-17 imports, or
      // fuse-layernorm for decomposed ones); its anchor is that LayerNorm,
      // which fuse-skip-layernorm leaves alone for the embeddings.
      "fuse-embed-layernorm",
      // After the residual fusion, so that a bias Add is folded into one
      // consumer only; Gelu and FastGelu exist by now.
      "fuse-bias-gelu",
      // Any time after canonicalize (which turns the pooler's Gemm into
      // MatMul + Add); last, as nothing else touches the head.
      "fuse-pooler",
      // The other head, sentence-transformers' mean pooling: any time after
      // canonicalize (the pattern takes the mask's Expand whether its shape
      // folded or is still computed from Shape(X)), and it touches nothing
      // the encoder fusions match.
      "fuse-mean-pool",
      // Drop what the fusions left dead (mask arithmetic, shape chains, the
      // unmerged Q/K/V weights) and fold what became constant.
      "canonicalize",
  };
}

Result<PipelineResult> runPipeline(ir::Graph& g, const PipelineOptions& opts) {
  std::vector<std::string> names = opts.passes ? *opts.passes : defaultPipeline();
  for (const auto& n : names)
    if (!findPass(n)) {
      std::string known;
      for (const auto& p : registeredPasses()) known += (known.empty() ? "" : ", ") + std::string(p.name);
      return Status::error("unknown pass '" + n + "' (known: " + known + ")");
    }
  auto print = opts.print ? opts.print : [](const std::string& s) { std::fputs(s.c_str(), stdout); };
  auto wantsPrint = [&](const std::string& n) {
    for (const auto& p : opts.printIrAfter)
      if (p == "all" || p == n) return true;
    return false;
  };
  PipelineResult result;
  PassContext ctx;
  ctx.explain = opts.explain;
  for (const auto& name : names) {
    const PassInfo* p = findPass(name);
    auto start = std::chrono::steady_clock::now();
    size_t changes = 0;
    try {
      changes = p->run(g, ctx);
    } catch (const UserError& e) {
      return Status::error("pass '" + name + "': " + e.what());
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    result.runs.push_back({name, changes, secs});
    if (opts.verifyEach) {
      Status st = ir::verify(g);
      if (!st.ok()) return Status::error("the IR is invalid after pass '" + name + "': " + st.message());
    }
    if (wantsPrint(name)) print("// IR after " + name + "\n" + ir::printGraph(g));
  }
  // A miss noted by one pass may have been fused by a later one (the
  // embedding LayerNorm that fuse-skip-layernorm leaves to
  // fuse-embed-layernorm): keep only the notes about nodes still there.
  std::set<std::string> live;
  for (const auto& n : g.nodes()) live.insert(n->describe());
  for (auto& note : ctx.notes) {
    size_t at = note.find(": ");
    size_t end = at == std::string::npos ? std::string::npos : note.find(": ", at + 2);
    if (end != std::string::npos && live.count(note.substr(at + 2, end - at - 2)))
      result.explanations.push_back(std::move(note));
  }
  return result;
}

}  // namespace bertc::passes
