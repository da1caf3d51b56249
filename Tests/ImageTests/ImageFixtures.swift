// Loads Tests/Fixtures/images/expected.json, written by scripts/fixtures/images.py from Pillow 13 and
// transformers' CLIPImageProcessor (PIL backend).
import Foundation

struct ImageFixtures: Decodable {
  struct Record: Decodable {
    let file: String
    let mode: String
    let width: Int
    let height: Int
    let decoded_sha256: String
    let decoded_samples: [[Int]]  // [y, x, r, g, b]
    let resized_sha256: String
    let resized_samples: [[Int]]  // [y, x, r, g, b] in the 768x768 image
    let pixel_values_samples: [[Double]]  // [c, y, x, value]
    let pixel_values_sum: Double
  }
  struct BadInput: Decodable {
    let file: String
    let kind: String
  }
  let images: [Record]
  let errors: [BadInput]
  let normalize_table: [[Double]]  // [channel][byte]

  static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../Fixtures/images").standardized

  static func load() throws -> ImageFixtures {
    let data = try Data(contentsOf: folder.appendingPathComponent("expected.json"))
    return try JSONDecoder().decode(ImageFixtures.self, from: data)
  }

  static func url(_ file: String) -> URL { folder.appendingPathComponent(file) }
}
