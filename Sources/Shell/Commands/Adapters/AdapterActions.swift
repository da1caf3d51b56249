import FlrCheckpoints
import FlrModel
import FlrTrain
import Foundation

// What the adapter commands do with the session's LoRAAdapters. Every failure leaves the resident adapters,
// the active one and the merged one as they were.

enum AdapterActions {
  static func adapters(_ session: Session, _ command: String) throws -> LoRAAdapters {
    guard let model = session.model else { throw ShellError("\(command): no model loaded (load MODEL)") }
    return model.adapters
  }

  /// `lora [NAME] rank= alpha= targets= dropout= [rslora] [init=] [seed=]`
  static func create(_ arguments: Arguments, _ session: Session) throws {
    let adapters = try adapters(session, "lora")
    let name = arguments.positionals.first ?? "default"
    guard name != "none", name != "base" else { throw ShellError("lora: '\(name)' is reserved (use none = base)") }
    var config = LoRAConfig()
    config.rank = arguments.int("rank") ?? config.rank
    config.alpha = Float(arguments.double("alpha") ?? Double(config.alpha))
    config.dropout = Float(arguments.double("dropout") ?? Double(config.dropout))
    config.targets = TargetModules.parse(arguments.string("targets") ?? LoraCommand.referenceTargets)
    config.useRslora = arguments.flag("rslora")
    config.initialization = LoRAParameters.Initialization(rawValue: arguments.string("init") ?? "default") ?? .default
    config.seed = UInt64(arguments.int("seed") ?? 0)
    config.baseModelNameOrPath = session.model?.source
    let adapter: LoRAAdapter
    do {
      adapter = try LoRAAdapter(name: name, config: config, model: adapters.model)
      try adapters.add(adapter)
    } catch { throw ShellError("lora: \(describeError(error))") }
    let convs = adapter.layers.filter { $0 is LoRAConv2d }.count
    session.note(
      "lora \(name): \(counted(adapter.layers.count, "module")) (\(adapter.layers.count - convs) Linear, \(convs) "
        + "Conv2d), \(counted(adapter.parameterCount, "parameter")) (\(memory(adapter.parameterCount))), "
        + "r=\(config.rank) alpha=\(formatted(config.alpha)) scale \(formatted(adapter.layers.first?.lora.scaling ?? 0)); "
        + "active")
    if let warning = rankWarning(adapter) { session.note("lora \(name): warning: \(warning)") }
  }

  /// fp32 bytes of `count` parameters, and what AdamW training holds for them (weights, gradients, two moments).
  static func memory(_ count: Int) -> String {
    "\(DatasetStats.mebibytes(count * 4)) fp32, about \(DatasetStats.mebibytes(count * 16)) to train with adamw"
  }

  /// A rank above a layer's smaller dimension adds parameters and no capacity (B·A has rank at most min(in, out)).
  static func rankWarning(_ adapter: LoRAAdapter) -> String? {
    let over = adapter.layers.filter { layer in
      let a = layer.lora.loraA, b = layer.lora.loraB
      return layer.lora.rank > min(a.count / a.shape[0], b.shape[0])
    }
    guard let first = over.first else { return nil }
    let a = first.lora.loraA, b = first.lora.loraB
    let smallest = over.map { min($0.lora.loraA.count / $0.lora.loraA.shape[0], $0.lora.loraB.shape[0]) }.min() ?? 0
    return
      "rank \(first.lora.rank) exceeds the dimensions of \(over.count) of \(counted(adapter.layers.count, "module")) "
      + "(e.g. \(first.lora.path): \(a.count / a.shape[0]) in, \(b.shape[0]) out; the smallest is \(smallest)); "
      + "a rank above min(in, out) adds parameters without adding capacity"
  }

  /// `use NAME|none`
  static func use(_ arguments: Arguments, _ session: Session) throws {
    let adapters = try adapters(session, "use")
    let name = arguments.positionals.first ?? "none"
    do { try adapters.use(name == "none" || name == "base" ? nil : name) } catch {
      throw ShellError("use: \(describeError(error))")
    }
    session.note(name == "none" || name == "base" ? "no adapter active (base model)" : "adapter \(name) active")
  }

