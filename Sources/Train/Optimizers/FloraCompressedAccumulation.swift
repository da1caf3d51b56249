// FloraAccelerator's compressed gradient accumulation (flora_opt/optimizers/torch/flora.py
// `with_flora_accelerator`, `FloraAccelerator._down_project/_up_project`; OPTIMIZERS.md §6.3): with
// `accumulation_rank=R` and k > 1 micro-batches, each ≥ 2-D gradient is added to a pack as its random
// projection (P·g with P = N(0,1)^(R×rows)/√R when rows < cols, else g·P with P of (cols×R)), seeded per tensor
// by registration order (0, 1, 2, …); on the last micro-batch the pack is projected back (Pᵀ·pack or pack·Pᵀ),
// the tensor's seed advances to `next_seed(seed)` and Flora steps. 1-D tensors accumulate uncompressed; N-D
// tensors with shape[0] ≥ shape[-1] (1×1 conv lora_B) are projected on their last dim as torch's batched matmul
// does. The reference script only supports this with Flora (other optimizers hit a KeyError there), and for an N-D
// tensor with shape[0] < shape[-1] (a conv lora_A) its matmul fails or mixes dims: flr refuses those clearly.
//
// As the trainer's optimizer it is an `Optimizer` named "Flora" whose protocol contract differs in one point:
// the gradients reach it per micro-batch through `addMicroBatch()` (which consumes `grads`), and `step(lr:)`
// decompresses what was added and steps Flora. `step` may come after fewer than k micro-batches: accelerate
// syncs on the last batch of an epoch, and so does the trainer. Its state (Flora's, plus each tensor's pack and
// projection seed and the count of micro-batches added) is part of `save DIR state`.
import FlrCore

public final class FloraCompressedAccumulation: Optimizer {
  public let name = "Flora"
  public let flora: Flora
  public let rank: Int
  public let microBatches: Int
  private var seeds: [UInt64?]
  private var packs: [[Float]]
  private var received = 0

  public var params: [ParamGroup] { flora.params }
  public var stepCount: Int { flora.stepCount }
  /// Whether any tensor is projected (FloraAccelerator: only when k > 1).
  public var compresses: Bool { seeds.contains { $0 != nil } }
  /// Micro-batches added since the last step.
  public var pendingMicroBatches: Int { received }

  public init(flora: Flora, rank: Int, microBatches: Int) throws {
    guard rank > 0 else { throw OptimizerError.badArgument("accumulation_rank must be > 0, got \(rank)") }
    self.flora = flora
    self.rank = rank
    self.microBatches = microBatches
    var next: UInt64 = 0
    var seeds: [UInt64?] = []
    for p in flora.params {
      // Compression is on only when k > 1 (FloraAccelerator: rank set and gradient_accumulation_steps > 1).
      guard microBatches > 1, p.shape.count >= 2 else {
        seeds.append(nil)
        continue
      }
      if p.shape.count > 2 && p.shape[0] < p.shape[p.shape.count - 1] {
        throw OptimizerError.unsupported(
          "Flora accumulation_rank on \(p.name) \(p.shape): the reference script's left projection cannot multiply "
            + "this shape (it raises); use accumulation_rank only without such conv LoRA factors")
      }
      seeds.append(next)
      next += 1
    }
    self.seeds = seeds
    packs = flora.params.indices.map { i in
      [Float](repeating: 0, count: Self.packCount(flora.params[i], rank, seeds[i] != nil))
    }
  }

  private static func packCount(_ p: ParamGroup, _ rank: Int, _ compressed: Bool) -> Int {
    guard compressed else { return p.count }
    let rows = p.shape[0], cols = p.shape[p.shape.count - 1]
    return rows < cols ? p.count / rows * rank : p.count / cols * rank
  }

  /// Adds one micro-batch's gradients (each params[i].grads, already divided by k as the trainer does) to the
  /// packs and clears them. On the k-th call decompresses into the grads, advances the seeds and steps Flora
  /// with `lr`; returns true when it stepped.
  @discardableResult
  public func addMicroBatch(lr: Double) throws -> Bool {
    addMicroBatch()
    guard received == microBatches else { return false }
    try step(lr: lr)
    return true
  }

  /// Adds one micro-batch's gradients (params[i].grads, already divided by k) to the packs and zeroes them.
  public func addMicroBatch() {
    for (i, p) in flora.params.enumerated() {
      if let seed = seeds[i] {
        let down = project(p, seed: seed, down: p.grads)
        for j in packs[i].indices { packs[i][j] = down[j] + packs[i][j] }
      } else {
        for j in 0..<p.count { packs[i][j] += p.grads[j] }
      }
      p.grads.update(repeating: 0, count: p.count)
    }
    received += 1
  }

  /// The sync micro-batch: decompresses the packs into the grads, advances the seeds of the projected tensors,
  /// empties the packs, steps Flora with `lr` and zeroes the grads (the reference script's `del p.grad`), so the next
  /// micro-batch starts clean. Throws when no micro-batch was added.
  public func step(lr: Double) throws {
    guard received > 0 else {
      throw OptimizerError.badState("Flora accumulation: step without any micro-batch added")
    }
    received = 0
    for (i, p) in flora.params.enumerated() {
      if let seed = seeds[i] {
        let up = projectUp(p, seed: seed, pack: packs[i])
        p.grads.update(from: up, count: p.count)
        seeds[i] = floraNextSeed(seed)
      } else {
        p.grads.update(from: packs[i], count: p.count)
      }
      for j in packs[i].indices { packs[i][j] = 0 }
    }
    try flora.step(lr: lr)
    for p in flora.params { p.grads.update(repeating: 0, count: p.count) }
  }

