import FlrCore
import FlrModel
import Foundation

// `load MODEL`: make a Florence-2 model resident (folder or hub id from the local HF cache).
// A failed load keeps the previous model; the adapters of the previous one move over when they fit (ModelSwitch).

enum LoadCommand {
  static let command = Command(
    "load", group: .model, summary: "Load a Florence-2 model (folder or cached hub id), or an adapter with adapter=",
    positionals: PositionalSpec(
      "MODEL", .path, minimum: 0, maximum: 1, "model folder or hub id (microsoft/Florence-2-base-ft)"),
    options: [
      OptionSpec("revision", .string, "Hub revision (branch, tag or commit) in the local cache"),
      OptionSpec(
        "quantize", .choice(["none", "nf4"]), default: .string("none"),
        "nf4: every Linear but lm_head as bitsandbytes NF4 (QLoRA base, about 1/7 of the fp32 bytes)"),
      OptionSpec(
        "precision", .choice(["fp32", "bf16", "int8"]), default: .string("fp32"),
        "Frozen weights: fp32 (exact), bf16 (half the bytes), int8 (text side int8, vision bf16)"),
      OptionSpec("adapter", .path, settable: false, "Load a PEFT LoRA adapter folder onto the loaded model instead"),
      OptionSpec("name", .string, settable: false, "Name for the adapter loaded with adapter="),
      .flag(
        "discard", settable: false,
        "Replace the model even when adapters that do not fit the new one hold training not yet saved"),
    ],
    examples: [
      "load microsoft/Florence-2-base-ft", "load ~/models/florence-2-large", "load adapter=loras/mine name=mine",
      "load microsoft/Florence-2-base-ft precision=bf16",
    ],
    details: """
      Hub ids are looked up in the Hugging Face cache (HF_HUB_CACHE, HF_HOME, ~/.cache/huggingface); flr \
      never downloads. The folder needs config.json, the weights (model.safetensors, sharded, or \
      pytorch_model.bin; original or transformers-native names) and the tokenizer (tokenizer.json or \
      vocab.json + merges.txt). If loading fails, the model loaded before stays. \
      Resident adapters move to the new model when their modules and shapes fit it (with the weights `save` \
      would write; a stopped training run cannot be resumed there); those that do not fit are dropped, and the \
      load is refused while one of them holds training not yet saved (save it, or give discard). One line per \
      adapter says which happened.

      precision=bf16 holds every Linear and patch-embedding conv weight (vision, BART, lm_head) as \
      bf16; products take bf16 inputs and accumulate in fp32 (AVX512_BF16 dot products where the CPU has \
      them, else the weights are widened in registers), decoding's cross-attention keys/values included. \
      precision=int8 holds the text side (BART Linears, \
      lm_head) as int8 with per-channel scales, activations quantized per row on the fly (VNNI or AVX2 \
      integer dot products), the vision side as in bf16 where the CPU has AVX512_BF16 (else its Linears as \
      int8 too) and the cross-attention keys/values as in bf16. LayerNorm, \
      softmax, attention scores, GELU, \
      residuals and embeddings stay fp32. fp32 is exact; the reduced precisions trade a small error \
      (README) for speed and memory. LoRA trains on a reduced base (fp32 adapters); `merge` needs fp32; \
      `save model` writes fp32 (or bf16 with dtype=bf16). precision does not combine with quantize=nf4.
      """,
    run: { arguments, session in
      if let folder = arguments.string("adapter") { return try AdapterActions.load(folder: folder, arguments, session) }
      guard let source = arguments.positionals.first else {
        throw ShellError("load: missing MODEL (a folder or hub id); adapters: load adapter=DIR")
      }
      let start = Date()
      let loaded: LoadedModel
      do {
        let quantize = WeightQuantization(rawValue: arguments.string("quantize") ?? "none") ?? .none
        let precision = WeightPrecision(rawValue: arguments.string("precision") ?? "fp32") ?? .fp32
        loaded = try LoadedModel.load(
          source, revision: arguments.string("revision"), quantize: quantize, precision: precision)
      } catch {
        let kept = session.model.map { "; still using \($0.source)" } ?? ""
        throw ShellError("load: \(describeError(error))\(kept)")
      }
      let plan = session.model.map { ModelSwitch.plan(from: $0, to: loaded, session) } ?? ModelSwitch.Plan()
      if !arguments.flag("discard"), let refusal = ModelSwitch.refusal(plan, session) { throw refusal }
      session.model = loaded
      let seconds = String(format: "%.1f", Date().timeIntervalSince(start))
      // A hub id names its cache folder; a folder given as such is not repeated.
      let sameFolder =
        URL(fileURLWithPath: expandTilde(source)).standardizedFileURL.path
        == URL(fileURLWithPath: loaded.folder).standardizedFileURL.path
      session.note("loaded \(source)\(sameFolder ? "" : " from \(loaded.folder)") in \(seconds) s")
      try ModelSwitch.apply(plan, to: loaded, session)
      let nf4 = loaded.model.nf4Layers()
      if !nf4.isEmpty {
        let bytes = nf4.reduce(0) { $0 + $1.layer.quantized.residentBytes }
        session.note(String(format: "%d Linear weights as NF4: %.1f MB", nf4.count, Double(bytes) / 1e6))
      }
      if let summary = loaded.precisionSummary, summary.precision != .fp32 {
        session.note("\(summary); kernels: \(KernelPath.active)")
        if KernelPath.active == .portable {
          session.note(
            "no AVX2 kernels in use (CPU or FLR_KERNELS): reduced-precision products run in portable C, slower "
              + "than fp32; load without precision= for speed")
        } else if !KernelPath.hasNativeBF16 {
          session.note(
            "no AVX512_BF16 kernels in use (CPU or FLR_KERNELS): bf16 products widen the weights to fp32 "
              + "(half the bytes, about 0.9x fp32 speed for many rows); precision=int8 holds the vision Linears "
              + "as int8 too")
        }
      }
      if loaded.checkpointDType != "float32" && loadedPrecision(loaded) == .fp32 {
        session.note(
          "the checkpoint holds \(loaded.checkpointDType) weights, widened exactly to fp32 "
            + "(precision=bf16 keeps them in half the memory)")
      }
    })
}

/// The precision the loaded model's weights are held in.
private func loadedPrecision(_ loaded: LoadedModel) -> WeightPrecision { loaded.precisionSummary?.precision ?? .fp32 }
