// Base-size caption parity, outside CI: scripts/parity_captions.py writes random base weights, real photos'
// pixel_values and transformers' `generate` ids (greedy and beam 3, 75 new tokens) into a folder; this test
// runs only when FLR_CAPTION_PARITY_DIR names it, and writes flr's ids to FOLDER/flr_ids.json for the script.
// Tolerance: none, the ids must be identical.
import FlrCheckpoints
import FlrCore
import FlrModel
import Foundation
import XCTest

@testable import FlrGenerate

final class CaptionParityTests: XCTestCase {
  struct Result: Codable {
    let image: Int
    let beams: Int
    let output_ids: [Int32]
  }

  struct Reference: Decodable {
    let prompt_ids: [Int32]
    let max_new_tokens: Int
    let results: [Result]
  }

  struct Report: Encodable {
    let image: Int
    let beams: Int
    let output_ids: [Int32]
    let seconds: Double
  }

  func testIdsMatchTransformersGenerateAtBaseSize() throws {
    guard let folder = ProcessInfo.processInfo.environment["FLR_CAPTION_PARITY_DIR"] else {
      throw XCTSkip("set FLR_CAPTION_PARITY_DIR to a folder made by scripts/parity_captions.py")
    }
    let reference = try JSONDecoder().decode(
      Reference.self, from: Data(contentsOf: URL(fileURLWithPath: folder + "/reference.json")))
    let model = try Florence2.load(folder: folder)
    let generator = Generator(model: model)
    let pixels = try CheckpointSet.open(file: folder + "/pixel_values.safetensors").float32("pixel_values")
    let perImage = pixels.count / pixels.shape[0]
    var report: [Report] = []
    for image in 0..<pixels.shape[0] {
      let one = Tensor(zeros: [1] + Array(pixels.shape.dropFirst()))
      one.data.update(from: pixels.data + image * perImage, count: perImage)
      for want in reference.results where want.image == image {
        let start = Date()
        let ids = try generator.generate(
          pixelValues: one, promptIds: [reference.prompt_ids],
          settings: generator.settings.with(numBeams: want.beams, maxNewTokens: reference.max_new_tokens))
        let seconds = Date().timeIntervalSince(start)
        report.append(Report(image: image, beams: want.beams, output_ids: ids[0], seconds: seconds))
        XCTAssertEqual(ids[0], want.output_ids, "image \(image), beams \(want.beams)")
        print(
          String(
            format: "image %d beams %d: %@ (%.1f s)", image, want.beams,
            ids[0] == want.output_ids ? "same" : "DIFFERENT", seconds))
      }
    }
    try JSONEncoder().encode(report).write(to: URL(fileURLWithPath: folder + "/flr_ids.json"), options: .atomic)
  }
}
