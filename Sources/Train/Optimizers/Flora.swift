// Flora as flora-opt 0.0.3 computes it (flora_opt/optimizers/torch/flora.py `flora_step_`, `Flora`;
// OPTIMIZERS.md §6.1): Adafactor with a factored second moment for 2-D tensors, optional full momentum,
// relative update clipping and the lr scaled by the parameter's RMS. The compressed ("factored") momentum
// needs square-ish matrices (max/min ≤ 4), which LoRA factors never are; asking for it is refused.

import Foundation

public struct FloraOptions: Sendable {
  public var rank: Int? = nil
  public var kappa = 1000
  public var eps: (Double, Double) = (1e-30, 1e-3)
  public var clipThreshold = 1.0
  public var decayRate = -0.8
  public var beta1: Double? = nil
  public var weightDecay = 0.0
  public var scaleParameter = true
  public var relativeStep = false
  public var warmupInit = false
  public var factorizeSecondMoment = true
  public var seed = 0
  public init() {}
}

public final class Flora: Optimizer {
  public let name = "Flora"
  public let params: [ParamGroup]
  public let options: FloraOptions
  public private(set) var stepCount = 0
  private var states: [State]

  struct State {
    var row: [Float] = []  // factored: mean over the last dim, one per row
    var col: [Float] = []  // factored: mean over rows, one per column
    var v: [Float] = []  // unfactored second moment
    var expAvg: [Float] = []
    var factored: Bool
  }

  public init(params: [ParamGroup], options: FloraOptions = FloraOptions()) throws {
    if options.warmupInit && !options.relativeStep {
      throw OptimizerError.badArgument("Flora: warmup_init=True requires relative_step=True")
    }
    self.params = params
    self.options = options
    let momentum = (options.beta1 ?? 0) > 0
    states = try params.map { p in
      let factored = p.shape.count == 2 && options.factorizeSecondMoment
      if momentum, let rank = options.rank, rank > 0, factored {
        let lo = p.shape.min()!, hi = p.shape.max()!
        if lo >= rank && Double(hi) / Double(lo) <= 4 {
          throw OptimizerError.unsupported(
            "Flora compressed momentum (rank=\(rank), beta1) for \(p.name) \(p.shape): needs torch's RNG stream; "
              + "LoRA factors never qualify, drop rank= or beta1=")
        }
      }
      var s = State(factored: factored)
      if factored {
        s.row = [Float](repeating: 0, count: p.shape[0])
        s.col = [Float](repeating: 0, count: p.shape[1])
      } else {
        s.v = [Float](repeating: 0, count: p.count)
      }
      if momentum { s.expAvg = [Float](repeating: 0, count: p.count) }
      return s
    }
  }

  /// `lr` is Flora's lr; with relative_step it is ignored (Flora's lr=None) and min(1e-2 or 1e-6·t, 1/√t) used.
  public func step(lr: Double) throws {
    stepCount += 1
    for i in params.indices { stepParam(i, baseLR: lr) }
  }

