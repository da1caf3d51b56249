// A batch decodes each image as it decodes alone: 4 images x 3 beams (12 decoder rows per step) give each
// image's rows the logits of that image's 3-row decode (to 1e-5: the cross-attention keys and values come from
// one sgemm over all images' encoder tokens, whose rounding may depend on the batch; every decoder-step product
// is per row, see GemmTests.testFewRowsDoNotDependOnTheOtherRows), and the same ids.
import FlrCore
import FlrModel
import FlrProcessor
import XCTest

@testable import FlrGenerate

final class BatchDecodingTests: XCTestCase {
  func testFourImagesOfThreeBeamsDecodeAsEachAlone() throws {
    let document = try GenerateFixtures.document()
    let model = try GenerateFixtures.model(document)
    let generator = Generator(model: model)
    let features = try model.imageFeatures(pixelValues: GenerateFixtures.pixelValues())  // 2 images
    let prompt = document.prompts[0]
    let pair = try model.encode(imageFeatures: features, promptIds: [prompt, prompt])  // [2, S, d]
    let perImage = pair.count / 2
    let images = 4
    let batch = Tensor(zeros: [images] + pair.shape.dropFirst())  // images 0, 1, 0, 1
    for i in 0..<images { (batch.data + i * perImage).update(from: pair.data + (i % 2) * perImage, count: perImage) }
    func alone(_ i: Int) -> Tensor { batch.slice(i..<(i + 1)) }

    // Logits of the first steps, every row fed the same tokens.
    let beams = 3, vocab = model.languageModel.vocabSize
    var together = model.prepareDecoding(encoderOutput: batch, beamsPerImage: beams, capacity: 8)
    var single = (0..<images).map { model.prepareDecoding(encoderOutput: alone($0), beamsPerImage: beams, capacity: 8) }
    for token: Int32 in [2, 0, 100, 7] {
      let all = try model.decoderStep(tokens: Array(repeating: token, count: images * beams), state: &together)
      for i in 0..<images {
        let one = try model.decoderStep(tokens: Array(repeating: token, count: beams), state: &single[i])
        let rows = UnsafeBufferPointer(start: all.data + i * beams * vocab, count: beams * vocab)
        let worst = zip(rows, one.toArray()).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
        XCTAssertLessThan(worst, 1e-5, "image \(i) after token \(token)")
      }
    }

    let settings = generator.settings.with(numBeams: beams, maxNewTokens: 12)
    let ids = try generator.generate(encoderOutput: batch, settings: settings)
    for i in 0..<images {
      let own = try generator.generate(encoderOutput: alone(i), settings: settings)[0]
      XCTAssertEqual(CaptionText.trimmed(ids[i]), CaptionText.trimmed(own), "image \(i)")
    }
  }
}