  static func drop(_ arguments: Arguments, _ session: Session) throws {
    let adapters = try adapters(session, "drop")
    let name = arguments.positionals.first ?? ""
    do { try adapters.drop(name) } catch { throw ShellError("drop: \(describeError(error))") }
    session.note("dropped \(name)")
  }

  static func merge(_ arguments: Arguments, _ session: Session) throws {
    let adapters = try adapters(session, "merge")
    do {
      let merged = try adapters.merge(arguments.positionals.first)
      session.note("merged \(merged.name) into the base weights (unmerge restores them)")
    } catch { throw ShellError("merge: \(describeError(error))") }
  }

  static func unmerge(_ session: Session) throws {
    let adapters = try adapters(session, "unmerge")
    do {
      let adapter = try adapters.unmerge()
      // As in PEFT (unmerge_adapter keeps the adapter active): active again, unless another one was chosen since.
      if adapters.active == nil {
        try adapters.use(adapter.name)
        session.note("unmerged \(adapter.name); the base weights are restored and \(adapter.name) is active")
      } else {
        session.note(
          "unmerged \(adapter.name); the base weights are restored (\(adapters.active?.name ?? "") stays active)")
      }
    } catch { throw ShellError("unmerge: \(describeError(error))") }
  }

  /// `save [NAME] DIR [naming=original|native]`, `save model DIR [quantized] [overwrite]`
  static func save(_ arguments: Arguments, _ session: Session) throws {
    let adapters = try adapters(session, "save")
    let positionals = arguments.positionals
    let dtype = arguments.string("dtype") ?? "fp32"
    if positionals.first == "model" && positionals.count == 2 {
      if dtype == "fp16" {
        throw ShellError("save model: dtype=fp16 applies to adapters; models are written fp32 or bf16")
      }
      return try saveModel(arguments, session)
    }
    if arguments.flag("quantized") { throw ShellError("save: `quantized` applies to `save model DIR` only") }
    let fileType: CheckpointDType = ["bf16": .bf16, "fp16": .f16][dtype] ?? .f32
    let folder = positionals.last ?? ""
    // The one overwrite rule: what a command writes never replaces existing results without `overwrite`.
    if !arguments.flag("overwrite"),
      let existing = ["adapter_config.json", "adapter_model.safetensors", "adapter_model.bin"].first(where: {
        FileManager.default.fileExists(atPath: expand(folder) + "/" + $0)
      })
    {
      throw ShellError("save: \(folder) already holds an adapter (\(existing)); give overwrite to replace it")
    }
    let adapter: LoRAAdapter
    if positionals.count == 2 {
      guard let named = adapters[positionals[0]] else { throw ShellError("save: no adapter named \(positionals[0])") }
      adapter = named
    } else {
      guard let active = adapters.active ?? adapters.merged else {
        throw ShellError("save: no active adapter (save NAME DIR, or `use NAME` first)")
      }
      adapter = active
    }
    let naming = ModuleNaming(rawValue: arguments.string("naming") ?? "original") ?? .original
    let withState = arguments.flag("state")
    if withState && fileType != .f32 {
      throw ShellError("save \(folder) state: a resumable training state needs fp32 weights; drop dtype=\(dtype)")
    }
    // An adapter trained in this session is written by its run, as the run's own saves are: the evaluation
    // weights (schedule-free: the averaged iterate, training left untouched) and, with `state`, the training
    // state in the same atomic unit.
    let trainer = session.training.trainer(of: adapter)
    if withState && trainer == nil {
      throw ShellError(
        "save \(folder) state: adapter \(adapter.name) has no training run in this session (train first)")
    }
    do {
      if let trainer {
        try trainer.saveAdapter(
          to: URL(fileURLWithPath: expand(folder), isDirectory: true), naming: naming, dtype: fileType,
          withState: withState)
      } else {
        // A training state left in DIR by an earlier `save DIR state` would resume another run beside this adapter.
        try PEFTAdapterFile.save(
          adapter, to: expand(folder), naming: naming, dtype: fileType, dropping: TrainerCheckpoint.stateFiles)
      }
    } catch let error as TrainerError {
      throw ShellError("save: \(error.message)")
    } catch { throw ShellError("save: \(describeError(error))") }
    session.training.saved(adapter, to: URL(fileURLWithPath: expand(folder), isDirectory: true))
    let averaged = trainer?.settings.optimizer == .prodigy ? "; schedule-free: the averaged weights" : ""
    session.note("saved \(adapter.name) to \(folder) (PEFT layout, \(naming.rawValue) names, \(dtype)\(averaged))")
    if withState, let trainer {
      session.note(
        "saved the training state of \(adapter.name) (step \(trainer.step)/\(trainer.totalSteps)) with it; after a "
          + "restart: load adapter=\(folder), then train resume")
    }
  }