  private func stepParam(_ i: Int, baseLR: Double) {
    let p = params[i]
    let n = p.count
    var st = states[i]
    states[i] = State(factored: false)
    let t = Double(stepCount)
    let rms = l2Norm(p.values, n) / Float(Double(n).squareRoot())
    // _get_lr: max(eps2, RMS) is a Python float or the fp32 RMS tensor; the product follows that type.
    var rel = baseLR * p.lrMultiplier
    if options.relativeStep { rel = min(options.warmupInit ? 1e-6 * t : 1e-2, 1 / t.squareRoot()) }
    let lr: Float
    let decayAlpha: Float  // -wd·lr: an fp32 product when lr is the RMS tensor, else a Python float
    if options.scaleParameter && Double(rms) > options.eps.1 {
      lr = rms * Float(rel)
      decayAlpha = Float(-options.weightDecay) * lr
    } else {
      let lrDouble = (options.scaleParameter ? options.eps.1 : 1) * rel
      lr = Float(lrDouble)
      decayAlpha = Float(-options.weightDecay * lrDouble)
    }
    let beta2t = 1 - pow(t, options.decayRate)
    let b = Float(beta2t), a = Float(1 - beta2t), eps1 = Float(options.eps.0)
    var update = [Float](repeating: 0, count: n)
    for j in 0..<n { update[j] = p.grads[j] * p.grads[j] + eps1 }
    if st.factored {
      let rows = p.shape[0], cols = p.shape[1]
      for r in 0..<rows {
        var acc = 0.0
        for c in 0..<cols { acc += Double(update[r * cols + c]) }
        st.row[r] = (st.row[r] * b).addingProduct(a, Float(acc / Double(cols)))
      }
      for c in 0..<cols {
        var acc = 0.0
        for r in 0..<rows { acc += Double(update[r * cols + c]) }
        st.col[c] = (st.col[c] * b).addingProduct(a, Float(acc / Double(rows)))
      }
      // _approx_sq_grad: rsqrt(row / mean(row)) ⊗ rsqrt(col), times g
      let rowMean = Float(st.row.reduce(0.0) { $0 + Double($1) } / Double(rows))
      let rFactor = st.row.map { 1 / ($0 / rowMean).squareRoot() }
      let cFactor = st.col.map { 1 / $0.squareRoot() }
      for r in 0..<rows {
        for c in 0..<cols { update[r * cols + c] = rFactor[r] * cFactor[c] * p.grads[r * cols + c] }
      }
    } else {
      for j in 0..<n {
        st.v[j] = (st.v[j] * b).addingProduct(a, update[j])
        update[j] = 1 / st.v[j].squareRoot() * p.grads[j]
      }
    }
    if let beta1 = options.beta1, beta1 > 0 {
      let keep = Float(1 - beta1), mix = Float(beta1)
      for j in 0..<n {
        update[j] = update[j] * keep + st.expAvg[j] * mix
        st.expAvg[j] = update[j]
      }
    }
    let clip = max(l2Norm(update, n) / Float(Double(n).squareRoot()) / Float(options.clipThreshold), 1)
    for j in 0..<n { update[j] = update[j] / clip * lr }
    if options.weightDecay != 0 {
      for j in 0..<n { p.values[j] = p.values[j].addingProduct(decayAlpha, p.values[j]) }
    }
    for j in 0..<n { p.values[j] += -update[j] }
    states[i] = st
  }

  public func saveState() -> OptimizerState {
    var s = OptimizerState(optimizer: name)
    s.scalars["step"] = Double(stepCount)
    for (i, p) in params.enumerated() {
      let st = states[i]
      if st.factored {
        s.tensors["\(p.name).exp_avg_sq_row"] = st.row
        s.tensors["\(p.name).exp_avg_sq_col"] = st.col
      } else {
        s.tensors["\(p.name).exp_avg_sq"] = st.v
      }
      if !st.expAvg.isEmpty { s.tensors["\(p.name).exp_avg"] = st.expAvg }
    }
    return s
  }

  public func loadState(_ s: OptimizerState) throws {
    try checkOwner(s)
    var loaded = states
    for (i, p) in params.enumerated() {
      if loaded[i].factored {
        loaded[i].row = try s.tensor("\(p.name).exp_avg_sq_row", count: loaded[i].row.count)
        loaded[i].col = try s.tensor("\(p.name).exp_avg_sq_col", count: loaded[i].col.count)
      } else {
        loaded[i].v = try s.tensor("\(p.name).exp_avg_sq", count: p.count)
      }
      if !loaded[i].expAvg.isEmpty { loaded[i].expAvg = try s.tensor("\(p.name).exp_avg", count: p.count) }
    }
    stepCount = Int(try s.scalar("step"))
    states = loaded
  }

  /// For tests: (row, col) when factored, else (v, nil); and the momentum if any.
  public func secondMoment(_ i: Int) -> (first: [Float], col: [Float]?, expAvg: [Float]) {
    let st = states[i]
    return st.factored ? (st.row, st.col, st.expAvg) : (st.v, nil, st.expAvg)
  }
}
