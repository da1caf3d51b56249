// ProdigyPlusScheduleFree 2.0.1 (PyPI latest; OPTIMIZERS.md §5.6), schedule-free path: prodigy_plus_schedulefree.py
// `step_param_schedulefree`/`update_params` and core_optimiser.py 2.0.x (`update_second_moment`, `update_`,
// `rms_clip_`, `update_prodigy`, `update_d_stats_and_reset`, `calculate_d`, `on_end_step`). Differences from
// 1.9.0: the second moment holds d²-scaled values (no ρ rescale), the update is (d·g)/(denom + d·eps), StableAdamW
// is the soft u/√max(RMS,1), Prodigy statistics use z slices with weight d²/√d0, d grows by num/denom capped at
// ×2^0.25 per step, and decay is folded into the update.

import Foundation

extension ProdigyPlusScheduleFree {
  func stepParamV2(_ pi: Int, group gi: Int, baseLR: Double) {
    let p = params[pi]
    let n = p.count
    let y = p.values
    initialiseState(pi)
    var st = states[pi]!
    states[pi] = nil
    let group = groups[gi]
    var dlr =
      ((splitGroups && options.splitGroupsMean && sharedD != nil) ? sharedD! : group.d) * baseLR
      * group.lrMultiplier
    var beta2 = options.betas.1
    var rawUpdate = false
    if options.useBiasCorrection {
      let k = Double(group.k)
      let beta2t = pow(beta2, k)
      let rhoInf = 2 / (1 - beta2) - 1
      let rhoT = rhoInf - 2 * k * beta2t / (1 - beta2t)
      let rect = rhoT > 4 ? ((rhoT - 4) * (rhoT - 2) * rhoInf / ((rhoInf - 4) * (rhoInf - 2) * rhoT)).squareRoot() : 0
      dlr *= rect
      beta2 = 1 - (1 - beta2) / (1 - beta2t)
      rawUpdate = rhoT <= 4
    }
    var update = [Float](repeating: 0, count: n)
    var denom = [Float](repeating: 0, count: n)
    let d = group.d
    st.secondMoment.update(
      grad: p.grads, count: n, decay: Float(beta2), weight: Float((1 - beta2) * d * d), denom: &denom,
      productDenominator: true)
    if rawUpdate {
      for j in 0..<n { update[j] = p.grads[j] }
    } else if let eps = options.eps {
      let dF = Float(d), e = Float(d * eps)
      for j in 0..<n { update[j] = (p.grads[j] * dF) / (denom[j] + e) }
    } else {
      let dF = Float(d)
      for j in 0..<n { update[j] = atan2f(p.grads[j] * dF, denom[j]) * 1.2732395 }
    }
    if useStableAdamW {  // rms_clip_: u · rsqrt(max(‖u‖/√n, 1))
      let rms = max(l2Norm(update, n) / Float(Double(n).squareRoot()), 1)
      let scale = 1 / rms.squareRoot()
      for j in 0..<n { update[j] *= scale }
    }
    updateProdigyStatisticsV2(&st, pi: pi, group: gi)
    groups[gi].runningWeightSum = updateParamsV2(y: y, z: &st.z, update: &update, group: group, dlr: dlr)
    states[pi] = st
  }

  // s ← β3 s + w g[::11] (bf16, w = d²/√d0); running_den += Σ|s|; running_num += w · dot(g[::11], p0 − z[::11]).
  private func updateProdigyStatisticsV2(_ st: inout ParamState, pi: Int, group gi: Int) {
    guard !frozen(gi) else {
      st.p0 = nil
      st.s = []
      return
    }
    let p = params[pi]
    let d = groups[gi].d
    let w = Float(d * d / options.d0.squareRoot())
    let b3 = Float(beta3)
    var dot = 0.0, absSum = 0.0
    var j = 0
    for i in stride(from: 0, to: p.count, by: 11) {
      dot += Double(p.grads[i]) * Double((st.p0?[j] ?? 0) - st.z[i])
      st.s[j] = roundToBFloat16(roundToBFloat16(st.s[j] * b3) + w * p.grads[i])
      absSum += Double(abs(st.s[j]))
      j += 1
    }
    let target = splitGroups ? gi : 0
    groups[target].runningDenom += roundToBFloat16(Float(absSum))
    groups[target].runningNumerator += w * Float(dot)
  }

