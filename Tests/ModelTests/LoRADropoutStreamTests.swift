// LoRA dropout without state in the layer: every forward draws its mask from the layer's own stream, a
// checkpoint recompute (TrainingContext.replay) draws the first forward's mask again without advancing the
// stream, and backward rebuilds the mask from what the forward returned (LayerSaved).
import FlrCore
import XCTest

@testable import FlrModel

final class LoRADropoutStreamTests: XCTestCase {
  /// A 5×6 -> 7 LoRA Linear with random A, B and base, dropout 0.5, in training; and its input.
  func layer(injecting mask: Tensor? = nil) -> (LoRALinear, Tensor) {
    var rng = SeededRNG(seed: 11)
    func random(_ shape: [Int]) -> Tensor {
      let t = Tensor(zeros: shape)
      for i in 0..<t.count { t.data[i] = rng.normal() }
      return t
    }
    let base = LinearLayer(weight: random([7, 6]), bias: random([7]), in: 6, out: 7)
    let p = LoRAParameters(
      path: "fc", aShape: [3, 6], bShape: [7, 3], fanIn: 6, rank: 3, alpha: 3, useRslora: false, dropout: 0.5,
      seed: 5)
    for t in [p.loraA, p.loraB] { for i in 0..<t.count { t.data[i] = rng.normal() } }  // in place
    if let mask { p.injectedMask = { _ in mask } }
    p.training = true
    return (LoRALinear(base: base, lora: p), random([5, 6]))
  }

  func testEachForwardDrawsAFreshMask() {
    let (lora, x) = layer()
    XCTAssertNotEqual(lora.forward(x).toArray(), lora.forward(x).toArray())
  }

  func testReplayDrawsTheFirstMaskAgain() {
    let (lora, x) = layer()
    let ctx = TrainingContext(options: TrainingOptions(seed: 1))
    let start = ctx.rng
    let (first, _) = lora.forwardTrain(x, ctx: ctx)
    let (again, _) = ctx.replay(from: start) { lora.forwardTrain(x, ctx: ctx) }
    XCTAssertEqual(again.toArray(), first.toArray())
    // The replay did not advance the stream: the next forward is a new draw, the one a second plain forward
    // of a fresh layer gives.
    let (next, _) = lora.forwardTrain(x, ctx: ctx)
    let (twin, _) = layer()
    _ = twin.forward(x)
    XCTAssertNotEqual(next.toArray(), first.toArray())
    XCTAssertEqual(next.toArray(), twin.forward(x).toArray())
  }

  /// Backward from LayerSaved equals backward with the same mask given explicitly, bit for bit.
  func testBackwardRebuildsTheMaskFromSaved() throws {
    let (lora, x) = layer()
    let ctx = TrainingContext(options: TrainingOptions())
    let (y, saved) = lora.forwardTrain(x, ctx: ctx)
    let mask = try XCTUnwrap(lora.lora.redrawn(x, saved)?.mask)
    let dout = Tensor(zeros: y.shape)
    for i in 0..<dout.count { dout.data[i] = Float(i % 5) - 2 }
    let dx = lora.backward(dout: dout, input: x, saved: saved)

    let (given, _) = layer(injecting: mask)
    let (yGiven, savedGiven) = given.forwardTrain(x, ctx: TrainingContext(options: TrainingOptions()))
    let dxGiven = given.backward(dout: dout, input: x, saved: savedGiven)
    XCTAssertEqual(yGiven.toArray(), y.toArray())
    XCTAssertEqual(dxGiven.toArray(), dx.toArray())
    XCTAssertEqual(given.lora.gradA.toArray(), lora.lora.gradA.toArray())
    XCTAssertEqual(given.lora.gradB.toArray(), lora.lora.gradB.toArray())
  }
}
