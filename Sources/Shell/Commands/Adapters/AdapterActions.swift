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
    config.targets = TargetModules.parse(arguments.string("targets") ?? LoraCommand.seedTargets)
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
    session.out.line(
      "lora \(name): \(adapter.layers.count) modules (\(adapter.layers.count - convs) Linear, \(convs) Conv2d), "
        + "\(grouped(adapter.parameterCount)) parameters, r=\(config.rank) alpha=\(formatted(config.alpha))"
        + " scale \(formatted(adapter.layers.first?.lora.scaling ?? 0)); active")
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
      session.note("unmerged \(adapter.name); the base weights are restored")
    } catch { throw ShellError("unmerge: \(describeError(error))") }
  }

  /// `save [NAME] DIR [naming=original|native]`, `save model DIR [quantized] [overwrite]`
  static func save(_ arguments: Arguments, _ session: Session) throws {
    let adapters = try adapters(session, "save")
    let positionals = arguments.positionals
    if positionals.first == "model" && positionals.count == 2 { return try saveModel(arguments, session) }
    for flag in ["quantized", "overwrite"] where arguments.flag(flag) {
      throw ShellError("save: `\(flag)` applies to `save model DIR` only")
    }
    if arguments.string("dtype") == "bf16" { throw ShellError("save: `dtype=` applies to `save model DIR` only") }
    let folder = positionals.last ?? ""
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
    // An adapter trained in this session is written by its run, as the run's own saves are: the evaluation
    // weights (schedule-free: the averaged iterate, training left untouched) and, with `state`, the training
    // state in the same atomic unit.
    let trainer = TrainingState.trainer(of: adapter, session)
    if withState && trainer == nil {
      throw ShellError(
        "save \(folder) state: adapter \(adapter.name) has no training run in this session (train first)")
    }
    do {
      if let trainer {
        try trainer.saveAdapter(
          to: URL(fileURLWithPath: expand(folder), isDirectory: true), naming: naming, withState: withState)
      } else {
        // A training state left in DIR by an earlier `save DIR state` would resume another run beside this adapter.
        try PEFTAdapterFile.save(adapter, to: expand(folder), naming: naming, dropping: TrainerCheckpoint.stateFiles)
      }
    } catch let error as TrainerError {
      throw ShellError("save: \(error.message)")
    } catch { throw ShellError("save: \(describeError(error))") }
    let averaged = trainer?.settings.optimizer == .prodigy ? "; schedule-free: the averaged weights" : ""
    session.note("saved \(adapter.name) to \(folder) (PEFT layout, \(naming.rawValue) names\(averaged))")
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
      summary = try SessionAdapters.withEvaluationWeights(session) {
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
      TrainingState.adapterLoaded(adapter, from: path, session)
      session.note(
        "loaded adapter \(name) from \(folder): \(adapter.layers.count) modules, "
          + "\(grouped(adapter.parameterCount)) parameters (\(naming.rawValue) names); active")
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
          + "dropout=\(formatted(c.dropout)) targets=\(c.targets.description); \(a.layers.count) modules, "
          + "\(grouped(a.parameterCount)) parameters; gradients reach \(a.lowestModule ?? "-")")
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