  /// Drops the micro-batches added since the last step (a step abandoned for a non-finite gradient).
  public func discardPending() {
    for i in packs.indices { packs[i] = [Float](repeating: 0, count: packs[i].count) }
    received = 0
  }

  /// The current projection seed of each compressed tensor (nil for uncompressed ones).
  public var projectionSeeds: [UInt64?] { seeds }

  // MARK: state

  /// Flora's state plus `<name>.accumulation_pack` (fp32), `<name>.projection_seed` (the UInt64 as 8 bytes,
  /// little-endian: a Double cannot hold torch's 63-bit seeds), and the scalars `accumulation_rank`,
  /// `accumulation_micro_batches` and `accumulation_received`.
  public func saveState() -> OptimizerState {
    var s = flora.saveState()
    s.scalars["accumulation_rank"] = Double(rank)
    s.scalars["accumulation_micro_batches"] = Double(microBatches)
    s.scalars["accumulation_received"] = Double(received)
    for (i, p) in flora.params.enumerated() {
      s.tensors["\(p.name).accumulation_pack"] = packs[i]
      if let seed = seeds[i] {
        s.bytes["\(p.name).projection_seed"] = (0..<8).map { UInt8(truncatingIfNeeded: seed >> ($0 * 8)) }
      }
    }
    return s
  }

  public func loadState(_ s: OptimizerState) throws {
    try checkOwner(s)
    let savedRank = try s.scalar("accumulation_rank"), savedK = try s.scalar("accumulation_micro_batches")
    guard savedRank == Double(rank), savedK == Double(microBatches) else {
      throw OptimizerError.badState(
        "Flora accumulation was saved with accumulation_rank \(savedRank) over \(savedK) micro-batches, this run "
          + "has \(rank) over \(microBatches)")
    }
    let pending = try s.scalar("accumulation_received")
    guard pending >= 0, pending < Double(microBatches) else {
      throw OptimizerError.badState("accumulation_received \(pending) is outside 0 to \(microBatches - 1)")
    }
    var loadedPacks = packs, loadedSeeds = seeds
    for (i, p) in flora.params.enumerated() {
      loadedPacks[i] = try s.tensor("\(p.name).accumulation_pack", count: packs[i].count)
      if seeds[i] != nil {
        let b = try s.byteTensor("\(p.name).projection_seed", count: 8)
        loadedSeeds[i] = b.enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << ($1.offset * 8) }
      }
    }
    try flora.loadState(s)
    packs = loadedPacks
    seeds = loadedSeeds
    received = Int(pending)
  }

  private func projection(_ count: Int, seed: UInt64) -> [Float] {
    let scale = Float(Double(rank).squareRoot())
    return floraStableRandn(count: count, seed: seed).map { $0 / scale }
  }

  // rows < cols: P [R, rows] · g viewed as [rows, rest] → [R, rest]; else g viewed as [rest, cols] · P [cols, R].
  private func project(_ p: ParamGroup, seed: UInt64, down g: UnsafeMutablePointer<Float>) -> [Float] {
    let rows = p.shape[0], cols = p.shape[p.shape.count - 1], n = p.count
    var out = [Float](repeating: 0, count: Self.packCount(p, rank, true))
    let proj = rows < cols ? projection(rank * rows, seed: seed) : projection(cols * rank, seed: seed)
    proj.withUnsafeBufferPointer { pr in
      out.withUnsafeMutableBufferPointer { o in
        if rows < cols {
          Gemm.matmul(pr.baseAddress!, g, o.baseAddress!, m: rank, n: n / rows, k: rows)
        } else {
          Gemm.matmul(g, pr.baseAddress!, o.baseAddress!, m: n / cols, n: rank, k: cols)
        }
      }
    }
    return out
  }

  // The transpose of `project`: Pᵀ [rows, R] · pack [R, rest], or pack [rest, R] · Pᵀ [R, cols].
  private func projectUp(_ p: ParamGroup, seed: UInt64, pack: [Float]) -> [Float] {
    let rows = p.shape[0], cols = p.shape[p.shape.count - 1], n = p.count
    var out = [Float](repeating: 0, count: n)
    let proj = rows < cols ? projection(rank * rows, seed: seed) : projection(cols * rank, seed: seed)
    proj.withUnsafeBufferPointer { pr in
      pack.withUnsafeBufferPointer { pk in
        out.withUnsafeMutableBufferPointer { o in
          if rows < cols {
            Gemm.matmul(pr.baseAddress!, pk.baseAddress!, o.baseAddress!, m: rows, n: n / rows, k: rank, transA: true)
          } else {
            Gemm.matmul(pk.baseAddress!, pr.baseAddress!, o.baseAddress!, m: n / cols, n: cols, k: rank, transB: true)
          }
        }
      }
    }
    return out
  }
}
