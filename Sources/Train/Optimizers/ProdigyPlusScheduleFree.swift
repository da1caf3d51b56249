// ProdigyPlusScheduleFree as prodigy-plus-schedule-free 1.9.0 computes it (the reference script's default optimizer):
// prodigy_plus_schedulefree.py `step_param`/`update_params`/`train`/`eval` and core_optimiser.py
// (`update_prodigy`, `update_d_stats_and_reset`, `calculate_d`, `on_end_step`); OPTIMIZERS.md §5.
// Parameters hold y (the gradient point) while training; x = y + (1 − 1/β1)(z − y) is the averaged iterate.
// Torch param groups are formed from the tensors' lr multipliers (LoRA+ gives two, as the reference script's
// lora_plus).

import Foundation

public enum ProdigyVersion: String, Sendable {
  /// The reference script's lock (uv.lock @1cc61c9).
  case v1_9_0 = "1.9.0"
  /// PyPI's current release (what a fresh install gets); see ProdigyV2Step.swift.
  case v2_0_1 = "2.0.1"
}

public struct ProdigyOptions: Sendable {
  public var version = ProdigyVersion.v1_9_0
  public var betas: (Double, Double) = (0.9, 0.99)
  public var beta3: Double? = nil  // nil → √β2
  public var weightDecay = 0.0
  public var weightDecayByLR = true
  public var useBiasCorrection = false
  public var d0 = 1e-6
  public var dCoef = 1.0
  public var prodigySteps = 0
  public var eps: Double? = 1e-8  // nil → Adam-atan2 (turns StableAdamW off)
  public var splitGroups = true
  public var splitGroupsMean = true
  public var factored = true
  public var useStableAdamW = true
  /// 2.0.1 only: cap d's growth at ×2^0.25 per step; Refined-SF averaging strength (0 = off).
  public var dLimiter = true
  public var schedulefreeC = 0.0
  public init() {}

  /// The library defaults of `version` (2.0.1 changed split_groups_mean to False).
  public init(version: ProdigyVersion) {
    self.version = version
    if version == .v2_0_1 { splitGroupsMean = false }
  }
}

public final class ProdigyPlusScheduleFree: Optimizer {
  public let name = "ProdigyPlusScheduleFree"
  public let params: [ParamGroup]
  public let options: ProdigyOptions
  public internal(set) var stepCount = 0
  public internal(set) var trainMode = true
  /// One per torch param group (distinct lr multipliers in order of first appearance).
  public internal(set) var groups: [Group]
  public internal(set) var sharedD: Double?
  let splitGroups: Bool
  let beta3: Double
  let useStableAdamW: Bool
  var states: [ParamState?]

  public struct Group: Sendable {
    public let lrMultiplier: Double
    public let members: [Int]
    public var d, dPrev, dNumerator, dDenom, weightSum: Double
    public var k = 1
    var prevDNumerator = 0.0, maxDNumerator = 0.0  // 2.0.1
    var runningWeightSum = 0.0
    var runningNumerator: Float = 0  // fp32 tensors in torch
    var runningDenom: Float = 0
  }

  struct ParamState {
    var z: [Float]
    var secondMoment: ProdigySecondMoment
    var p0: [Float]?  // bf16 values of y[::11] at the first step; nil = the scalar 0 torch keeps for all-zero p
    var s: [Float]  // bf16 values
  }

  public init(params: [ParamGroup], options: ProdigyOptions = ProdigyOptions()) throws {
    guard options.d0 > 0 else { throw OptimizerError.badArgument("d0 must be > 0, got \(options.d0)") }
    if let eps = options.eps, eps <= 0 { throw OptimizerError.badArgument("eps must be > 0 or None, got \(eps)") }
    guard (0..<1).contains(options.betas.0), (0..<1).contains(options.betas.1) else {
      throw OptimizerError.badArgument("betas must be in [0, 1), got \(options.betas)")
    }
    if let b3 = options.beta3, !(0..<1).contains(b3) { throw OptimizerError.badArgument("beta3 must be in [0, 1)") }
    self.params = params
    self.options = options
    beta3 = options.beta3 ?? options.betas.1.squareRoot()
    useStableAdamW = options.useStableAdamW && options.eps != nil
    var order: [Double] = []
    var members: [Double: [Int]] = [:]
    for (i, p) in params.enumerated() {
      if members[p.lrMultiplier] == nil { order.append(p.lrMultiplier) }
      members[p.lrMultiplier, default: []].append(i)
    }
    groups = order.map {
      Group(
        lrMultiplier: $0, members: members[$0]!, d: options.d0, dPrev: options.d0, dNumerator: 0, dDenom: 0,
        weightSum: 0)
    }
    splitGroups = options.splitGroups && groups.count > 1  // "single param_group -- 'split_groups' disabled"
    states = Array(repeating: nil, count: params.count)
  }

