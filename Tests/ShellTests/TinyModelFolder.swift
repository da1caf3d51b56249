import Foundation

/// The tiny random Florence-2 of the model fixtures with the real tokenizer (by symlinks) in `folder/tiny`, and
/// copies of fixture images in `folder/photos`: what the captioning shell tests load and caption.
enum TinyModelFolder {
  static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
    "../Fixtures"
  ).standardized

  /// Makes `folder` afresh; returns its model folder.
  static func create(at folder: URL, images: [String]) throws -> URL {
    try? FileManager.default.removeItem(at: folder)
    let model = folder.appendingPathComponent("tiny"), photos = folder.appendingPathComponent("photos")
    try FileManager.default.createDirectory(at: model, withIntermediateDirectories: true)
    try FileManager.default.createDirectory(at: photos, withIntermediateDirectories: true)
    let tiny = fixtures.appendingPathComponent("model/tiny-original-safetensors")
    for file in ["config.json", "model.safetensors"] {
      try FileManager.default.createSymbolicLink(
        at: model.appendingPathComponent(file), withDestinationURL: tiny.appendingPathComponent(file))
    }
    try FileManager.default.createSymbolicLink(
      at: model.appendingPathComponent("tokenizer.json"),
      withDestinationURL: fixtures.appendingPathComponent("tokenizer/tokenizer.json"))
    for image in images {
      try FileManager.default.copyItem(
        at: fixtures.appendingPathComponent("images/\(image)"), to: photos.appendingPathComponent(image))
    }
    return model
  }
}
