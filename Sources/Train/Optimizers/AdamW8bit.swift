// bitsandbytes.optim.AdamW8bit as the reference script runs it on CUDA (OPTIMIZERS.md §4): tensors with ≥ 4096 elements
// keep m and v as uint8 codes into the signed/unsigned dynamic maps with one fp32 absmax per 256-element block
// (csrc/kernels.cu kOptimizerStatic8bit2StateBlockwise); smaller tensors keep fp32 states (kOptimizer32bit2State).
// Both apply weight decay after the Adam step (torch's AdamW decays before); checked in bitsandbytes' tag 0.45.3
// (the reference script's pin) as well as main: same decay order, quantize_2D search and sign fix. All arithmetic is
// fp32 like the kernel; CUDA's approximate __powf/__fdividef are replaced by exact ones.

import FlrCore
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
  private var states: [Moments]

  /// One tensor's moments: fp32, or uint8 codes with one absmax per 256-block. A class, so the arrays are
  /// updated in place (an enum payload would be copied on write).
  final class Moments {
    let eightBit: Bool
    var m: [Float] = [], v: [Float] = []
    var qm: [UInt8] = [], qv: [UInt8] = [], absmaxM: [Float] = [], absmaxV: [Float] = []

    init(count: Int, eightBit: Bool) {
      self.eightBit = eightBit
      if eightBit {
        let blocks = (count + AdamW8bit.blockSize - 1) / AdamW8bit.blockSize
        qm = [UInt8](repeating: 0, count: count)
        qv = [UInt8](repeating: 0, count: count)
        absmaxM = [Float](repeating: 0, count: blocks)
        absmaxV = [Float](repeating: 0, count: blocks)
      } else {
        m = [Float](repeating: 0, count: count)
        v = [Float](repeating: 0, count: count)
      }
    }
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
    states = params.map { Moments(count: $0.count, eightBit: $0.count >= minEightBitSize) }
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
      let s = states[i]
      if s.eightBit {
        Self.updateBlockwise(p, s, b1: b1, b2: b2, eps: epsF, c2: c2, stepSize: stepSize, decay: decay)
        continue
      }
      s.m.withUnsafeMutableBufferPointer { m in
        s.v.withUnsafeMutableBufferPointer { v in
          for j in 0..<p.count {
            let g = p.grads[j]
            m[j] = m[j] * b1 + (1 - b1) * g
            v[j] = v[j] * b2 + (1 - b2) * (g * g)
            var theta = p.values[j] + stepSize * (m[j] / (v[j].squareRoot() + epsF * c2))
            if let decay { theta *= decay }
            p.values[j] = theta
          }
        }
      }
    }
  }

  // One tensor through kOptimizerStatic8bit2StateBlockwise: dequantize with the old absmax, Adam in fp32,
  // new absmax = block max, step then decay, requantize (signed m with the sign fix, unsigned v).
  private static func updateBlockwise(
    _ p: ParamGroup, _ s: Moments, b1: Float, b2: Float, eps: Float, c2: Float, stepSize: Float, decay: Float?
  ) {
    let m = UnsafeMutablePointer<Float>.allocate(capacity: blockSize)  // one block's moments, fp32
    let v = UnsafeMutablePointer<Float>.allocate(capacity: blockSize)
    defer {
      m.deallocate()
      v.deallocate()
    }
    let qs = quantizationSigned, qu = quantizationUnsigned
    s.qm.withUnsafeMutableBufferPointer { qm in
      s.qv.withUnsafeMutableBufferPointer { qv in
        s.absmaxM.withUnsafeMutableBufferPointer { am in
          s.absmaxV.withUnsafeMutableBufferPointer { av in
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
    }
  }

  /// The maps as stable pointers (allocated once; read by every step).
  private static let quantizationSigned: UnsafePointer<Float> = copyToHeap(QuantizationMaps.signed)
  private static let quantizationUnsigned: UnsafePointer<Float> = copyToHeap(QuantizationMaps.unsigned)
  private static func copyToHeap(_ a: [Float]) -> UnsafePointer<Float> {
    let p = UnsafeMutablePointer<Float>.allocate(capacity: a.count)
    p.initialize(from: a, count: a.count)
    return UnsafePointer(p)
  }

  public func saveState() -> OptimizerState {
    var st = OptimizerState(optimizer: name)
    st.scalars["step"] = Double(stepCount)
    for (i, p) in params.enumerated() {
      let s = states[i]
      if s.eightBit {
        st.bytes["\(p.name).state1"] = s.qm
        st.bytes["\(p.name).state2"] = s.qv
        st.tensors["\(p.name).absmax1"] = s.absmaxM
        st.tensors["\(p.name).absmax2"] = s.absmaxV
      } else {
        st.tensors["\(p.name).state1"] = s.m
        st.tensors["\(p.name).state2"] = s.v
      }
    }
    return st
  }

  public func loadState(_ st: OptimizerState) throws {
    try checkOwner(st)
    var loaded: [Moments] = []
    for (i, p) in params.enumerated() {
      let old = states[i]
      let s = Moments(count: 0, eightBit: old.eightBit)
      if old.eightBit {
        s.qm = try st.byteTensor("\(p.name).state1", count: p.count)
        s.qv = try st.byteTensor("\(p.name).state2", count: p.count)
        s.absmaxM = try st.tensor("\(p.name).absmax1", count: old.absmaxM.count)
        s.absmaxV = try st.tensor("\(p.name).absmax2", count: old.absmaxM.count)
      } else {
        s.m = try st.tensor("\(p.name).state1", count: p.count)
        s.v = try st.tensor("\(p.name).state2", count: p.count)
      }
      loaded.append(s)
    }
    stepCount = Int(try st.scalar("step"))
    states = loaded
  }

  /// The first and second moment of param `index` as the optimizer sees them (dequantized for 8-bit states).
  public func moments(_ index: Int) -> (m: [Float], v: [Float], codes: (m: [UInt8], v: [UInt8])?) {
    let s = states[index]
    guard s.eightBit else { return (s.m, s.v, nil) }
    let m = s.qm.indices.map { QuantizationMaps.signed[Int(s.qm[$0])] * s.absmaxM[$0 / Self.blockSize] }
    let v = s.qv.indices.map { QuantizationMaps.unsigned[Int(s.qv[$0])] * s.absmaxV[$0 / Self.blockSize] }
    return (m, v, (s.qm, s.qv))
  }
}
