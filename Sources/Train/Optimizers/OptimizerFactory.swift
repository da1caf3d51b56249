// From the reference script's `--optimizer_name` / `--optimizer_args` (caption_train/opt.py `get_optimizer`) or flr's
// `optimizer=` to a configured optimizer. Differences from the reference script, on purpose: an unknown name is an
// error (the reference script silently falls back to ProdigyPlusScheduleFree), and an argument the optimizer does not
// take, or an experimental switch flr has not implemented, is an error naming the accepted keys (the reference script
// would raise a TypeError for the former and silently run the latter).

public enum OptimizerKind: String, CaseIterable, Sendable {
  case adamw, adamw8bit, prodigy = "prodigy-sf", flora

  /// The reference script's class name, as `--optimizer_name` spells it.
  public var referenceName: String {
    switch self {
    case .adamw: return "AdamW"
    case .adamw8bit: return "AdamW8bit"
    case .prodigy: return "ProdigyPlusScheduleFree"
    case .flora: return "Flora"
    }
  }

  /// nil (no `--optimizer_name`) → ProdigyPlusScheduleFree, the reference script's default. Accepts the reference
  /// script's exact names and flr's (adamw, adamw8bit, prodigy-sf, flora), case-insensitively.
  public init(name: String?) throws {
    guard let name, !name.isEmpty else {
      self = .prodigy
      return
    }
    let lower = name.lowercased()
    if let k = OptimizerKind.allCases.first(where: { $0.rawValue == lower || $0.referenceName.lowercased() == lower }) {
      self = k
      return
    }
    if lower == "prodigy" || lower == "prodigyplus" {
      self = .prodigy
      return
    }
    let choices = OptimizerKind.allCases.map { "\($0.rawValue) (\($0.referenceName))" }.joined(separator: ", ")
    throw OptimizerError.unknownOptimizer(
      "'\(name)'; flr has \(choices). (The reference script would silently use ProdigyPlusScheduleFree for an "
        + "unknown name.)")
  }

  /// Keys each optimizer's constructor accepts (the pinned library versions).
  public var acceptedKeys: [String] {
    switch self {
    case .adamw:
      return [
        "lr", "betas", "eps", "weight_decay", "amsgrad", "maximize", "foreach", "capturable", "differentiable",
        "fused",
      ]
    case .adamw8bit:
      return [
        "lr", "betas", "eps", "weight_decay", "amsgrad", "optim_bits", "args", "min_8bit_size",
        "percentile_clipping", "block_wise", "is_paged",
      ]
    case .prodigy:
      return [
        "lr", "betas", "beta3", "weight_decay", "weight_decay_by_lr", "use_bias_correction", "d0", "d_coef",
        "prodigy_steps", "use_speed", "eps", "split_groups", "split_groups_mean", "factored", "factored_fp32",
        "fused_back_pass", "use_stableadamw", "use_muon_pp", "use_cautious", "use_grams", "use_adopt",
        "use_orthograd", "use_focus", "stochastic_rounding",
        // 2.0.1 only
        "d_limiter", "schedulefree_c", "use_schedulefree",
        // flr: which library version to reproduce, "1.9.0" (the reference script's lock, default) or "2.0.1"
        "version",
      ]
    case .flora:
      return [
        "lr", "rank", "kappa", "eps", "clip_threshold", "decay_rate", "beta1", "weight_decay",
        "scale_parameter", "relative_step", "warmup_init", "factorize_second_moment", "seed", "quantization",
      ]
    }
  }
}

public struct ConfiguredOptimizer {
  public let optimizer: any Optimizer
  /// The lr to pass to `step(lr:)` (or to use as OneCycle's max_lr): `lr` from optimizer_args if given, else the
  /// training lr (the reference script: `{"lr": learning_rate, **optimizer_args}`).
  public let lr: Double
  public let warnings: [String]
}