  /// The lr the reference script gives Prodigy by default is 1e-4 (`--learning_rate`), which keeps d at d0 for
  /// thousands of steps (OPTIMIZERS.md §5.9). Callers print this.
  public static func lrWarning(lr: Double) -> String? {
    abs(lr - 1) > 0.5
      ? "ProdigyPlusScheduleFree expects lr ≈ 1 (it scales the adapted step d); with lr=\(lr) d barely grows "
        + "and training hardly moves (the reference script's default 1e-4 does this). Use lr=1 unless you mean it."
      : nil
  }

  public func step(lr: Double) throws {
    guard trainMode else { throw OptimizerError.notInTrainMode }
    if options.version == .v2_0_1 {
      for gi in groups.indices {
        for pi in groups[gi].members { stepParamV2(pi, group: gi, baseLR: lr) }
      }
      endStepV2()
      stepCount += 1
      return
    }
    for gi in groups.indices {
      for pi in groups[gi].members { stepParam(pi, group: gi, baseLR: lr) }
    }
    endStep()
    stepCount += 1
  }

  private func clipThreshold(_ g: Group) -> Float { g.d <= options.d0 ? 50 : 1 }

  /// First step of a tensor: z = y, zero second moment, p0 = y[::11] in bf16 (a scalar 0 if y is all zero).
  func initialiseState(_ pi: Int) {
    guard states[pi] == nil else { return }
    let p = params[pi]
    let y = p.values
    let sliced = stride(from: 0, to: p.count, by: 11).map { y[$0] }
    let anyNonZero = (0..<p.count).contains { y[$0] != 0 }
    states[pi] = ParamState(
      z: Array(UnsafeBufferPointer(start: y, count: p.count)),
      secondMoment: ProdigySecondMoment(shape: p.shape, factored: options.factored),
      p0: anyNonZero ? sliced.map(roundToBFloat16) : nil, s: [Float](repeating: 0, count: sliced.count))
  }

  private func stepParam(_ pi: Int, group gi: Int, baseLR: Double) {
    let p = params[pi]
    let n = p.count
    let y = p.values
    initialiseState(pi)
    var st = states[pi]!
    states[pi] = nil
    let group = groups[gi]
    let groupLR = baseLR * group.lrMultiplier
    var dlr = ((splitGroups && sharedD != nil && sharedD != 0) ? sharedD! : group.d) * groupLR
    var beta2 = options.betas.1
    var rawUpdate = false
    if options.useBiasCorrection {
      let k = Double(group.k)
      let beta2t = pow(beta2, k)
      let bc2 = 1 - beta2t
      let rhoInf = 2 / (1 - beta2) - 1
      let rhoT = rhoInf - 2 * k * beta2t / bc2
      let rect = rhoT > 4 ? ((rhoT - 4) * (rhoT - 2) * rhoInf / ((rhoInf - 4) * (rhoInf - 2) * rhoT)).squareRoot() : 0
      dlr *= rect
      beta2 = 1 - (1 - beta2) / (1 - beta2t)
      rawUpdate = rhoT <= 4
    }
    var update = [Float](repeating: 0, count: n)
    var denom = [Float](repeating: 0, count: n)
    let dk = group.dPrev / group.d
    st.secondMoment.update(
      grad: p.grads, count: n, decay: Float(beta2 * dk * dk), weight: Float(1 - beta2), denom: &denom)
    let clip = clipThreshold(group)
    if rawUpdate {
      for j in 0..<n { update[j] = p.grads[j] }
    } else if let eps = options.eps {
      let e = Float(eps)
      for j in 0..<n { update[j] = p.grads[j] / (denom[j] + e) }
    } else {  // Adam-atan2: b·atan2(g, b·denom) with b = the clip threshold
      for j in 0..<n { update[j] = atan2f(p.grads[j], denom[j] * clip) * clip }
    }
    if useStableAdamW {
      // get_rms(u, 1) = max(‖u‖/√n, 1); / clip; clamp_min(1); u *= 1/rms
      let rms = max(max(l2Norm(update, n) / Float(Double(n).squareRoot()), 1) / clip, 1)
      let inv = 1 / rms
      for j in 0..<n { update[j] *= inv }
    }
    updateProdigyStatistics(&st, pi: pi, group: gi)
    let weightSum = updateParams(y: y, z: &st.z, update: update, group: group, dlr: dlr)
    groups[gi].runningWeightSum = weightSum
    states[pi] = st
  }