  private func updateParamsV2(
    y: UnsafeMutablePointer<Float>, z: inout [Float], update: inout [Float], group: Group, dlr: Double
  ) -> Double {
    let beta1 = options.betas.0
    let weight = dlr * dlr
    let weightSum = group.weightSum + weight
    var ckp1 = weightSum != 0 ? weight / weightSum : 0
    if options.schedulefreeC > 0 { ckp1 = min(1, ckp1 * (1 - beta1) * options.schedulefreeC) }
    let xyStep = 1 - beta1 * (1 - ckp1)
    let n = update.count
    let decay = options.weightDecay
    var yBeforeDecay: [Float]? = nil
    if decay != 0 {
      if options.weightDecayByLR {
        let lambda = Float(decay)
        for j in 0..<n { update[j] = update[j].addingProduct(lambda, y[j]) }
      } else {
        yBeforeDecay = Array(UnsafeBufferPointer(start: y, count: n))
      }
    }
    let c = Float(ckp1), az = Float(dlr), ay = Float(dlr * xyStep)
    for j in 0..<n {
      y[j] = torchLerp(y[j], z[j], c)
      z[j] = z[j].addingProduct(-az, update[j])
      y[j] = y[j].addingProduct(-ay, update[j])
    }
    if let yw = yBeforeDecay {
      let bz = Float(decay), by = Float(decay * xyStep)
      for j in 0..<n {
        z[j] = z[j].addingProduct(-bz, yw[j])
        y[j] = y[j].addingProduct(-by, yw[j])
      }
    }
    return weightSum
  }

  func endStepV2() {
    if splitGroups {
      for gi in groups.indices {
        updateDStatsV2(gi)
        calculateDV2(gi)
      }
      if options.splitGroupsMean { sharedD = Double(groups.count) / groups.reduce(0) { $0 + 1 / $1.d } }
    } else {
      updateDStatsV2(0)
      calculateDV2(0)
      let first = groups[0]
      for gi in groups.indices {
        groups[gi].d = first.d
        groups[gi].dPrev = first.dPrev
        groups[gi].dNumerator = first.dNumerator
        groups[gi].dDenom = first.dDenom
        groups[gi].prevDNumerator = first.prevDNumerator
        groups[gi].maxDNumerator = first.maxDNumerator
      }
    }
    for gi in groups.indices {
      groups[gi].weightSum = groups[gi].runningWeightSum
      groups[gi].k += 1
    }
  }

  private func updateDStatsV2(_ gi: Int) {
    guard !frozen(gi) else { return }
    var g = groups[gi]
    var num = g.dNumerator * beta3
    let r = Double(g.runningNumerator)
    if g.d > options.d0 || r > 0 { num += r }
    g.prevDNumerator = g.dNumerator
    g.maxDNumerator = max(num, g.maxDNumerator)
    g.dNumerator = num
    g.dDenom = Double(g.runningDenom)
    g.runningNumerator = 0
    g.runningDenom = 0
    groups[gi] = g
  }

  private func calculateDV2(_ gi: Int) {
    guard !frozen(gi) else { return }
    var d = groups[gi].d
    if groups[gi].dDenom > 0 {
      var dHat = groups[gi].dNumerator / groups[gi].dDenom
      if options.dLimiter { dHat = min(d * pow(2, 0.25), dHat) }
      d = max(d, dHat * options.dCoef)
    }
    groups[gi].dPrev = groups[gi].d
    groups[gi].d = d
  }
}
