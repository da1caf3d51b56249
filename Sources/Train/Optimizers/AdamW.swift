// torch.optim.AdamW (torch/optim/adam.py `_single_tensor_adam`, decoupled decay, amsgrad and maximize), OPTIMIZERS.md §2.
// The per-step scalars are computed in Double as Python does; the elementwise math is fp32 in the order of
// torch's CPU kernels (lerp and addcmul fused, addcdiv as (value·m)/denom). One thing is not reproduced: torch's
// vectorized sqrt (Sleef, ≤ 0.5001 ulp) differs from IEEE sqrt by an ulp on ~20% of inputs.

import Foundation

public final class AdamW: Optimizer {
  public let name = "AdamW"
  public let params: [ParamGroup]
  public let beta1: Double
  public let beta2: Double
  public let eps: Double
  public let weightDecay: Double
  public let amsgrad: Bool
  public let maximize: Bool
  public private(set) var stepCount = 0
  private var expAvg: [[Float]]  // m, per param
  private var expAvgSq: [[Float]]  // v, per param
  private var maxExpAvgSq: [[Float]]  // amsgrad: running max of v (empty otherwise)

  public init(
    params: [ParamGroup], betas: (Double, Double) = (0.9, 0.999), eps: Double = 1e-8, weightDecay: Double = 0.01,
    amsgrad: Bool = false, maximize: Bool = false
  )
    throws
  {
    guard (0..<1).contains(betas.0), (0..<1).contains(betas.1) else {
      throw OptimizerError.badArgument("betas must be in [0, 1), got \(betas)")
    }
    guard eps >= 0, weightDecay >= 0 else { throw OptimizerError.badArgument("eps and weight_decay must be >= 0") }
    self.params = params
    (beta1, beta2) = betas
    self.eps = eps
    self.weightDecay = weightDecay
    self.amsgrad = amsgrad
    self.maximize = maximize
    expAvg = params.map { [Float](repeating: 0, count: $0.count) }
    expAvgSq = params.map { [Float](repeating: 0, count: $0.count) }
    maxExpAvgSq = params.map { [Float](repeating: 0, count: amsgrad ? $0.count : 0) }
  }

  public func step(lr baseLR: Double) throws {
    stepCount += 1
    let t = Double(stepCount)
    let bc1 = 1 - pow(beta1, t)
    let bc2Sqrt = (1 - pow(beta2, t)).squareRoot()
    let w1 = Float(1 - beta1), b2 = Float(beta2), w2 = Float(1 - beta2), epsF = Float(eps)
    let sqrtBC2 = Float(bc2Sqrt)
    for (i, p) in params.enumerated() {
      let lr = baseLR * p.lrMultiplier
      let decay = Float(1 - lr * weightDecay)
      let negStepSize = Float(-(lr / bc1))
      let theta = p.values, g = p.grads
      let amsgrad = amsgrad, maximize = maximize
      expAvg[i].withUnsafeMutableBufferPointer { m in
        expAvgSq[i].withUnsafeMutableBufferPointer { v in
          maxExpAvgSq[i].withUnsafeMutableBufferPointer { vMax in
            for j in 0..<p.count {
              let grad = maximize ? -g[j] : g[j]
              if weightDecay != 0 { theta[j] *= decay }
              m[j] = torchLerp(m[j], grad, w1)
              v[j] = (v[j] * b2).addingProduct(w2 * grad, grad)  // addcmul_: fma(value·t1, t2, self)
              var second = v[j]
              if amsgrad {
                vMax[j] = max(vMax[j], v[j])
                second = vMax[j]
              }
              let denom = second.squareRoot() / sqrtBC2 + epsF
              theta[j] += negStepSize * m[j] / denom  // addcdiv_: self + (value·t1)/t2
            }
          }
        }
      }
    }
  }

  public func saveState() -> OptimizerState {
    var s = OptimizerState(optimizer: name)
    s.scalars["step"] = Double(stepCount)
    for (i, p) in params.enumerated() {
      s.tensors["\(p.name).exp_avg"] = expAvg[i]
      s.tensors["\(p.name).exp_avg_sq"] = expAvgSq[i]
      if amsgrad { s.tensors["\(p.name).max_exp_avg_sq"] = maxExpAvgSq[i] }
    }
    return s
  }

  public func loadState(_ s: OptimizerState) throws {
    try checkOwner(s)
    let m = try params.map { try s.tensor("\($0.name).exp_avg", count: $0.count) }
    let v = try params.map { try s.tensor("\($0.name).exp_avg_sq", count: $0.count) }
    let vMax = try params.map { amsgrad ? try s.tensor("\($0.name).max_exp_avg_sq", count: $0.count) : [] }
    stepCount = Int(try s.scalar("step"))
    expAvg = m
    expAvgSq = v
    maxExpAvgSq = vMax
  }
}
