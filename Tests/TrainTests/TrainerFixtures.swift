import FlrModel
import FlrTokenizer
import FlrTrain
import Foundation

/// A 4-image captioning dataset made in a temporary folder from the image fixtures, and the tiny random
/// Florence-2 (vocabulary 2,048: captions and prompt use only words whose ids fit) with the real tokenizer.
enum TrainerFixtures {
  static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../Fixtures").standardized
  static let prompt = "a photo of the man in the"
  static let pairs: [(image: String, caption: String)] = [
    ("photo_rocket.jpg", "a man in a red car on the road"),
    ("photo_camera_gray.png", "the big house at home with one man"),
    ("photo_coffee_422.jpg", "a small photo of the man and the car"),
    ("photo_chelsea_lossy.webp", "one big road in the house"),
  ]

  /// Folder with img + img.txt pairs; returns it.
  static func makeDataset(in folder: URL) throws -> URL {
    let data = folder.appendingPathComponent("data")
    try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
    for (i, pair) in pairs.enumerated() {
      let ext = (pair.image as NSString).pathExtension
      let image = data.appendingPathComponent("item\(i).\(ext)")
      try FileManager.default.copyItem(at: fixtures.appendingPathComponent("images/\(pair.image)"), to: image)
      try (pair.caption + "\n").write(
        to: data.appendingPathComponent("item\(i).txt"), atomically: true, encoding: .utf8)
    }
    return data
  }

  nonisolated(unsafe) static var cachedModel: (Florence2, BartTokenizer)?

  static func model() throws -> (Florence2, BartTokenizer) {
    if let cachedModel { return cachedModel }
    let model = try Florence2.load(folder: fixtures.appendingPathComponent("model/tiny-original-safetensors").path)
    let tokenizer = try BartTokenizer(folder: fixtures.appendingPathComponent("tokenizer"))
    cachedModel = (model, tokenizer)
    return (model, tokenizer)
  }

  static func temporaryFolder(_ name: String) throws -> URL {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("flr-trainer-\(getpid())-\(name)")
    try? FileManager.default.removeItem(at: folder)
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    return folder
  }
}
