// The optimizer interface every training optimizer implements (torch.optim.Optimizer's role), the trainable
// tensors it acts on, and the state it saves for `save DIR state` / `train resume`.

/// One trainable tensor (a LoRA A or B factor). The optimizer reads `grads` and updates `values` in place;
/// both point at `count` fp32 values owned by the adapter, laid out row-major with `shape`.
///
/// Gradient accumulation convention (what the trainer does, and what accelerate's `backward(loss / k)` gives the
/// seed): over k micro-batches `grads` holds Σᵢ gᵢ / k, i.e. each micro-batch adds its gradient divided by k
/// (`accumulate(micro:dividedBy:)`; a division, not a multiplication by 1/k, as the fixtures do it), and
/// `Optimizer.zeroGrad()` runs before the first micro-batch of the next step.
public struct ParamGroup: @unchecked Sendable {
  public let name: String
  public let values: UnsafeMutablePointer<Float>
  public let grads: UnsafeMutablePointer<Float>
  public let count: Int
  /// Row-major shape; factored second moments (Prodigy, Flora) depend on it.
  public let shape: [Int]
  /// The learning rate of this tensor is `lr × lrMultiplier` (LoRA+ sets lora_B's to the ratio).
  public var lrMultiplier: Double
  /// PEFT's `lora_B` (zero at start). LoRA+ and Prodigy's p0 special case key on it.
  public let isLoraB: Bool

  public init(
    name: String, values: UnsafeMutablePointer<Float>, grads: UnsafeMutablePointer<Float>, shape: [Int],
    lrMultiplier: Double = 1, isLoraB: Bool? = nil
  ) {
    self.name = name
    self.values = values
    self.grads = grads
    self.shape = shape
    self.count = shape.reduce(1, *)
    self.lrMultiplier = lrMultiplier
    self.isLoraB = isLoraB ?? name.contains("lora_B")
  }

  /// Adds `micro / k` to the gradient (one of k accumulated micro-batches).
  public func accumulate(micro: UnsafePointer<Float>, dividedBy k: Int) {
    let kf = Float(k)
    for i in 0..<count { grads[i] += micro[i] / kf }
  }
}

/// LoRA+ (Hayou et al.): lora_B tensors learn at lr × ratio, everything else at lr.
public func applyLoraPlus(ratio: Double, to params: inout [ParamGroup]) {
  for i in params.indices { params[i].lrMultiplier = params[i].isLoraB ? ratio : 1 }
}

/// Named state: fp32 tensors, uint8 code tensors (8-bit states) and scalars (kept in Double so that d ≈ 1e-6
/// and step counters round-trip exactly). Keys are "<param name>.<field>" or "<field>" for optimizer-wide values.
public struct OptimizerState: Sendable, Equatable {
  public var optimizer: String
  public var tensors: [String: [Float]] = [:]
  public var bytes: [String: [UInt8]] = [:]
  public var scalars: [String: Double] = [:]

  public init(optimizer: String) { self.optimizer = optimizer }

  func tensor(_ key: String, count: Int) throws -> [Float] {
    guard let t = tensors[key] else { throw OptimizerError.badState("missing tensor '\(key)'") }
    guard t.count == count else {
      throw OptimizerError.badState("tensor '\(key)' has \(t.count) values, expected \(count)")
    }
    return t
  }

  func byteTensor(_ key: String, count: Int) throws -> [UInt8] {
    guard let t = bytes[key] else { throw OptimizerError.badState("missing uint8 tensor '\(key)'") }
    guard t.count == count else {
      throw OptimizerError.badState("uint8 tensor '\(key)' has \(t.count) values, expected \(count)")
    }
    return t
  }

  func scalar(_ key: String) throws -> Double {
    guard let s = scalars[key] else { throw OptimizerError.badState("missing scalar '\(key)'") }
    return s
  }
}

public enum OptimizerError: Error, CustomStringConvertible, Equatable {
  case unknownOptimizer(String)
  case unsupported(String)
  case badArgument(String)
  case badState(String)
  case notInTrainMode

  public var description: String {
    switch self {
    case .unknownOptimizer(let s): return "unknown optimizer: \(s)"
    case .unsupported(let s): return "not supported: \(s)"
    case .badArgument(let s): return "bad optimizer argument: \(s)"
    case .badState(let s): return "optimizer state does not fit: \(s)"
    case .notInTrainMode: return "schedule-free optimizer stepped while in eval mode"
    }
  }
}

public protocol Optimizer: AnyObject {
  /// The reference script's name for it (`AdamW`, `AdamW8bit`, `ProdigyPlusScheduleFree`, `Flora`).
  var name: String { get }
  var params: [ParamGroup] { get }
  /// Number of completed steps.
  var stepCount: Int { get }
  /// One update with learning rate `lr` (each tensor uses lr × its multiplier), from the gradients in `grads`.
  func step(lr: Double) throws
  func saveState() -> OptimizerState
  /// Restores `saveState()`'s output; throws if it belongs to another optimizer or other parameter shapes.
  func loadState(_ state: OptimizerState) throws
  /// The weights meant for sampling and saving, written to `out[i]` (count of params[i]) without changing
  /// training. Equal to `values` except for schedule-free optimizers (x = averaged iterate).
  func evalWeights(_ index: Int, into out: UnsafeMutablePointer<Float>)
}

extension Optimizer {
  public func zeroGrad() {
    for p in params { p.grads.update(repeating: 0, count: p.count) }
  }

  public func evalWeights(_ index: Int, into out: UnsafeMutablePointer<Float>) {
    out.update(from: params[index].values, count: params[index].count)
  }

  func checkOwner(_ state: OptimizerState) throws {
    guard state.optimizer == name else {
      throw OptimizerError.badState("state was saved by \(state.optimizer), this run uses \(name)")
    }
  }
}
