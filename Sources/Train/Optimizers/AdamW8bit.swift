// bitsandbytes.optim.AdamW8bit as the seed runs it on CUDA (OPTIMIZERS.md §4): tensors with ≥ 4096 elements
// keep m and v as uint8 codes into the signed/unsigned dynamic maps with one fp32 absmax per 256-element block
// (csrc/kernels.cu kOptimizerStatic8bit2StateBlockwise); smaller tensors keep fp32 states (kOptimizer32bit2State).
// Both apply weight decay after the Adam step (torch's AdamW decays before); checked in bitsandbytes' tag 0.45.3
// (the seed's pin) as well as main: same decay order, quantize_2D search and sign fix. All arithmetic is fp32 like
// the kernel; CUDA's approximate __powf/__fdividef are replaced by exact ones.

import Foundation

public final class AdamW8bit: Optimizer {
  public let name = "AdamW8bit"
  public static let blockSize = 256
  public static let minEightBitSize = 4096
  public let params: [ParamGroup]
  public let beta1: Double
  public let beta2: Double
  public let eps: Double
  public let weightDecay: Double
  public private(set) var stepCount = 0
  private var states: [State]

  enum State {
    case eightBit(m: [UInt8], v: [UInt8], absmaxM: [Float], absmaxV: [Float])
    case fp32(m: [Float], v: [Float])
  }

  public init(
    params: [ParamGroup], betas: (Double, Double) = (0.9, 0.999), eps: Double = 1e-8, weightDecay: Double = 0.01,
    minEightBitSize: Int = AdamW8bit.minEightBitSize
  ) throws {
    guard (0..<1).contains(betas.0), (0..<1).contains(betas.1) else {
      throw OptimizerError.badArgument("betas must be in [0, 1), got \(betas)")
    }
    guard eps >= 0, weightDecay >= 0 else { throw OptimizerError.badArgument("eps and weight_decay must be >= 0") }
    self.params = params
    (beta1, beta2) = betas
    self.eps = eps
    self.weightDecay = weightDecay
    states = params.map { p in
      if p.count >= minEightBitSize {
        let blocks = (p.count + Self.blockSize - 1) / Self.blockSize
        return .eightBit(
          m: [UInt8](repeating: 0, count: p.count), v: [UInt8](repeating: 0, count: p.count),
          absmaxM: [Float](repeating: 0, count: blocks), absmaxV: [Float](repeating: 0, count: blocks))
      }
      return .fp32(m: [Float](repeating: 0, count: p.count), v: [Float](repeating: 0, count: p.count))
    }
  }

  public func step(lr baseLR: Double) throws {
    stepCount += 1
    let b1 = Float(beta1), b2 = Float(beta2), epsF = Float(eps)
    let c1 = 1 - powf(b1, Float(stepCount))
    let c2 = (1 - powf(b2, Float(stepCount))).squareRoot()
    for (i, p) in params.enumerated() {
      let lr = Float(baseLR * p.lrMultiplier)
      let stepSize = (-lr * c2) / c1
      let decay: Float? = weightDecay > 0 ? 1 - lr * Float(weightDecay) : nil
      switch states[i] {
      case .fp32(var m, var v):
        states[i] = .fp32(m: [], v: [])  // keep the arrays uniquely referenced while updating
        for j in 0..<p.count {
          let g = p.grads[j]
          m[j] = m[j] * b1 + (1 - b1) * g
          v[j] = v[j] * b2 + (1 - b2) * (g * g)
          var theta = p.values[j] + stepSize * (m[j] / (v[j].squareRoot() + epsF * c2))
          if let decay { theta *= decay }
          p.values[j] = theta
        }
        states[i] = .fp32(m: m, v: v)
      case .eightBit(var qm, var qv, var am, var av):
        states[i] = .fp32(m: [], v: [])
        Self.updateBlockwise(
          p, &qm, &qv, &am, &av, b1: b1, b2: b2, eps: epsF, c2: c2, stepSize: stepSize, decay: decay)
        states[i] = .eightBit(m: qm, v: qv, absmaxM: am, absmaxV: av)
      }
    }
  }

