import FlrModel
import Foundation

// What `load MODEL` does with the adapters of the model it replaces. Each adapter whose layers fit the new model
// (the same modules, the same shapes) is rebuilt on it with the weights `save` would write; one that does not
// fit goes with the old model, which is refused while it holds training not yet saved (unless `discard`).
// Every adapter is named in one line saying which happened.

enum ModelSwitch {
  struct Plan {
    /// Rebuilt on the new model, in the old order.
    var kept: [(old: LoRAAdapter, new: LoRAAdapter)] = []
    var dropped: [LoRAAdapter] = []
    var activeName: String?
  }

  /// Rebuilds every adapter of `old` that fits `new`. The old model is not changed.
  static func plan(from old: LoadedModel, to new: LoadedModel, _ session: Session) -> Plan {
    var plan = Plan()
    plan.activeName = old.adapters.active?.name
    // An adapter trained in this session carries its evaluation weights (schedule-free: the averaged x).
    session.withEvaluationWeights {
      for adapter in old.adapters.all {
        if let rebuilt = rebuild(adapter, on: new) {
          plan.kept.append((adapter, rebuilt))
        } else {
          plan.dropped.append(adapter)
        }
      }
    }
    return plan
  }

  /// A copy of `adapter` on `model`, or nil when its modules or their shapes differ there.
  static func rebuild(_ adapter: LoRAAdapter, on model: LoadedModel) -> LoRAAdapter? {
    var config = adapter.config
    config.baseModelNameOrPath = model.source
    guard let fresh = try? LoRAAdapter(name: adapter.name, config: config, model: model.model),
      fresh.modulePaths == adapter.modulePaths
    else { return nil }
    let pairs = zip(adapter.layers, fresh.layers)
    for (from, to) in pairs {
      guard from.lora.loraA.shape == to.lora.loraA.shape, from.lora.loraB.shape == to.lora.loraB.shape else {
        return nil
      }
    }
    for (from, to) in pairs {
      to.lora.loraA.data.update(from: from.lora.loraA.data, count: from.lora.loraA.count)
      to.lora.loraB.data.update(from: from.lora.loraB.data, count: from.lora.loraB.count)
    }
    return fresh
  }

  /// Moves the kept adapters onto `new` (the old active one active again) and says what became of each.
  static func apply(_ plan: Plan, to new: LoadedModel, _ session: Session) throws {
    let state = session.training
    let stoppedRun = state.trainer.flatMap { $0.isFinished ? nil : $0.parameters.adapter }
    for (old, rebuilt) in plan.kept {
      try new.adapters.add(rebuilt)
      state.replaced(old, by: rebuilt)
      var what = "kept adapter \(old.name) (its weights, on the new model)"
      if old.isMerged { what += "; it was merged into the old model's weights and is not merged into these" }
      if old === stoppedRun { what += "; its stopped run cannot be resumed here (`train` starts a new one)" }
      session.note("load: " + what)
    }
    try new.adapters.use(plan.kept.contains { $0.new.name == plan.activeName } ? plan.activeName : nil)
    for old in plan.dropped {
      let why =
        state.isUnsaved(old)
        ? "its training since the last save is discarded"
        : state.savedFolder(of: old).map { "`load adapter=\($0.path)` brings it back" } ?? "it was never saved"
      session.note("load: dropped adapter \(old.name): its layers do not fit the new model; \(why)")
    }
    // The last run belongs to the old model's objects.
    session.keepRun(nil)
  }

  /// The error for adapters that do not fit and hold unsaved training.
  static func refusal(_ plan: Plan, _ session: Session) -> ShellError? {
    let state = session.training
    let unsaved = plan.dropped.filter { state.isUnsaved($0) }.map(\.name)
    guard !unsaved.isEmpty else { return nil }
    let names = unsaved.joined(separator: ", ")
    return ShellError(
      "load: \(unsaved.count == 1 ? "adapter" : "adapters") \(names) \(unsaved.count == 1 ? "does" : "do") not fit "
        + "the new model and \(unsaved.count == 1 ? "holds" : "hold") training not yet saved; save first "
        + "(save \(unsaved[0]) DIR), or `load ... discard` to drop \(unsaved.count == 1 ? "it" : "them"); "
        + "still using \(session.model?.source ?? "the model loaded before")")
  }
}
