// LoRALinear / LoRAConv2d backward against finite differences. L = Σ y ⊙ g is linear in each of A, B and x
// separately, so a difference quotient with step 1 is the exact derivative up to float rounding: the bar
// is 1e-3 relative (sums of a few hundred float32 products). Dropout on, with a fixed mask, so the mask's
// 1/(1-p) scaling and its place (LoRA input only) are checked too.
import FlrCore
import XCTest

@testable import FlrModel

final class LoRAGradientTests: XCTestCase {
  func random(_ shape: [Int], _ rng: inout SeededRNG, scale: Float = 1) -> Tensor {
    let t = Tensor(zeros: shape)
    for i in 0..<t.count { t.data[i] = scale * rng.normal() }
    return t
  }

  /// In place (a temporary tensor's pointer must not outlive the tensor).
  func fill(_ t: Tensor, _ rng: inout SeededRNG) { for i in 0..<t.count { t.data[i] = rng.normal() } }

  func dot(_ a: Tensor, _ b: Tensor) -> Double {
    (0..<a.count).reduce(0.0) { $0 + Double(a.data[$1]) * Double(b.data[$1]) }
  }

  /// Checks d/dθ Σ forward(x)⊙g for every element of A, B and x against `analytic`.
  func check(
    _ name: String, layer: (Tensor) -> Tensor, params: [(String, Tensor, Tensor)], x: Tensor, dx: Tensor, g: Tensor
  ) {
    func loss() -> Double { dot(layer(x), g) }
    for (label, value, grad) in params + [("x", x, dx)] {
      var maxDiff = 0.0, maxGrad = 0.0
      for i in 0..<value.count {
        let keep = value.data[i]
        value.data[i] = keep + 1
        let up = loss()
        value.data[i] = keep - 1
        let down = loss()
        value.data[i] = keep
        let numeric = (up - down) / 2
        maxDiff = max(maxDiff, abs(numeric - Double(grad.data[i])))
        maxGrad = max(maxGrad, abs(numeric))
      }
      XCTAssertGreaterThan(maxGrad, 0, "\(name) \(label): gradient must be non-trivial")
      XCTAssertLessThan(maxDiff / maxGrad, 1e-3, "\(name) d\(label)")
    }
  }

  func testLinearGradients() throws {
    var rng = SeededRNG(seed: 1)
    let (rows, inF, outF, r) = (5, 6, 7, 3)
    let base = LinearLayer(
      Weights(
        file: "test", sources: ["weight": .tensor(random([outF, inF], &rng)), "bias": .tensor(random([outF], &rng))]),
      in: inF, out: outF)
    let p = LoRAParameters(
      path: "fc", aShape: [r, inF], bShape: [outF, r], fanIn: inF, rank: r, alpha: 6, useRslora: true, dropout: 0.5,
      seed: 2)
    fill(p.loraA, &rng)
    fill(p.loraB, &rng)
    let mask = Tensor(zeros: [rows, inF])
    for i in 0..<mask.count { mask.data[i] = i % 3 == 0 ? 0 : 2 }  // keep prob 1/2: kept values × 1/(1-p) = 2
    p.injectedMask = { _ in mask }
    p.training = true
    let layer = LoRALinear(base: base, lora: p)
    let x = random([rows, inF], &rng), g = random([rows, outF], &rng)
    let ctx = TrainingContext(options: TrainingOptions())
    let (_, saved) = layer.forwardTrain(x, ctx: ctx)
    let dx = layer.backward(dout: g, input: x, saved: saved)
    check(
      "Linear", layer: { layer.forward($0) }, params: [("A", p.loraA, p.gradA), ("B", p.loraB, p.gradB)],
      x: x, dx: dx, g: g)
  }

