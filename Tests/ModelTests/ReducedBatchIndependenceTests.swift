// A batch of images gives each image the bits it gets alone at bf16 and int8, on every kernel path this CPU
// runs: the image features, the encoder output (from the features alone), and decoding steps of several images
// x beams (from the encoder outputs alone), so `caption DIR batch=N beams=B` captions each image as batch=1
// does. The reduced products round or quantize their inputs, so an fp32 op upstream that sums a row differently
// in a batch (sgemm by the row's place in its blocks) would move a rounding and change the caption; fp32 itself
// keeps sgemm for its Linears (its batch differences stay at the last bit and are not checked here).
import FlrCore
import XCTest

@testable import FlrModel

final class ReducedBatchIndependenceTests: XCTestCase {
  let folder = ModelFixtures.path("tiny-original-safetensors")

  override func tearDown() { KernelPath.active = .supported }

  func image(_ t: Tensor, _ i: Int) -> Tensor {
    let per = t.count / t.shape[0]
    let out = Tensor(uninitialized: [1] + Array(t.shape.dropFirst()))
    out.data.update(from: t.data + i * per, count: per)
    return out
  }

  func stacked(_ ts: [Tensor]) -> Tensor {
    let per = ts[0].count
    let out = Tensor(uninitialized: [ts.count] + Array(ts[0].shape.dropFirst()))
    for (i, t) in ts.enumerated() { (out.data + i * per).update(from: t.data, count: per) }
    return out
  }

  func assertSameBits(_ a: Tensor, _ b: Tensor, _ message: String) {
    XCTAssertEqual(a.count, b.count, message)
    for i in 0..<min(a.count, b.count) where a.data[i].bitPattern != b.data[i].bitPattern {
      XCTFail("\(message): first difference at \(i) of \(a.count): \(a.data[i]) vs \(b.data[i])")
      return
    }
  }

  func testEveryImageOfABatchGetsItsOwnBits() throws {
    let ref = try ModelFixtures.reference()
    let pixels = try ref.pixelValues()
    let prompt = try ref.ids("input_ids")
    let images = pixels.shape[0]
    for precision in [WeightPrecision.bf16, .int8] {
      let model = try Florence2.load(folder: folder, precision: precision)
      for path in KernelPath.runnable {
        KernelPath.active = path
        let label = "\(precision) \(path)"
        let features = try model.imageFeatures(pixelValues: pixels)
        let aloneFeatures = try (0..<images).map { try model.imageFeatures(pixelValues: image(pixels, $0)) }
        let encoded = try model.encode(imageFeatures: stacked(aloneFeatures), promptIds: prompt)
        let aloneEncoded = try (0..<images).map {
          try model.encode(imageFeatures: aloneFeatures[$0], promptIds: [prompt[$0]])
        }
        var state = model.prepareDecoding(encoderOutput: stacked(aloneEncoded), beamsPerImage: 3)
        var logits = try model.decoderStep(tokens: Array(repeating: 2, count: 3 * images), state: &state)
        logits = try model.decoderStep(tokens: (0..<(3 * images)).map { Int32(5 + $0) }, state: &state)
        for i in 0..<images {
          let alone = aloneFeatures[i]
          assertSameBits(image(features, i), alone, "\(label) image features of image \(i)")
          let encodedAlone = aloneEncoded[i]
          assertSameBits(image(encoded, i), encodedAlone, "\(label) encoder output of image \(i)")
          var one = model.prepareDecoding(encoderOutput: encodedAlone, beamsPerImage: 3)
          _ = try model.decoderStep(tokens: [2, 2, 2], state: &one)
          let step = try model.decoderStep(tokens: (0..<3).map { Int32(5 + 3 * i + $0) }, state: &one)
          let v = step.count / 3
          let mine = Tensor(uninitialized: [3, v])
          mine.data.update(from: logits.data + 3 * i * v, count: 3 * v)
          assertSameBits(mine, step, "\(label) decoder step logits of image \(i)")
        }
      }
    }
  }
}
