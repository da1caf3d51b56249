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
      OptionSpec("adapter", .path, settable: false, "Load a PEFT LoRA adapter folder onto the loaded model instead"),
      OptionSpec("name", .string, settable: false, "Name for the adapter loaded with adapter="),
      .flag(
        "discard", settable: false,
        "Replace the model even when adapters that do not fit the new one hold training not yet saved"),
    ],
    examples: [
      "load microsoft/Florence-2-base-ft", "load ~/models/florence-2-large", "load adapter=loras/mine name=mine",
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
        loaded = try LoadedModel.load(source, revision: arguments.string("revision"), quantize: quantize)
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
    })
}