  func testConvGradients() throws {
    var rng = SeededRNG(seed: 3)
    let (b, h, w, cin, cout, k, stride, pad, r) = (1, 7, 6, 3, 4, 3, 2, 1, 2)
    let base = Conv2dLayer(
      Weights(
        file: "test",
        sources: [
          "weight": .tensor(random([cout, cin, k, k], &rng)), "bias": .tensor(random([cout], &rng)),
        ]), in: cin, out: cout, kernel: k, stride: stride, padding: pad)
    let p = LoRAParameters(
      path: "convs.0.proj", aShape: [r, cin, k, k], bShape: [cout, r, 1, 1], fanIn: cin * k * k, rank: r, alpha: 4,
      useRslora: false, dropout: 0.25, seed: 4)
    fill(p.loraA, &rng)
    fill(p.loraB, &rng)
    let mask = Tensor(zeros: [b, h, w, cin])
    for i in 0..<mask.count { mask.data[i] = i % 4 == 1 ? 0 : 4.0 / 3 }
    p.injectedMask = { _ in mask }
    p.training = true
    let layer = LoRAConv2d(base: base, lora: p)
    let x = random([b, h, w, cin], &rng)
    let (y, saved) = layer.forwardTrain(x, ctx: TrainingContext(options: TrainingOptions()))
    let g = random(y.shape, &rng)
    let dx = layer.backward(dout: g, input: x, saved: saved)
    check(
      "Conv2d", layer: { layer.forward($0) }, params: [("A", p.loraA, p.gradA), ("B", p.loraB, p.gradB)],
      x: x, dx: dx, g: g)
  }

  /// With nothing below wanting the input gradient, a conv adapter accumulates the same A/B gradients, bit for bit,
  /// without forming the input gradient.
  func testConvParameterGradientsWithoutInputGradient() throws {
    var rng = SeededRNG(seed: 6)
    let (b, h, w, cin, cout, k, stride, pad, r) = (1, 8, 7, 3, 5, 3, 2, 1, 2)
    let base = Conv2dLayer(
      Weights(file: "test", sources: ["weight": .tensor(random([cout, cin, k, k], &rng))]), in: cin, out: cout,
      kernel: k, stride: stride, padding: pad)
    let p = LoRAParameters(
      path: "convs.0.proj", aShape: [r, cin, k, k], bShape: [cout, r, 1, 1], fanIn: cin * k * k, rank: r, alpha: 4,
      useRslora: false, dropout: 0.25, seed: 4)
    fill(p.loraA, &rng)
    fill(p.loraB, &rng)
    p.training = true
    let layer = LoRAConv2d(base: base, lora: p)
    let x = random([b, h, w, cin], &rng)
    let (y, saved) = layer.forwardTrain(x, ctx: TrainingContext(options: TrainingOptions()))
    let g = random(y.shape, &rng)
    _ = layer.backward(dout: g, input: x, saved: saved)
    let (fullA, fullB) = (p.gradA.toArray(), p.gradB.toArray())
    p.zeroGradients()
    layer.accumulateParameterGradients(dout: g, input: x, saved: saved)
    XCTAssertEqual(p.gradA.toArray(), fullA)
    XCTAssertEqual(p.gradB.toArray(), fullB)
    XCTAssertNotEqual(fullA, [Float](repeating: 0, count: fullA.count))
  }

  /// Eval mode: no dropout at all (the mask is not even asked for), and base + LoRA only.
  func testNoDropoutInEval() throws {
    var rng = SeededRNG(seed: 5)
    let base = LinearLayer(
      Weights(file: "t", sources: ["weight": .tensor(random([2, 3], &rng))]), in: 3, out: 2, bias: false)
    let p = LoRAParameters(
      path: "q", aShape: [1, 3], bShape: [2, 1], fanIn: 3, rank: 1, alpha: 1, useRslora: false,
      dropout: 0.9, seed: 0)
    p.injectedMask = { _ in
      XCTFail("mask drawn in eval"); return Tensor(zeros: [1])
    }
    p.loraA.fill(1)
    p.loraB.fill(1)
    let x = Tensor(shape: [1, 3], values: [1, 2, 3])
    let y = LoRALinear(base: base, lora: p).forward(x)
    let plain = base.forward(x)
    for j in 0..<2 { XCTAssertEqual(y.data[j], plain.data[j] + 6, accuracy: 1e-5) }  // s·B·A·x = 1·(1+2+3)
  }
}