  /// `save model DIR [quantized] [overwrite]`: the model as it computes now (active adapter folded in).
  static func saveModel(_ arguments: Arguments, _ session: Session) throws {
    guard let loaded = session.model else { throw ShellError("save model: no model loaded (load MODEL)") }
    let folder = arguments.positionals[1]
    let quantized = arguments.flag("quantized")
    let summary: ModelExport.Summary
    do {
      // The active adapter as `save` writes it (a schedule-free run's averaged weights).
      summary = try session.withEvaluationWeights {
        try ModelExport.save(
          loaded.model, sourceFolder: loaded.folder, to: expand(folder), quantized: quantized,
          overwrite: arguments.flag("overwrite"), bf16: arguments.string("dtype") == "bf16")
      }
    } catch { throw ShellError("save model: \(describeError(error))") }
    var what = loaded.adapters.active.map { "with \($0.name) merged in" } ?? "base weights"
    if let merged = loaded.adapters.merged { what += " (\(merged.name) already merged)" }
    let m = summary.model
    let form =
      quantized
      ? "\(m.quantizedLayers) Linears as bitsandbytes NF4"
      : (arguments.string("dtype") == "bf16" ? "bf16" : "fp32")
        + (m.dequantizedLayers > 0 ? ", \(m.dequantizedLayers) NF4 Linears dequantized" : "")
    session.note(
      "saved model to \(folder): \(what); \(summary.tensors) tensors, "
        + String(format: "%.1f MB", Double(summary.bytes) / 1e6) + " (\(form), original names); config.json"
        + (summary.copied.isEmpty ? "" : " + " + summary.copied.joined(separator: ", ")))
  }

  /// `load adapter=DIR [name=NAME]`
  static func load(folder: String, _ arguments: Arguments, _ session: Session) throws {
    let adapters = try adapters(session, "load adapter=")
    let path = expand(folder)
    let name = arguments.string("name") ?? URL(fileURLWithPath: path).lastPathComponent
    do {
      let (adapter, naming) = try PEFTAdapterFile.load(from: path, name: name, model: adapters.model)
      try adapters.add(adapter)
      session.training.adapterLoaded(adapter, from: path)
      session.note(
        "loaded adapter \(name) from \(folder): \(counted(adapter.layers.count, "module")), "
          + "\(counted(adapter.parameterCount, "parameter")) (\(naming.rawValue) names); active")
    } catch { throw ShellError("load: \(describeError(error))") }
  }

  /// `show lora`
  static func show(_ session: Session) {
    guard let adapters = session.model?.adapters, !adapters.all.isEmpty else {
      session.out.line("adapters: none")
      return
    }
    for a in adapters.all {
      let state = a.isMerged ? " (merged)" : adapters.active === a ? " (active)" : ""
      let c = a.config
      let ranks = Set(a.layers.map(\.lora.rank)).sorted().map(String.init).joined(separator: "/")
      session.out.line(
        "\(a.name)\(state): r=\(ranks) alpha=\(formatted(c.alpha))\(c.useRslora ? " rslora" : "") "
          + "dropout=\(formatted(c.dropout)) targets=\(c.targets.description); \(counted(a.layers.count, "module")), "
          + "\(counted(a.parameterCount, "parameter")); first adapted layer \(a.lowestModule ?? "-") "
          + "(training runs backward down to it)")
    }
  }

  static func expand(_ path: String) -> String { (path as NSString).expandingTildeInPath }
  static func formatted(_ x: Float) -> String { x == x.rounded() ? String(Int(x)) : String(x) }
  static func grouped(_ n: Int) -> String {
    let digits = Array(String(n))
    var out = ""
    for (i, d) in digits.enumerated() {
      if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
      out.append(d)
    }
    return out
  }
}