  // One tensor through kOptimizerStatic8bit2StateBlockwise: dequantize with the old absmax, Adam in fp32,
  // new absmax = block max, step then decay, requantize (signed m with the sign fix, unsigned v).
  private static func updateBlockwise(
    _ p: ParamGroup, _ qm: inout [UInt8], _ qv: inout [UInt8], _ am: inout [Float], _ av: inout [Float],
    b1: Float, b2: Float, eps: Float, c2: Float, stepSize: Float, decay: Float?
  ) {
    var m = [Float](repeating: 0, count: blockSize)
    var v = [Float](repeating: 0, count: blockSize)
    QuantizationMaps.signed.withUnsafeBufferPointer { qsb in
      QuantizationMaps.unsigned.withUnsafeBufferPointer { qub in
        let qs = qsb.baseAddress!, qu = qub.baseAddress!
        var start = 0
        var b = 0
        while start < p.count {
          let n = min(blockSize, p.count - start)
          var maxM: Float = 0
          var maxV: Float = 0
          for j in 0..<n {
            let g = p.grads[start + j]
            if g.isFinite {
              v[j] = qu[Int(qv[start + j])] * av[b]
              v[j] = v[j] * b2 + (1 - b2) * g * g
              m[j] = qs[Int(qm[start + j])] * am[b]
              m[j] = m[j] * b1 + (1 - b1) * g
            } else {
              m[j] = 0
              v[j] = 0
            }
            maxM = max(maxM, abs(m[j]))
            maxV = max(maxV, abs(v[j]))
          }
          am[b] = maxM
          av[b] = maxV
          for j in 0..<n where p.grads[start + j].isFinite {
            var theta = p.values[start + j] + stepSize * (m[j] / (v[j].squareRoot() + c2 * eps))
            if let decay { theta *= decay }
            p.values[start + j] = theta
          }
          for j in 0..<n {
            qm[start + j] = Blockwise8bit.quantizeSignedKeepingSign(qs, m[j] / maxM, value: m[j])
            qv[start + j] = UInt8(truncatingIfNeeded: Blockwise8bit.quantize(qu, v[j] / maxV, signed: false))
          }
          start += n
          b += 1
        }
      }
    }
  }

  public func saveState() -> OptimizerState {
    var s = OptimizerState(optimizer: name)
    s.scalars["step"] = Double(stepCount)
    for (i, p) in params.enumerated() {
      switch states[i] {
      case .fp32(let m, let v):
        s.tensors["\(p.name).state1"] = m
        s.tensors["\(p.name).state2"] = v
      case .eightBit(let qm, let qv, let am, let av):
        s.bytes["\(p.name).state1"] = qm
        s.bytes["\(p.name).state2"] = qv
        s.tensors["\(p.name).absmax1"] = am
        s.tensors["\(p.name).absmax2"] = av
      }
    }
    return s
  }

  public func loadState(_ s: OptimizerState) throws {
    try checkOwner(s)
    var loaded: [State] = []
    for (i, p) in params.enumerated() {
      switch states[i] {
      case .fp32:
        loaded.append(
          .fp32(
            m: try s.tensor("\(p.name).state1", count: p.count), v: try s.tensor("\(p.name).state2", count: p.count)))
      case .eightBit(_, _, let am, _):
        loaded.append(
          .eightBit(
            m: try s.byteTensor("\(p.name).state1", count: p.count),
            v: try s.byteTensor("\(p.name).state2", count: p.count),
            absmaxM: try s.tensor("\(p.name).absmax1", count: am.count),
            absmaxV: try s.tensor("\(p.name).absmax2", count: am.count)))
      }
    }
    stepCount = Int(try s.scalar("step"))
    states = loaded
  }

  /// The first and second moment of param `index` as the optimizer sees them (dequantized for 8-bit states).
  public func moments(_ index: Int) -> (m: [Float], v: [Float], codes: (m: [UInt8], v: [UInt8])?) {
    switch states[index] {
    case .fp32(let m, let v): return (m, v, nil)
    case .eightBit(let qm, let qv, let am, let av):
      let m = qm.indices.map { QuantizationMaps.signed[Int(qm[$0])] * am[$0 / Self.blockSize] }
      let v = qv.indices.map { QuantizationMaps.unsigned[Int(qv[$0])] * av[$0 / Self.blockSize] }
      return (m, v, (qm, qv))
    }
  }
}