  // update_prodigy: Σ w·dot(g[::11], p0 − y[::11]) and s ← β3 s + w g[::11] (bf16), Σ|s| (a bf16 sum).
  private func updateProdigyStatistics(_ st: inout ParamState, pi: Int, group gi: Int) {
    let k = groups[gi].k
    guard options.prodigySteps <= 0 || k < options.prodigySteps else {
      st.p0 = nil
      st.s = []
      return
    }
    let p = params[pi]
    let dUpdate = groups[gi].d.squareRoot()
    var dot = 0.0
    var j = 0
    for i in stride(from: 0, to: p.count, by: 11) {
      let p0 = st.p0?[j] ?? 0
      dot += Double(p.grads[i]) * Double(p0 - p.values[i])
      j += 1
    }
    let b3 = Float(beta3), w = Float(dUpdate)
    var absSum = 0.0
    j = 0
    for i in stride(from: 0, to: p.count, by: 11) {
      let scaled = roundToBFloat16(st.s[j] * b3)
      st.s[j] = roundToBFloat16(scaled + w * p.grads[i])
      absSum += Double(abs(st.s[j]))
      j += 1
    }
    let target = splitGroups ? gi : 0
    groups[target].runningNumerator += w * Float(dot)
    groups[target].runningDenom += roundToBFloat16(Float(absSum))
  }

  // update_params (1.9.0): schedule-free interpolation with decoupled decay at y first.
  private func updateParams(
    y: UnsafeMutablePointer<Float>, z: inout [Float], update: [Float], group: Group, dlr: Double
  )
    -> Double
  {
    let beta1 = options.betas.0
    let weight = dlr * dlr
    let weightSum = group.weightSum + weight
    let ckp1 = weightSum != 0 ? weight / weightSum : 0
    let xyStep = 1 - beta1 * (1 - ckp1)
    let n = update.count
    if options.weightDecay != 0 {
      let decay = options.weightDecayByLR ? options.weightDecay * dlr : options.weightDecay
      let a = Float(decay * xyStep), b = Float(decay)
      for j in 0..<n { y[j] = y[j].addingProduct(-a, y[j]) }
      for j in 0..<n { z[j] = z[j].addingProduct(-b, y[j]) }
    }
    let c = Float(ckp1), ay = Float(dlr * xyStep), az = Float(dlr)
    for j in 0..<n {  // sub_(u, alpha=a) is a fused self + (−a)·u in torch's vectorized add
      y[j] = torchLerp(y[j], z[j], c).addingProduct(-ay, update[j])
      z[j] = z[j].addingProduct(-az, update[j])
    }
    return weightSum
  }

  // on_end_step: fold running statistics into d_numerator/d_denom, d ← max(d, atan2(d_coef·num, denom)).
  private func endStep() {
    if splitGroups {
      for gi in groups.indices { updateDStats(gi) }
      for gi in groups.indices {
        calculateD(gi)
        groups[gi].weightSum = groups[gi].runningWeightSum
        groups[gi].k += 1
      }
      sharedD = options.splitGroupsMean ? Double(groups.count) / groups.reduce(0) { $0 + 1 / $1.d } : nil
    } else {
      updateDStats(0)
      calculateD(0)
      for gi in groups.indices {
        groups[gi].d = groups[0].d
        groups[gi].dNumerator = groups[0].dNumerator
        groups[gi].dDenom = groups[0].dDenom
        groups[gi].weightSum = groups[gi].runningWeightSum
        groups[gi].k += 1
      }
    }
  }

  func frozen(_ gi: Int) -> Bool { options.prodigySteps > 0 && groups[gi].k >= options.prodigySteps }

  private func updateDStats(_ gi: Int) {
    guard !frozen(gi) else { return }
    var g = groups[gi]
    var num = g.dNumerator * beta3
    let r = Double(g.runningNumerator)
    if r < 0 {
      if g.d > options.d0 { num = min(num, r) }
    } else {
      num += r
    }
    g.dNumerator = num
    g.dDenom = Double(g.runningDenom)
    g.runningNumerator = 0
    g.runningDenom = 0
    groups[gi] = g
  }

  private func calculateD(_ gi: Int) {
    guard !frozen(gi) else { return }
    let dHat = atan2(options.dCoef * groups[gi].dNumerator, groups[gi].dDenom)
    groups[gi].dPrev = groups[gi].d
    groups[gi].d = max(groups[gi].d, dHat)
  }
}
