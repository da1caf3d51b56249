// peft/tuners/lora/config.py `LoraConfig`: the fields flr honours (the rest of adapter_config.json is read
// by PEFTAdapterFile and refused when it asks for something flr does not do).

public struct LoRAConfig {
  public var rank: Int = 4
  public var alpha: Float = 4
  public var dropout: Float = 0.25
  /// The reference script's FLORENCE_TARGET_MODULES.
  public var targets: TargetModules = .names(["qkv", "proj", "k_proj", "v_proj", "q_proj", "out_proj", "fc1", "fc2"])
  public var useRslora = false
  public var initialization: LoRAParameters.Initialization = .default
  /// Per-module overrides, in the file's order (the first key that applies wins; SPEC §6.3).
  public var rankPattern: [(String, Int)] = []
  public var alphaPattern: [(String, Float)] = []
  /// Seed of A's initialisation and of the dropout masks.
  public var seed: UInt64 = 0
  public var taskType: String? = "CAUSAL_LM"
  public var baseModelNameOrPath: String?

  public init() {}

  /// r and alpha of the module at `path` (patterns are matched against the adapter's own naming).
  func rankAndAlpha(for path: String) throws -> (rank: Int, alpha: Float) {
    (try patternValue(rankPattern, for: path) ?? rank, try patternValue(alphaPattern, for: path) ?? alpha)
  }

  public func validate() throws {
    guard rank >= 1 else { throw LoRAError("rank must be at least 1, got \(rank)") }
    guard alpha.isFinite else { throw LoRAError("lora_alpha must be finite, got \(alpha)") }
    guard dropout >= 0, dropout < 1 else { throw LoRAError("lora_dropout must be in [0, 1), got \(dropout)") }
    for (key, r) in rankPattern where r < 1 { throw LoRAError("rank_pattern '\(key)': rank \(r) must be at least 1") }
  }
}
