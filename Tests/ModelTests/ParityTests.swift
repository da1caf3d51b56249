// Every checkpoint variant against transformers' Florence-2 (tiny random model, weights perturbed so no
// LayerNorm weight is 1 and no bias 0; see scripts/fixtures/model.py).
import FlrCheckpoints
import FlrCore
import XCTest

@testable import FlrModel

final class ParityTests: XCTestCase {
  /// Tolerances: 1e-4 relative on tensors (the bar; float32 with a different summation order than
  /// PyTorch's, through 16 vision sub-blocks and 4 BART layers, lands near 1e-6), 1e-5 absolute on the loss.
  let tensorTolerance: Float = 1e-4
  let lossTolerance: Float = 1e-5

  func testPixelValuesRebuiltExactly() throws {
    let ref = try ModelFixtures.reference()
    let pixels = try ref.pixelValues()
    let samples = try ref.float("pixel_samples")  // [2 images, rows 0 and 767, 768] of channel 2
    for b in 0..<2 {
      for (k, y) in [0, 767].enumerated() {
        for x in 0..<768 {
          let want = samples.data[(b * 2 + k) * 768 + x]
          let got = pixels.data[((b * 3 + 2) * 768 + y) * 768 + x]
          XCTAssertEqual(got, want, accuracy: 1e-5, "pixel b\(b) y\(y) x\(x)")  // float rounding of (x/255-m)/s
        }
      }
    }
  }

  func testEveryVariantMatchesReference() throws {
    let ref = try ModelFixtures.reference()
    let pixels = try ref.pixelValues()
    let promptIds = try ref.ids("input_ids"), labels = try ref.ids("labels")
    let wantFeatures = try ref.float("image_features"), wantEncoder = try ref.float("encoder_output")
    let logitsNoBias = try ref.float("logits_nobias"), bias = try ref.float("final_logits_bias")
    let v = bias.count
    for variant in ModelFixtures.variants {
      let model = try Florence2.load(folder: ModelFixtures.path(variant))
      let native = variant.contains("native")  // native files have no final_logits_bias (it was zeros)
      let features = try model.imageFeatures(pixelValues: pixels)
      XCTAssertEqual(features.shape, [2, 577, 32])
      XCTAssertLessThan(relativeError(features, wantFeatures), tensorTolerance, "\(variant) image features")
      let encoderOutput = try model.encode(imageFeatures: features, promptIds: promptIds)
      XCTAssertEqual(encoderOutput.shape, wantEncoder.shape)
      XCTAssertLessThan(relativeError(encoderOutput, wantEncoder), tensorTolerance, "\(variant) encoder output")

      XCTAssertEqual(model.decoderInputIds(labels: labels), try ref.ids("decoder_input_ids"))
      let (logits, loss) = try model.forward(pixelValues: pixels, promptIds: promptIds, labels: labels)
      let wantLogits = logitsNoBias.copy()
      if !native {
        for r in 0..<(wantLogits.count / v) { for j in 0..<v { wantLogits.data[r * v + j] += bias.data[j] } }
      }
      XCTAssertEqual(logits.shape, [2, labels[0].count, v])
      XCTAssertLessThan(relativeError(logits, wantLogits), tensorTolerance, "\(variant) logits")
      let wantLoss = try ref.float(native ? "loss_native" : "loss").data[0]
      XCTAssertEqual(loss, wantLoss, accuracy: lossTolerance, "\(variant) loss")
      print(
        "\(variant): relative error features \(relativeError(features, wantFeatures)), encoder "
          + "\(relativeError(encoderOutput, wantEncoder)), logits \(relativeError(logits, wantLogits)); "
          + "loss \(loss) vs \(wantLoss)")
    }
  }
}
