// Schedule-free weights and state of ProdigyPlusScheduleFree (OPTIMIZERS.md §5.7–5.8).
// evalWeights computes x = lerp(y, z, 1 − 1/β1) into a scratch buffer without touching training (flr's default
// for sampling and saving, as the schedule-free authors recommend); eval()/train() are the reference script's in-place
// switches (`sf_save=inplace` parity), whose fp32 round trip perturbs y by about an ulp, as in the reference script.

extension ProdigyPlusScheduleFree {
  public func evalWeights(_ index: Int, into out: UnsafeMutablePointer<Float>) {
    let p = params[index]
    guard trainMode, let z = states[index]?.z else {
      out.update(from: p.values, count: p.count)  // already x (eval mode) or never stepped (x = y)
      return
    }
    let w = Float(1 - 1 / options.betas.0)
    for j in 0..<p.count { out[j] = torchLerp(p.values[j], z[j], w) }
  }

  /// optimizer.eval(): parameters become x in place.
  public func eval() {
    guard trainMode else { return }
    lerpParams(weight: Float(1 - 1 / options.betas.0))
    trainMode = false
  }

  /// optimizer.train(): parameters go back to y in place.
  public func train() {
    guard !trainMode else { return }
    lerpParams(weight: Float(1 - options.betas.0))
    trainMode = true
  }

  private func lerpParams(weight: Float) {
    for (i, p) in params.enumerated() {
      guard let z = states[i]?.z else { continue }
      for j in 0..<p.count { p.values[j] = torchLerp(p.values[j], z[j], weight) }
    }
  }

  public func saveState() -> OptimizerState {
    var s = OptimizerState(optimizer: name)
    s.scalars["step"] = Double(stepCount)
    s.scalars["train_mode"] = trainMode ? 1 : 0
    if let sharedD { s.scalars["shared_d"] = sharedD }
    for (gi, g) in groups.enumerated() {
      let pre = "group\(gi)"
      s.scalars["\(pre).d"] = g.d
      s.scalars["\(pre).d_prev"] = g.dPrev
      s.scalars["\(pre).d_numerator"] = g.dNumerator
      s.scalars["\(pre).d_denom"] = g.dDenom
      s.scalars["\(pre).weight_sum"] = g.weightSum
      s.scalars["\(pre).k"] = Double(g.k)
      s.scalars["\(pre).prev_d_numerator"] = g.prevDNumerator
      s.scalars["\(pre).max_d_numerator"] = g.maxDNumerator
    }
    s.scalars["version"] = options.version == .v1_9_0 ? 1.9 : 2.01
    for (i, p) in params.enumerated() {
      guard let st = states[i] else { continue }
      s.tensors["\(p.name).z"] = st.z
      st.secondMoment.save(prefix: p.name, into: &s)
      s.tensors["\(p.name).s"] = st.s
      if let p0 = st.p0 { s.tensors["\(p.name).p0"] = p0 }
    }
    return s
  }

  public func loadState(_ s: OptimizerState) throws {
    try checkOwner(s)
    var newGroups = groups
    for gi in newGroups.indices {
      let pre = "group\(gi)"
      newGroups[gi].d = try s.scalar("\(pre).d")
      newGroups[gi].dPrev = try s.scalar("\(pre).d_prev")
      newGroups[gi].dNumerator = try s.scalar("\(pre).d_numerator")
      newGroups[gi].dDenom = try s.scalar("\(pre).d_denom")
      newGroups[gi].weightSum = try s.scalar("\(pre).weight_sum")
      newGroups[gi].k = Int(try s.scalar("\(pre).k"))
      newGroups[gi].prevDNumerator = s.scalars["\(pre).prev_d_numerator"] ?? 0
      newGroups[gi].maxDNumerator = s.scalars["\(pre).max_d_numerator"] ?? 0
    }
    // As the library warns: states of 1.9.x and 2.0.x do not mean the same thing.
    let savedVersion = s.scalars["version"] ?? 1.9
    guard savedVersion == (options.version == .v1_9_0 ? 1.9 : 2.01) else {
      throw OptimizerError.badState(
        "Prodigy state saved by version \(savedVersion) cannot resume \(options.version.rawValue)")
    }
    var newStates: [ParamState?] = []
    for p in params {
      guard let z = s.tensors["\(p.name).z"] else {
        newStates.append(nil)
        continue
      }
      guard z.count == p.count else { throw OptimizerError.badState("'\(p.name).z' has \(z.count) values") }
      var sm = ProdigySecondMoment(shape: p.shape, factored: options.factored)
      try sm.load(prefix: p.name, from: s)
      let sliceCount = (p.count + 10) / 11
      let sv = s.tensors["\(p.name).s"] ?? []
      guard sv.count == sliceCount || (sv.isEmpty && options.prodigySteps > 0) else {
        throw OptimizerError.badState("'\(p.name).s' has \(sv.count) values, expected \(sliceCount)")
      }
      let p0 = s.tensors["\(p.name).p0"]
      if let p0, p0.count != sliceCount { throw OptimizerError.badState("'\(p.name).p0' has \(p0.count) values") }
      newStates.append(ParamState(z: z, secondMoment: sm, p0: p0, s: sv))
    }
    stepCount = Int(try s.scalar("step"))
    trainMode = (try s.scalar("train_mode")) != 0
    sharedD = s.scalars["shared_d"]
    groups = newGroups
    states = newStates
  }

  /// For tests: z, second moment (row/col or full), p0 (nil = scalar 0), s of param `index`.
  public func state(_ index: Int) -> (z: [Float], v: [Float], col: [Float]?, p0: [Float]?, s: [Float])? {
    guard let st = states[index] else { return nil }
    let (v, col) = st.secondMoment.tensors
    return (st.z, v, col, st.p0, st.s)
  }
}