public enum OptimizerFactory {
  public static func make(
    kind: OptimizerKind, params: [ParamGroup], args: OptimizerArgs, learningRate: Double
  ) throws -> ConfiguredOptimizer {
    let a = ArgReader(args: args, kind: kind)
    try a.checkKeys()
    let lr = try a.number("lr") ?? learningRate
    guard lr > 0 || (kind == .flora && a.isNone("lr")) else {
      throw OptimizerError.badArgument("\(kind.referenceName): lr must be > 0, got \(lr)")
    }
    var warnings: [String] = []
    let optimizer: any Optimizer
    switch kind {
    case .adamw:
      optimizer = try AdamW(
        params: params, betas: try a.pair("betas") ?? (0.9, 0.999), eps: try a.number("eps") ?? 1e-8,
        weightDecay: try a.number("weight_decay") ?? 0.01, amsgrad: try a.bool("amsgrad") ?? false,
        maximize: try a.bool("maximize") ?? false)
    case .adamw8bit:
      try a.require("block_wise", is: true, "only block-wise 8-bit state exists")
      if let pc = try a.number("percentile_clipping"), pc != 100 {
        throw OptimizerError.unsupported("AdamW8bit percentile_clipping=\(pc) (only 100, off)")
      }
      optimizer = try AdamW8bit(
        params: params, betas: try a.pair("betas") ?? (0.9, 0.999), eps: try a.number("eps") ?? 1e-8,
        weightDecay: try a.number("weight_decay") ?? 0.01,
        minEightBitSize: Int(try a.number("min_8bit_size") ?? 4096))
    case .prodigy:
      for flag in [
        "use_speed", "use_muon_pp", "use_cautious", "use_grams", "use_adopt", "use_orthograd", "use_focus",
        "fused_back_pass",
      ] {
        try a.require(flag, is: false, "experimental and not implemented in flr")
      }
      let version: ProdigyVersion
      switch args["version"] {
      case nil: version = .v1_9_0
      case .string(let v) where ProdigyVersion(rawValue: v) != nil: version = ProdigyVersion(rawValue: v)!
      case .some(let v): throw OptimizerError.badArgument("ProdigyPlusScheduleFree version=\(v): use 1.9.0 or 2.0.1")
      }
      let onlyIn: [String: ProdigyVersion] = [
        "use_muon_pp": .v1_9_0, "d_limiter": .v2_0_1, "schedulefree_c": .v2_0_1, "use_schedulefree": .v2_0_1,
      ]
      for (key, v) in onlyIn where args[key] != nil && v != version {
        throw OptimizerError.badArgument(
          "ProdigyPlusScheduleFree \(version.rawValue) has no argument '\(key)' (it exists in \(v.rawValue))")
      }
      try a.require("use_schedulefree", is: true, "plain Prodigy (use_schedulefree=False) is not implemented")
      var o = ProdigyOptions(version: version)
      if let v = try a.bool("d_limiter") { o.dLimiter = v }
      if let v = try a.number("schedulefree_c") { o.schedulefreeC = v }
      if let b = try a.pair("betas") { o.betas = b }
      if a.isNone("beta3") { o.beta3 = nil } else if let v = try a.number("beta3") { o.beta3 = v }
      if let v = try a.number("weight_decay") { o.weightDecay = v }
      if let v = try a.bool("weight_decay_by_lr") { o.weightDecayByLR = v }
      if let v = try a.bool("use_bias_correction") { o.useBiasCorrection = v }
      if let v = try a.number("d0") { o.d0 = v }
      if let v = try a.number("d_coef") { o.dCoef = v }
      if let v = try a.number("prodigy_steps") { o.prodigySteps = Int(v) }
      if a.isNone("eps") { o.eps = nil } else if let v = try a.number("eps") { o.eps = v }
      if let v = try a.bool("split_groups") { o.splitGroups = v }
      if let v = try a.bool("split_groups_mean") { o.splitGroupsMean = v }
      if let v = try a.bool("factored") { o.factored = v }
      if let v = try a.bool("use_stableadamw") { o.useStableAdamW = v }
      _ = try a.bool("factored_fp32")  // fp32 gradients: both settings compute the same
      _ = try a.bool("stochastic_rounding")  // only acts on bf16 parameters; LoRA weights are fp32
      optimizer = try ProdigyPlusScheduleFree(params: params, options: o)
      if let w = ProdigyPlusScheduleFree.lrWarning(lr: lr) { warnings.append(w) }
    case .flora:
      try a.require("quantization", is: false, "Flora's quantized states are not implemented")
      var o = FloraOptions()
      if let v = try a.number("rank") { o.rank = Int(v) }
      if let v = try a.number("kappa") { o.kappa = Int(v) }
      if let v = try a.pair("eps") { o.eps = v }
      if let v = try a.number("clip_threshold") { o.clipThreshold = v }
      if let v = try a.number("decay_rate") { o.decayRate = v }
      if let v = try a.number("beta1") { o.beta1 = v }
      if let v = try a.number("weight_decay") { o.weightDecay = v }
      if let v = try a.bool("scale_parameter") { o.scaleParameter = v }
      if let v = try a.bool("relative_step") { o.relativeStep = v }
      if let v = try a.bool("warmup_init") { o.warmupInit = v }
      if let v = try a.bool("factorize_second_moment") { o.factorizeSecondMoment = v }
      if let v = try a.number("seed") { o.seed = Int(v) }
      // The reference script always passes lr (its learning rate), so relative_step needs an explicit lr=None, as in
      // Flora.
      if o.relativeStep && !a.isNone("lr") {
        throw OptimizerError.badArgument("Flora: cannot combine manual lr and relative_step=True (add lr=None)")
      }
      optimizer = try Flora(params: params, options: o)
    }
    return ConfiguredOptimizer(optimizer: optimizer, lr: lr, warnings: warnings)
  }
}

private struct ArgReader {
  let args: OptimizerArgs
  let kind: OptimizerKind

  func checkKeys() throws {
    let accepted = Set(kind.acceptedKeys)
    for key in args.keys where !accepted.contains(key) {
      throw OptimizerError.badArgument(
        "\(kind.referenceName) has no argument '\(key)'; it takes: \(kind.acceptedKeys.joined(separator: ", "))")
    }
  }

  func isNone(_ key: String) -> Bool { args[key] == OptimizerArgValue.none }

  func number(_ key: String) throws -> Double? {
    switch args[key] {
    case nil, .some(.none): return nil
    case .number(let d): return d
    case .bool(let b): return b ? 1 : 0  // Python: True == 1
    case .some(let v): throw OptimizerError.badArgument("\(kind.referenceName) \(key) must be a number, got \(v)")
    }
  }

  func bool(_ key: String) throws -> Bool? {
    switch args[key] {
    case nil: return nil
    case .bool(let b): return b
    case .number(let d) where d == 0 || d == 1: return d == 1
    case .some(let v): throw OptimizerError.badArgument("\(kind.referenceName) \(key) must be True or False, got \(v)")
    }
  }

  func pair(_ key: String) throws -> (Double, Double)? {
    switch args[key] {
    case nil: return nil
    case .tuple(let t) where t.count == 2: return (t[0], t[1])
    case .some(let v): throw OptimizerError.badArgument("\(kind.referenceName) \(key) must be two numbers, got \(v)")
    }
  }

  func require(_ key: String, is expected: Bool, _ why: String) throws {
    if let v = try bool(key), v != expected {
      throw OptimizerError.unsupported("\(kind.referenceName) \(key)=\(v ? "True" : "False"): \(why)")
    }
  }
}
